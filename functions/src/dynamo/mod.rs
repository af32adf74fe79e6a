//! The DynamoDB adapter of [`Store`]: the production adapter, and the local one against a
//! DynamoDB-compatible server on loopback (only the endpoint differs).

pub mod table;

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use hangar_protocol::tasks::{NodeStatus, VmSize, WorkspaceStatus};
use hangar_protocol::{ChatMessage, NodeId, ProjectId, SessionId, TaskId, UserId, WorkspaceId};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ports::{
    ChatSession, Connection, InsertOutcome, Node, Project, Saved, Store, StoreError, Task,
    Workspace,
};

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

fn membership_key(user: &UserId, project: &ProjectId) -> (String, String) {
    (format!("USER#{user}"), format!("PROJECT#{project}"))
}

fn session_key(project: &ProjectId, id: &SessionId) -> (String, String) {
    (format!("PROJECT#{project}"), format!("SESSION#{id}"))
}

fn task_key(project: &ProjectId, id: &TaskId) -> (String, String) {
    (format!("PROJECT#{project}"), format!("TASK#{id}"))
}

fn node_key(id: &NodeId) -> (String, String) {
    (format!("NODE#{id}"), "META".into())
}

fn workspace_key(id: &WorkspaceId) -> (String, String) {
    (format!("WORKSPACE#{id}"), "META".into())
}

fn connection_key(project: &ProjectId, id: &str) -> (String, String) {
    (format!("PROJECT#{project}"), format!("CONN#{id}"))
}

/// Where `$disconnect`, which only knows the connection id, finds the project.
fn connection_lookup_key(id: &str) -> (String, String) {
    (format!("CONN#{id}"), "META".into())
}

fn message_pk(session: &SessionId) -> String {
    format!("SESSION#{session}")
}

/// Zero-padded so that string order is numeric order.
fn message_sk(seq: u64) -> String {
    format!("MSG#{seq:020}")
}

/// Sparse index of things the sweep walks: present only while live.
const ACTIVE_TASKS: &str = "ACTIVE_TASK";
const LIVE_NODES: &str = "LIVE_NODE";
const LIVE_WORKSPACES: &str = "LIVE_WORKSPACE";

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

fn index(item: &mut Item, index: &str, pk: String, sk: String) {
    item.insert(format!("{index}pk"), AttributeValue::S(pk));
    item.insert(format!("{index}sk"), AttributeValue::S(sk));
}

fn from_item<T: DeserializeOwned>(item: Item, entity: &str) -> Result<T, StoreError> {
    serde_dynamo::from_item(item)
        .map_err(|err| StoreError::Failed(format!("corrupt {entity} item: {err}")))
}

