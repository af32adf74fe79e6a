//! The project page's state and how it stays in sync: everything the page shows lives in
//! [`Page`] (signals), and [`Ctx`] changes it: loads over HTTP, applies live frames, pages
//! the gaps a frame's cursor reveals, and runs what the user asks for. Views read the page
//! and call [`Ctx`]; they never talk to the API themselves. The context is provided to the
//! view tree with Sycamore's `provide_context`.

use std::cell::Cell;
use std::rc::Rc;

use hangar_protocol::forge::UpdateProjectRequest;
use hangar_protocol::tasks::{CreateTaskRequest, ProjectView, SessionView, TaskView};
use hangar_protocol::{ChatMessage, MessageDraft, ProjectId, SessionId, TaskId};
use sycamore::prelude::*;

pub use crate::actions::TaskAction;
use crate::api::{Api, Failure};
use crate::socket::LinkState;

/// Everything the project page shows; all signals, so the struct is `Copy`.
#[derive(Clone, Copy)]
pub struct Page {
    pub project: Signal<Option<ProjectView>>,
    pub tasks: Signal<Vec<TaskView>>,
    pub sessions: Signal<Vec<SessionView>>,
    pub selected: Signal<Option<SessionId>>,
    /// Messages of the selected session, ascending by seq, without gaps: the newest page
    /// first, earlier ones as the user loads them.
    pub messages: Signal<Vec<ChatMessage>>,
    pub loading_messages: Signal<bool>,
    /// Earlier messages exist than the first one shown ("Load earlier").
    pub has_earlier: Signal<bool>,
    /// How many times the page caught up after the socket (re)opened.
    pub catch_ups: Signal<u32>,
    pub link: Signal<LinkState>,
    pub error: Signal<Option<String>>,
    /// The text so far of the message the selected session's agent is writing.
    pub draft: Signal<Option<MessageDraft>>,
}

impl Page {
    fn new() -> Page {
        Page {
            project: create_signal(None),
            tasks: create_signal(Vec::new()),
            sessions: create_signal(Vec::new()),
            selected: create_signal(None),
            messages: create_signal(Vec::new()),
            loading_messages: create_signal(false),
            has_earlier: create_signal(false),
            catch_ups: create_signal(0),
            link: create_signal(LinkState::Connecting),
            error: create_signal(None),
            draft: create_signal(None),
        }
    }
}

/// The page's state and what it needs to act.
pub struct Ctx {
    pub api: Api,
    pub project_id: ProjectId,
    pub page: Page,
    syncing: Cell<bool>,
    sync_again: Cell<bool>,
}

impl Ctx {
    pub fn new(api: Api, project_id: ProjectId) -> Rc<Ctx> {
        Rc::new(Ctx {
            api,
            project_id,
            page: Page::new(),
            syncing: Cell::new(false),
            sync_again: Cell::new(false),
        })
    }

    /// Saves the project's settings; true when they were taken.
    pub async fn update_project(&self, request: UpdateProjectRequest) -> bool {
        match self.api.update_project(&self.project_id, &request).await {
            Ok(project) => {
                self.page.project.set(Some(project));
                true
            }
            Err(failure) => {
                self.fail(failure);
                false
            }
        }
    }

    pub fn fail(&self, failure: Failure) {
        self.page.error.set(Some(failure.describe()));
    }

    /// The highest seq shown for the selected session (0: none).
    pub(crate) fn last_seq(&self) -> u64 {
        self.page
            .messages
            .with_untracked(|messages| messages.last().map_or(0, |m| m.seq))
    }

    /// Adds the messages that continue the shown ones without a gap; the rest wait for a sync.
    pub(crate) fn merge_contiguous(&self, incoming: &[ChatMessage]) {
        let mut next = self.last_seq() + 1;
        let mut fresh = Vec::new();
        for message in incoming {
            if message.seq < next {
                continue;
            }
            if message.seq > next {
                break;
            }
            fresh.push(message.clone());
            next += 1;
        }
        // The stored message replaces its draft.
        if self
            .page
            .draft
            .with_untracked(|d| d.as_ref().is_some_and(|d| d.seq < next))
        {
            self.page.draft.set(None);
        }
        if !fresh.is_empty() {
            self.page.messages.update(|messages| {
                for mut message in fresh {
                    inherit_tool_title(messages, &mut message);
                    messages.push(message);
                }
            });
        }
    }

