//! The artifact that ships, run as Lambda runs it: the real `hangar-lambda` bootstrap as a
//! process, polling a loopback implementation of the Lambda Runtime API
//! (`hangar_tests::runtime_api`; Lambda itself cannot be reached from here), handed events
//! of the shapes API Gateway and EventBridge Scheduler send, against the table in moto.
//! One function of each kind: an HTTP route with a body, the WebSocket `$connect` with its
//! query string, and the scheduled warm timeout.

use std::time::Duration;

use hangar_functions::config::SigningKey;
use hangar_functions::domain::records::Node;
use hangar_protocol::ProjectId;
use hangar_protocol::tasks::{NodeStatus, VmSize};
use hangar_tests::agent::workspace_binary;
use hangar_tests::fixtures::{user, warm_node};
use hangar_tests::management_api::ManagementApi;
use hangar_tests::runtime_api::{Answer, RuntimeApi, function_env, http_event};
use hangar_tests::{TestStack, aws_endpoint, unique};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(30);

/// An API Gateway WebSocket `$connect` event with `query`.
fn connect_event(connection: &str, query: Value) -> Value {
    json!({
        "headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com"},
        "multiValueHeaders": {"Host": ["abc123.execute-api.us-east-1.amazonaws.com"]},
        "queryStringParameters": query,
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "extendedRequestId": unique("ext"),
            "requestTime": "27/Nov/2026:07:00:00 +0000",
            "messageDirection": "IN",
            "stage": "live",
            "connectedAt": 1_795_000_000_000u64,
            "requestTimeEpoch": 1_795_000_000_000u64,
            "identity": {"sourceIp": "192.0.2.1"},
            "requestId": unique("req"),
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "connectionId": connection,
            "apiId": "abc123",
        },
        "isBase64Encoded": false,
    })
}

fn response(answer: Answer) -> Value {
    match answer {
        Answer::Response(value) => value,
        Answer::Error(error) => panic!("the function failed: {error}"),
    }
}

#[tokio::test]
async fn the_shipped_bootstrap_serves_an_http_route_with_its_body() {
    let stack = TestStack::start().await;
    let runtime = RuntimeApi::start().await;
    let binary = workspace_binary("hangar-lambda");
    let mut env = function_env(&stack, "create-project");
    env.extend(
        [
            ("HANGAR_FORGE_SECRET_PREFIX", unique("hangar/forge/")),
            ("HANGAR_SECRETS_ENDPOINT", aws_endpoint()),
            ("HANGAR_UI_ORIGIN", "https://hangar.example".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v)),
    );
    let mut function = runtime.spawn(&binary, "create-project", &env);
    runtime.initialized(&mut function, LIMIT).await;

    let owner = user();
    let token = stack.user_token(&owner);
    let body = json!({"name": "Shop", "repo": "https://github.com/acme/shop.git"});
    let answer = response(
        runtime
            .invoke(
                http_event("POST", "/api/projects", &token, Some(&body)),
                LIMIT,
            )
            .await,
    );
    assert_eq!(answer["statusCode"], 201, "{answer}");
    let created: Value =
        serde_json::from_str(answer["body"].as_str().expect("body")).expect("json body");
    let id = ProjectId::parse(created["id"].as_str().expect("id").to_string()).expect("id");
    let stored = stack
        .stack
        .state
        .store
        .get_project(&id)
        .await
        .expect("read");
    assert_eq!(stored.expect("stored").name, "Shop");

    // The same process answers the next invocation too, and refuses bad input clearly.
    let answer = response(
        runtime
            .invoke(
                http_event("POST", "/api/projects", &token, Some(&json!({"name": ""}))),
                LIMIT,
            )
            .await,
    );
    assert_eq!(answer["statusCode"], 400, "{answer}");
    let refused: Value =
        serde_json::from_str(answer["body"].as_str().expect("body")).expect("json");
    assert!(refused["code"].is_string(), "{refused}");
    assert_eq!(runtime.invocations(), 2);
}

