//! A workspace's checkout, with the git CLI: cloned before the ACP agent starts, and its
//! work committed and pushed once the agent's turn ends.
//!
//! The ACP agent owns the checkout (its files, its `.git`, its config and hooks), so the node
//! agent, root on EC2, never runs git with the checkout's config where it matters: the commit
//! is made as the workspace's user (hooks off), and the push goes from a repository of the
//! node's own that borrows the checkout's objects (`objects/info/alternates`), so nothing the
//! agent wrote into `.git/config` (a helper, `insteadOf`, `sshCommand`) runs as root or sees a
//! credential. A credential reaches git only through a helper given with `-c` whose secret
//! is in the git process's own environment: never in the remote URL, in argv, in
//! `.git/config` or in the coding agent's environment.

use std::os::unix::fs::lchown;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use hangar_protocol::forge::GitCredential;
use hangar_protocol::git::{CheckoutSpec, FileChange, OUTPUT_MAX_FILES, TaskOutput};
use tokio::process::Command;

use super::isolation::RunAs;

/// Longest a clone or a push may take.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Longest a local step (status, commit, diff) may take.
const LOCAL_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How much of git's error output a reason keeps (its last lines say what went wrong).
const ERROR_TAIL_CHARS: usize = 1500;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// Git ran and refused: `detail` is its own message (a reason a user can act on).
    #[error("{step} failed: {detail}")]
    Refused { step: &'static str, detail: String },
    #[error("{step} took longer than {} s", .limit.as_secs())]
    TimedOut { step: &'static str, limit: Duration },
    #[error("{step}: {source}")]
    Io {
        step: &'static str,
        source: std::io::Error,
    },
}

/// Where a workspace's git work happens.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// The working tree the ACP agent works in.
    pub dir: PathBuf,
    /// The node's own directory for this workspace (the push repository), out of the
    /// workspace user's reach.
    pub scratch: PathBuf,
    /// The workspace's user (`None`: the node agent's own).
    pub run_as: Option<RunAs>,
}

/// Answers git's `get` with the username and password of its own environment.
const HELPER: &str = "credential.helper=!f() { test \"$1\" = get && printf 'username=%s\\npassword=%s\\n' \"$HANGAR_GIT_USERNAME\" \"$HANGAR_GIT_PASSWORD\"; }; f";

/// One git invocation with a clean environment: no system or global config, no prompts,
/// and nothing of the node agent's own environment.
struct Git<'a> {
    step: &'static str,
    cwd: &'a Path,
    run_as: Option<&'a RunAs>,
    limit: Duration,
    /// Given to git through [`HELPER`] (network steps only).
    credential: Option<&'a GitCredential>,
}

impl Git<'_> {
    async fn run(&self, args: &[&str]) -> Result<String, GitError> {
        let step = self.step;
        let mut command = Command::new("git");
        command.env_clear();
        if let Some(credential) = self.credential {
            // The first `credential.helper=` clears any other helper.
            command
                .args(["-c", "credential.helper=", "-c", HELPER])
                .env("HANGAR_GIT_USERNAME", &credential.username)
                .env("HANGAR_GIT_PASSWORD", &credential.password);
        }
        command
            .args(args)
            .current_dir(self.cwd)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.cwd)
            .env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(user) = self.run_as {
            command.uid(user.uid).gid(user.gid);
        }
        let output = tokio::time::timeout(self.limit, command.output())
            .await
            .map_err(|_| GitError::TimedOut {
                step,
                limit: self.limit,
            })?
            .map_err(|source| GitError::Io { step, source })?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(GitError::Refused {
            step,
            detail: tail(stderr.trim(), ERROR_TAIL_CHARS),
        })
    }
}

/// The last `max_chars` characters of `text`.
fn tail(text: &str, max_chars: usize) -> String {
    let count = text.chars().count();
    if count <= max_chars {
        return text.to_string();
    }
    let kept: String = text.chars().skip(count - max_chars).collect();
    format!("…{kept}")
}

impl Checkout {
    fn as_node<'a>(&self, step: &'static str, cwd: &'a Path, limit: Duration) -> Git<'a> {
        Git {
            step,
            cwd,
            run_as: None,
            limit,
            credential: None,
        }
    }

