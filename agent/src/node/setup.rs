//! A project's setup script (install dependencies), run in a fresh checkout before the
//! agent starts, as the workspace's user, with the agent's variables. Its output (stdout and
//! stderr together, the last part when long) goes into the transcript as a tool call.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use hangar_protocol::limits::MESSAGE_CONTENT_MAX_BYTES;
use hangar_protocol::{MessageRole, ToolCallInfo};
use tokio::process::Command;

use super::isolation::RunAs;
use crate::outbox::Draft;

/// Longest a setup script may run.
const SETUP_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// How a setup script ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupEnd {
    /// Why it failed (`None`: it exited 0).
    pub failure: Option<String>,
    /// Its transcript message.
    pub message: Draft,
}

/// Runs `script` with `sh` in `checkout`.
pub async fn run_setup(
    script: &str,
    checkout: &Path,
    home: &Path,
    run_as: Option<&RunAs>,
    env: &BTreeMap<String, String>,
) -> SetupEnd {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        // One stream, in the order it was written.
        .arg(format!("exec 2>&1\n{script}"))
        .current_dir(checkout)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(user) = run_as {
        command.uid(user.uid).gid(user.gid).env("USER", &user.name);
    }
    let (failure, output) = match tokio::time::timeout(SETUP_TIMEOUT, command.output()).await {
        Err(_) => (
            Some(format!(
                "the setup script ran longer than {} min",
                SETUP_TIMEOUT.as_secs() / 60
            )),
            String::new(),
        ),
        Ok(Err(err)) => (
            Some(format!("cannot run the setup script: {err}")),
            String::new(),
        ),
        Ok(Ok(output)) => {
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            let failure = (!output.status.success()).then(|| match output.status.code() {
                Some(code) => format!("the setup script exited with status {code}"),
                None => "the setup script was killed".to_string(),
            });
            (failure, text)
        }
    };
    let message = Draft {
        role: MessageRole::Tool,
        content: tail(&output, MESSAGE_CONTENT_MAX_BYTES / 2),
        tool: Some(ToolCallInfo {
            tool_call_id: "hangar-setup-script".into(),
            title: Some("Setup script".into()),
            kind: Some("execute".into()),
            status: Some(
                if failure.is_some() {
                    "failed"
                } else {
                    "completed"
                }
                .into(),
            ),
        }),
        permission: None,
        id: None,
    };
    SetupEnd { failure, message }
}

/// The last `max_bytes` of `text` (at a char boundary), marked when cut.
fn tail(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut start = text.len() - max_bytes;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_setup_script_runs_in_the_checkout_with_the_variables_and_reports_its_failure() {
        let dir = tempfile::tempdir().expect("dir");
        let env = BTreeMap::from([("GREETING".to_string(), "hello".to_string())]);
        let ok = run_setup(
            "echo $GREETING; echo oops >&2; touch made",
            dir.path(),
            dir.path(),
            None,
            &env,
        )
        .await;
        assert_eq!(ok.failure, None);
        assert_eq!(ok.message.content, "hello\noops\n");
        assert!(dir.path().join("made").exists());
        let failed = run_setup("echo partial; exit 3", dir.path(), dir.path(), None, &env).await;
        assert_eq!(
            failed.failure.as_deref(),
            Some("the setup script exited with status 3")
        );
        assert_eq!(
            failed.message.tool.and_then(|t| t.status).as_deref(),
            Some("failed")
        );
    }

    #[test]
    fn long_output_keeps_its_end() {
        let text = format!("{}END", "é".repeat(10_000));
        let kept = tail(&text, 101);
        assert!(kept.ends_with("END") && kept.len() <= 101 + '…'.len_utf8());
    }
}
