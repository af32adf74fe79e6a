//! The AWS adapters against the local server that stands in for AWS (moto): EventBridge
//! Scheduler schedules and EC2 instances with their cloud-init user data.

use hangar_functions::domain::ports::{Scheduler, WarmSchedule};
use hangar_protocol::NodeId;
use hangar_protocol::tasks::{VmSize, WarmTimeoutEvent};
use hangar_protocol::time::now_ms;
use hangar_tests::TestStack;

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
    use hangar_functions::adapters::ec2::Ec2Provisioner;
    use hangar_functions::config::Ec2Config;
    use hangar_functions::domain::ports::{NodeLaunch, Provisioner};

    let config = Ec2Config {
        ami_id: "ami-12c6146b".into(),
        subnet_id: None,
        security_group_ids: Vec::new(),
        instance_profile: None,
        instance_types: vec![
            (VmSize::Small, "t3.medium".into()),
            (VmSize::Medium, "t3.xlarge".into()),
            (VmSize::Large, "t3.2xlarge".into()),
        ],
        agent_port: 7070,
        endpoint: Some(hangar_tests::dynamodb_endpoint()),
    };
    let provisioner = Ec2Provisioner::connect(&config).await;
    let launch = NodeLaunch {
        node_id: NodeId::new(),
        size: VmSize::Medium,
        api_url: "https://api.example".into(),
        node_token: "node.jwt.token".into(),
        control_public_key_pem: "-----BEGIN PUBLIC KEY-----\nMCow\n-----END PUBLIC KEY-----\n"
            .into(),
    };
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
        user_data
            .contains("HANGAR_CONTROL_PLANE_PUBLIC_KEY=\"-----BEGIN PUBLIC KEY-----\\nMCow\\n"),
        "{user_data}"
    );
    assert!(user_data.contains("systemctl, enable, --now, hangar-agent.service"));

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
