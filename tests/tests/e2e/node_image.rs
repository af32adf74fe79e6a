//! The node image (infra/node-image) and the launch that configures it agree: the user data
//! the EC2 provisioner writes is a configuration the node agent accepts, in the file and
//! under the service the image installs; and `hangar-agent agent-env` turns a Secrets
//! Manager secret (moto here) into the coding agent's root-only environment file.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use hangar_agent::agent_env::AgentEnvConfig;
use hangar_agent::config::{FromEnv, NodeConfig};
use hangar_agent::node::isolation::Isolation;
use hangar_functions::adapters::ec2::user_data;
use hangar_functions::config::Ec2Config;
use hangar_functions::domain::ports::NodeLaunch;
use hangar_protocol::tasks::VmSize;
use hangar_protocol::{NodeId, ProjectId};
use hangar_tests::agent::workspace_binary;
use hangar_tests::{aws_endpoint, unique};

const IMAGE: &str = "../infra/node-image";

fn image_file(name: &str) -> String {
    std::fs::read_to_string(Path::new(IMAGE).join(name)).expect(name)
}

/// The `KEY="value"` lines cloud-init writes to /etc/hangar/agent.env, as systemd reads them.
fn environment_of(user_data: &str) -> HashMap<String, String> {
    user_data
        .lines()
        .map(str::trim)
        .filter_map(|line| line.split_once("=\""))
        .filter(|(key, _)| key.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(|(key, value)| {
            let value = value.strip_suffix('"').expect("quoted");
            (
                key.to_string(),
                value.replace("\\\"", "\"").replace("\\\\", "\\"),
            )
        })
        .collect()
}

#[test]
fn the_user_data_is_a_configuration_the_images_node_agent_accepts() {
    let config = Ec2Config {
        ami_id: "ami-12c6146b".into(),
        subnet_id: None,
        security_group_ids: Vec::new(),
        instance_profile: Some("hangar-node".into()),
        instance_types: vec![(VmSize::Small, "t3.medium".into())],
        stack: "hangar".into(),
        acp_command: "claude-code-acp".into(),
        agent_env_secret_arn: Some("arn:aws:secretsmanager:eu-west-1:1:secret:env".into()),
        endpoint: None,
    };
    let launch = NodeLaunch {
        node_id: NodeId::new(),
        project_id: ProjectId::parse("p").expect("id"),
        size: VmSize::Small,
        api_url: "https://api.example".into(),
        socket_url: "wss://ws.example/live".into(),
        node_token: "node.jwt.token".into(),
    };
    let data = user_data(&launch, &config);
    let env = environment_of(&data);
    let node = NodeConfig::from_vars(&env).expect("the node agent accepts the user data");
    assert_eq!(node.node_id, launch.node_id);
    assert_eq!(node.isolation, Isolation::UserPerWorkspace);
    assert_eq!(node.acp.command, vec!["claude-code-acp".to_string()]);
    let agent_env = AgentEnvConfig::from_vars(&env).expect("agent-env accepts it too");
    assert_eq!(agent_env.secret_arn, config.agent_env_secret_arn);

    // Written where the image's services read it, and the service it starts is the image's.
    assert!(data.contains("- path: /etc/hangar/agent.env"), "{data}");
    assert!(
        data.contains("[systemctl, enable, --now, hangar-agent.service]"),
        "{data}"
    );
    let agent_unit = image_file("hangar-agent.service");
    for line in [
        "EnvironmentFile=/etc/hangar/agent.env",
        "EnvironmentFile=-/etc/hangar/acp.env",
        "ExecStart=/usr/local/bin/hangar-agent node",
        "Requires=hangar-node-env.service hangar-imds-guard.service",
        // The node directory of the user data.
        "StateDirectory=hangar",
    ] {
        assert!(
            agent_unit.lines().any(|l| l == line),
            "hangar-agent.service lacks {line}"
        );
    }
    assert_eq!(node.dir, Path::new("/var/lib/hangar"));
    let env_unit = image_file("hangar-node-env.service");
    assert!(env_unit.contains("ExecStart=/usr/local/bin/hangar-agent agent-env"));
    assert!(env_unit.contains("EnvironmentFile=/etc/hangar/agent.env"));
    let setup = image_file("setup.sh");
    assert!(setup.contains("install -m 0755 /tmp/hangar-agent /usr/local/bin/hangar-agent"));
    for unit in [
        "hangar-agent.service",
        "hangar-node-env.service",
        "hangar-imds-guard.service",
    ] {
        assert!(
            setup.contains(&format!("\"$here/{unit}\"")),
            "setup.sh installs {unit}"
        );
    }
    // The metadata service is root's only, and the guard's rule says so.
    let guard = image_file("imds-guard");
    assert!(guard.contains("-d 169.254.169.254 -m owner ! --uid-owner 0 -j REJECT"));
    for script in [
        format!("{IMAGE}/setup.sh"),
        format!("{IMAGE}/imds-guard"),
        "../scripts/build-node-image".to_string(),
    ] {
        let checked = Command::new("bash")
            .args(["-n", &script])
            .status()
            .expect("bash");
        assert!(checked.success(), "{script} is not valid bash");
    }
}

/// Runs `hangar-agent agent-env` against the loopback Secrets Manager.
fn agent_env(arn: Option<&str>, file: &Path) -> (i32, String) {
    let mut command = Command::new(workspace_binary("hangar-agent"));
    command
        .arg("agent-env")
        .env("HANGAR_AGENT_ENV_FILE", file)
        .env("HANGAR_SECRETS_ENDPOINT", aws_endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("HANGAR_AGENT_ENV_SECRET_ARN");
    if let Some(arn) = arn {
        command.env("HANGAR_AGENT_ENV_SECRET_ARN", arn);
    }
    let output = command.output().expect("hangar-agent runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn agent_env_writes_the_secret_as_a_root_only_environment_file() {
    let sdk = hangar_functions::adapters::aws::sdk_config(Some(&aws_endpoint())).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let secret = |text: &str| {
        let secrets = secrets.clone();
        let text = text.to_string();
        async move {
            let made = secrets
                .create_secret()
                .name(unique("agent-env"))
                .secret_string(text)
                .send()
                .await
                .expect("create the secret");
            made.arn().expect("arn").to_string()
        }
    };
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("acp.env");

    let good = secret("# the coding agent's keys\nANTHROPIC_API_KEY=sk-ant-\"x\"\nOTHER=1\n").await;
    let (code, stderr) = agent_env(Some(&good), &file);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&file).expect("written"),
        "ANTHROPIC_API_KEY=\"sk-ant-\\\"x\\\"\"\nOTHER=\"1\"\n"
    );
    let mode = std::fs::metadata(&file).expect("file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "root only");

    // A secret that would set the node agent's own variables is refused, naming the line
    // and not the value, and the file written before stays as it was.
    let hostile = secret("OK=1\nHANGAR_NODE_TOKEN=forged\n").await;
    let (code, stderr) = agent_env(Some(&hostile), &file);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("line 2") && !stderr.contains("forged"),
        "{stderr}"
    );
    assert!(
        std::fs::read_to_string(&file)
            .expect("kept")
            .contains("ANTHROPIC_API_KEY")
    );

    let (code, stderr) = agent_env(None, &file);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&file).expect("written"),
        "",
        "no secret, no variables"
    );
}
