//! openapi.yaml describes exactly the router.

use super::*;

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

#[test]
fn the_documented_repository_pattern_is_the_one_the_control_plane_checks() {
    let openapi = load("openapi.yaml");
    let schemas = &openapi["components"]["schemas"];
    assert_eq!(
        text(&schemas["Repo"]["pattern"]),
        hangar_protocol::git::REPO_PATTERN
    );
    assert_eq!(
        text(&schemas["CreateProjectRequest"]["properties"]["repo"]["$ref"]),
        "#/components/schemas/Repo"
    );
}
