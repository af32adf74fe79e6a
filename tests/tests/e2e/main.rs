//! The end-to-end tests, one binary with a module per flow: each test starts its own local
//! stack on its own table in the loopback DynamoDB-compatible server (`scripts/test`).

mod adapters;
mod agent;
mod agent_settings;
mod backlog;
mod batching;
mod board;
mod browser;
mod callbacks;
mod checkout_fs;
mod crowd;
mod deploy;
mod drafts;
mod faults;
mod followups;
mod forge;
mod history;
mod identity;
mod ingest;
mod isolation;
mod live;
mod members;
mod node_image;
mod nodes;
mod permissions;
mod pool;
mod projects;
mod quotas;
mod races;
mod repos;
mod retry;
mod shutdown;
mod stack_resources;
mod sweep;
mod tasks;
mod webhooks;
