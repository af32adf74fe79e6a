//! The deployment descriptions agree with the code: template.yaml with the router's route
//! table, the Lambda binaries in functions/ and the local table definition; openapi.yaml with
//! the route table.

mod grants;
mod openapi;
mod sign_in;

use std::collections::BTreeSet;
use std::path::PathBuf;

use hangar_functions::adapters::dynamo::table;
use hangar_functions::http::routes::ROUTES;
use hangar_functions::lambda::catalog::{self, Need, Trigger};
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

/// The binaries declared in functions/Cargo.toml, each with an existing main.
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

/// The function of the template whose `HANGAR_LAMBDA` is `lambda`.
fn function_of<'a>(template: &'a Yaml, lambda: &str) -> (String, &'a Yaml) {
    let resources = template["Resources"].as_hash().expect("resources");
    resources
        .iter()
        .find(|(_, resource)| {
            resource["Properties"]["Environment"]["Variables"]["HANGAR_LAMBDA"].as_str()
                == Some(lambda)
        })
        .map(|(logical, resource)| (text(logical), resource))
        .unwrap_or_else(|| panic!("no function runs {lambda}"))
}

/// Every statement of a function's policies.
fn statements(function: &Yaml) -> Vec<Yaml> {
    function["Properties"]["Policies"]
        .as_vec()
        .into_iter()
        .flatten()
        .flat_map(|policy| policy["Statement"].as_vec().cloned().unwrap_or_default())
        .collect()
}

/// Whether any statement grants `action`.
fn grants(function: &Yaml, action: &str) -> bool {
    statements(function)
        .iter()
        .any(|statement| format!("{:?}", statement["Action"]).contains(action))
}

/// Whether `function` has a statement allowing `action` on a resource that mentions `resource`.
fn grants_on(function: &Yaml, action: &str, resource: &str) -> bool {
    statements(function).iter().any(|statement| {
        format!("{:?}", statement["Action"]).contains(action)
            && format!("{:?}", statement["Resource"]).contains(resource)
    })
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
fn the_committed_template_is_the_rendering_of_the_code() {
    assert!(
        repo_file("template.yaml") == hangar_infra::template::render(),
        "template.yaml is stale: run scripts/render-template"
    );
}

#[test]
fn every_lambda_is_a_function_of_the_one_bootstrap_and_every_route_its_event() {
    let template = load("template.yaml");
    let mut template_routes = BTreeSet::new();
    let mut functions_seen = BTreeSet::new();
    for (logical, function) in functions(&template) {
        assert_eq!(
            function["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{logical}"
        );
        // One bootstrap, built once for every function.
        assert_eq!(
            text(&function["Metadata"]["BuildProperties"]["Binary"]),
            "hangar-lambda",
            "{logical}"
        );
        let lambda = text(&function["Properties"]["Environment"]["Variables"]["HANGAR_LAMBDA"]);
        assert!(
            catalog::lambda(&lambda).is_some(),
            "{logical} runs {lambda}"
        );
        assert!(
            functions_seen.insert(lambda.clone()),
            "{lambda} deployed twice"
        );
    }
    // Each HTTP route is a route of the HTTP API whose integration invokes its function.
    let resources = &template["Resources"];
    for (_, route) in api_routes(&template, "HttpApi") {
        let properties = &route["Properties"];
        let key = text(&properties["RouteKey"]);
        let (method, path) = key.split_once(' ').expect("METHOD /path");
        let integration = referenced_resource(&properties["Target"]);
        let function =
            referenced_resource(&resources[integration.as_str()]["Properties"]["IntegrationUri"]);
        let lambda = text(
            &resources[function.as_str()]["Properties"]["Environment"]["Variables"]["HANGAR_LAMBDA"],
        );
        template_routes.insert((lambda, method.to_string(), path.to_string()));
    }
    let catalog: BTreeSet<String> = catalog::lambdas()
        .iter()
        .map(|lambda| lambda.name.to_string())
        .collect();
    assert_eq!(
        functions_seen, catalog,
        "template.yaml functions == the catalog"
    );
    assert_eq!(
        template_routes,
        router_routes(),
        "template.yaml routes == http::ROUTES"
    );
    assert_eq!(binaries(), BTreeSet::from(["hangar-lambda".to_string()]));
    assert_eq!(
        text(&template["Globals"]["Function"]["Runtime"]),
        "provided.al2023"
    );
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
    for (logical, route) in api_routes(&template, "WebSocketApi") {
        let properties = &route["Properties"];
        let integration = referenced_resource(&properties["Target"]);
        let function =
            referenced_resource(&resources[integration.as_str()]["Properties"]["IntegrationUri"]);
        let lambda = text(
            &resources[function.as_str()]["Properties"]["Environment"]["Variables"]["HANGAR_LAMBDA"],
        );
        // API Gateway may invoke exactly that function.
        let permitted = entries(resources).into_iter().any(|(_, permission)| {
            permission["Type"].as_str() == Some("AWS::Lambda::Permission")
                && format!("{:?}", permission["Properties"]["FunctionName"]).contains(&function)
        });
        assert!(permitted, "{logical}: API Gateway may invoke {function}");
        routes.insert((text(&properties["RouteKey"]), lambda));
    }
    let expected: BTreeSet<(String, String)> = catalog::lambdas()
        .iter()
        .filter_map(|lambda| match lambda.trigger {
            Trigger::WebSocket { route_key } => {
                Some((route_key.to_string(), lambda.name.to_string()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        routes, expected,
        "template.yaml WebSocket routes == the catalog's"
    );
    // Every function that pushes reaches the management endpoint of the same API.
    for lambda in catalog::lambdas().iter().filter(|l| l.needs(Need::Push)) {
        let (logical, function) = function_of(&template, lambda.name);
        let endpoint = format!(
            "{:?}",
            function["Properties"]["Environment"]["Variables"]["HANGAR_WS_ENDPOINT"]
        );
        assert!(
            endpoint.contains("${WebSocketApi}") && endpoint.contains("/live"),
            "{logical}: {endpoint}"
        );
    }
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

/// The `AWS::ApiGatewayV2::Route`s of the API `api` names.
fn api_routes(template: &Yaml, api: &str) -> Vec<(String, Yaml)> {
    entries(&template["Resources"])
        .into_iter()
        .filter(|(_, route)| {
            route["Type"].as_str() == Some("AWS::ApiGatewayV2::Route")
                && route["Properties"]["ApiId"].as_str() == Some(api)
        })
        .collect()
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
