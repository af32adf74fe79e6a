//! The HTTP boundary: the route table ([`routes`]), typed extractors ([`extract`]), token
//! checks ([`auth`]) and the one error map ([`error`]). The local stack mounts every route in
//! one router; each Lambda mounts its own.

mod archive;
pub mod auth;
mod callbacks;
pub mod error;
pub mod extract;
mod projects;
pub mod routes;
mod sessions;
mod user_tokens;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::MethodRouter;
use hangar_protocol::{ErrorCode, UserId};

use self::auth::{Authenticator, Peer};
pub use self::error::ApiError;
use self::routes::{ROUTES, Route};
use crate::adapters::tokens::KeyError;
use crate::config::{Config, OidcConfig};
use crate::domain::NodeRelease;
use crate::domain::api_tokens;
use crate::domain::forge::Forges;
use crate::domain::live::Live;
use crate::domain::pool::Pool;
use crate::domain::ports::{
    CredentialVault, Forge, PortError, Provisioner, Push, Scheduler, Store, Tokens, Webhooks,
};
use crate::domain::tasks::{ControlPlaneAddress, Tasks};

/// Everything a handler needs, built once per process (Lambda cold start, local stack start).
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub auth: Arc<Authenticator>,
    pub tasks: Arc<Tasks>,
    pub live: Arc<Live>,
    /// What the page is told before anyone signs in.
    pub site: Arc<Site>,
}

/// The sign-in settings and WebSocket URL the page reads from `GET /api/config`.
pub struct Site {
    pub oidc: OidcConfig,
    pub ws_url: Option<String>,
    pub dev_token_sign_in: bool,
}

/// The outside world a control plane runs against (a function lacking a need gets an
/// [`crate::adapters::absent::Absent`] port for it).
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub scheduler: Arc<dyn Scheduler>,
    pub provisioner: Arc<dyn Provisioner>,
    pub push: Arc<dyn Push>,
    pub tokens: Arc<dyn Tokens>,
    pub vault: Arc<dyn CredentialVault>,
    pub forge: Arc<dyn Forge>,
    pub webhooks: Arc<dyn Webhooks>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("configuration: {0}")]
    Config(#[from] hangar_protocol::config::ConfigError),
    #[error("keys: {0}")]
    Key(#[from] KeyError),
    #[error("{0}")]
    Port(#[from] PortError),
}

impl AppState {
    /// Wires the domain services to `ports` under `config`.
    pub fn new(config: &Config, ports: Ports) -> Result<Self, StartupError> {
        let live = Arc::new(Live {
            store: Arc::clone(&ports.store),
            push: ports.push,
            caps: config.connection_caps,
            webhooks: ports.webhooks,
        });
        let pool = Arc::new(Pool {
            store: ports.store.clone(),
            scheduler: ports.scheduler,
            provisioner: ports.provisioner,
            timeouts: config.timeouts,
            quotas: config.quotas,
            release: NodeRelease {
                agent_version: config.node_agent_version.clone(),
                image: config.ec2.as_ref().map(|ec2| ec2.ami_id.clone()),
            },
        });
        let tasks = Tasks {
            store: Arc::clone(&ports.store),
            pool,
            tokens: ports.tokens,
            live: Arc::clone(&live),
            address: config
                .signing
                .as_ref()
                .map(|signing| ControlPlaneAddress {
                    api_url: signing.public_api_url.clone(),
                    socket_url: signing.node_socket_url.clone(),
                })
                .unwrap_or_default(),
            timeouts: config.timeouts,
            repos: config.repos.clone(),
            forges: Forges {
                vault: ports.vault,
                forge: ports.forge,
                ui_origin: config
                    .forge
                    .as_ref()
                    .map(|forge| forge.ui_origin.clone())
                    .unwrap_or_default(),
            },
            dispatch: tokio::sync::Mutex::new(()),
        };
        Ok(AppState {
            store: ports.store,
            auth: Arc::new(Authenticator::from_config(config)?),
            tasks: Arc::new(tasks),
            live,
            site: Arc::new(Site {
                oidc: config.oidc.clone(),
                ws_url: config.public_ws_url.clone(),
                dev_token_sign_in: config.dev_token_sign_in,
            }),
        })
    }
}

/// `$connect` of the WebSocket API (the Lambda and the local hub alike): a viewer with a user
/// token and `projectId`, or a node with its node token.
pub async fn connect(
    state: &AppState,
    connection_id: &str,
    token: Option<&str>,
    project: Option<&str>,
) -> Result<(), ApiError> {
    // A personal API token (a command line following a project) opens a viewer's socket.
    if let Some(token) = token.map(str::trim).filter(|t| api_tokens::is_api_token(t)) {
        let user = user_of_token(state, token).await?;
        state.live.connect(connection_id, &user, project).await?;
        return Ok(());
    }
    match state.auth.verify_connect(token).await? {
        Peer::User(user) => {
            state.live.connect(connection_id, &user, project).await?;
        }
        Peer::Node(node) => {
            state.live.connect_node(connection_id, &node).await?;
        }
    }
    Ok(())
}

/// The user a bearer token names: a personal API token (looked up in the store) or an
/// access token of the identity provider (checked against its keys).
pub async fn user_of_token(state: &AppState, token: &str) -> Result<UserId, ApiError> {
    if !api_tokens::is_api_token(token) {
        return state.auth.verify_user_token(token).await;
    }
    match api_tokens::authenticate(state.store.as_ref(), token).await? {
        Ok(user) => Ok(user),
        Err(api_tokens::Refusal::Expired) => Err(ApiError::unauthorized(
            ErrorCode::TokenExpired,
            "the API token has expired; make a new one",
        )),
        Err(api_tokens::Refusal::Unknown) => Err(ApiError::unauthorized(
            ErrorCode::InvalidToken,
            "the API token is not known (revoked, or mistyped)",
        )),
    }
}

/// Bodies above this are refused before they are read; batch limits are checked after, with
/// their own codes, so the cap only has to be above `MSG_BATCH_MAX_BYTES`.
const BODY_READ_LIMIT: usize = 1024 * 1024;

/// Every route: the local stack.
pub fn router(state: AppState) -> Router {
    build(state, |_| true)
}

/// Only the routes served by one Lambda.
pub fn lambda_router(lambda: &str, state: AppState) -> Router {
    build(state, |route| route.lambda == lambda)
}

fn build(state: AppState, keep: impl Fn(&Route) -> bool) -> Router {
    // One method router per path, so GET and POST of a path share it and its fallback.
    let mut paths: Vec<(&str, MethodRouter<AppState>)> = Vec::new();
    for route in ROUTES.iter().filter(|route| keep(route)) {
        let method_router = match route.method_router() {
            Ok(method_router) => method_router,
            Err(err) => {
                tracing::error!(error = %err, "a route of the table cannot be mounted");
                continue;
            }
        };
        match paths.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(method_router),
            None => paths.push((route.path, method_router)),
        }
    }
    let mut router = Router::new();
    for (path, method_router) in paths {
        router = router.route(path, method_router.fallback(method_not_allowed));
    }
    router
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_READ_LIMIT))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        ErrorCode::RouteNotFound,
        "no such route",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this route does not accept that method",
    )
}
