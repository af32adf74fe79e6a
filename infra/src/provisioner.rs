//! The local provisioner: each node is a child process running the real node agent
//! (`hangar-agent node`), which dials the local stack's socket like an EC2 node dials the
//! WebSocket API, with the scripted ACP agent as its coding agent.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use hangar_functions::domain::ports::{Instance, NodeLaunch, PortError, Provisioner};
use hangar_protocol::NodeId;
use tokio::process::{Child, Command};

#[derive(Debug, Clone)]
pub struct LocalNodeOptions {
    /// The `hangar-agent` binary.
    pub agent_binary: PathBuf,
    /// The ACP agent command line the node runs for each workspace.
    pub acp_command: String,
    /// Where node directories (workspaces, outbox, log) go.
    pub base_dir: PathBuf,
    /// Extra environment for node agents (batching, retry and script settings).
    pub env: Vec<(String, String)>,
}

/// A node process and the node it runs.
struct LocalNode {
    child: Child,
    node: NodeId,
}

pub struct LocalProvisioner {
    options: LocalNodeOptions,
    children: Mutex<HashMap<String, LocalNode>>,
    /// Destroyed nodes whose process has not exited yet (it flushes its outbox first).
    stopping: Arc<Mutex<HashSet<String>>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LocalProvisioner {
    pub fn new(options: LocalNodeOptions) -> Self {
        LocalProvisioner {
            options,
            children: Mutex::new(HashMap::new()),
            stopping: Arc::default(),
        }
    }

    fn children(&self) -> MutexGuard<'_, HashMap<String, LocalNode>> {
        locked(&self.children)
    }

    /// Where a node keeps its workspaces and outbox.
    pub fn node_dir(&self, node: &NodeId) -> PathBuf {
        self.options.base_dir.join(node.as_str())
    }

    /// Provider ids of node processes still running, those being stopped included.
    pub fn running(&self) -> Vec<String> {
        let mut children = self.children();
        children.retain(|_, local| matches!(local.child.try_wait(), Ok(None)));
        let mut running: Vec<String> = children.keys().cloned().collect();
        running.extend(locked(&self.stopping).iter().cloned());
        running
    }
}

#[async_trait]
impl Provisioner for LocalProvisioner {
    async fn provision(&self, launch: &NodeLaunch) -> Result<String, PortError> {
        // One process per node, however often its launch is repeated.
        let running = self
            .list()
            .await?
            .into_iter()
            .find(|instance| instance.node_id.as_ref() == Some(&launch.node_id));
        if let Some(instance) = running {
            return Ok(instance.provider_id);
        }
        let dir = self.node_dir(&launch.node_id);
        std::fs::create_dir_all(&dir)
            .map_err(|err| PortError::Failed(format!("{}: {err}", dir.display())))?;
        let log = std::fs::File::create(dir.join("agent.log"))
            .map_err(|err| PortError::Failed(err.to_string()))?;
        let child = Command::new(&self.options.agent_binary)
            .arg("node")
            .envs(
                self.options
                    .env
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .env("NODE_ID", launch.node_id.as_str())
            .env("HANGAR_API_URL", &launch.api_url)
            .env("HANGAR_SOCKET_URL", &launch.socket_url)
            .env("HANGAR_NODE_TOKEN", &launch.node_token)
            .env("HANGAR_NODE_DIR", &dir)
            .env("HANGAR_ACP_COMMAND", &self.options.acp_command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| {
                PortError::Failed(format!(
                    "cannot start {}: {err}",
                    self.options.agent_binary.display()
                ))
            })?;
        let provider_id = format!("local-{}", child.id().unwrap_or_default());
        tracing::info!(node = %launch.node_id, %provider_id, "started a local node process");
        let node = launch.node_id.clone();
        self.children()
            .insert(provider_id.clone(), LocalNode { child, node });
        Ok(provider_id)
    }

    async fn destroy(&self, provider_id: &str) -> Result<(), PortError> {
        let Some(LocalNode { mut child, .. }) = self.children().remove(provider_id) else {
            return Ok(());
        };
        // SIGTERM lets the agent flush its outbox; SIGKILL if it takes too long. Like
        // TerminateInstances, this returns at once: the caller may be answering the very
        // node it stops (a task's end releases its node), which must not wait on itself.
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let (stopping, id) = (Arc::clone(&self.stopping), provider_id.to_string());
        locked(&stopping).insert(id.clone());
        tokio::spawn(async move {
            if tokio::time::timeout(Duration::from_secs(15), child.wait())
                .await
                .is_err()
            {
                tracing::warn!(provider_id = %id, "a local node ignored SIGTERM; killing it");
                let _ = child.kill().await;
            }
            locked(&stopping).remove(&id);
        });
        tracing::info!(%provider_id, "stopping a local node process");
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Instance>, PortError> {
        let mut children = self.children();
        children.retain(|_, local| matches!(local.child.try_wait(), Ok(None)));
        Ok(children
            .iter()
            .map(|(provider_id, local)| Instance {
                provider_id: provider_id.clone(),
                node_id: Some(local.node.clone()),
            })
            .collect())
    }
}
