//! The warm pool: claiming a warm node, returning a node to the pool with its warm-timeout
//! schedule, destroying nodes, and the warm timeout itself. Every node change is a
//! conditional write on the node as it was read (status, generation, revision), so of
//! concurrent changes exactly one wins. The pool never drives tasks; the task lifecycle
//! calls it.

use std::sync::Arc;

use hangar_protocol::tasks::{NodeStatus, WarmTimeoutEvent};
use hangar_protocol::time::now_ms;
use hangar_protocol::{NodeId, ProjectId};

use super::error::{Error, Result};
use super::ports::{NodeStore, Provisioner, Saved, Scheduler, WarmSchedule};
use super::records::{Node, Task};
use super::{NodeQuotas, NodeRelease, Timeouts};

/// How often an optimistic update is retried after losing a race before giving up.
pub(crate) const UPDATE_ATTEMPTS: usize = 8;

/// What the warm timeout did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarmTimeoutOutcome {
    Destroyed,
    /// The node was claimed, re-warmed or destroyed since the schedule was made.
    Skipped(String),
}

pub struct Pool {
    pub store: Arc<dyn NodeStore>,
    pub scheduler: Arc<dyn Scheduler>,
    pub provisioner: Arc<dyn Provisioner>,
    pub timeouts: Timeouts,
    pub quotas: NodeQuotas,
    pub release: NodeRelease,
}

impl Pool {
    /// Applies `change` to the stored node until the save wins; `change` returns false when
    /// the node (as read) should not change, and then nothing is written.
    pub async fn update_node(
        &self,
        id: &NodeId,
        mut change: impl FnMut(&mut Node) -> bool,
    ) -> Result<Option<Node>> {
        for _ in 0..UPDATE_ATTEMPTS {
            let Some(read) = self.store.get_node(id).await? else {
                return Ok(None);
            };
            let mut node = read.clone();
            if !change(&mut node) {
                return Ok(None);
            }
            if self.save(&mut node, &read).await? == Saved::Yes {
                return Ok(Some(node));
            }
        }
        Err(Error::Internal(format!(
            "node {id} kept changing under an update"
        )))
    }

    /// Saves `node` over `read` (if still stored as read), with the next revision.
    async fn save(&self, node: &mut Node, read: &Node) -> Result<Saved> {
        node.revision = read.revision + 1;
        node.updated_at = now_ms();
        Ok(self.store.save_node(node, Some(read)).await?)
    }

    /// Claims the longest-warm node of the task's project of the smallest fitting size, if
    /// any: a conditional write from `warm` at the generation read, so of concurrent
    /// claimers exactly one wins. A node never serves another project than its own.
    pub async fn claim_node(&self, task: &Task) -> Result<Option<Node>> {
        let now = now_ms();
        for size in task.vm_size.fitting() {
            for node in self.store.warm_nodes(&task.project_id, size).await? {
                if node.status != NodeStatus::Warm
                    || node.is_past_lifetime(self.timeouts.max_node_lifetime_ms, now)
                    || self.release.outdated(&node).is_some()
                {
                    continue; // too old to take: the sweep destroys it
                }
                let mut claimed = node.clone();
                claimed.claim_for(task);
                if self.save(&mut claimed, &node).await? == Saved::Yes {
                    tracing::info!(node = %claimed.id, task = %task.id, "claimed a warm node");
                    return Ok(Some(claimed));
                }
            }
        }
        Ok(None)
    }

    /// Deletes the warm timeout of the period a claim ended. Not on a task's way to its
    /// node: a timeout left behind finds the node in a later generation and does nothing,
    /// and the sweep deletes it.
    pub async fn forget_warm_timeout(&self, claimed: &Node) {
        let schedule = WarmSchedule::name_for(&WarmTimeoutEvent {
            node_id: claimed.id.clone(),
            generation: claimed.generation.saturating_sub(1),
        });
        if let Err(err) = self.scheduler.delete(&schedule).await {
            tracing::warn!(%schedule, error = %err, "could not delete the warm timeout; the sweep will");
        }
    }

