//! The deployment descriptions agree with the code: template.yaml with the router's route
//! table, the Lambda binaries in functions/ and the local table definition; openapi.yaml with
//! the route table.

use std::collections::BTreeSet;
use std::path::PathBuf;

use hangar_functions::adapters::dynamo::table;
use hangar_functions::http::routes::ROUTES;
use hangar_functions::lambda::WS_ROUTES;
use yaml_rust2::{Yaml, YamlLoader};

fn repo_file(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

fn load(path: &str) -> Yaml {
    let mut docs =
        YamlLoader::load_from_str(&repo_file(path)).unwrap_or_else(|err| panic!("{path}: {err}"));
    assert_eq!(docs.len(), 1, "{path} holds one document");
    docs.remove(0)
}

fn text(yaml: &Yaml) -> String {
    match yaml {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn entries(yaml: &Yaml) -> Vec<(String, Yaml)> {
    yaml.as_hash()
        .map(|hash| hash.iter().map(|(k, v)| (text(k), v.clone())).collect())
        .unwrap_or_default()
}

fn functions(template: &Yaml) -> Vec<(String, Yaml)> {
    entries(&template["Resources"])
        .into_iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some("AWS::Serverless::Function"))
        .collect()
}

/// The Lambda binaries declared in functions/Cargo.toml, each with an existing main.
fn binaries() -> BTreeSet<String> {
    let manifest = repo_file("functions/Cargo.toml");
    let mut names = BTreeSet::new();
    let mut lines = manifest.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "[[bin]]" {
            let name = lines
                .next()
                .and_then(|l| l.strip_prefix("name = "))
                .expect("name after [[bin]]");
            let path = lines
                .next()
                .and_then(|l| l.strip_prefix("path = "))
                .expect("path after name");
            assert!(
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../functions")
                    .join(path.trim_matches('"'))
                    .exists(),
                "{path} exists"
            );
            names.insert(name.trim_matches('"').to_string());
        }
    }
    names
}

/// `http::ROUTES` as (lambda, method, path).
fn router_routes() -> BTreeSet<(String, String, String)> {
    ROUTES
        .iter()
        .map(|route| {
            (
                route.lambda.to_string(),
                route.method.to_string(),
                route.path.to_string(),
            )
        })
        .collect()
}

#[test]
fn every_route_and_binary_is_a_function_of_the_template() {
    let template = load("template.yaml");
    let mut template_routes = BTreeSet::new();
    let mut template_binaries = BTreeSet::new();
    for (logical, function) in functions(&template) {
        assert_eq!(
            function["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{logical}"
        );
        let binary = text(&function["Metadata"]["BuildProperties"]["Binary"]);
        assert!(
            template_binaries.insert(binary.clone()),
            "{binary} deployed twice"
        );
        assert!(
            !function["Properties"]["Policies"].is_badvalue(),
            "{logical} has its own policy"
        );
        for (_, event) in entries(&function["Properties"]["Events"]) {
            if event["Type"].as_str() == Some("HttpApi") {
                let properties = &event["Properties"];
                template_routes.insert((
                    binary.clone(),
                    text(&properties["Method"]),
                    text(&properties["Path"]),
                ));
            }
        }
    }
    let router_routes = router_routes();
    assert_eq!(
        template_routes, router_routes,
        "template.yaml routes == http::ROUTES"
    );
    assert_eq!(
        template_binaries,
        binaries(),
        "template.yaml functions == functions/ binaries"
    );
    assert_eq!(
        text(&template["Globals"]["Function"]["Runtime"]),
        "provided.al2023"
    );
}

/// The logical id a `!Sub "...${X}..."` names (pseudo parameters like `${AWS::Region}` aside).
fn referenced_resource(value: &Yaml) -> String {
    let rendered = format!("{value:?}");
    rendered
        .split("${")
        .skip(1)
        .map(|reference| reference.split(['.', '}']).next().unwrap_or_default())
        .find(|name| !name.starts_with("AWS::"))
        .unwrap_or_else(|| panic!("no resource reference in {rendered}"))
        .to_string()
}

#[test]
fn the_websocket_routes_of_the_template_are_the_live_lambdas() {
    let template = load("template.yaml");
    let resources = &template["Resources"];
    assert_eq!(
        text(&resources["WebSocketApi"]["Properties"]["ProtocolType"]),
        "WEBSOCKET"
    );
    let mut routes = BTreeSet::new();
    for (logical, route) in entries(resources) {
        if route["Type"].as_str() != Some("AWS::ApiGatewayV2::Route") {
            continue;
        }
        let properties = &route["Properties"];
        let integration = referenced_resource(&properties["Target"]);
        let function =
            referenced_resource(&resources[integration.as_str()]["Properties"]["IntegrationUri"]);
        let binary = text(&resources[function.as_str()]["Metadata"]["BuildProperties"]["Binary"]);
        // API Gateway may invoke exactly that function.
        let permitted = entries(resources).into_iter().any(|(_, permission)| {
            permission["Type"].as_str() == Some("AWS::Lambda::Permission")
                && format!("{:?}", permission["Properties"]["FunctionName"]).contains(&function)
        });
        assert!(permitted, "{logical}: API Gateway may invoke {function}");
        routes.insert((text(&properties["RouteKey"]), binary));
    }
    let expected: BTreeSet<(String, String)> = WS_ROUTES
        .iter()
        .map(|(key, lambda)| (key.to_string(), lambda.to_string()))
        .collect();
    assert_eq!(
        routes, expected,
        "template.yaml WebSocket routes == lambda::WS_ROUTES"
    );
    // Every function reaches the management endpoint of the same API.
    let endpoint = format!(
        "{:?}",
        template["Globals"]["Function"]["Environment"]["Variables"]["HANGAR_WS_ENDPOINT"]
    );
    assert!(
        endpoint.contains("${WebSocketApi}") && endpoint.contains("/live"),
        "{endpoint}"
    );
}

/// An index as compared: name, key schema, projection.
type IndexShape = (String, Vec<(String, String)>, String);

#[test]
fn the_template_table_equals_the_local_table_definition() {
    let template = load("template.yaml");
    let table_yaml = &template["Resources"]["Table"]["Properties"];
    let local = table::definition().expect("migrations/dynamodb/table.json");

    let attributes: BTreeSet<(String, String)> = table_yaml["AttributeDefinitions"]
        .as_vec()
        .expect("attributes")
        .iter()
        .map(|a| (text(&a["AttributeName"]), text(&a["AttributeType"])))
        .collect();
    let local_attributes: BTreeSet<(String, String)> = local
        .attribute_definitions
        .iter()
        .map(|a| (a.attribute_name.clone(), a.attribute_type.clone()))
        .collect();
    assert_eq!(attributes, local_attributes);

    let keys = |yaml: &Yaml| -> Vec<(String, String)> {
        yaml.as_vec()
            .expect("key schema")
            .iter()
            .map(|k| (text(&k["AttributeName"]), text(&k["KeyType"])))
            .collect()
    };
    let local_keys = |defs: &[table::KeyDef]| -> Vec<(String, String)> {
        defs.iter()
            .map(|k| (k.attribute_name.clone(), k.key_type.clone()))
            .collect()
    };
    assert_eq!(
        keys(&table_yaml["KeySchema"]),
        local_keys(&local.key_schema)
    );

    let indexes: Vec<IndexShape> = table_yaml["GlobalSecondaryIndexes"]
        .as_vec()
        .expect("indexes")
        .iter()
        .map(|i| {
            (
                text(&i["IndexName"]),
                keys(&i["KeySchema"]),
                text(&i["Projection"]["ProjectionType"]),
            )
        })
        .collect();
    let local_indexes: Vec<IndexShape> = local
        .global_secondary_indexes
        .iter()
        .map(|i| {
            (
                i.index_name.clone(),
                local_keys(&i.key_schema),
                i.projection.projection_type.clone(),
            )
        })
        .collect();
    assert_eq!(indexes, local_indexes);
    assert_eq!(text(&table_yaml["BillingMode"]), local.billing_mode);
    assert_eq!(
        Some(text(
            &table_yaml["TimeToLiveSpecification"]["AttributeName"]
        )),
        local.time_to_live_attribute
    );
    assert_eq!(
        table_yaml["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
}

#[test]
fn the_template_schedules_the_sweep_and_gives_scheduler_a_role() {
    let template = load("template.yaml");
    let resources = &template["Resources"];
    assert_eq!(
        resources["WarmScheduleGroup"]["Type"].as_str(),
        Some("AWS::Scheduler::ScheduleGroup")
    );
    assert_eq!(
        resources["SchedulerRole"]["Type"].as_str(),
        Some("AWS::IAM::Role")
    );
    let sweep = &resources["ReconcileFunction"]["Properties"]["Events"]["Sweep"];
    assert_eq!(sweep["Type"].as_str(), Some("ScheduleV2"));
    assert!(text(&sweep["Properties"]["ScheduleExpression"]).starts_with("rate("));
    // The warm-timeout function's name is fixed, so schedules can target it without a cycle.
    assert!(!resources["WarmTimeoutFunction"]["Properties"]["FunctionName"].is_badvalue());
}

#[test]
fn the_openapi_document_describes_exactly_the_router() {
    let openapi = load("openapi.yaml");
    assert!(text(&openapi["openapi"]).starts_with("3."));
    let schemas: BTreeSet<String> = entries(&openapi["components"]["schemas"])
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let schemes: BTreeSet<String> = entries(&openapi["components"]["securitySchemes"])
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let mut operations = BTreeSet::new();
    for (path, item) in entries(&openapi["paths"]) {
        for (method, operation) in entries(&item) {
            if method == "parameters" {
                continue;
            }
            let operation_id = text(&operation["operationId"]);
            operations.insert((operation_id.clone(), method.to_uppercase(), path.clone()));
            let security = operation["security"].as_vec().expect("security");
            for requirement in security {
                for (scheme, _) in entries(requirement) {
                    assert!(
                        schemes.contains(&scheme),
                        "{operation_id}: unknown scheme {scheme}"
                    );
                }
            }
            assert!(
                !operation["responses"]["default"].is_badvalue(),
                "{operation_id} documents its errors"
            );
        }
        // Every path parameter is declared.
        let declared: BTreeSet<String> = item["parameters"]
            .as_vec()
            .map(|ps| ps.iter().map(|p| text(&p["name"])).collect())
            .unwrap_or_default();
        let in_path: BTreeSet<String> = path
            .split('/')
            .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}').map(String::from))
            .collect();
        assert_eq!(declared, in_path, "{path}");
    }
    let router = router_routes();
    assert_eq!(
        operations, router,
        "openapi.yaml operations == http::ROUTES"
    );
    // Every schema reference resolves.
    let document = repo_file("openapi.yaml");
    for reference in document.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap_or_default();
        assert!(schemas.contains(name), "dangling $ref to {name}");
    }
}
