//! One process hosting every HTTP route of the control plane (the same router the Lambdas
//! use), the static UI, a runner that fires due EventBridge schedules (the local server
//! stores them but never fires them), the periodic sweep, and nodes as local processes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hangar_functions::adapters::dynamo::{DynamoStore, table};
use hangar_functions::adapters::github::GitHub;
use hangar_functions::adapters::scheduler::EventBridgeScheduler;
use hangar_functions::adapters::secrets::SecretsVault;
use hangar_functions::adapters::tokens::TokenIssuer;
use hangar_functions::adapters::webhooks::HttpWebhooks;
use hangar_functions::config::{
    Config, ForgeConfig, OidcConfig, SchedulerConfig, SigningConfig, SigningKey, TokenAlgorithm,
};
use hangar_functions::domain::live::ConnectionCaps;
use hangar_functions::domain::ports::{PortError, Scheduler, StoreError};
use hangar_functions::domain::projects::RepoPolicy;
use hangar_functions::domain::{NodeQuotas, Timeouts};
use hangar_functions::http::StartupError;
use hangar_functions::{AppState, Ports};
use hangar_protocol::routes;
use hangar_protocol::time::now_ms;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_http::services::ServeDir;

use crate::hub::LocalHub;
use crate::keys::DevKeys;
use crate::meter::{Meter, count_requests};
use crate::oidc::{self, DevIdentityProvider, ISSUER_PATH, LOCAL_CLIENT_ID};
use crate::provisioner::{LocalNodeOptions, LocalProvisioner};

#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The table's server (moto, or Amazon's DynamoDB Local).
    pub dynamodb_endpoint: String,
    /// The other AWS services' server: Scheduler and Secrets Manager (moto).
    pub aws_endpoint: String,
    pub table_name: String,
    /// Distinct per stack, so stacks sharing one local server do not fire each other's.
    pub schedule_group: String,
    pub listen: SocketAddr,
    pub keys: DevKeys,
    /// Static files of the UI, served at `/` when present.
    pub web_root: Option<PathBuf>,
    pub nodes: LocalNodeOptions,
    pub timeouts: Timeouts,
    pub quotas: NodeQuotas,
    /// Live viewer connections one user may hold.
    pub connection_caps: ConnectionCaps,
    /// The node agent version warm nodes must run (`None`: any).
    pub node_agent_version: Option<String>,
    /// How often the schedule runner looks for due schedules.
    pub schedule_poll: Duration,
    /// How often the sweep runs; `None`: never on its own (tests run it by hand).
    pub sweep_every: Option<Duration>,
    /// How long the local identity provider's access tokens last.
    pub access_token_ttl: Duration,
    /// Whether the page takes a bare access token (`#token=`, pasted), as a development
    /// stack does.
    pub dev_token_sign_in: bool,
}