    /// Destroys the longest-warm node of another project than `project`, so a place in the
    /// stack's quota frees up for it; false when there is none to take.
    pub async fn evict_warm_node(&self, project: &ProjectId) -> Result<bool> {
        let mut warm: Vec<Node> = self
            .store
            .list_live_nodes()
            .await?
            .into_iter()
            .filter(|node| {
                node.status == NodeStatus::Warm && node.project_id.as_ref() != Some(project)
            })
            .collect();
        warm.sort_by_key(|node| node.warm_since.unwrap_or(node.updated_at));
        for node in warm {
            if self
                .destroy_node(&node, "its place is needed by another project")
                .await?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Records that a node is gone (or never started).
    pub async fn mark_destroyed(&self, node: &NodeId) -> Result<()> {
        self.update_node(node, |node| {
            node.mark_destroyed();
            true
        })
        .await?;
        Ok(())
    }

    /// Returns a claimed (or retained) node to the warm pool with a fresh generation and a warm-timeout
    /// schedule, or destroys it when it reached its maximum lifetime or is out of date.
    pub async fn release_node(&self, node: &Node) -> Result<()> {
        let now = now_ms();
        let retire = if node.is_past_lifetime(self.timeouts.max_node_lifetime_ms, now) {
            Some("reached its maximum lifetime".to_string())
        } else {
            self.release
                .outdated(node)
                .map(|why| format!("retired: {why}"))
        };
        if let Some(reason) = retire {
            return self.destroy_node(node, &reason).await.map(|_| ());
        }
        let warm = self
            .update_node(&node.id, |current| {
                let held = matches!(current.status, NodeStatus::Claimed | NodeStatus::Retained);
                if !held || current.generation != node.generation {
                    return false;
                }
                current.release(now);
                true
            })
            .await?;
        let Some(warm) = warm else {
            return Ok(());
        };
        let event = WarmTimeoutEvent {
            node_id: warm.id.clone(),
            generation: warm.generation,
        };
        let end_of_life = node.created_at + self.timeouts.max_node_lifetime_ms;
        let schedule = WarmSchedule {
            name: WarmSchedule::name_for(&event),
            at_ms: (now + self.timeouts.node_warm_ms).min(end_of_life),
            event,
        };
        if let Err(err) = self.scheduler.create(&schedule).await {
            tracing::warn!(node = %warm.id, error = %err, "could not schedule the warm timeout; the sweep covers it");
        }
        tracing::info!(node = %warm.id, generation = warm.generation, "node is warm");
        Ok(())
    }

    /// Destroys `node` if it is still as read; true when this call destroyed it.
    pub async fn destroy_node(&self, node: &Node, reason: &str) -> Result<bool> {
        let mut destroying = node.clone();
        destroying.start_destroying();
        if node.status != NodeStatus::Destroying
            && self.save(&mut destroying, node).await? == Saved::Conflict
        {
            return Ok(false);
        }
        tracing::info!(node = %node.id, reason, "destroying node");
        if let Some(provider_id) = &node.provider_id
            && let Err(err) = self.provisioner.destroy(provider_id).await
        {
            tracing::warn!(node = %node.id, error = %err, "could not destroy the node; the sweep will retry");
            return Ok(false);
        }
        self.mark_destroyed(&node.id).await?;
        Ok(true)
    }

    /// The warm timeout of `event`: destroys the node only if it is still warm in the same
    /// generation, so a claim that won the race always wins.
    pub async fn warm_timeout(&self, event: &WarmTimeoutEvent) -> Result<WarmTimeoutOutcome> {
        let Some(node) = self.store.get_node(&event.node_id).await? else {
            return Ok(WarmTimeoutOutcome::Skipped("no such node".into()));
        };
        if node.status != NodeStatus::Warm || node.generation != event.generation {
            return Ok(WarmTimeoutOutcome::Skipped(format!(
                "node is {} at generation {}, the schedule was for warm at {}",
                node.status, node.generation, event.generation
            )));
        }
        if self.destroy_node(&node, "warm timeout").await? {
            Ok(WarmTimeoutOutcome::Destroyed)
        } else {
            Ok(WarmTimeoutOutcome::Skipped(
                "the node changed before it could be destroyed".into(),
            ))
        }
    }
}
