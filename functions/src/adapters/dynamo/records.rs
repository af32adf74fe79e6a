//! Projects, sessions, tasks, nodes and workspaces in the table.

use async_trait::async_trait;
use hangar_protocol::tasks::WorkspaceStatus;
use hangar_protocol::{NodeId, ProjectId, SessionId, TaskId, UserId, WorkspaceId};

use super::DynamoStore;
use super::items::{
    ACTIVE_TASKS, LIVE_WORKSPACES, MEMBERSHIP_PREFIX, SESSION_PREFIX, TASK_PREFIX, from_item, key,
    membership_key, membership_pk, n, node_workspaces_pk, project_key, project_pk, s, session_key,
    task_item, task_key, to_item, workspace_item, workspace_key,
};
use crate::adapters::aws::SdkFailure;
use crate::domain::ports::{
    ProjectStore, Saved, SessionStore, StoreError, TaskStore, WorkspaceStore,
};
use crate::domain::records::{ChatSession, Project, Task, Workspace};

#[async_trait]
impl ProjectStore for DynamoStore {
    async fn create_project(&self, project: &Project) -> Result<Saved, StoreError> {
        let item = to_item(project, project_key(&project.id), "project")?;
        if self.put_new(item).await? == Saved::Conflict {
            return Ok(Saved::Conflict);
        }
        self.put_memberships(project).await?;
        Ok(Saved::Yes)
    }

    async fn save_project(&self, project: &Project, read: u64) -> Result<Saved, StoreError> {
        let item = to_item(project, project_key(&project.id), "project")?;
        // Items written before projects had revisions read as revision 0.
        let condition = if read == 0 {
            "attribute_exists(pk) AND (attribute_not_exists(revision) OR revision = :r)"
        } else {
            "revision = :r"
        };
        if self.put_if(item, condition, vec![(":r", n(read))]).await? == Saved::Conflict {
            return Ok(Saved::Conflict);
        }
        self.put_memberships(project).await?;
        Ok(Saved::Yes)
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
            .query_prefix(membership_pk(user), MEMBERSHIP_PREFIX, "membership")
            .await?;
        // One BatchGetItem per 100 memberships, not one read after another.
        let keys = memberships
            .iter()
            .map(|membership| project_key(&membership.project_id))
            .collect();
        let mut projects: Vec<Project> = self.get_many(keys, "project").await?;
        // A membership outlives a removal from the member list; the project decides.
        projects.retain(|project| project.is_member(user));
        projects.sort_by_key(|project| std::cmp::Reverse(project.created_at));
        Ok(projects)
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn put_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        let item_key = session_key(&session.project_id, &session.id);
        self.put(to_item(session, item_key, "session")?).await
    }

    async fn get_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
    ) -> Result<Option<ChatSession>, StoreError> {
        self.get(session_key(project, id), "session").await
    }

    async fn list_sessions(&self, project: &ProjectId) -> Result<Vec<ChatSession>, StoreError> {
        self.query_prefix(project_pk(project), SESSION_PREFIX, "session")
            .await
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
            .expression_attribute_values(":count", n(count))
            .expression_attribute_values(":at", n(last_message_at))
            .send()
            .await
            .map_err(SdkFailure::from)?;
        Ok(())
    }
}

impl DynamoStore {
    /// Membership entries serve "my projects"; they hold only the project id.
    async fn put_memberships(&self, project: &Project) -> Result<(), StoreError> {
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
}

#[async_trait]
impl TaskStore for DynamoStore {
    async fn save_task(
        &self,
        task: &Task,
        expected_version: Option<u64>,
    ) -> Result<Saved, StoreError> {
        let item = task_item(task)?;
        match expected_version {
            None => self.put_new(item).await,
            Some(version) => {
                self.put_if(item, "version = :v", vec![(":v", n(version))])
                    .await
            }
        }
    }

    async fn get_task(&self, project: &ProjectId, id: &TaskId) -> Result<Option<Task>, StoreError> {
        self.get(task_key(project, id), "task").await
    }

    async fn list_tasks(
        &self,
        project: &ProjectId,
        limit: u32,
        before: Option<&TaskId>,
    ) -> Result<(Vec<Task>, bool), StoreError> {
        // Task ids are ULIDs: the sort key's order is the order of creation. A query stops
        // at 1 MB, so a page of long tasks takes more than one.
        let mut tasks: Vec<Task> = Vec::new();
        let mut start = before.map(|id| key(task_key(project, id)));
        loop {
            let wanted = limit.saturating_sub(u32::try_from(tasks.len()).unwrap_or(u32::MAX));
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(project_pk(project)))
                .expression_attribute_values(":prefix", s(TASK_PREFIX))
                .scan_index_forward(false)
                .limit(i32::try_from(wanted).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(SdkFailure::from)?;
            for item in output.items.unwrap_or_default() {
                tasks.push(from_item(item, "task")?);
            }
            match output.last_evaluated_key.filter(|key| !key.is_empty()) {
                Some(key) if tasks.len() < limit as usize => start = Some(key),
                Some(_) => return Ok((tasks, true)),
                None => return Ok((tasks, false)),
            }
        }
    }

    async fn list_active_tasks(&self) -> Result<Vec<Task>, StoreError> {
        self.query_index("gsi2", ACTIVE_TASKS.into(), "task").await
    }
}

#[async_trait]
impl WorkspaceStore for DynamoStore {
    async fn put_workspace(&self, workspace: &Workspace) -> Result<(), StoreError> {
        self.put(workspace_item(workspace)?).await
    }

    async fn advance_workspace(
        &self,
        workspace: &Workspace,
        from: WorkspaceStatus,
    ) -> Result<Saved, StoreError> {
        self.put_if(
            workspace_item(workspace)?,
            "#status = :from",
            vec![(":from", s(from.as_str()))],
        )
        .await
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        self.get(workspace_key(id), "workspace").await
    }

    /// Both in one BatchGetItem: the ingest's reads in one round trip.
    async fn get_workspace_and_session(
        &self,
        id: &WorkspaceId,
        project: &ProjectId,
        session: &SessionId,
    ) -> Result<(Option<Workspace>, Option<ChatSession>), StoreError> {
        let workspace_pk = workspace_key(id).0;
        let items = self
            .get_items(vec![workspace_key(id), session_key(project, session)])
            .await?;
        let (mut workspace, mut chat_session) = (None, None);
        for item in items {
            let is_workspace = item
                .get("pk")
                .and_then(|pk| pk.as_s().ok())
                .is_some_and(|pk| *pk == workspace_pk);
            if is_workspace {
                workspace = Some(from_item(item, "workspace")?);
            } else {
                chat_session = Some(from_item(item, "session")?);
            }
        }
        Ok((workspace, chat_session))
    }

    async fn list_live_workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        self.query_index("gsi2", LIVE_WORKSPACES.into(), "workspace")
            .await
    }

    async fn node_workspaces(&self, node: &NodeId) -> Result<Vec<Workspace>, StoreError> {
        self.query_index("gsi1", node_workspaces_pk(node), "workspace")
            .await
    }
}
