//! The DynamoDB adapter of [`Store`]: the production adapter, and the local one against a
//! DynamoDB-compatible server on loopback (only the endpoint differs).

pub mod table;

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use hangar_protocol::{ChatMessage, ProjectId, SessionId, WorkspaceId};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ports::{ChatSession, InsertOutcome, Project, Store, StoreError, Workspace};

type Item = HashMap<String, AttributeValue>;

/// Error codes DynamoDB uses for transient conditions worth a retry.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
];

pub(crate) fn classify<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => service
            .err()
            .code()
            .is_some_and(|code| RETRYABLE_CODES.contains(&code)),
        _ => false,
    };
    let detail = DisplayErrorContext(&err).to_string();
    if retryable {
        StoreError::Unavailable(detail)
    } else {
        StoreError::Failed(detail)
    }
}

fn project_key(id: &ProjectId) -> (String, String) {
    (format!("PROJECT#{id}"), "META".into())
}

fn session_key(project: &ProjectId, id: &SessionId) -> (String, String) {
    (format!("PROJECT#{project}"), format!("SESSION#{id}"))
}

fn workspace_key(id: &WorkspaceId) -> (String, String) {
    (format!("WORKSPACE#{id}"), "META".into())
}

fn message_pk(session: &SessionId) -> String {
    format!("SESSION#{session}")
}

/// Zero-padded so that string order is numeric order.
fn message_sk(seq: u64) -> String {
    format!("MSG#{seq:020}")
}

fn key((pk, sk): (String, String)) -> Item {
    HashMap::from([
        ("pk".into(), AttributeValue::S(pk)),
        ("sk".into(), AttributeValue::S(sk)),
    ])
}

fn to_item(
    record: &impl Serialize,
    item_key: (String, String),
    entity: &str,
) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(record)
        .map_err(|err| StoreError::Failed(format!("cannot encode {entity}: {err}")))?;
    item.extend(key(item_key));
    item.insert("entity".into(), AttributeValue::S(entity.into()));
    Ok(item)
}

fn from_item<T: DeserializeOwned>(item: Item, entity: &str) -> Result<T, StoreError> {
    serde_dynamo::from_item(item)
        .map_err(|err| StoreError::Failed(format!("corrupt {entity} item: {err}")))
}

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// Production: credentials and region from the Lambda environment. Local: the loopback
    /// endpoint, with dummy credentials unless the environment provides some.
    pub async fn connect(endpoint: Option<&str>, table: &str) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
            if std::env::var_os("AWS_REGION").is_none() {
                loader = loader.region(aws_config::Region::new("us-east-1"));
            }
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                loader = loader.credentials_provider(aws_credential_types::Credentials::from_keys(
                    "local", "local", None,
                ));
            }
        }
        let config = loader.load().await;
        DynamoStore {
            client: Client::new(&config),
            table: table.to_string(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn get<T: DeserializeOwned>(
        &self,
        item_key: (String, String),
        entity: &str,
    ) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(item_key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        output.item.map(|item| from_item(item, entity)).transpose()
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn put_project(&self, project: &Project) -> Result<(), StoreError> {
        self.put(to_item(project, project_key(&project.id), "project")?)
            .await
    }

    async fn get_project(&self, id: &ProjectId) -> Result<Option<Project>, StoreError> {
        self.get(project_key(id), "project").await
    }

    async fn put_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        self.put(to_item(
            session,
            session_key(&session.project_id, &session.id),
            "session",
        )?)
        .await
    }

    async fn get_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
    ) -> Result<Option<ChatSession>, StoreError> {
        self.get(session_key(project, id), "session").await
    }

    async fn put_workspace(&self, workspace: &Workspace) -> Result<(), StoreError> {
        self.put(to_item(
            workspace,
            workspace_key(&workspace.id),
            "workspace",
        )?)
        .await
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        self.get(workspace_key(id), "workspace").await
    }

    async fn insert_message(
        &self,
        session: &SessionId,
        message: &ChatMessage,
    ) -> Result<InsertOutcome, StoreError> {
        let item = to_item(
            message,
            (message_pk(session), message_sk(message.seq)),
            "message",
        )?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(InsertOutcome::Inserted),
            Err(err) => err,
        };
        let Some(failed) = err
            .as_service_error()
            .filter(|e| e.is_conditional_check_failed_exception())
        else {
            return Err(classify(err));
        };
        // Which message holds this sequence decides between a resend and a confused sender.
        let reported = match failed {
            PutItemError::ConditionalCheckFailedException(e) => e.item(),
            _ => None,
        };
        let existing: Option<ChatMessage> = match reported {
            Some(item) => Some(from_item(item.clone(), "message")?),
            None => {
                self.get((message_pk(session), message_sk(message.seq)), "message")
                    .await?
            }
        };
        match existing {
            Some(existing) if existing.message_id == message.message_id => {
                Ok(InsertOutcome::Duplicate)
            }
            Some(existing) => Ok(InsertOutcome::SequenceTaken {
                existing: existing.message_id,
            }),
            None => Err(StoreError::ConditionFailed(format!(
                "message seq {} of session {session} was reported present but cannot be read",
                message.seq
            ))),
        }
    }

    async fn record_session_messages(
        &self,
        project: &ProjectId,
        session: &SessionId,
        count: u64,
        last_message_at: u64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(session_key(project, session))))
            .update_expression("ADD message_count :count SET last_message_at = :at")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":count", AttributeValue::N(count.to_string()))
            .expression_attribute_values(":at", AttributeValue::N(last_message_at.to_string()))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn list_messages(
        &self,
        session: &SessionId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", AttributeValue::S(message_pk(session)))
            .expression_attribute_values(
                ":from",
                AttributeValue::S(message_sk(after.saturating_add(1))),
            )
            .expression_attribute_values(":to", AttributeValue::S(message_sk(u64::MAX)))
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(classify)?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item(item, "message"))
            .collect()
    }
}
