//! Adapters: the ports of [`crate::domain::ports`] implemented on AWS (DynamoDB, EventBridge
//! Scheduler, EC2, the API Gateway Management API), on HTTP (node agents) and on JWTs.
//! Each AWS adapter builds only its own SDK client.

pub mod absent;
pub mod apigw;
pub mod aws;
pub mod dynamo;
pub mod ec2;
pub mod github;
pub mod oidc;
pub mod scheduler;
pub mod secrets;
pub mod tokens;
pub mod utc;
pub mod webhooks;
