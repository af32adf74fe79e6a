//! The AWS adapters against the local server that stands in for AWS (moto): EventBridge
//! Scheduler schedules and EC2 instances with their cloud-init user data.

use hangar_functions::adapters::ec2::{Ec2Provisioner, client_token};
use hangar_functions::domain::ports::{NodeLaunch, Provisioner, Scheduler, WarmSchedule};
use hangar_protocol::tasks::{VmSize, WarmTimeoutEvent};
use hangar_protocol::time::now_ms;
use hangar_protocol::{NodeId, ProjectId};
use hangar_tests::aws_proxy::AwsProxy;
use hangar_tests::fixtures::ec2_config;
use hangar_tests::{TestStack, unique};

fn launch(size: VmSize) -> NodeLaunch {
    NodeLaunch {
        node_id: NodeId::new(),
        project_id: ProjectId::parse("p").expect("id"),
        size,
        api_url: "https://api.example".into(),
        socket_url: "wss://ws.example/live".into(),
        node_token: "node.jwt.token".into(),
    }
}

#[tokio::test]
async fn the_scheduler_adapter_round_trips_schedules_through_the_local_server() {
    let stack = TestStack::start().await;
    let scheduler = &stack.stack.scheduler;
    let event = WarmTimeoutEvent {
        node_id: NodeId::new(),
        generation: 7,
    };
    let at_ms = (now_ms() / 1000 + 3_600) * 1000;
    let schedule = WarmSchedule {
        name: WarmSchedule::name_for(&event),
        at_ms,
        event,
    };
    scheduler.create(&schedule).await.expect("create");
    assert_eq!(
        scheduler.list().await.expect("list"),
        vec![schedule.clone()]
    );
    scheduler.delete(&schedule.name).await.expect("delete");
    scheduler
        .delete(&schedule.name)
        .await
        .expect("deleting twice is fine");
    assert!(scheduler.list().await.expect("list").is_empty());
}