impl StackOptions {
    /// The design's timeouts.
    pub fn default_timeouts() -> Timeouts {
        Timeouts::default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("cannot create the table: {0}")]
    Table(#[from] StoreError),
    #[error("cannot create the schedule group: {0}")]
    Scheduler(#[from] PortError),
    #[error(transparent)]
    Identity(#[from] oidc::KeyError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running local stack. Dropping it stops serving, firing and sweeping.
pub struct LocalStack {
    pub addr: SocketAddr,
    pub state: AppState,
    pub config: Config,
    pub provisioner: Arc<LocalProvisioner>,
    pub scheduler: Arc<EventBridgeScheduler>,
    pub hub: Arc<LocalHub>,
    /// The stack's OpenID Connect provider.
    pub identity: Arc<DevIdentityProvider>,
    tasks: Vec<JoinHandle<()>>,
}

impl LocalStack {
    /// Schedules go to the loopback server; the stack fires them itself.
    fn scheduler_config(options: &StackOptions) -> SchedulerConfig {
        SchedulerConfig {
            group: options.schedule_group.clone(),
            target_arn: "arn:aws:lambda:us-east-1:000000000000:function:hangar-warm-timeout".into(),
            role_arn: "arn:aws:iam::000000000000:role/hangar-scheduler".into(),
            endpoint: Some(options.aws_endpoint.clone()),
        }
    }

    fn forge_config(options: &StackOptions, api_url: &str) -> ForgeConfig {
        ForgeConfig {
            secret_prefix: format!("hangar/{}/forge/", options.table_name),
            secrets_endpoint: Some(options.aws_endpoint.clone()),
            ui_origin: api_url.to_string(),
        }
    }

    fn config_for(options: &StackOptions, api_url: String) -> Config {
        Config {
            table_name: options.table_name.clone(),
            dynamodb_endpoint: Some(options.dynamodb_endpoint.clone()),
            callback_public_key_pem: options.keys.callback_public_pem.clone(),
            callback_issuer: "hangar-control-plane".into(),
            // The stack's own provider (see [`crate::oidc`]), under its origin.
            oidc: OidcConfig {
                issuer: format!("{api_url}{ISSUER_PATH}"),
                client_id: LOCAL_CLIENT_ID.into(),
                audiences: vec![LOCAL_CLIENT_ID.into()],
                algorithms: vec![
                    TokenAlgorithm::Rs256,
                    TokenAlgorithm::Es256,
                    TokenAlgorithm::EdDsa,
                ],
                jwks_url: None,
                logout_url: None,
                scopes: "openid email profile".into(),
            },
            // The page dials this origin's `/ws`.
            public_ws_url: None,
            dev_token_sign_in: options.dev_token_sign_in,
            signing: Some(SigningConfig {
                key: SigningKey::Pem(options.keys.callback_private_pem.clone()),
                public_api_url: api_url.clone(),
                // Nodes dial the local hub, as EC2 nodes dial the WebSocket API.
                node_socket_url: format!(
                    "{}{}",
                    api_url.replacen("http", "ws", 1),
                    routes::LIVE_SOCKET
                ),
            }),
            // Frames go through the local hub (the stack's Push adapter), not an endpoint.
            push_endpoint: None,
            scheduler: Some(Self::scheduler_config(options)),
            // Nodes are local processes (the stack's Provisioner), not instances.
            ec2: None,
            timeouts: options.timeouts,
            quotas: options.quotas,
            connection_caps: options.connection_caps,
            node_agent_version: options.node_agent_version.clone(),
            // Credentials in the loopback Secrets Manager, under this stack's table name.
            forge: Some(Self::forge_config(options, &api_url)),
            // The local stack's projects clone repositories on this machine.
            repos: RepoPolicy {
                allow_local: true,
                ..RepoPolicy::default()
            },
        }
    }

    pub async fn start(options: StackOptions) -> Result<Self, StackError> {
        let listener =
            TcpListener::bind(options.listen)
                .await
                .map_err(|source| StackError::Listen {
                    addr: options.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| StackError::Listen {
            addr: options.listen,
            source,
        })?;
        let config = Self::config_for(&options, format!("http://{addr}"));

        let store =
            DynamoStore::connect(config.dynamodb_endpoint.as_deref(), &config.table_name).await;
        table::ensure_table(store.client(), store.table()).await?;
        let scheduler =
            Arc::new(EventBridgeScheduler::connect(&Self::scheduler_config(&options)).await);
        scheduler.ensure_group().await?;
        let provisioner = Arc::new(LocalProvisioner::new(options.nodes.clone()));
        let forge = Self::forge_config(&options, &format!("http://{addr}"));
        let hub = Arc::new(LocalHub::default());
        let state = AppState::new(
            &config,
            Ports {
                store: Arc::new(store),
                scheduler: scheduler.clone(),
                provisioner: provisioner.clone(),
                push: hub.clone(),
                tokens: Arc::new(
                    TokenIssuer::from_pem(
                        &options.keys.callback_private_pem,
                        config.callback_issuer.clone(),
                    )
                    .map_err(StartupError::Key)?,
                ),
                vault: Arc::new(
                    SecretsVault::connect(&forge.secret_prefix, forge.secrets_endpoint.as_deref())
                        .await,
                ),
                forge: Arc::new(
                    GitHub::new()
                        .map_err(|err| StartupError::Port(PortError::Failed(err.to_string())))?,
                ),
                webhooks: Arc::new(
                    HttpWebhooks::new()
                        .map_err(|err| StartupError::Port(PortError::Failed(err.to_string())))?,
                ),
            },
        )?;

        let identity = Arc::new(
            DevIdentityProvider::new(
                config.oidc.issuer.clone(),
                &options.keys.user_private_pem,
                options.access_token_ttl.as_secs().max(1),
            )
            .map_err(StackError::Identity)?,
        );
        let meter = Arc::clone(&hub.meter);
        let metered = axum::middleware::from_fn_with_state(Arc::clone(&meter), count_requests);
        let mut app = hangar_functions::http::router(state.clone())
            .route_layer(metered)
            .merge(hub.router(state.clone()))
            .merge(oidc::router(identity.clone()));
        if let Some(root) = &options.web_root {
            app = app.fallback_service(ServeDir::new(root).append_index_html_on_directories(true));
        }
        let mut tasks = vec![tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(error = %err, "local stack server stopped");
            }
        })];
        tasks.push(tokio::spawn(fire_due_schedules(
            state.clone(),
            scheduler.clone(),
            Arc::clone(&meter),
            options.schedule_poll,
        )));
        if let Some(every) = options.sweep_every {
            tasks.push(tokio::spawn(sweep_periodically(state.clone(), every)));
        }
        tracing::info!(%addr, table = %config.table_name, "local stack listening");
        Ok(LocalStack {
            addr,
            state,
            config,
            provisioner,
            scheduler,
            hub,
            identity,
            tasks,
        })
    }

    /// Names of the stack's schedules still waiting.
    pub async fn scheduler_names(&self) -> Vec<String> {
        self.scheduler
            .list()
            .await
            .map(|schedules| {
                schedules
                    .into_iter()
                    .map(|schedule| schedule.name)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }
}

/// Stands in for EventBridge Scheduler firing: invokes the warm timeout for every due
/// schedule, then deletes it (the schedules ask for deletion after completion).
async fn fire_due_schedules(
    state: AppState,
    scheduler: Arc<EventBridgeScheduler>,
    meter: Arc<Meter>,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        let schedules = match scheduler.list().await {
            Ok(schedules) => schedules,
            Err(err) => {
                tracing::warn!(error = %err, "cannot list schedules");
                continue;
            }
        };
        let now = now_ms();
        for schedule in schedules
            .into_iter()
            .filter(|schedule| schedule.at_ms <= now)
        {
            let started = std::time::Instant::now();
            let fired = state.tasks.warm_timeout(&schedule.event).await;
            meter.invoked("warm-timeout", started.elapsed());
            match fired {
                Ok(outcome) => {
                    tracing::info!(schedule = %schedule.name, ?outcome, "fired a warm timeout")
                }
                Err(err) => {
                    tracing::warn!(schedule = %schedule.name, error = %err, "warm timeout failed")
                }
            }
            if let Err(err) = scheduler.delete(&schedule.name).await {
                tracing::warn!(schedule = %schedule.name, error = %err, "cannot delete a fired schedule");
            }
        }
    }
}

async fn sweep_periodically(state: AppState, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        // Each failed step is logged by the sweep itself.
        state.tasks.sweep().await;
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
