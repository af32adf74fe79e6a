//! The control plane's HTTP API as the browser calls it: the user's bearer token on every
//! request, `{code,message}` errors turned into [`Failure`]s the page can show.

use gloo_net::http::{Request, RequestBuilder};
use hangar_protocol::ApiTokenId;
use hangar_protocol::forge::UpdateProjectRequest;
use hangar_protocol::limits::TASKS_PAGE_MAX_LIMIT;
use hangar_protocol::permissions::{AnswerPermissionRequest, PermissionView};
use hangar_protocol::tasks::{
    CreateTaskRequest, ProjectView, SessionView, TaskPage, TaskView, UpdateTaskRequest,
};
use hangar_protocol::users::{ApiTokenView, CreateApiTokenRequest, CreatedApiToken};
use hangar_protocol::{
    ErrorBody, MessagesPage, PermissionId, PostMessageRequest, PostedMessage, ProjectId, SessionId,
    TaskId, routes,
};
use serde::de::DeserializeOwned;

/// Why a call failed, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// HTTP status, 0 when the server could not be reached.
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl Failure {
    fn network(err: impl std::fmt::Display) -> Failure {
        Failure {
            status: 0,
            code: "network".into(),
            message: format!("cannot reach the control plane: {err}"),
        }
    }

    pub fn describe(&self) -> String {
        if self.status == 0 {
            self.message.clone()
        } else {
            format!("{} ({}, {})", self.message, self.code, self.status)
        }
    }
}

#[derive(Debug, Clone)]
pub struct Api {
    base: String,
}

/// Most tasks the board loads (the newest ones).
pub const BOARD_MAX_TASKS: usize = 1_000;

/// Largest page the history route serves.
pub const PAGE_LIMIT: u32 = hangar_protocol::limits::MESSAGES_PAGE_MAX_LIMIT;

impl Api {
    pub fn new(base: String) -> Api {
        Api { base }
    }

    /// Sends the request `make` builds with the current access token; a 401 makes one
    /// refresh of the sign-in and one more try (a token expired between two refreshes).
    async fn call<T: DeserializeOwned>(
        &self,
        make: impl Fn(RequestBuilder) -> Result<Request, gloo_net::Error>,
        method: fn(&str) -> RequestBuilder,
        path: &str,
    ) -> Result<T, Failure> {
        let url = format!("{}{path}", self.base);
        let attempt = || {
            let token = crate::auth::access_token().unwrap_or_default();
            make(method(&url).header("Authorization", &format!("Bearer {token}")))
                .map_err(Failure::network)
        };
        match self.send(attempt()?).await {
            Err(failure) if failure.status == 401 && crate::auth::refresh().await => {
                self.send(attempt()?).await
            }
            answer => answer,
        }
    }

    async fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<T, Failure> {
        self.call(|builder| builder.json(body), Request::patch, path)
            .await
    }

    async fn send<T: DeserializeOwned>(&self, request: Request) -> Result<T, Failure> {
        let response = request.send().await.map_err(Failure::network)?;
        let status = response.status();
        if status == 204 {
            // No content (a deletion): only `()` reads from it.
            return serde_json::from_str("null").map_err(|err| Failure {
                status,
                code: "bad_response".into(),
                message: format!("unexpected answer: {err}"),
            });
        }
        if (200..300).contains(&status) {
            return response.json::<T>().await.map_err(|err| Failure {
                status,
                code: "bad_response".into(),
                message: format!("unexpected answer: {err}"),
            });
        }
        let text = response.text().await.unwrap_or_default();
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Failure {
                status,
                code: body.code,
                message: body.message,
            },
            Err(_) => Failure {
                status,
                code: "http_error".into(),
                message: format!("the control plane answered {status}"),
            },
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.call(RequestBuilder::build, Request::get, path).await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&impl serde::Serialize>,
    ) -> Result<T, Failure> {
        self.call(
            |builder| match body {
                Some(body) => builder.json(body),
                None => builder.build(),
            },
            Request::post,
            path,
        )
        .await
    }

    pub async fn update_project(
        &self,
        project: &ProjectId,
        request: &UpdateProjectRequest,
    ) -> Result<ProjectView, Failure> {
        self.patch(&routes::project(project), request).await
    }

    pub async fn projects(&self) -> Result<Vec<ProjectView>, Failure> {
        self.get(routes::PROJECTS).await
    }

    pub async fn project(&self, project: &ProjectId) -> Result<ProjectView, Failure> {
        self.get(&routes::project(project)).await
    }

