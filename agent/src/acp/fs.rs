//! The client file system an ACP agent may use (`fs/read_text_file`, `fs/write_text_file`),
//! confined to its checkout: a path outside it (directly, through `..` or through a symlink)
//! is refused. With a user per workspace the reads and writes are made as that user, so the
//! node agent (root on EC2) never opens a file on the coding agent's behalf.

use std::path::{Component, Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::node::isolation::RunAs;

/// Largest file `fs/read_text_file` returns.
pub const READ_MAX_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{0} is not an absolute path")]
    Relative(String),
    #[error("{path} is outside the workspace's checkout {root}")]
    Outside { path: String, root: String },
    #[error("{path} has {bytes} bytes; at most {READ_MAX_BYTES} are read")]
    TooLarge { path: String, bytes: u64 },
    #[error("{path}: {detail}")]
    Io { path: String, detail: String },
}

/// The file system of one workspace's checkout.
#[derive(Debug, Clone)]
pub struct FileAccess {
    root: PathBuf,
    run_as: Option<RunAs>,
}

impl FileAccess {
    pub fn new(root: PathBuf, run_as: Option<RunAs>) -> Self {
        FileAccess { root, run_as }
    }

    /// The file's text, from 1-based `line` for at most `limit` lines when asked.
    pub async fn read(
        &self,
        path: &Path,
        line: Option<u32>,
        limit: Option<u32>,
    ) -> Result<String, FsError> {
        let path = self.confine(path, true)?;
        let shown = path.display().to_string();
        let io = |err: std::io::Error| FsError::Io {
            path: shown.clone(),
            detail: err.to_string(),
        };
        let bytes = tokio::fs::metadata(&path).await.map_err(io)?.len();
        if bytes > READ_MAX_BYTES {
            return Err(FsError::TooLarge { path: shown, bytes });
        }
        let raw = match &self.run_as {
            None => tokio::fs::read(&path).await.map_err(io)?,
            Some(user) => as_user(user, "cat", &["--", &shown], None)
                .await
                .map_err(io)?,
        };
        let text = String::from_utf8(raw).map_err(|_| FsError::Io {
            path: shown.clone(),
            detail: "not UTF-8 text".into(),
        })?;
        Ok(slice_lines(&text, line, limit))
    }

    /// Writes `content` to the file, making its missing directories.
    pub async fn write(&self, path: &Path, content: &str) -> Result<(), FsError> {
        let path = self.confine(path, false)?;
        let shown = path.display().to_string();
        let io = |err: std::io::Error| FsError::Io {
            path: shown.clone(),
            detail: err.to_string(),
        };
        match &self.run_as {
            None => {
                if let Some(parent) = path.parent() {
                    tokio::fs::create_dir_all(parent).await.map_err(io)?;
                }
                tokio::fs::write(&path, content).await.map_err(io)
            }
            Some(user) => {
                let script = r#"mkdir -p -- "$(dirname -- "$1")" && cat > "$1""#;
                as_user(
                    user,
                    "sh",
                    &["-c", script, "sh", &shown],
                    Some(content.as_bytes()),
                )
                .await
                .map(|_| ())
                .map_err(io)
            }
        }
    }

    /// `path` if it lies in the checkout: absolute, inside it once `..` is resolved, and
    /// inside it once symlinks are (the file itself when `exists`, else its nearest
    /// existing ancestor).
    fn confine(&self, path: &Path, exists: bool) -> Result<PathBuf, FsError> {
        let shown = path.display().to_string();
        if !path.is_absolute() {
            return Err(FsError::Relative(shown));
        }
        let outside = || FsError::Outside {
            path: shown.clone(),
            root: self.root.display().to_string(),
        };
        let root = std::fs::canonicalize(&self.root).map_err(|err| FsError::Io {
            path: self.root.display().to_string(),
            detail: err.to_string(),
        })?;
        let mut lexical = PathBuf::new();
        for component in path.components() {
            match component {
                Component::ParentDir => {
                    lexical.pop();
                }
                Component::CurDir => {}
                other => lexical.push(other),
            }
        }
        // The checkout as given or as resolved (a root reached through a symlink).
        if !lexical.starts_with(&self.root) && !lexical.starts_with(&root) {
            return Err(outside());
        }
        let mut existing = lexical.as_path();
        if !exists {
            while !existing.exists() {
                existing = existing.parent().ok_or_else(outside)?;
            }
        }
        let resolved = std::fs::canonicalize(existing).map_err(|err| FsError::Io {
            path: shown.clone(),
            detail: err.to_string(),
        })?;
        if resolved == root && exists {
            return Err(FsError::Io {
                path: shown,
                detail: "is the checkout itself, not a file".into(),
            });
        }
        if !resolved.starts_with(&root) {
            return Err(outside());
        }
        Ok(lexical)
    }
}