    /// Loads the project; on success the live socket opens (see [`crate::socket`]).
    pub async fn load_project(&self) -> bool {
        match self.api.project(&self.project_id).await {
            Ok(project) => {
                self.page.project.set(Some(project));
                true
            }
            Err(failure) => {
                self.fail(failure);
                false
            }
        }
    }

    pub async fn reload_tasks(self: &Rc<Self>) {
        match self.api.tasks(&self.project_id).await {
            Ok(tasks) => self.page.tasks.set(tasks),
            Err(failure) => self.fail(failure),
        }
    }

    pub async fn reload_sessions(self: &Rc<Self>) {
        match self.api.sessions(&self.project_id).await {
            Ok(sessions) => {
                let newest = sessions.first().map(|s| s.id.clone());
                self.page.sessions.set(sessions);
                // Chat-first: land on the newest conversation.
                if let (None, Some(newest)) = (self.page.selected.get_clone_untracked(), newest) {
                    self.select(newest);
                }
            }
            Err(failure) => self.fail(failure),
        }
    }

    /// Pages the selected session's messages after the last one shown until none are left.
    /// One sync runs at a time; a request during it makes it go round once more.
    pub async fn sync_messages(self: Rc<Self>) {
        if self.syncing.replace(true) {
            self.sync_again.set(true);
            return;
        }
        loop {
            self.sync_again.set(false);
            let Some(session) = self.page.selected.get_clone_untracked() else {
                break;
            };
            self.page.loading_messages.set(true);
            self.page_session(&session).await;
            self.page.loading_messages.set(false);
            if !self.sync_again.get() {
                break;
            }
        }
        self.syncing.set(false);
    }

    /// Pages `session` from the last shown message to its end; with nothing shown yet, it
    /// opens on the newest page (one request, however long the session).
    async fn page_session(&self, session: &SessionId) {
        if self.last_seq() == 0 {
            match self
                .api
                .messages_before(&self.project_id, session, None)
                .await
            {
                Ok(page) if self.page.selected.get_clone_untracked().as_ref() == Some(session) => {
                    if self.last_seq() != 0 {
                        return; // live frames got here first
                    }
                    // Only the run without a gap: a batch being stored may show its later
                    // seqs before its earlier ones, and its frame or a sync brings the rest.
                    let stored = page.messages.len();
                    let shown = contiguous(page.messages);
                    let whole = shown.len() == stored;
                    self.page.has_earlier.set(page.has_earlier == Some(true));
                    self.page.messages.set(with_tool_titles(shown));
                    if whole {
                        // Current as of its read; the socket's catch-up pages anything newer.
                        return;
                    }
                }
                Ok(_) => {
                    self.sync_again.set(true);
                    return;
                }
                Err(failure) => {
                    self.fail(failure);
                    return;
                }
            }
        }
        loop {
            let after = self.last_seq();
            match self.api.messages(&self.project_id, session, after).await {
                Ok(page) => {
                    if self.page.selected.get_clone_untracked().as_ref() != Some(session) {
                        // Another session was selected meanwhile; go round for it.
                        self.sync_again.set(true);
                        return;
                    }
                    self.merge_contiguous(&page.messages);
                    if !page.has_more || page.messages.is_empty() {
                        return;
                    }
                }
                Err(failure) => {
                    self.fail(failure);
                    return;
                }
            }
        }
    }

    /// "Load earlier": the page before the first message shown, put in front.
    pub async fn load_earlier(self: Rc<Self>) {
        let Some(session) = self.page.selected.get_clone_untracked() else {
            return;
        };
        let Some(first) = self
            .page
            .messages
            .with_untracked(|m| m.first().map(|m| m.seq))
        else {
            return;
        };
        match self
            .api
            .messages_before(&self.project_id, &session, Some(first))
            .await
        {
            Ok(page) if self.page.selected.get_clone_untracked().as_ref() == Some(&session) => {
                self.page.has_earlier.set(page.has_earlier == Some(true));
                self.page.messages.update(|messages| {
                    let mut earlier: Vec<ChatMessage> = page
                        .messages
                        .into_iter()
                        .filter(|m| m.seq < first)
                        .collect();
                    earlier.append(messages);
                    *messages = with_tool_titles(earlier);
                });
            }
            Ok(_) => {}
            Err(failure) => self.fail(failure),
        }
    }

