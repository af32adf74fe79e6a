//! The local stack: every control-plane handler in one process against a DynamoDB-compatible
//! server on loopback, its own WebSocket gateway, plus development keys and tokens. Tests start it in-process too.

pub mod demo_repo;
pub mod hub;
pub mod keys;
pub mod meter;
pub mod oidc;
pub mod provisioner;
pub mod stack;
pub mod template;

pub use hub::LocalHub;
pub use keys::DevKeys;
pub use oidc::DevIdentityProvider;
pub use provisioner::{LocalNodeOptions, LocalProvisioner};
pub use stack::{LocalStack, StackOptions};
