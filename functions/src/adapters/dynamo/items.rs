//! The key schema of the one table and how records become items: every key and sparse
//! index entry is written here, nowhere else.
//!
//! | item | pk | sk | indexes |
//! |---|---|---|---|
//! | project | `PROJECT#{id}` | `META` | |
//! | membership | `USER#{user}` | `PROJECT#{id}` | |
//! | user | `USER#{user}` | `PROFILE` | |
//! | verified email | `EMAIL#{email}` | `USER` | |
//! | invitation | `EMAIL#{email}` | `INVITE#{project}` | |
//! | API token | `APITOKEN#{id}` | `META` | gsi1 `TOKENS#{user}` |
//! | what a deletion left to expire | `EXPIRING` | `SESSION#{id}` / `PROJECT#{id}` | |
//! | session | `PROJECT#{id}` | `SESSION#{id}` | |
//! | task | `PROJECT#{id}` | `TASK#{id}` | gsi2 `ACTIVE_TASK` while transient |
//! | message | `SESSION#{id}` | `MSG#{seq:020}` | |
//! | node | `NODE#{id}` | `META` | gsi1 `POOL#{project}#{size}` while warm, gsi2 `LIVE_NODE` until destroyed |
//! | node socket | `NODE#{id}` / `CONN#{connection}` | `LINK` / `NODE` | |
//! | workspace | `WORKSPACE#{id}` | `META` | gsi1 `NODEWS#{node}` and gsi2 `LIVE_WORKSPACE` until destroyed |
//! | connection | `PROJECT#{id}` / `CONN#{id}` | `CONN#{id}` / `META` | |
//! | user's connection | `USER#{user}` | `CONN#{id}` | |
//! | idempotency key | `USER#{user}` | `IDEM#{project}#{key}` | |
//! | node quota | `QUOTA#nodes` | `ALL` / `PROJECT#{id}` | |

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use hangar_protocol::tasks::{NodeStatus, WorkspaceStatus};
use hangar_protocol::{NodeId, ProjectId, SessionId, TaskId, UserId, WorkspaceId};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::ports::StoreError;
use crate::domain::records::{Node, Task, Workspace};

pub type Item = HashMap<String, AttributeValue>;

/// A primary key: `(pk, sk)`.
pub type Key = (String, String);

pub fn project_key(id: &ProjectId) -> Key {
    (project_pk(id), "META".into())
}

pub fn project_pk(id: &ProjectId) -> String {
    format!("PROJECT#{id}")
}

pub fn membership_pk(user: &UserId) -> String {
    format!("USER#{user}")
}

pub fn membership_key(user: &UserId, project: &ProjectId) -> Key {
    (membership_pk(user), format!("{MEMBERSHIP_PREFIX}{project}"))
}

pub const MEMBERSHIP_PREFIX: &str = "PROJECT#";
pub const SESSION_PREFIX: &str = "SESSION#";
pub const TASK_PREFIX: &str = "TASK#";
pub const CONNECTION_PREFIX: &str = "CONN#";
pub const MESSAGE_PREFIX: &str = "MSG#";

pub fn session_key(project: &ProjectId, id: &SessionId) -> Key {
    (project_pk(project), format!("{SESSION_PREFIX}{id}"))
}

pub fn task_key(project: &ProjectId, id: &TaskId) -> Key {
    (project_pk(project), format!("{TASK_PREFIX}{id}"))
}

pub fn node_key(id: &NodeId) -> Key {
    (format!("NODE#{id}"), "META".into())
}

pub fn workspace_key(id: &WorkspaceId) -> Key {
    (format!("WORKSPACE#{id}"), "META".into())
}

pub fn connection_key(project: &ProjectId, id: &str) -> Key {
    (project_pk(project), format!("{CONNECTION_PREFIX}{id}"))
}

/// A user's connections are counted under the user, for the per-user cap.
pub fn user_connection_key(user: &UserId, id: &str) -> Key {
    (membership_pk(user), format!("{CONNECTION_PREFIX}{id}"))
}

