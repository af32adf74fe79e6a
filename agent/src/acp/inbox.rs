//! What members send a running session between its agent's turns: their messages
//! (follow-ups) and Stop. The node's socket (and its assignments, after a reconnect) hand
//! them to [`Inboxes`]; the session's run reads its [`Inbox`]. A message is taken once per
//! run, however often it is delivered.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use hangar_protocol::node::FollowUp;
use hangar_protocol::{MessageId, WorkspaceId};
use tokio::sync::mpsc;

/// One thing for a running session.
#[derive(Debug)]
pub enum Nudge {
    FollowUp(FollowUp),
    /// End the current turn.
    Stop,
}

struct Open {
    sender: mpsc::UnboundedSender<Nudge>,
    seen: HashSet<MessageId>,
}

/// The inboxes of the sessions running on this node.
#[derive(Default)]
pub struct Inboxes {
    open: Mutex<HashMap<WorkspaceId, Open>>,
}

impl Inboxes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<WorkspaceId, Open>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens the workspace's inbox; `taken` are the messages its run starts with.
    pub fn open(
        &self,
        workspace: &WorkspaceId,
        taken: impl IntoIterator<Item = MessageId>,
    ) -> Inbox {
        let (sender, receiver) = mpsc::unbounded_channel();
        let open = Open {
            sender,
            seen: taken.into_iter().collect(),
        };
        self.lock().insert(workspace.clone(), open);
        Inbox { receiver }
    }

    /// Hands a member's message to its session; false when no run of it is here, or the
    /// run has it already.
    pub fn follow_up(&self, follow_up: FollowUp) -> bool {
        let mut open = self.lock();
        let Some(inbox) = open.get_mut(&follow_up.workspace_id) else {
            return false;
        };
        if !inbox.seen.insert(follow_up.message_id.clone()) {
            return false;
        }
        inbox.sender.send(Nudge::FollowUp(follow_up)).is_ok()
    }

    /// Asks the workspace's session to end its current turn.
    pub fn stop(&self, workspace: &WorkspaceId) -> bool {
        self.lock()
            .get(workspace)
            .is_some_and(|inbox| inbox.sender.send(Nudge::Stop).is_ok())
    }

    /// The run ended: what arrives from now on is left for the next run (the control plane
    /// still holds it).
    pub fn close(&self, workspace: &WorkspaceId) {
        self.lock().remove(workspace);
    }
}

/// A running session's end of its inbox.
pub struct Inbox {
    receiver: mpsc::UnboundedReceiver<Nudge>,
}

impl Inbox {
    /// The next nudge; never resolves once every sender is gone.
    pub async fn next(&mut self) -> Nudge {
        match self.receiver.recv().await {
            Some(nudge) => nudge,
            None => std::future::pending().await,
        }
    }

    /// A nudge already waiting, if any.
    pub fn ready(&mut self) -> Option<Nudge> {
        self.receiver.try_recv().ok()
    }
}