    pub fn select(self: &Rc<Self>, session: SessionId) {
        if self.page.selected.get_clone_untracked().as_ref() == Some(&session) {
            return;
        }
        self.page.messages.set(Vec::new());
        self.page.draft.set(None);
        self.page.has_earlier.set(false);
        self.page.selected.set(Some(session));
        wasm_bindgen_futures::spawn_local(Rc::clone(self).sync_messages());
    }

    /// A task as the server last described it: newer versions replace older ones.
    /// Takes a task and its session off the page (archived or deleted).
    pub fn drop_task(&self, task: &TaskId, session: &SessionId) {
        self.page
            .tasks
            .update(|tasks| tasks.retain(|t| &t.id != task));
        self.page
            .sessions
            .update(|sessions| sessions.retain(|s| &s.id != session));
        let shown = self
            .page
            .selected
            .with_untracked(|selected| selected.as_ref() == Some(session));
        if shown {
            self.page.selected.set(None);
        }
    }

    pub fn upsert_task(self: &Rc<Self>, task: TaskView) {
        if task.archived_at.is_some() {
            // Archived: off the board and the sidebar (here and for every viewer).
            self.drop_task(&task.id, &task.session_id);
            return;
        }
        let known_session = self
            .page
            .sessions
            .with_untracked(|sessions| sessions.iter().any(|s| s.id == task.session_id));
        self.page
            .tasks
            .update(|tasks| match tasks.iter_mut().find(|t| t.id == task.id) {
                Some(existing) if existing.updated_at <= task.updated_at => *existing = task,
                Some(_) => {}
                None => tasks.push(task),
            });
        if !known_session {
            let ctx = Rc::clone(self);
            wasm_bindgen_futures::spawn_local(async move { ctx.reload_sessions().await });
        }
    }

    /// Submits a task and opens its session; false when it was refused.
    pub async fn submit_task(self: &Rc<Self>, request: CreateTaskRequest) -> bool {
        match self.api.create_task(&self.project_id, &request).await {
            Ok(task) => {
                let session = task.session_id.clone();
                self.upsert_task(task);
                self.reload_sessions().await;
                self.select(session);
                true
            }
            Err(failure) => {
                self.fail(failure);
                false
            }
        }
    }
}

/// A tool call's updates usually carry only its id and new status: show them under the
/// title and kind the call started with.
fn inherit_tool_title(earlier: &[ChatMessage], message: &mut ChatMessage) {
    let Some(tool) = message.tool.as_mut() else {
        return;
    };
    let Some(start) = earlier
        .iter()
        .rev()
        .filter_map(|m| m.tool.as_ref())
        .find(|t| t.tool_call_id == tool.tool_call_id)
    else {
        return;
    };
    if tool.title.is_none() {
        tool.title = start.title.clone();
    }
    if tool.kind.is_none() {
        tool.kind = start.kind.clone();
    }
}

/// The leading run of `messages` (ascending) whose seqs follow one another.
fn contiguous(messages: Vec<ChatMessage>) -> Vec<ChatMessage> {
    let Some(first) = messages.first().map(|m| m.seq) else {
        return messages;
    };
    messages
        .into_iter()
        .enumerate()
        .take_while(|(at, m)| m.seq == first + *at as u64)
        .map(|(_, m)| m)
        .collect()
}

/// `messages` (ascending) with each tool update titled after the call it updates.
fn with_tool_titles(messages: Vec<ChatMessage>) -> Vec<ChatMessage> {
    let mut titled: Vec<ChatMessage> = Vec::with_capacity(messages.len());
    for mut message in messages {
        inherit_tool_title(&titled, &mut message);
        titled.push(message);
    }
    titled
}