    fn as_workspace(&self, step: &'static str) -> Git<'_> {
        Git {
            step,
            cwd: &self.dir,
            run_as: self.run_as.as_ref(),
            limit: LOCAL_TIMEOUT,
            credential: None,
        }
    }

    /// Clones `spec.repo` at its base branch (blobs fetched as needed) and switches to the
    /// work branch; the checkout then belongs to the workspace's user.
    pub async fn clone(
        &self,
        spec: &CheckoutSpec,
        credential: Option<&GitCredential>,
    ) -> Result<(), GitError> {
        let parent = self.dir.parent().unwrap_or(Path::new("/"));
        let dir = self.dir.display().to_string();
        let mut git = self.as_node("cloning the repository", parent, NETWORK_TIMEOUT);
        git.credential = credential;
        git.run(&[
            "clone",
            "--filter=blob:none",
            "--no-tags",
            "--single-branch",
            "--branch",
            &spec.base_branch,
            "--",
            &spec.repo,
            &dir,
        ])
        .await?;
        // A task run before (a retry elsewhere, a follow-up) continues its pushed branch.
        let mut fetch = self.as_node("fetching the work branch", &self.dir, NETWORK_TIMEOUT);
        fetch.credential = credential;
        let pushed = format!("refs/heads/{}", spec.branch);
        let start = match fetch
            .run(&["fetch", "--quiet", "--no-tags", "origin", &pushed])
            .await
        {
            Ok(_) => "FETCH_HEAD",
            Err(GitError::Refused { .. }) => "HEAD",
            Err(err) => return Err(err),
        };
        self.as_node("creating the work branch", &self.dir, LOCAL_TIMEOUT)
            .run(&["switch", "--create", &spec.branch, start])
            .await?;
        if let Some(user) = &self.run_as {
            give_to(&self.dir, user)
                .await
                .map_err(|source| GitError::Io {
                    step: "giving the checkout to the workspace's user",
                    source,
                })?;
        }
        Ok(())
    }

    /// Commits what the agent left (unless it committed it all itself), pushes the work
    /// branch, and says what changed against the base branch. Nothing changed: nothing is
    /// pushed and the output has no commit.
    pub async fn deliver(
        &self,
        spec: &CheckoutSpec,
        credential: Option<&GitCredential>,
    ) -> Result<TaskOutput, GitError> {
        let base_ref = format!("refs/remotes/origin/{}", spec.base_branch);
        let base = self.rev_parse("reading the base commit", &base_ref).await?;
        self.as_workspace("staging the changes")
            .run(&["add", "--all"])
            .await?;
        let staged = self
            .as_workspace("reading the staged changes")
            .run(&["status", "--porcelain", "--untracked-files=no"])
            .await?;
        if !staged.trim().is_empty() {
            let message = format!(
                "{}\n\nSubmitted-by: {}\n",
                spec.title.trim(),
                spec.submitted_by
            );
            let name = format!("user.name={}", spec.author.name);
            let email = format!("user.email={}", spec.author.email);
            self.as_workspace("committing the work")
                .run(&[
                    "-c",
                    "core.hooksPath=/dev/null",
                    "-c",
                    "commit.gpgSign=false",
                    "-c",
                    &name,
                    "-c",
                    &email,
                    "commit",
                    "--quiet",
                    "--no-verify",
                    "--message",
                    &message,
                ])
                .await?;
        }
        let head = self.rev_parse("reading the new commit", "HEAD").await?;
        let mut output = TaskOutput {
            branch: spec.branch.clone(),
            base_branch: spec.base_branch.clone(),
            commit: None,
            files: Vec::new(),
            files_changed: 0,
            added: 0,
            removed: 0,
            pull_request_url: None,
        };
        if head == base {
            return Ok(output);
        }
        let numstat = self
            .as_workspace("counting the changes")
            .run(&["diff", "--numstat", "--no-renames", "-z", &base, &head])
            .await?;
        count_changes(&numstat, &mut output);
        self.push(spec, &head, credential).await?;
        output.commit = Some(head);
        Ok(output)
    }

    async fn rev_parse(&self, step: &'static str, name: &str) -> Result<String, GitError> {
        let spec = format!("{name}^{{commit}}");
        let sha = self
            .as_workspace(step)
            .run(&["rev-parse", "--verify", "--quiet", &spec])
            .await?;
        Ok(sha.trim().to_string())
    }

    /// Pushes `commit` to the work branch from the node's own repository, which reads the
    /// checkout's objects but none of its config.
    async fn push(
        &self,
        spec: &CheckoutSpec,
        commit: &str,
        credential: Option<&GitCredential>,
    ) -> Result<(), GitError> {
        let io = |step| move |source| GitError::Io { step, source };
        let pusher = self.scratch.join("push.git");
        if tokio::fs::try_exists(&pusher).await.unwrap_or(false) {
            tokio::fs::remove_dir_all(&pusher)
                .await
                .map_err(io("clearing the push repository"))?;
        }
        tokio::fs::create_dir_all(&self.scratch)
            .await
            .map_err(io("making the push repository"))?;
        let path = pusher.display().to_string();
        self.as_node("making the push repository", &self.scratch, LOCAL_TIMEOUT)
            .run(&["init", "--quiet", "--bare", &path])
            .await?;
        let objects = self.dir.join(".git").join("objects");
        tokio::fs::write(
            pusher.join("objects").join("info").join("alternates"),
            format!("{}\n", objects.display()),
        )
        .await
        .map_err(io("linking the checkout's objects"))?;
        let refspec = format!("{commit}:refs/heads/{}", spec.branch);
        let mut git = self.as_node("pushing the branch", &pusher, NETWORK_TIMEOUT);
        git.credential = credential;
        git.run(&["push", "--quiet", "--", &spec.repo, &refspec])
            .await?;
        Ok(())
    }
}

/// Fills the output's files and totals from `git diff --numstat -z` (`-` counts: binary).
fn count_changes(numstat: &str, output: &mut TaskOutput) {
    for entry in numstat.split('\0').filter(|entry| !entry.is_empty()) {
        let mut fields = entry.splitn(3, '\t');
        let (Some(added), Some(removed), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let added = added.parse().unwrap_or(0);
        let removed = removed.parse().unwrap_or(0);
        output.files_changed += 1;
        output.added += added;
        output.removed += removed;
        if output.files.len() < OUTPUT_MAX_FILES {
            output.files.push(FileChange {
                path: path.to_string(),
                added,
                removed,
            });
        }
    }
}

/// Gives `dir` and everything under it to `user` (symlinks themselves, not their targets).
pub async fn give_to(dir: &Path, user: &RunAs) -> std::io::Result<()> {
    let (dir, uid, gid) = (dir.to_path_buf(), user.uid, user.gid);
    tokio::task::spawn_blocking(move || {
        let mut pending = vec![dir];
        while let Some(path) = pending.pop() {
            lchown(&path, Some(uid), Some(gid))?;
            if std::fs::symlink_metadata(&path)?.is_dir() {
                for entry in std::fs::read_dir(&path)? {
                    pending.push(entry?.path());
                }
            }
        }
        Ok(())
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numstat_counts_text_and_binary_files_and_caps_the_list() {
        let mut output = TaskOutput {
            branch: "b".into(),
            base_branch: "main".into(),
            commit: None,
            files: Vec::new(),
            files_changed: 0,
            added: 0,
            removed: 0,
            pull_request_url: None,
        };
        let mut numstat = String::from("3\t1\tsrc/a b.rs\0-\t-\tlogo.png\0");
        for i in 0..OUTPUT_MAX_FILES {
            numstat.push_str(&format!("1\t0\tgen/{i}.txt\0"));
        }
        count_changes(&numstat, &mut output);
        assert_eq!(output.files_changed, OUTPUT_MAX_FILES as u64 + 2);
        assert_eq!(output.files.len(), OUTPUT_MAX_FILES);
        assert_eq!(
            (output.added, output.removed),
            (3 + OUTPUT_MAX_FILES as u64, 1)
        );
        assert_eq!(
            output.files[0],
            FileChange {
                path: "src/a b.rs".into(),
                added: 3,
                removed: 1
            }
        );
        assert_eq!((output.files[1].added, output.files[1].removed), (0, 0));
    }

    #[test]
    fn a_long_git_error_keeps_its_end() {
        let text = format!("{}fatal: the real reason", "x".repeat(5000));
        let kept = tail(&text, 100);
        assert!(kept.ends_with("fatal: the real reason") && kept.chars().count() == 101);
    }
}
