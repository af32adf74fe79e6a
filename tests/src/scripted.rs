//! What the flows of a running agent start from: a project whose ACP agent plays a script,
//! on a fresh seeded repository, and a viewer on a project's live frames.

use hangar_protocol::{ProjectId, UserId, routes};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::TestStack;
use crate::agent::{scripted_command, shared_script};
use crate::git::BareRepo;

/// A project whose agent plays a script; the repository and the script live as long as it.
pub struct ScriptedProject {
    pub id: ProjectId,
    pub repo: BareRepo,
    /// Where the script is (the scripted agent's `SCRIPTED_ACP_SCRIPT`).
    pub script_path: String,
    _script: tempfile::TempDir,
}

pub type Viewer = WebSocketStream<MaybeTlsStream<TcpStream>>;

impl TestStack {
    /// A project of `owner` whose ACP agent plays `steps`; `fields` (an object) adds to or
    /// overrides the project's body (its permissions, its webhook).
    pub async fn scripted_project(
        &self,
        owner: &UserId,
        steps: Value,
        fields: Value,
    ) -> ScriptedProject {
        let (script, script_path) = shared_script(steps);
        let repo = BareRepo::seeded();
        let mut body = serde_json::json!({
            "name": "Scripted", "repo": repo.url(), "acpCommand": scripted_command(&script_path)
        });
        if let (Some(body), Some(fields)) = (body.as_object_mut(), fields.as_object()) {
            body.extend(fields.clone());
        }
        let id = self.create_project(owner, body).await;
        ScriptedProject {
            id,
            repo,
            script_path,
            _script: script,
        }
    }

    /// A viewer's socket on `project`'s live frames, as `owner`.
    pub async fn viewer(&self, owner: &UserId, project: &ProjectId) -> Viewer {
        let url = self.stack.ws_url(&format!(
            "{}?token={}&projectId={project}",
            routes::LIVE_SOCKET,
            self.user_token(owner)
        ));
        let (viewer, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("a viewer's socket");
        viewer
    }
}
