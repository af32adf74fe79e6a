//! `hangar-local`: the whole control plane in one process for development.
//! Started by `scripts/dev`, which also runs the loopback DynamoDB-compatible server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use hangar_functions::config::{self, Vars};
use hangar_functions::domain::records::Project;

use hangar_infra::{DevKeys, LocalNodeOptions, LocalStack, StackOptions};
use hangar_protocol::permissions::PermissionSettings;
use hangar_protocol::tasks::VmSize;
use hangar_protocol::{ProjectId, UserId};

const DEV_USER: &str = "dev-user";
const DEMO_PROJECT: &str = "demo";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

async fn run() -> Result<(), String> {
    let dynamodb_endpoint = std::env::var("HANGAR_DYNAMODB_ENDPOINT")
        .map_err(|_| "HANGAR_DYNAMODB_ENDPOINT is required (scripts/dev sets it to the loopback DynamoDB server)".to_string())?;
    let listen: SocketAddr = env_or("HANGAR_LISTEN", "127.0.0.1:8080")
        .parse()
        .map_err(|err| format!("HANGAR_LISTEN is not a socket address: {err}"))?;
    let state_dir = PathBuf::from(env_or("HANGAR_STATE_DIR", ".local"));
    let keys = DevKeys::load_or_generate(&state_dir.join("dev-keys.json"))
        .map_err(|err| err.to_string())?;
    let web_root = PathBuf::from(env_or("HANGAR_WEB_ROOT", "web/dist"));

    // The node agent and the scripted ACP agent are built beside this binary.
    let bin_dir = std::env::current_exe()
        .map_err(|err| err.to_string())?
        .parent()
        .map(PathBuf::from)
        .ok_or("cannot locate the build directory")?;
    let nodes = LocalNodeOptions {
        agent_binary: bin_dir.join("hangar-agent"),
        acp_command: env_or(
            "HANGAR_ACP_COMMAND",
            &bin_dir.join("scripted-acp-agent").display().to_string(),
        ),
        base_dir: state_dir.join("nodes"),
        env: Vec::new(),
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    let vars = Vars(&env);
    let stack = LocalStack::start(StackOptions {
        aws_endpoint: env_or("HANGAR_AWS_ENDPOINT", &dynamodb_endpoint),
        dynamodb_endpoint,
        table_name: env_or("HANGAR_TABLE_NAME", "hangar-local"),
        schedule_group: env_or("HANGAR_SCHEDULE_GROUP", "hangar-local"),
        listen,
        keys: keys.clone(),
        web_root: web_root.is_dir().then_some(web_root),
        nodes,
        // The same variables (and defaults) as the functions on AWS.
        timeouts: config::timeouts(vars).map_err(|err| err.to_string())?,
        quotas: config::quotas(vars).map_err(|err| err.to_string())?,
        connection_caps: config::connection_caps(vars).map_err(|err| err.to_string())?,
        node_agent_version: config::node_agent_version(vars),
        schedule_poll: Duration::from_secs(1),
        sweep_every: Some(Duration::from_secs(60)),
        access_token_ttl: Duration::from_secs(3600),
        // Development: `#token=` and a pasted token sign in too.
        dev_token_sign_in: true,
    })
    .await
    .map_err(|err| err.to_string())?;

    // A project to land on, owned by the development user, on a repository of its own.
    let demo_repo = hangar_infra::demo_repo::seed(&state_dir.join("demo.git"))
        .map_err(|err| format!("cannot make the demo repository: {err}"))?;
    let demo = ProjectId::parse(DEMO_PROJECT).map_err(|err| err.to_string())?;
    let stored = stack
        .state
        .store
        .get_project(&demo)
        .await
        .map_err(|err| err.to_string())?;
    // Made once; a demo project of an older release gets the repository too.
    if stored
        .as_ref()
        .is_none_or(|project| project.repo != demo_repo)
    {
        let owner = UserId::parse(DEV_USER).map_err(|err| err.to_string())?;
        let project = Project {
            id: demo,
            name: "Demo project".into(),
            repo: demo_repo,
            default_branch: "main".into(),
            default_vm_size: VmSize::Small,
            acp_command: None,
            forge: None,
            agent: Default::default(),
            // The demo's agent does what it asks (set "ask" in its settings to see prompts).
            permissions: PermissionSettings::allow_all(),
            webhook: None,
            owner: owner.clone(),
            members: vec![owner],
            invited: Vec::new(),
            archived_at: None,
            created_at: hangar_protocol::time::now_ms(),
            revision: stored.as_ref().map_or(0, |project| project.revision + 1),
        };
        let store = &stack.state.store;
        match &stored {
            None => store.create_project(&project).await,
            Some(old) => store.save_project(&project, old.revision).await,
        }
        .map_err(|err| err.to_string())?;
    }
    // For scripts and `#token=` (development only); the page signs in through the provider.
    let token = stack
        .identity
        .access_token(DEV_USER, 7 * 24 * 3600)
        .map_err(|err| err.to_string())?;
    std::fs::write(state_dir.join("dev-user.jwt"), &token).map_err(|err| err.to_string())?;
    println!("Hangar local stack on {}", stack.url("/"));
    println!(
        "  open the demo project and sign in as Dev User (the stack's own OpenID provider): {}",
        stack.url(&format!("/?project={DEMO_PROJECT}"))
    );
    println!(
        "  or skip signing in (development only): {}",
        stack.url(&format!("/?project={DEMO_PROJECT}#token={token}"))
    );
    println!(
        "  user token for {DEV_USER} (7 days): {}",
        state_dir.join("dev-user.jwt").display()
    );

    tokio::signal::ctrl_c()
        .await
        .map_err(|err| err.to_string())?;
    println!("stopping");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    hangar_functions::telemetry::init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hangar-local: {err}");
            ExitCode::FAILURE
        }
    }
}