#[tokio::test]
async fn the_ec2_provisioner_launches_and_terminates_instances_with_cloud_init() {
    let stack = unique("stack");
    let provisioner =
        Ec2Provisioner::connect(&ec2_config(&stack, hangar_tests::aws_endpoint())).await;
    let launch = launch(VmSize::Medium);
    let instance_id = provisioner.provision(&launch).await.expect("run instance");

    let described = provisioner
        .client()
        .describe_instances()
        .instance_ids(&instance_id)
        .send()
        .await
        .expect("describe");
    let instance = described.reservations()[0].instances()[0].clone();
    assert_eq!(
        instance.instance_type().map(|t| t.as_str()),
        Some("t3.xlarge")
    );
    let tags: Vec<(String, String)> = instance
        .tags()
        .iter()
        .map(|tag| {
            (
                tag.key().unwrap_or_default().to_string(),
                tag.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        tags.contains(&("hangar:node-id".to_string(), launch.node_id.to_string())),
        "{tags:?}"
    );
    assert!(
        tags.contains(&("hangar:stack".to_string(), stack.clone())),
        "{tags:?}"
    );
    let metadata = instance.metadata_options().expect("metadata options");
    assert_eq!(
        metadata.http_tokens().map(|t| t.as_str()),
        Some("required"),
        "IMDSv2 only"
    );
    let attribute = provisioner
        .client()
        .describe_instance_attribute()
        .instance_id(&instance_id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .expect("user data");
    use base64::Engine;
    let encoded = attribute
        .user_data()
        .and_then(|value| value.value())
        .expect("user data set");
    let user_data = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64"),
    )
    .expect("utf8");
    assert!(user_data.starts_with("#cloud-config"), "{user_data}");
    assert!(user_data.contains(&format!("NODE_ID=\"{}\"", launch.node_id)));
    assert!(user_data.contains("HANGAR_NODE_TOKEN=\"node.jwt.token\""));
    assert!(
        user_data.contains("HANGAR_SOCKET_URL=\"wss://ws.example/live\""),
        "{user_data}"
    );
    assert!(user_data.contains("systemctl, enable, --now, hangar-agent.service"));
    assert!(
        user_data.contains("HANGAR_ACP_COMMAND=\"claude-code-acp\""),
        "{user_data}"
    );
    assert!(
        user_data.contains("HANGAR_WORKSPACE_USERS=\"true\""),
        "{user_data}"
    );
    assert!(
        user_data.contains("HANGAR_AGENT_ENV_SECRET_ARN=\"arn:aws:secretsmanager:"),
        "{user_data}"
    );
    assert!(
        !user_data.contains("169.254.169.254"),
        "no metadata lookups by the node"
    );

    provisioner.destroy(&instance_id).await.expect("terminate");
    let described = provisioner
        .client()
        .describe_instances()
        .instance_ids(&instance_id)
        .send()
        .await
        .expect("describe");
    let state = described.reservations()[0].instances()[0]
        .state()
        .and_then(|s| s.name())
        .map(|n| n.as_str().to_string());
    assert!(
        matches!(state.as_deref(), Some("terminated" | "shutting-down")),
        "{state:?}"
    );
    provisioner
        .destroy("i-00000000000000000")
        .await
        .expect("an unknown instance is already gone");
}

/// moto does not honour ClientToken, so a second RunInstances would make a second instance:
/// the test shows the adapter never sends one (it looks the node's instance up first) and
/// that the one it sent carries the node's token.
#[tokio::test]
async fn a_retried_launch_whose_answer_was_lost_never_makes_a_second_instance() {
    let proxy = AwsProxy::start(hangar_tests::aws_endpoint()).await;
    let stack = unique("stack");
    let provisioner = Ec2Provisioner::connect(&ec2_config(&stack, proxy.url.clone())).await;
    let launch = launch(VmSize::Small);
    proxy.lose_answer_to("Action=RunInstances");
    let instance = provisioner.provision(&launch).await.expect("provision");

    let launches = proxy.bodies_with("Action=RunInstances");
    assert_eq!(launches.len(), 1, "one launch, then a lookup found it");
    let token = format!("ClientToken={}", client_token(&launch.node_id));
    assert!(launches[0].contains(&token), "{}", launches[0]);
    let found = provisioner.list().await.expect("list");
    let of_node: Vec<_> = found
        .iter()
        .filter(|i| i.node_id.as_ref() == Some(&launch.node_id))
        .collect();
    assert_eq!(of_node.len(), 1, "{found:?}");
    assert_eq!(of_node[0].provider_id, instance);
    // Asked again (a retried provision step), it answers the same instance.
    assert_eq!(
        provisioner.provision(&launch).await.expect("again"),
        instance
    );
    assert_eq!(proxy.bodies_with("Action=RunInstances").len(), 1);
    provisioner.destroy(&instance).await.expect("terminate");
}

/// A signing function's cold start: the key comes from Secrets Manager (moto here), and the
/// tokens it mints verify with the public key. Environment variables are process-wide, and
/// nextest runs every test in a process of its own.
#[tokio::test]
async fn a_signing_function_reads_its_key_from_secrets_manager_at_cold_start() {
    use hangar_functions::lambda::catalog;
    use hangar_functions::lambda::state::from_env;

    let stack = TestStack::start().await;
    let (endpoint, aws) = (
        hangar_tests::dynamodb_endpoint(),
        hangar_tests::aws_endpoint(),
    );
    let sdk = hangar_functions::adapters::aws::sdk_config(Some(&aws)).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let secret = secrets
        .create_secret()
        .name(unique("signing-key"))
        .secret_string(stack.keys.callback_private_pem.replace('\n', "\\n"))
        .send()
        .await
        .expect("create the secret");
    let arn = secret.arn().expect("arn").to_string();
    let vars = [
        ("HANGAR_LAMBDA", "node-assignments".to_string()),
        ("HANGAR_TABLE_NAME", stack.stack.config.table_name.clone()),
        ("HANGAR_DYNAMODB_ENDPOINT", endpoint.clone()),
        (
            "HANGAR_CALLBACK_PUBLIC_KEY",
            stack.keys.callback_public_pem.clone(),
        ),
        (
            "HANGAR_OIDC_ISSUER",
            stack.stack.identity.issuer().to_string(),
        ),
        ("HANGAR_OIDC_CLIENT_ID", "hangar-web".to_string()),
        ("HANGAR_SIGNING_KEY_SECRET_ARN", arn),
        ("HANGAR_SECRETS_ENDPOINT", aws.clone()),
        ("HANGAR_PUBLIC_API_URL", "https://api.example".to_string()),
        (
            "HANGAR_NODE_SOCKET_URL",
            "wss://ws.example/live".to_string(),
        ),
    ];
    for (name, value) in &vars {
        // SAFETY: this test's process runs no other test (nextest), and nothing else reads
        // the environment while it is set.
        unsafe { std::env::set_var(name, value) };
    }
    let lambda = catalog::lambda("node-assignments").expect("in the catalog");
    let (state, _config) = from_env(&lambda).await.expect("cold start");
    let workspace = hangar_protocol::WorkspaceId::new();
    let token = state
        .tasks
        .tokens
        .workspace_token(&workspace, 60)
        .expect("mint");
    state
        .auth
        .verify_callback(Some(&format!("Bearer {token}")), &workspace)
        .expect("the minted token verifies with the public key");

    // A function that does not sign never reads it, even with the variable set.
    let reader = catalog::lambda("list-messages").expect("in the catalog");
    let (state, _config) = from_env(&reader).await.expect("cold start");
    assert!(state.tasks.tokens.workspace_token(&workspace, 60).is_err());
}
