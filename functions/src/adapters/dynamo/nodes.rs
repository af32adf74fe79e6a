//! Nodes in the table, with the node quotas: two counters (`QUOTA#nodes` / `ALL` and
//! `PROJECT#{id}`) that a counted node's creation raises and its destruction lowers, each in
//! the same transaction as the node's own write, so no race can pass a quota and no count
//! can leak.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use hangar_protocol::tasks::{NodeStatus, VmSize};
use hangar_protocol::{NodeId, ProjectId};

use super::DynamoStore;
use super::items::{Item, LIVE_NODES, key, n, node_item, node_key, pool_pk, s};
use crate::adapters::aws::SdkFailure;
use crate::domain::NodeQuotas;
use crate::domain::ports::{NodeStore, QuotaScope, Reserved, Saved, StoreError};
use crate::domain::records::Node;

const QUOTA_PK: &str = "QUOTA#nodes";
/// A node saved over another must still be as it was read.
const AS_READ: &str = "#status = :status AND generation = :generation AND revision = :revision";
const COUNT: &str = "live";

fn quota_key(scope: QuotaScope, project: Option<&ProjectId>) -> (String, String) {
    let sk = match (scope, project) {
        (QuotaScope::Project, Some(project)) => format!("PROJECT#{project}"),
        _ => "ALL".into(),
    };
    (QUOTA_PK.into(), sk)
}

fn build_error(err: impl std::fmt::Display) -> StoreError {
    StoreError::Failed(format!("cannot build a transaction: {err}"))
}

/// The conditional write of `item` over the node as `read` (`None`: it must not exist).
fn node_write(
    table: &str,
    item: Item,
    read: Option<&Node>,
) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder().table_name(table).set_item(Some(item));
    let put = match read {
        None => put.condition_expression("attribute_not_exists(pk)"),
        Some(read) => put
            .condition_expression(AS_READ)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(read.status.as_str()))
            .expression_attribute_values(":generation", n(read.generation))
            .expression_attribute_values(":revision", n(read.revision)),
    };
    Ok(TransactWriteItem::builder()
        .put(put.build().map_err(build_error)?)
        .build())
}

/// A counter change: `+1` below `max`, or `-1`.
fn counter(
    table: &str,
    (scope, project): (QuotaScope, Option<&ProjectId>),
    take_below: Option<u64>,
) -> Result<TransactWriteItem, StoreError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(quota_key(scope, project))))
        .expression_attribute_names("#n", COUNT)
        .expression_attribute_values(":one", n(1));
    let update = match take_below {
        Some(max) => update
            .update_expression("SET #n = if_not_exists(#n, :zero) + :one")
            .condition_expression("attribute_not_exists(#n) OR #n < :max")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":max", n(max)),
        None => update.update_expression("SET #n = #n - :one"),
    };
    Ok(TransactWriteItem::builder()
        .update(update.build().map_err(build_error)?)
        .build())
}

/// Which of a cancelled transaction's writes failed its condition (by position).
fn failed_conditions(err: &TransactWriteItemsError) -> Vec<usize> {
    match err {
        TransactWriteItemsError::TransactionCanceledException(cancelled) => cancelled
            .cancellation_reasons()
            .iter()
            .enumerate()
            .filter(|(_, reason)| reason.code() == Some("ConditionalCheckFailed"))
            .map(|(index, _)| index)
            .collect(),
        _ => Vec::new(),
    }
}

impl DynamoStore {
    /// Runs `writes`; the positions whose condition failed when it was cancelled.
    async fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<Vec<usize>, StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Vec::new()),
            Err(err) => {
                let failed = err
                    .as_service_error()
                    .map(failed_conditions)
                    .unwrap_or_default();
                if failed.is_empty() {
                    Err(SdkFailure::from(err).into())
                } else {
                    Ok(failed)
                }
            }
        }
    }
}

#[async_trait]
impl NodeStore for DynamoStore {
    async fn create_node(&self, node: &Node, quotas: NodeQuotas) -> Result<Reserved, StoreError> {
        let project = node.project_id.as_ref();
        let writes = vec![
            node_write(&self.table, node_item(node)?, None)?,
            counter(&self.table, (QuotaScope::All, None), Some(quotas.total))?,
            counter(
                &self.table,
                (QuotaScope::Project, project),
                Some(quotas.per_project),
            )?,
        ];
        match self.transact(writes).await?.as_slice() {
            [] => Ok(Reserved::Yes),
            [0, ..] => Err(StoreError::ConditionFailed(format!(
                "node {} exists",
                node.id
            ))),
            [1, ..] => Ok(Reserved::Full(QuotaScope::All)),
            _ => Ok(Reserved::Full(QuotaScope::Project)),
        }
    }

    async fn save_node(&self, node: &Node, read: Option<&Node>) -> Result<Saved, StoreError> {
        let item = node_item(node)?;
        let frees_places = node.counted
            && node.status == NodeStatus::Destroyed
            && read.is_some_and(|read| read.status != NodeStatus::Destroyed);
        if !frees_places {
            let Some(read) = read else {
                return self.put_new(item).await;
            };
            return self
                .put_if(
                    item,
                    AS_READ,
                    vec![
                        (":status", s(read.status.as_str())),
                        (":generation", n(read.generation)),
                        (":revision", n(read.revision)),
                    ],
                )
                .await;
        }
        let project = node.project_id.as_ref();
        let writes = vec![
            node_write(&self.table, item, read)?,
            counter(&self.table, (QuotaScope::All, None), None)?,
            counter(&self.table, (QuotaScope::Project, project), None)?,
        ];
        Ok(match self.transact(writes).await?.as_slice() {
            [] => Saved::Yes,
            _ => Saved::Conflict,
        })
    }

    async fn get_node(&self, id: &NodeId) -> Result<Option<Node>, StoreError> {
        self.get(node_key(id), "node").await
    }

    async fn warm_nodes(&self, project: &ProjectId, size: VmSize) -> Result<Vec<Node>, StoreError> {
        self.query_index("gsi1", pool_pk(project, size), "node")
            .await
    }

    async fn list_live_nodes(&self) -> Result<Vec<Node>, StoreError> {
        self.query_index("gsi2", LIVE_NODES.into(), "node").await
    }
}