pub fn idempotency_key(user: &UserId, project: &ProjectId, key: &str) -> Key {
    (membership_pk(user), format!("IDEM#{project}#{key}"))
}

/// Where `$disconnect`, which only knows the connection id, finds the project.
pub fn connection_lookup_key(id: &str) -> Key {
    (format!("{CONNECTION_PREFIX}{id}"), "META".into())
}

pub fn message_pk(session: &SessionId) -> String {
    format!("SESSION#{session}")
}

/// Zero-padded so that string order is numeric order.
pub fn message_sk(seq: u64) -> String {
    format!("{MESSAGE_PREFIX}{seq:020}")
}

/// The warm pool's partition for one project's nodes of one size (gsi1).
pub fn pool_pk(project: &ProjectId, size: impl std::fmt::Display) -> String {
    format!("POOL#{project}#{size}")
}

/// The live workspaces of one node (gsi1).
pub fn node_workspaces_pk(node: &NodeId) -> String {
    format!("NODEWS#{node}")
}

/// A node's current socket.
pub fn node_link_key(node: &NodeId) -> Key {
    (format!("NODE#{node}"), "LINK".into())
}

/// Where a node's socket is found by its connection id.
pub fn node_link_lookup_key(connection: &str) -> Key {
    (format!("{CONNECTION_PREFIX}{connection}"), "NODE".into())
}

/// Sparse index of things the sweep walks: present only while live (gsi2).
pub const ACTIVE_TASKS: &str = "ACTIVE_TASK";
pub const LIVE_NODES: &str = "LIVE_NODE";
pub const LIVE_WORKSPACES: &str = "LIVE_WORKSPACE";

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn key((pk, sk): Key) -> Item {
    HashMap::from([("pk".into(), s(pk)), ("sk".into(), s(sk))])
}

/// `record` as an item at `item_key`, tagged with its `entity` name.
pub fn to_item(record: &impl Serialize, item_key: Key, entity: &str) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(record)
        .map_err(|err| StoreError::Failed(format!("cannot encode {entity}: {err}")))?;
    item.extend(key(item_key));
    item.insert("entity".into(), s(entity));
    Ok(item)
}

pub fn index(item: &mut Item, index: &str, pk: String, sk: String) {
    item.insert(format!("{index}pk"), s(pk));
    item.insert(format!("{index}sk"), s(sk));
}

pub fn from_item<T: DeserializeOwned>(item: Item, entity: &str) -> Result<T, StoreError> {
    serde_dynamo::from_item(item)
        .map_err(|err| StoreError::Failed(format!("corrupt {entity} item: {err}")))
}

pub fn task_item(task: &Task) -> Result<Item, StoreError> {
    let mut item = to_item(task, task_key(&task.project_id, &task.id), "task")?;
    if task.status.is_transient() {
        index(
            &mut item,
            "gsi2",
            ACTIVE_TASKS.into(),
            format!("{}#{}", task.project_id, task.id),
        );
    }
    Ok(item)
}

pub fn node_item(node: &Node) -> Result<Item, StoreError> {
    let mut item = to_item(node, node_key(&node.id), "node")?;
    if node.status == NodeStatus::Warm
        && let Some(project) = &node.project_id
    {
        let since = node.warm_since.unwrap_or(node.updated_at);
        index(
            &mut item,
            "gsi1",
            pool_pk(project, node.size),
            format!("{since:020}#{}", node.id),
        );
    }
    if node.status != NodeStatus::Destroyed {
        index(&mut item, "gsi2", LIVE_NODES.into(), node.id.to_string());
    }
    Ok(item)
}

pub fn workspace_item(workspace: &Workspace) -> Result<Item, StoreError> {
    let mut item = to_item(workspace, workspace_key(&workspace.id), "workspace")?;
    if workspace.status != WorkspaceStatus::Destroyed {
        index(
            &mut item,
            "gsi2",
            LIVE_WORKSPACES.into(),
            workspace.id.to_string(),
        );
        if let Some(node) = &workspace.node_id {
            index(
                &mut item,
                "gsi1",
                node_workspaces_pk(node),
                workspace.id.to_string(),
            );
        }
    }
    Ok(item)
}