fn task_item(task: &Task) -> Result<Item, StoreError> {
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

fn node_item(node: &Node) -> Result<Item, StoreError> {
    let mut item = to_item(node, node_key(&node.id), "node")?;
    if node.status == NodeStatus::Warm {
        let since = node.warm_since.unwrap_or(node.updated_at);
        index(
            &mut item,
            "gsi1",
            format!("POOL#{}", node.size),
            format!("{since:020}#{}", node.id),
        );
    }
    if node.status != NodeStatus::Destroyed {
        index(&mut item, "gsi2", LIVE_NODES.into(), node.id.to_string());
    }
    Ok(item)
}

fn workspace_item(workspace: &Workspace) -> Result<Item, StoreError> {
    let mut item = to_item(workspace, workspace_key(&workspace.id), "workspace")?;
    if workspace.status != WorkspaceStatus::Destroyed {
        index(
            &mut item,
            "gsi2",
            LIVE_WORKSPACES.into(),
            workspace.id.to_string(),
        );
    }
    Ok(item)
}

fn is_condition_failure<E: ProvideErrorMetadata>(err: &SdkError<E, impl std::fmt::Debug>) -> bool {
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub async fn connect(endpoint: Option<&str>, table: &str) -> Self {
        let config = crate::aws::sdk_config(endpoint).await;
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

    /// Puts `item` if `condition` holds; `Conflict` when it does not.
    async fn put_if(
        &self,
        item: Item,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Saved, StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        // `status` is a DynamoDB reserved word.
        if condition.contains("#status") {
            request = request.expression_attribute_names("#status", "status");
        }
        match request.send().await {
            Ok(_) => Ok(Saved::Yes),
            Err(err) if is_condition_failure(&err) => Ok(Saved::Conflict),
            Err(err) => Err(classify(err)),
        }
    }

    /// All items of a query, following pages.
    async fn query_all<T: DeserializeOwned>(
        &self,
        index: Option<&str>,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
        entity: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut records = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(String::from))
                .key_condition_expression(condition)
                .set_exclusive_start_key(start.take());
            for (name, value) in &values {
                request = request.expression_attribute_values(*name, value.clone());
            }
            let output = request.send().await.map_err(classify)?;
            for item in output.items.unwrap_or_default() {
                records.push(from_item(item, entity)?);
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(records),
            }
        }
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

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_project(&self, project: &Project) -> Result<Saved, StoreError> {
        let item = to_item(project, project_key(&project.id), "project")?;
        if self
            .put_if(item, "attribute_not_exists(pk)", vec![])
            .await?
            == Saved::Conflict
        {
            return Ok(Saved::Conflict);
        }
        self.put_project(project).await?;
        Ok(Saved::Yes)
    }

    async fn put_project(&self, project: &Project) -> Result<(), StoreError> {
        self.put(to_item(project, project_key(&project.id), "project")?)
            .await?;
        // Membership entries serve "my projects"; they hold only the project id.
        let mut members = project.members.clone();
        if !members.contains(&project.owner) {
            members.push(project.owner.clone());
        }
        for member in members {
            let mut item = key(membership_key(&member, &project.id));
            item.insert("project_id".into(), s(project.id.as_str()));
            item.insert("entity".into(), s("membership"));
            self.put(item).await?;
        }
        Ok(())
    }

    async fn get_project(&self, id: &ProjectId) -> Result<Option<Project>, StoreError> {
        self.get(project_key(id), "project").await
    }

    async fn list_projects_for(&self, user: &UserId) -> Result<Vec<Project>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Membership {
            project_id: ProjectId,
        }
        let memberships: Vec<Membership> = self
            .query_all(
                None,
                "pk = :pk AND begins_with(sk, :prefix)",
                vec![
                    (":pk", s(format!("USER#{user}"))),
                    (":prefix", s("PROJECT#")),
                ],
                "membership",
            )
            .await?;
        let mut projects = Vec::new();
        for membership in memberships {
            // A membership outlives a removal from the member list; the project decides.
            if let Some(project) = self.get_project(&membership.project_id).await?
                && project.is_member(user)
            {
                projects.push(project);
            }
        }
        projects.sort_by_key(|project| std::cmp::Reverse(project.created_at));
        Ok(projects)
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

    async fn list_sessions(&self, project: &ProjectId) -> Result<Vec<ChatSession>, StoreError> {
        self.query_all(
            None,
            "pk = :pk AND begins_with(sk, :prefix)",
            vec![
                (":pk", s(format!("PROJECT#{project}"))),
                (":prefix", s("SESSION#")),
            ],
            "session",
        )
        .await
    }

    async fn save_task(
        &self,
        task: &Task,
        expected_version: Option<u64>,
    ) -> Result<Saved, StoreError> {
        let item = task_item(task)?;
        match expected_version {
            None => self.put_if(item, "attribute_not_exists(pk)", vec![]).await,
            Some(version) => {
                self.put_if(item, "version = :v", vec![(":v", n(version))])
                    .await
            }
        }
    }

    async fn get_task(&self, project: &ProjectId, id: &TaskId) -> Result<Option<Task>, StoreError> {
        self.get(task_key(project, id), "task").await
    }

    async fn list_tasks(&self, project: &ProjectId) -> Result<Vec<Task>, StoreError> {
        self.query_all(
            None,
            "pk = :pk AND begins_with(sk, :prefix)",
            vec![
                (":pk", s(format!("PROJECT#{project}"))),
                (":prefix", s("TASK#")),
            ],
            "task",
        )
        .await
    }

    async fn list_active_tasks(&self) -> Result<Vec<Task>, StoreError> {
        self.query_all(
            Some("gsi2"),
            "gsi2pk = :pk",
            vec![(":pk", s(ACTIVE_TASKS))],
            "task",
        )
        .await
    }

    async fn save_node(&self, node: &Node, read: Option<&Node>) -> Result<Saved, StoreError> {
        let item = node_item(node)?;
        match read {
            None => self.put_if(item, "attribute_not_exists(pk)", vec![]).await,
            Some(read) => {
                self.put_if(
                    item,
                    "#status = :status AND generation = :generation AND revision = :revision",
                    vec![
                        (":status", s(read.status.as_str())),
                        (":generation", n(read.generation)),
                        (":revision", n(read.revision)),
                    ],
                )
                .await
            }
        }
    }

    async fn get_node(&self, id: &NodeId) -> Result<Option<Node>, StoreError> {
        self.get(node_key(id), "node").await
    }

    async fn warm_nodes(&self, size: VmSize) -> Result<Vec<Node>, StoreError> {
        self.query_all(
            Some("gsi1"),
            "gsi1pk = :pk",
            vec![(":pk", s(format!("POOL#{size}")))],
            "node",
        )
        .await
    }

    async fn list_live_nodes(&self) -> Result<Vec<Node>, StoreError> {
        self.query_all(
            Some("gsi2"),
            "gsi2pk = :pk",
            vec![(":pk", s(LIVE_NODES))],
            "node",
        )
        .await
    }

    async fn put_workspace(&self, workspace: &Workspace) -> Result<(), StoreError> {
        self.put(workspace_item(workspace)?).await
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        self.get(workspace_key(id), "workspace").await
    }

    async fn list_live_workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        self.query_all(
            Some("gsi2"),
            "gsi2pk = :pk",
            vec![(":pk", s(LIVE_WORKSPACES))],
            "workspace",
        )
        .await
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

    async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let by_project = to_item(
            connection,
            connection_key(&connection.project_id, &connection.id),
            "connection",
        )?;
        let by_id = to_item(
            connection,
            connection_lookup_key(&connection.id),
            "connection",
        )?;
        self.put(by_id).await?;
        self.put(by_project).await
    }

    async fn get_connection(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        self.get(connection_lookup_key(id), "connection").await
    }

    async fn delete_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        for item_key in [
            connection_key(&connection.project_id, &connection.id),
            connection_lookup_key(&connection.id),
        ] {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(item_key)))
                .send()
                .await
                .map_err(classify)?;
        }
        Ok(())
    }

    async fn list_connections(
        &self,
        project: &ProjectId,
        now_secs: u64,
    ) -> Result<Vec<Connection>, StoreError> {
        let connections: Vec<Connection> = self
            .query_all(
                None,
                "pk = :pk AND begins_with(sk, :prefix)",
                vec![
                    (":pk", s(format!("PROJECT#{project}"))),
                    (":prefix", s("CONN#")),
                ],
                "connection",
            )
            .await?;
        // TTL deletion lags by up to days: an expired item is already dead.
        Ok(connections
            .into_iter()
            .filter(|connection| connection.ttl > now_secs)
            .collect())
    }

    async fn last_message_seq(&self, session: &SessionId) -> Result<u64, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(message_pk(session)))
            .expression_attribute_values(":prefix", AttributeValue::S("MSG#".into()))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(1)
            .projection_expression("seq")
            .send()
            .await
            .map_err(classify)?;
        let seq = output
            .items
            .unwrap_or_default()
            .into_iter()
            .next()
            .and_then(|item| match item.get("seq") {
                Some(AttributeValue::N(n)) => n.parse().ok(),
                _ => None,
            });
        Ok(seq.unwrap_or(0))
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