/// The lines of `text` from 1-based `line`, at most `limit` of them.
fn slice_lines(text: &str, line: Option<u32>, limit: Option<u32>) -> String {
    if line.is_none() && limit.is_none() {
        return text.to_string();
    }
    let skip = line.map_or(0, |l| l.saturating_sub(1) as usize);
    let take = limit.map_or(usize::MAX, |l| l as usize);
    text.split_inclusive('\n').skip(skip).take(take).collect()
}

/// Runs `program` as `user`, feeding `input`; its stdout, or its stderr as the error.
async fn as_user(
    user: &RunAs,
    program: &str,
    args: &[&str],
    input: Option<&[u8]>,
) -> std::io::Result<Vec<u8>> {
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .uid(user.uid)
        .gid(user.gid)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(bytes).await?;
    }
    let output = child.wait_with_output().await?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(std::io::Error::other(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkout() -> (tempfile::TempDir, FileAccess) {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(dir.path().join("checkout/src")).expect("dirs");
        std::fs::write(dir.path().join("checkout/src/a.txt"), "one\ntwo\nthree\n").expect("file");
        std::fs::write(dir.path().join("secret.txt"), "outside").expect("file");
        let access = FileAccess::new(dir.path().join("checkout"), None);
        (dir, access)
    }

    #[tokio::test]
    async fn reads_and_writes_inside_the_checkout_and_slices_lines() {
        let (dir, access) = checkout();
        let root = dir.path().join("checkout");
        let file = root.join("src/a.txt");
        assert_eq!(
            access.read(&file, None, None).await.expect("read"),
            "one\ntwo\nthree\n"
        );
        assert_eq!(
            access.read(&file, Some(2), Some(1)).await.expect("read"),
            "two\n"
        );
        let new = root.join("docs/new/notes.md");
        access.write(&new, "hello\n").await.expect("write");
        assert_eq!(std::fs::read_to_string(new).expect("written"), "hello\n");
    }

    #[tokio::test]
    async fn paths_outside_the_checkout_are_refused_however_they_get_there() {
        let (dir, access) = checkout();
        let root = dir.path().join("checkout");
        std::os::unix::fs::symlink(dir.path(), root.join("escape")).expect("symlink");
        for path in [
            dir.path().join("secret.txt"),
            root.join("../secret.txt"),
            root.join("src/../../secret.txt"),
            root.join("escape/secret.txt"),
            PathBuf::from("/etc/passwd"),
        ] {
            let refused = access.read(&path, None, None).await;
            assert!(
                matches!(refused, Err(FsError::Outside { .. })),
                "{path:?}: {refused:?}"
            );
            let refused = access.write(&path, "x").await;
            assert!(
                matches!(refused, Err(FsError::Outside { .. })),
                "{path:?}: {refused:?}"
            );
        }
        let written = access.write(&root.join("escape/new.txt"), "x").await;
        assert!(
            matches!(written, Err(FsError::Outside { .. })),
            "{written:?}"
        );
        assert!(!dir.path().join("new.txt").exists());
        assert!(matches!(
            access.read(Path::new("src/a.txt"), None, None).await,
            Err(FsError::Relative(_))
        ));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("secret.txt")).expect("kept"),
            "outside"
        );
    }
}
