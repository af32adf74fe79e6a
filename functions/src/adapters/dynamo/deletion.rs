//! Deletion: a task's and its session's items, a project's record, and the markers of what
//! they held (`EXPIRING` / `SESSION#{id}` or `PROJECT#{id}`), which the sweep works off by
//! setting the table's `ttl` on each item left, a page at a time.

use async_trait::async_trait;
use hangar_protocol::{ProjectId, SessionId};

use super::DynamoStore;
use super::items::{
    Item, Key, key, message_pk, n, project_key, project_pk, s, session_key, task_key,
};
use crate::adapters::aws::SdkFailure;
use crate::domain::ports::{DeletionStore, Expiring, StoreError};
use crate::domain::records::Task;

const EXPIRING_PK: &str = "EXPIRING";
const SESSION_MARK: &str = "SESSION#";
const PROJECT_MARK: &str = "PROJECT#";

fn marker_key(what: &Expiring) -> Key {
    let sk = match what {
        Expiring::Session(id) => format!("{SESSION_MARK}{id}"),
        Expiring::Project(id) => format!("{PROJECT_MARK}{id}"),
    };
    (EXPIRING_PK.into(), sk)
}

fn string(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|value| value.as_s().ok()).cloned()
}

#[async_trait]
impl DeletionStore for DynamoStore {
    async fn delete_task_records(&self, task: &Task) -> Result<(), StoreError> {
        self.delete(task_key(&task.project_id, &task.id)).await?;
        self.delete(session_key(&task.project_id, &task.session_id))
            .await
    }

    async fn delete_project_record(&self, project: &ProjectId) -> Result<(), StoreError> {
        self.delete(project_key(project)).await
    }

    async fn put_expiring(&self, what: &Expiring) -> Result<(), StoreError> {
        let mut item = key(marker_key(what));
        item.insert("entity".into(), s("expiring"));
        self.put(item).await
    }

    async fn list_expiring(&self) -> Result<Vec<Expiring>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(EXPIRING_PK))
            .send()
            .await
            .map_err(SdkFailure::from)?;
        Ok(output
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|item| {
                let sk = string(item, "sk")?;
                if let Some(id) = sk.strip_prefix(SESSION_MARK) {
                    return SessionId::parse(id).ok().map(Expiring::Session);
                }
                let id = sk.strip_prefix(PROJECT_MARK)?;
                ProjectId::parse(id).ok().map(Expiring::Project)
            })
            .collect())
    }

    async fn expire_some(
        &self,
        what: &Expiring,
        limit: usize,
        now_secs: u64,
    ) -> Result<usize, StoreError> {
        let pk = match what {
            Expiring::Session(id) => message_pk(id),
            Expiring::Project(id) => project_pk(id),
        };
        let mut marked = 0;
        let mut start = None;
        while marked < limit {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .filter_expression("attribute_not_exists(#ttl)")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":pk", s(&pk))
                .projection_expression("pk, sk")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(SdkFailure::from)?;
            for item in page.items.unwrap_or_default() {
                let Some(sk) = string(&item, "sk") else {
                    continue;
                };
                if let (Expiring::Project(_), Some(session)) = (what, sk.strip_prefix(SESSION_MARK))
                    && let Ok(session) = SessionId::parse(session)
                {
                    self.put_expiring(&Expiring::Session(session)).await?;
                }
                let updated = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key((pk.clone(), sk))))
                    .update_expression("SET #ttl = :at")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(":at", n(now_secs))
                    .send()
                    .await;
                match updated.map_err(SdkFailure::from) {
                    Ok(_) => marked += 1,
                    Err(failure) if failure.is("ConditionalCheckFailedException") => {}
                    Err(failure) => return Err(failure.into()),
                }
                if marked >= limit {
                    return Ok(marked);
                }
            }
            match page.last_evaluated_key.filter(|key| !key.is_empty()) {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        Ok(marked)
    }

    async fn delete_expiring(&self, what: &Expiring) -> Result<(), StoreError> {
        self.delete(marker_key(what)).await
    }
}
