//! Hangar control plane, as a hexagon:
//!
//! - [`domain`]: the flows (ingest, history, projects, tasks, pool, sweep, live), the
//!   records with their state changes, the ports, and the domain error. No AWS type, no
//!   HTTP status.
//! - [`adapters`]: the ports on AWS (DynamoDB, EventBridge Scheduler, EC2, the API Gateway
//!   Management API), on HTTP (node agents) and on JWTs (token minting).
//! - [`http`]: the route table with its handlers, typed extractors, token checks, and the
//!   one map from domain errors to statuses and codes.
//! - [`lambda`]: what the Lambda mains share (`src/bin/*`, one thin main per Lambda) and the
//!   production wiring.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod http;
pub mod lambda;
pub mod telemetry;

pub use http::{AppState, Ports};
