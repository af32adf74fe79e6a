//! Hangar control plane.
//!
//! - [`ports`]: what the domain needs from the outside world (the store), as traits and
//!   plain records. No AWS SDK type appears there or in the domain modules.
//! - domain: [`ingest`], [`history`], [`projects`], [`runner`], [`live`].
//! - [`dynamo`]: the DynamoDB adapter of the store port (production and local alike).
//! - [`http`]: the route table, axum handlers and the one place errors become HTTP.
//! - `src/bin/*`: one thin main per Lambda.

pub mod apigw;
pub mod auth;
pub mod aws;
pub mod clock;
pub mod config;
pub mod dynamo;
pub mod ec2;
pub mod error;
pub mod eventbridge;
pub mod history;
pub mod http;
pub mod ingest;
pub mod lambda;
pub mod live;
pub mod node_http;
pub mod ports;
pub mod projects;
pub mod runner;
pub mod state;
pub mod telemetry;

pub use error::ApiError;
pub use state::AppState;