#[tokio::test]
async fn the_shipped_bootstrap_takes_a_websocket_connect_with_its_query_string() {
    let stack = TestStack::start().await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let runtime = RuntimeApi::start().await;
    let mut function = runtime.spawn(
        &workspace_binary("hangar-lambda"),
        "ws-connect",
        &function_env(&stack, "ws-connect"),
    );
    runtime.initialized(&mut function, LIMIT).await;

    let connection = unique("conn").replace('-', "");
    let query = json!({"token": stack.user_token(&owner), "projectId": project});
    let answer = response(
        runtime
            .invoke(connect_event(&connection, query), LIMIT)
            .await,
    );
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let stored = stack
        .stack
        .state
        .store
        .get_connection(&connection)
        .await
        .expect("read")
        .expect("the connection is recorded");
    assert_eq!(stored.project_id, project);

    // Without a token the connection is refused, and nothing is recorded.
    let refused = unique("conn").replace('-', "");
    let answer = response(
        runtime
            .invoke(
                connect_event(&refused, json!({"projectId": project})),
                LIMIT,
            )
            .await,
    );
    assert_eq!(answer["statusCode"], 401, "{answer}");
    let none = stack.stack.state.store.get_connection(&refused).await;
    assert!(none.expect("read").is_none());
}

#[tokio::test]
async fn the_shipped_bootstrap_runs_the_scheduled_warm_timeout() {
    let stack = TestStack::start().await;
    let gateway = ManagementApi::start(Duration::ZERO).await;
    let config = &stack.stack.config;
    let signing = config.signing.as_ref().expect("the local stack signs");
    let SigningKey::Pem(private_pem) = &signing.key else {
        panic!("the local stack's key is a PEM");
    };
    let mut env = function_env(&stack, "warm-timeout");
    env.extend(
        [
            ("HANGAR_CALLBACK_PRIVATE_KEY", private_pem.clone()),
            ("HANGAR_PUBLIC_API_URL", stack.url("")),
            (
                "HANGAR_NODE_SOCKET_URL",
                "ws://127.0.0.1:9/live".to_string(),
            ),
            ("HANGAR_WS_ENDPOINT", gateway.endpoint.clone()),
            ("HANGAR_SCHEDULE_GROUP", unique("group")),
            (
                "HANGAR_WARM_TIMEOUT_ARN",
                "arn:aws:lambda:us-east-1:123456789012:function:warm".to_string(),
            ),
            (
                "HANGAR_SCHEDULER_ROLE_ARN",
                "arn:aws:iam::123456789012:role/scheduler".to_string(),
            ),
            ("HANGAR_SCHEDULER_ENDPOINT", aws_endpoint()),
            ("HANGAR_STACK_NAME", unique("stack")),
            ("HANGAR_EC2_AMI_ID", "ami-12c6146b".to_string()),
            ("HANGAR_EC2_ENDPOINT", aws_endpoint()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v)),
    );
    let store = &stack.stack.state.store;
    let warm: Node = warm_node(VmSize::Small, 3);
    store.save_node(&warm, None).await.expect("node");

    let runtime = RuntimeApi::start().await;
    let mut function = runtime.spawn(&workspace_binary("hangar-lambda"), "warm-timeout", &env);
    runtime.initialized(&mut function, LIMIT).await;

    // A schedule of an older generation finds the node moved on: nothing happens.
    let stale = json!({"nodeId": warm.id, "generation": 2});
    assert_eq!(response(runtime.invoke(stale, LIMIT).await), json!(false));
    let node = store.get_node(&warm.id).await.expect("read").expect("node");
    assert_eq!(node.status, NodeStatus::Warm);

    // The schedule of its generation destroys it.
    let due = json!({"nodeId": warm.id, "generation": 3});
    assert_eq!(response(runtime.invoke(due, LIMIT).await), json!(true));
    let node = store.get_node(&warm.id).await.expect("read").expect("node");
    assert_eq!(node.status, NodeStatus::Destroyed);
    assert!(runtime.init_error().is_none());
}
