//! Records seeded straight into the store, for the flows that start from a given state
//! (a workspace that calls back without a node, a running task).

use hangar_functions::domain::records::{ChatSession, Project, Workspace};
use hangar_protocol::permissions::PermissionSettings;
use hangar_protocol::tasks::{TaskStatus, TaskView, VmSize, WorkspaceStatus};
use hangar_protocol::time::now_ms;
use hangar_protocol::{ProjectId, SessionId, UserId, WorkspaceId};

use crate::{Seeded, TestStack, fixtures, unique};

impl TestStack {
    /// Seeds a project owned by a new user, a chat session and its workspace.
    pub async fn seed(&self) -> Seeded {
        let store = &self.stack.state.store;
        let owner = UserId::parse(unique("user")).expect("id");
        let project = ProjectId::parse(unique("project")).expect("id");
        let session = SessionId::parse(unique("session")).expect("id");
        let workspace = WorkspaceId::parse(unique("ws")).expect("id");
        store
            .create_project(&Project {
                id: project.clone(),
                name: "Test project".into(),
                repo: "https://example.com/acme/shop.git".into(),
                default_branch: "main".into(),
                default_vm_size: VmSize::Small,
                acp_command: None,
                forge: None,
                agent: Default::default(),
                permissions: PermissionSettings::allow_all(),
                webhook: None,
                owner: owner.clone(),
                invited: Vec::new(),
                archived_at: None,
                members: vec![owner.clone()],
                created_at: now_ms(),
                revision: 0,
            })
            .await
            .expect("put project");
        store
            .put_session(&ChatSession {
                project_id: project.clone(),
                id: session.clone(),
                task_id: None,
                workspace_id: Some(workspace.clone()),
                title: "Seeded session".into(),
                message_count: 0,
                last_message_at: None,
                created_at: now_ms(),
                archived_at: None,
            })
            .await
            .expect("put session");
        store
            .put_workspace(&Workspace {
                kept_until: None,
                reuses: None,
                id: workspace.clone(),
                project_id: project.clone(),
                session_id: session.clone(),
                task_id: None,
                node_id: None,
                status: WorkspaceStatus::Running,
                created_at: now_ms(),
                closed_at: None,
            })
            .await
            .expect("put workspace");
        Seeded {
            project,
            owner,
            session,
            workspace,
        }
    }

    /// Like [`TestStack::seed`], with a running task that the workspace runs, so the
    /// workspace's agent can report its outcome as a node's does.
    pub async fn seed_running_task(&self) -> (Seeded, TaskView) {
        let seeded = self.seed().await;
        let store = &self.stack.state.store;
        let mut task = fixtures::fake_task(VmSize::Small);
        task.project_id = seeded.project.clone();
        task.session_id = seeded.session.clone();
        task.status = TaskStatus::Running;
        task.workspace_id = Some(seeded.workspace.clone());
        task.created_by = seeded.owner.clone();
        store.save_task(&task, None).await.expect("put task");
        let mut workspace = store
            .get_workspace(&seeded.workspace)
            .await
            .expect("read")
            .expect("workspace");
        workspace.task_id = Some(task.id.clone());
        store
            .put_workspace(&workspace)
            .await
            .expect("put workspace");
        (seeded, task.into())
    }
}

impl TestStack {
    /// Writes `seqs` as assistant messages of the seeded session straight into the table,
    /// 25 to a BatchWriteItem: for long histories, far faster than ingest's conditional puts
    /// on the loopback servers. The items are the ones ingest stores (same keys, same fields).
    pub async fn seed_messages(&self, seeded: &Seeded, seqs: std::ops::RangeInclusive<u64>) {
        use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
        let sdk =
            hangar_functions::adapters::aws::sdk_config(Some(&crate::dynamodb_endpoint())).await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let table = &self.stack.config.table_name;
        let seqs: Vec<u64> = seqs.collect();
        for chunk in seqs.chunks(25) {
            let writes = chunk
                .iter()
                .map(|seq| {
                    let item = std::collections::HashMap::from([
                        (
                            "pk".to_string(),
                            AttributeValue::S(format!("SESSION#{}", seeded.session)),
                        ),
                        (
                            "sk".to_string(),
                            AttributeValue::S(format!("MSG#{seq:020}")),
                        ),
                        ("entity".to_string(), AttributeValue::S("message".into())),
                        (
                            "messageId".to_string(),
                            AttributeValue::S(format!("m-{seq:05}")),
                        ),
                        ("seq".to_string(), AttributeValue::N(seq.to_string())),
                        ("role".to_string(), AttributeValue::S("assistant".into())),
                        (
                            "content".to_string(),
                            AttributeValue::S(format!("message {seq}")),
                        ),
                        (
                            "createdAt".to_string(),
                            AttributeValue::N((1_700_000_000_000 + seq).to_string()),
                        ),
                    ]);
                    let put = PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .expect("put");
                    WriteRequest::builder().put_request(put).build()
                })
                .collect();
            let mut pending = Some(std::collections::HashMap::from([(table.clone(), writes)]));
            while let Some(items) = pending.take().filter(|items| !items.is_empty()) {
                let output = client
                    .batch_write_item()
                    .set_request_items(Some(items))
                    .send()
                    .await
                    .expect("batch write");
                pending = output.unprocessed_items;
            }
        }
    }
}