    /// The project's task summaries, newest first, following the listing's pages up to
    /// [`BOARD_MAX_TASKS`].
    pub async fn tasks(&self, project: &ProjectId) -> Result<Vec<TaskView>, Failure> {
        let first = format!("{}?limit={TASKS_PAGE_MAX_LIMIT}", routes::tasks(project));
        let mut page: TaskPage = self.get(&first).await?;
        let mut tasks = std::mem::take(&mut page.tasks);
        while let Some(cursor) = page.next_cursor.take()
            && tasks.len() < BOARD_MAX_TASKS
        {
            page = self.get(&format!("{first}&cursor={cursor}")).await?;
            tasks.append(&mut page.tasks);
        }
        Ok(tasks)
    }

    pub async fn sessions(&self, project: &ProjectId) -> Result<Vec<SessionView>, Failure> {
        self.get(&routes::sessions(project)).await
    }

    pub async fn create_task(
        &self,
        project: &ProjectId,
        request: &CreateTaskRequest,
    ) -> Result<TaskView, Failure> {
        self.post(&routes::tasks(project), Some(request)).await
    }

    pub async fn run_task(&self, project: &ProjectId, task: &TaskId) -> Result<TaskView, Failure> {
        self.post(&routes::task_run(project, task), None::<&()>)
            .await
    }

    pub async fn cancel_task(
        &self,
        project: &ProjectId,
        task: &TaskId,
    ) -> Result<TaskView, Failure> {
        self.post(&routes::task_cancel(project, task), None::<&()>)
            .await
    }

    pub async fn retry_task(
        &self,
        project: &ProjectId,
        task: &TaskId,
    ) -> Result<TaskView, Failure> {
        self.post(&routes::task_retry(project, task), None::<&()>)
            .await
    }

    pub async fn api_tokens(&self) -> Result<Vec<ApiTokenView>, Failure> {
        self.get(routes::API_TOKENS).await
    }

    pub async fn create_api_token(
        &self,
        request: &CreateApiTokenRequest,
    ) -> Result<CreatedApiToken, Failure> {
        self.post(routes::API_TOKENS, Some(request)).await
    }

    pub async fn revoke_api_token(&self, id: &ApiTokenId) -> Result<(), Failure> {
        let path = routes::fill(routes::API_TOKEN, &[id.as_str()]);
        self.call(RequestBuilder::build, Request::delete, &path)
            .await
    }

    pub async fn delete_task(&self, project: &ProjectId, task: &TaskId) -> Result<(), Failure> {
        self.call(
            RequestBuilder::build,
            Request::delete,
            &routes::task(project, task),
        )
        .await
    }

    pub async fn archive_task(
        &self,
        project: &ProjectId,
        task: &TaskId,
    ) -> Result<TaskView, Failure> {
        let path = routes::fill(routes::TASK_ARCHIVE, &[project.as_str(), task.as_str()]);
        self.post(&path, None::<&()>).await
    }

    pub async fn discard_task(
        &self,
        project: &ProjectId,
        task: &TaskId,
    ) -> Result<TaskView, Failure> {
        self.post(&routes::task_discard(project, task), None::<&()>)
            .await
    }

    pub async fn messages(
        &self,
        project: &ProjectId,
        session: &SessionId,
        after: u64,
    ) -> Result<MessagesPage, Failure> {
        self.get(&routes::messages_page(project, session, after, PAGE_LIMIT))
            .await
    }

    /// One task, whole (listings carry no prompt).
    pub async fn task(&self, project: &ProjectId, task: &TaskId) -> Result<TaskView, Failure> {
        self.get(&routes::task(project, task)).await
    }

    pub async fn edit_task(
        &self,
        project: &ProjectId,
        task: &TaskId,
        request: &UpdateTaskRequest,
    ) -> Result<TaskView, Failure> {
        self.patch(&routes::task(project, task), request).await
    }

    pub async fn stop_task(&self, project: &ProjectId, task: &TaskId) -> Result<TaskView, Failure> {
        self.post(&routes::task_stop(project, task), None::<&()>)
            .await
    }

    /// Writes to the session's agent.
    pub async fn post_message(
        &self,
        project: &ProjectId,
        session: &SessionId,
        request: &PostMessageRequest,
    ) -> Result<PostedMessage, Failure> {
        self.post(&routes::session_messages(project, session), Some(request))
            .await
    }

    /// Answers a permission the session's agent waits on.
    pub async fn answer_permission(
        &self,
        project: &ProjectId,
        session: &SessionId,
        permission: &PermissionId,
        option_id: String,
    ) -> Result<PermissionView, Failure> {
        self.post(
            &routes::session_permission(project, session, permission),
            Some(&AnswerPermissionRequest { option_id }),
        )
        .await
    }

    /// The newest page of the session (`before: None`), or the page below `before`.
    pub async fn messages_before(
        &self,
        project: &ProjectId,
        session: &SessionId,
        before: Option<u64>,
    ) -> Result<MessagesPage, Failure> {
        self.get(&routes::messages_before(
            project, session, before, PAGE_LIMIT,
        ))
        .await
    }
}
