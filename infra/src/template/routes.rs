//! The routes of the two APIs, each an integration with its function, the route, and the
//! permission for API Gateway to invoke that function for that route only. The APIs are
//! declared apart (see `shared`), so functions can name their URLs without a cycle.

use hangar_functions::lambda::catalog::{Lambda, Trigger};

use super::{Yaml, function_id, pascal};

/// One route: its logical id prefix, route key, the function, and the execute-api path
/// its permission is for.
struct ApiRoute {
    id: String,
    key: String,
    function: String,
    source: String,
}

/// The HTTP API's routes: `METHOD /path`, payload format 2.0 (what `lambda_http` reads).
pub fn http_routes(yaml: &mut Yaml, lambdas: &[Lambda]) {
    let routes = lambdas.iter().filter_map(|lambda| match lambda.trigger {
        Trigger::Http { method, path } => {
            // A path parameter is any one segment in the permission's ARN.
            let pattern: String = path
                .split('/')
                .map(|part| if part.starts_with('{') { "*" } else { part })
                .collect::<Vec<_>>()
                .join("/");
            Some(ApiRoute {
                id: format!("Http{}", pascal(lambda.name)),
                key: format!("{method} {path}"),
                function: function_id(lambda.name),
                source: format!("*/{method}{pattern}"),
            })
        }
        _ => None,
    });
    for route in routes {
        write_route(yaml, "HttpApi", &route, "\n  PayloadFormatVersion: \"2.0\"");
    }
}

/// The WebSocket API's stage and its routes (`$connect`, `$disconnect`, a node's
/// `heartbeat`).
pub fn websocket_routes(yaml: &mut Yaml, lambdas: &[Lambda]) {
    let routes: Vec<ApiRoute> = lambdas
        .iter()
        .filter_map(|lambda| match lambda.trigger {
            Trigger::WebSocket { route_key } => Some(ApiRoute {
                id: format!("Ws{}", pascal(route_key)),
                key: route_key.to_string(),
                function: function_id(lambda.name),
                source: format!("*/{route_key}"),
            }),
            _ => None,
        })
        .collect();
    yaml.blank().line(1, "WebSocketStage:");
    yaml.line(2, "Type: AWS::ApiGatewayV2::Stage");
    let depends: Vec<String> = routes
        .iter()
        .map(|route| format!("{}Route", route.id))
        .collect();
    yaml.line(2, format!("DependsOn: [{}]", depends.join(", ")));
    yaml.block(
        2,
        "Properties:\n  ApiId: !Ref WebSocketApi\n  StageName: live\n  AutoDeploy: true\n  \
         DefaultRouteSettings:\n    ThrottlingBurstLimit: !Ref ApiBurstLimit\n    \
         ThrottlingRateLimit: !Ref ApiRateLimit",
    );
    for route in &routes {
        write_route(yaml, "WebSocketApi", route, "");
    }
}

fn write_route(yaml: &mut Yaml, api: &str, route: &ApiRoute, extra: &str) {
    let ApiRoute {
        id,
        key,
        function,
        source,
    } = route;
    yaml.blank().line(1, format!("{id}Integration:"));
    yaml.block(
        2,
        &format!(
            "Type: AWS::ApiGatewayV2::Integration\nProperties:\n  ApiId: !Ref {api}\n  \
             IntegrationType: AWS_PROXY\n  IntegrationUri: !Sub \"arn:${{AWS::Partition}}:apigateway:\
             ${{AWS::Region}}:lambda:path/2015-03-31/functions/${{{function}.Arn}}/invocations\"{extra}"
        ),
    );
    yaml.blank().line(1, format!("{id}Route:"));
    yaml.block(
        2,
        &format!(
            "Type: AWS::ApiGatewayV2::Route\nProperties:\n  ApiId: !Ref {api}\n  \
             RouteKey: \"{key}\"\n  AuthorizationType: NONE\n  \
             Target: !Sub \"integrations/${{{id}Integration}}\""
        ),
    );
    yaml.blank().line(1, format!("{id}Permission:"));
    yaml.block(
        2,
        &format!(
            "Type: AWS::Lambda::Permission\nProperties:\n  Action: lambda:InvokeFunction\n  \
             FunctionName: !Ref {function}\n  Principal: apigateway.amazonaws.com\n  \
             SourceArn: !Sub \"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:\
             ${{AWS::AccountId}}:${{{api}}}/{source}\""
        ),
    );
}
