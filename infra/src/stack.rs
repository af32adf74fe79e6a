//! One process hosting every HTTP route of the control plane (the same router the Lambdas
//! use) and the static UI.

use std::net::SocketAddr;
use std::path::PathBuf;

use hangar_functions::AppState;
use hangar_functions::config::{Config, UserTokenAlgorithm};
use hangar_functions::dynamo::{DynamoStore, table};
use hangar_functions::ports::StoreError;
use hangar_functions::state::StartupError;
use hangar_protocol::limits;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_http::services::ServeDir;

use crate::keys::{DEV_USER_ISSUER, DevKeys};

#[derive(Debug, Clone)]
pub struct StackOptions {
    pub dynamodb_endpoint: String,
    pub table_name: String,
    pub listen: SocketAddr,
    pub keys: DevKeys,
    /// Static files of the UI, served at `/` when present.
    pub web_root: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("cannot create the table: {0}")]
    Table(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running local stack. Dropping it stops serving.
pub struct LocalStack {
    pub addr: SocketAddr,
    pub state: AppState,
    pub config: Config,
    server: JoinHandle<()>,
}

impl LocalStack {
    pub fn config_for(options: &StackOptions) -> Config {
        Config {
            table_name: options.table_name.clone(),
            dynamodb_endpoint: Some(options.dynamodb_endpoint.clone()),
            callback_public_key_pem: options.keys.callback_public_pem.clone(),
            callback_issuer: "hangar-control-plane".into(),
            user_public_key_pem: options.keys.user_public_pem.clone(),
            user_token_algorithm: UserTokenAlgorithm::EdDsa,
            user_issuer: DEV_USER_ISSUER.into(),
            node_warm_timeout_ms: limits::NODE_WARM_TIMEOUT_MS,
            max_auto_node_lifetime_ms: limits::MAX_AUTO_NODE_LIFETIME_MS,
        }
    }

    pub async fn start(options: StackOptions) -> Result<Self, StackError> {
        let config = Self::config_for(&options);
        let store =
            DynamoStore::connect(config.dynamodb_endpoint.as_deref(), &config.table_name).await;
        table::ensure_table(store.client(), store.table()).await?;
        let state = AppState::from_config(&config).await?;

        let mut app = hangar_functions::http::router(state.clone());
        if let Some(root) = &options.web_root {
            app = app.fallback_service(ServeDir::new(root).append_index_html_on_directories(true));
        }
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
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(error = %err, "local stack server stopped");
            }
        });
        tracing::info!(%addr, table = %config.table_name, "local stack listening");
        Ok(LocalStack {
            addr,
            state,
            config,
            server,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        self.server.abort();
    }
}
