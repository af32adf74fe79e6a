//! The stack's custom resources (`stack-resources`) against moto for Secrets Manager and EC2,
//! and a local server in the place of CloudFormation's pre-signed response URL, which
//! implements its documented contract: the answer is PUT there as JSON, without a content
//! type. CloudFormation itself cannot be reached from here.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::put;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePublicKey};
use hangar_functions::adapters::ec2::Ec2Provisioner;
use hangar_functions::domain::ports::{NodeLaunch, Provisioner};
use hangar_functions::lambda::custom_resources::{CustomResourceEvent, StackResources};
use hangar_protocol::tasks::VmSize;
use hangar_protocol::{NodeId, ProjectId};
use hangar_tests::fixtures::ec2_config;
use hangar_tests::unique;
use serde_json::{Value, json};

/// One PUT to the response URL: its content type and body.
type Answer = (Option<String>, Value);

/// What CloudFormation's response URL received.
#[derive(Clone, Default)]
struct Answers(Arc<Mutex<Vec<Answer>>>);

impl Answers {
    async fn serve(&self) -> String {
        let answers = self.clone();
        let app = Router::new().route(
            "/cloudformation-response",
            put(move |headers: HeaderMap, body: Bytes| {
                let answers = answers.clone();
                async move {
                    let content_type = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .map(String::from);
                    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    answers
                        .0
                        .lock()
                        .expect("answers")
                        .push((content_type, body));
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/cloudformation-response")
    }

    fn all(&self) -> Vec<Answer> {
        self.0.lock().expect("answers").clone()
    }
}

fn event(kind: &str, request: &str, url: &str, properties: Value) -> CustomResourceEvent {
    serde_json::from_value(json!({
        "RequestType": request,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:000000000000:stack/hangar/1b2c3d4e",
        "RequestId": unique("request"),
        "ResourceType": kind,
        "LogicalResourceId": kind.trim_start_matches("Custom::"),
        "PhysicalResourceId": if request == "Create" { Value::Null } else { json!("kept-id") },
        "ResourceProperties": properties,
    }))
    .expect("a CloudFormation event")
}

async fn resources() -> StackResources {
    let mut resources = StackResources::connect(Some(&hangar_tests::aws_endpoint()))
        .await
        .expect("connect");
    resources.cleanup_poll = std::time::Duration::from_millis(100);
    resources
}

async fn secret_string(arn: &str) -> String {
    let sdk =
        hangar_functions::adapters::aws::sdk_config(Some(&hangar_tests::aws_endpoint())).await;
    aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .expect("read the secret")
        .secret_string()
        .expect("a string")
        .to_string()
}

#[tokio::test]
async fn the_signing_key_is_made_into_its_secret_once_and_answered_by_its_public_half() {
    let answers = Answers::default();
    let url = answers.serve().await;
    let sdk =
        hangar_functions::adapters::aws::sdk_config(Some(&hangar_tests::aws_endpoint())).await;
    // As the template makes it: a generated placeholder until the resource writes the key.
    let arn = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(unique("signing-key"))
        .secret_string("placeholder-Xq3v9LpA7mT2")
        .send()
        .await
        .expect("secret")
        .arn()
        .expect("arn")
        .to_string();
    let resources = resources().await;

    let created = event(
        "Custom::SigningKey",
        "Create",
        &url,
        json!({"SecretArn": arn}),
    );
    let answer = resources.handle(&created).await;
    assert_eq!(answer.status, "SUCCESS", "{}", answer.reason);
    let public = answer.data["PublicKeyPem"]
        .as_str()
        .expect("public half")
        .to_string();
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");
    assert!(!public.contains("PRIVATE"));
    resources
        .respond(&created, &answer)
        .await
        .expect("answered");
    let put = answers.all();
    assert_eq!(put.len(), 1);
    assert_eq!(
        put[0].0.as_deref().unwrap_or_default(),
        "",
        "no content type"
    );
    assert_eq!(put[0].1["Status"], "SUCCESS");
    assert_eq!(put[0].1["Data"]["PublicKeyPem"], public.as_str());
    assert_eq!(put[0].1["RequestId"], created.request_id.as_str());

    // The secret holds the private half of that public key, as the signers read it.
    let private = secret_string(&arn).await;
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&private).expect("a PKCS#8 key");
    assert_eq!(
        key.verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem"),
        public
    );
    // What the private half signs, the public half verifies.
    let signed = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &json!({"sub": "node:n1", "exp": 4_000_000_000u64}),
        &jsonwebtoken::EncodingKey::from_ed_pem(private.as_bytes()).expect("signing key"),
    )
    .expect("signed");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(
        &signed,
        &jsonwebtoken::DecodingKey::from_ed_pem(public.as_bytes()).expect("public key"),
        &validation,
    )
    .expect("verifies");

    // An update keeps the key; the physical id stays.
    let updated = event(
        "Custom::SigningKey",
        "Update",
        &url,
        json!({"SecretArn": arn}),
    );
    let again = resources.handle(&updated).await;
    assert_eq!(
        (again.status.as_str(), again.data["PublicKeyPem"].as_str()),
        ("SUCCESS", Some(public.as_str()))
    );
    assert_eq!(again.physical_resource_id, "kept-id");
    assert_eq!(secret_string(&arn).await, private);

    // What it cannot do is answered FAILED with the reason, not left hanging.
    let missing = event(
        "Custom::SigningKey",
        "Create",
        &url,
        json!({"SecretArn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:no-such-secret"}),
    );
    let failed = resources.handle(&missing).await;
    assert_eq!(failed.status, "FAILED");
    assert!(
        failed.reason.contains("no-such-secret"),
        "{}",
        failed.reason
    );
    let unknown = resources
        .handle(&event("Custom::Mystery", "Create", &url, json!({})))
        .await;
    assert_eq!(unknown.status, "FAILED");
}

async fn launch(provisioner: &Ec2Provisioner) -> String {
    provisioner
        .provision(&NodeLaunch {
            node_id: NodeId::new(),
            project_id: ProjectId::parse("p").expect("id"),
            size: VmSize::Small,
            api_url: "https://api.example".into(),
            socket_url: "wss://ws.example/live".into(),
            node_token: "node.jwt.token".into(),
        })
        .await
        .expect("launch")
}

#[tokio::test]
async fn deleting_the_stack_terminates_its_node_instances_and_no_others() {
    let answers = Answers::default();
    let url = answers.serve().await;
    let (ours, theirs) = (unique("stack"), unique("stack"));
    let our_nodes = Ec2Provisioner::connect(&ec2_config(&ours, hangar_tests::aws_endpoint())).await;
    let their_nodes =
        Ec2Provisioner::connect(&ec2_config(&theirs, hangar_tests::aws_endpoint())).await;
    for _ in 0..2 {
        launch(&our_nodes).await;
    }
    let theirs_left = launch(&their_nodes).await;
    let resources = resources().await;

    // Made and updated with the stack: nothing happens to the nodes.
    for request in ["Create", "Update"] {
        let answer = resources
            .handle(&event(
                "Custom::NodeCleanup",
                request,
                &url,
                json!({"StackName": ours}),
            ))
            .await;
        assert_eq!(answer.status, "SUCCESS", "{request}: {}", answer.reason);
    }
    assert_eq!(our_nodes.list().await.expect("list").len(), 2);

    let deleted = event(
        "Custom::NodeCleanup",
        "Delete",
        &url,
        json!({"StackName": ours}),
    );
    let answer = resources.handle(&deleted).await;
    assert_eq!(answer.status, "SUCCESS", "{}", answer.reason);
    assert_eq!(answer.data["Terminated"], 2);
    assert!(our_nodes.list().await.expect("list").is_empty());
    let left: Vec<String> = their_nodes
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|instance| instance.provider_id)
        .collect();
    assert_eq!(
        left,
        vec![theirs_left.clone()],
        "another stack's node stays"
    );
    their_nodes.destroy(&theirs_left).await.expect("clean up");
}
