//! The Hangar node agent: hosts an ACP agent, records every chat message in a crash-safe
//! SQLite outbox, and a reporter delivers the outbox to the control plane in batches.

pub mod acp;
pub mod agent_env;
pub mod config;
pub mod control_plane;
pub mod node;
pub mod outbox;
pub mod reporter;
pub mod transcript;
