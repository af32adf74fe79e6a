//! A port a function was not given. Each Lambda wires only the ports its needs name (see
//! `lambda::catalog`); reaching one it lacks is a bug in the catalog, reported as a failure
//! that names the missing need rather than a call AWS would refuse anyway.

use async_trait::async_trait;
use hangar_protocol::{NodeId, WorkspaceId};

use hangar_protocol::ProjectId;
use hangar_protocol::forge::{ForgeView, GitHubApp};

use crate::domain::ports::{
    CredentialVault, Delivery, Forge, ForgeError, Instance, NodeLaunch, PortError, Provisioner,
    PullRequest, Push, Scheduler, Tokens, VaultSlot, WarmSchedule,
};

/// Stands in for the port of a need the function does not have.
pub struct Absent(pub &'static str);

impl Absent {
    fn refuse(&self) -> PortError {
        PortError::Failed(format!("this function was not given {}", self.0))
    }
}

#[async_trait]
impl Scheduler for Absent {
    async fn create(&self, _: &WarmSchedule) -> Result<(), PortError> {
        Err(self.refuse())
    }
    async fn delete(&self, _: &str) -> Result<(), PortError> {
        Err(self.refuse())
    }
    async fn list(&self) -> Result<Vec<WarmSchedule>, PortError> {
        Err(self.refuse())
    }
}

#[async_trait]
impl Provisioner for Absent {
    async fn provision(&self, _: &NodeLaunch) -> Result<String, PortError> {
        Err(self.refuse())
    }
    async fn destroy(&self, _: &str) -> Result<(), PortError> {
        Err(self.refuse())
    }
    async fn list(&self) -> Result<Vec<Instance>, PortError> {
        Err(self.refuse())
    }
}

#[async_trait]
impl Push for Absent {
    async fn post(&self, _: &str, _: &str) -> Result<Delivery, PortError> {
        Err(self.refuse())
    }
}

impl Tokens for Absent {
    fn workspace_token(&self, _: &WorkspaceId, _: u64) -> Result<String, PortError> {
        Err(self.refuse())
    }
    fn node_token(&self, _: &NodeId, _: u64) -> Result<String, PortError> {
        Err(self.refuse())
    }
}

#[async_trait]
impl CredentialVault for Absent {
    async fn put(&self, _: &ProjectId, _: VaultSlot, _: &str) -> Result<(), PortError> {
        Err(self.refuse())
    }
    async fn get(&self, _: &ProjectId, _: VaultSlot) -> Result<Option<String>, PortError> {
        Err(self.refuse())
    }
    async fn delete(&self, _: &ProjectId, _: VaultSlot) -> Result<(), PortError> {
        Err(self.refuse())
    }
}

#[async_trait]
impl Forge for Absent {
    async fn open_pull_request(
        &self,
        _: &ForgeView,
        _: &str,
        _: &PullRequest,
    ) -> Result<String, ForgeError> {
        Err(ForgeError::Unreachable(self.refuse().to_string()))
    }
    async fn installation_token(&self, _: &ForgeView, _: &GitHubApp) -> Result<String, ForgeError> {
        Err(ForgeError::Unreachable(self.refuse().to_string()))
    }
}
