//! What a task keeps: the checkout a node makes for a workspace, and the output it reports
//! (branch, commit, files changed). Branch names and repository URLs are checked here, so
//! the control plane and the node agree on them.

use serde::{Deserialize, Serialize};

use crate::UserId;

/// Most files listed in a task's output (the totals count them all).
pub const OUTPUT_MAX_FILES: usize = 100;
/// Longest branch slug made from a task's title.
const SLUG_MAX_CHARS: usize = 40;
/// Longest branch name accepted.
pub const BRANCH_MAX_CHARS: usize = 200;

/// Who commits a task's work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitIdentity {
    pub name: String,
    pub email: String,
}

/// The checkout a node makes for a workspace, and how it keeps the work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutSpec {
    /// The repository URL (`https://`, `ssh://`, `git@host:path`, or `file://` locally).
    pub repo: String,
    /// The branch the work starts from.
    pub base_branch: String,
    /// The branch the work goes to (`hangar/<short task id>-<slug>`).
    pub branch: String,
    /// The commit's subject: the task's title.
    pub title: String,
    /// The user who submitted the task (a commit trailer).
    pub submitted_by: UserId,
    pub author: GitIdentity,
}

/// One file of a task's change, with its line counts (0 and 0 for a binary file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileChange {
    pub path: String,
    pub added: u64,
    pub removed: u64,
}

/// What a task left: the pushed branch and its change, or that nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskOutput {
    pub branch: String,
    pub base_branch: String,
    /// The pushed commit; `None`: the agent changed nothing (and nothing was pushed).
    pub commit: Option<String>,
    /// At most [`OUTPUT_MAX_FILES`], in path order.
    pub files: Vec<FileChange>,
    pub files_changed: u64,
    pub added: u64,
    pub removed: u64,
    /// The pull request, when the project has a forge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request_url: Option<String>,
}

/// Longest file path kept in an output (longer ones are cut, marked with `…`).
const PATH_MAX_CHARS: usize = 500;

impl TaskOutput {
    pub fn no_changes(&self) -> bool {
        self.commit.is_none()
    }

    /// The output within its bounds: at most [`OUTPUT_MAX_FILES`] files, paths cut to
    /// [`PATH_MAX_CHARS`], so a task record and its frame stay small whatever a node sends.
    pub fn capped(mut self) -> Self {
        self.files.truncate(OUTPUT_MAX_FILES);
        for file in &mut self.files {
            file.path = cut(&file.path, PATH_MAX_CHARS);
        }
        self.branch = cut(&self.branch, BRANCH_MAX_CHARS);
        self.base_branch = cut(&self.base_branch, BRANCH_MAX_CHARS);
        self.commit = self.commit.map(|sha| cut(&sha, 64));
        self.pull_request_url = self.pull_request_url.map(|url| cut(&url, PATH_MAX_CHARS));
        self
    }
}

/// `text` cut to `max_chars` characters, marked with `…` when cut.
pub fn cut(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut kept: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    kept.push('…');
    kept
}

/// The work branch of a task: `hangar/<last 8 of its id>-<slug of its title>`, or without
/// the slug when the title has no letters or digits to make one.
pub fn work_branch(task_id: &str, title: &str) -> String {
    let short: String = task_id
        .chars()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<String>()
        .to_ascii_lowercase();
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.chars().count() >= SLUG_MAX_CHARS {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        format!("hangar/{short}")
    } else {
        format!("hangar/{short}-{slug}")
    }
}

/// Whether `name` is a branch name git accepts (`git check-ref-format --branch`), kept to a
/// safe alphabet: letters, digits, `-`, `_`, `.`, `/`.
pub fn is_branch_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_./".contains(c);
    !name.is_empty()
        && name.chars().count() <= BRANCH_MAX_CHARS
        && name.chars().all(allowed)
        && !name.starts_with(['-', '/', '.'])
        && !name.ends_with(['/', '.'])
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("/.")
}

/// How a repository URL is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoScheme {
    Https,
    Ssh,
    /// A path on the node's machine: the local stack only.
    File,
    /// Plain HTTP: the local stack's own git server only.
    Http,
}

/// The repository URLs Hangar clones, as the OpenAPI document's `pattern` (the same grammar
/// as [`repo_scheme`]): ASCII only, a host starting with a letter or digit (nothing git or
/// ssh could take for an option), no credential in an https URL.
pub const REPO_PATTERN: &str = concat!(
    "^(https://[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?/[A-Za-z0-9._~%+/-]+",
    "|ssh://([A-Za-z0-9][A-Za-z0-9._-]*@)?[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?/[A-Za-z0-9._~%+/-]+",
    "|[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9.-]*:[A-Za-z0-9._~%+][A-Za-z0-9._~%+/-]*",
    "|file:///[A-Za-z0-9._~%+/-]+",
    "|http://127\\.0\\.0\\.1:[0-9]{1,5}/[A-Za-z0-9._~%+/-]+)$"
);

/// The scheme of a repository URL, if it is one Hangar clones ([`REPO_PATTERN`]).
pub fn repo_scheme(url: &str) -> Option<RepoScheme> {
    if let Some(rest) = url.strip_prefix("https://") {
        let (host, path) = rest.split_once('/')?;
        return (host_port(host) && path_chars(path)).then_some(RepoScheme::Https);
    }
    if let Some(rest) = url.strip_prefix("ssh://") {
        let (authority, path) = rest.split_once('/')?;
        let host = match authority.split_once('@') {
            Some((user, host)) if is_user(user) => host,
            Some(_) => return None,
            None => authority,
        };
        return (host_port(host) && path_chars(path)).then_some(RepoScheme::Ssh);
    }
    if let Some(path) = url.strip_prefix("file:///") {
        return path_chars(path).then_some(RepoScheme::File);
    }
    if let Some(rest) = url.strip_prefix("http://127.0.0.1:") {
        let (port, path) = rest.split_once('/')?;
        return (is_port(port) && path_chars(path)).then_some(RepoScheme::Http);
    }
    // scp-like: git@github.com:owner/repo.git
    let (user_host, path) = url.split_once(':')?;
    let (user, host) = user_host.split_once('@')?;
    let path_start = path
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || "._~%+".contains(c));
    (is_user(user) && is_host(host) && path_start && path_chars(path)).then_some(RepoScheme::Ssh)
}

fn is_host(host: &str) -> bool {
    host.starts_with(|c: char| c.is_ascii_alphanumeric())
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
}

fn is_user(user: &str) -> bool {
    user.starts_with(|c: char| c.is_ascii_alphanumeric())
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn is_port(port: &str) -> bool {
    (1..=5).contains(&port.len()) && port.chars().all(|c| c.is_ascii_digit())
}

fn host_port(authority: &str) -> bool {
    match authority.split_once(':') {
        Some((host, port)) => is_host(host) && is_port(port),
        None => is_host(authority),
    }
}

fn path_chars(path: &str) -> bool {
    !path.is_empty()
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._~%+/-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_work_branch_is_short_id_and_slug_and_a_title_without_letters_still_gives_one() {
        let id = "01m8ca8sw652dpn3jrxbg8pgzy";
        assert_eq!(
            work_branch(id, "Fix the Login bug!"),
            "hangar/xbg8pgzy-fix-the-login-bug"
        );
        assert_eq!(work_branch(id, "!!! ???"), "hangar/xbg8pgzy");
        assert_eq!(work_branch(id, "Ünïcödé ✓"), "hangar/xbg8pgzy-n-c-d");
        let long = work_branch(id, &"word ".repeat(50));
        assert!(
            long.len() <= "hangar/xbg8pgzy-".len() + SLUG_MAX_CHARS,
            "{long}"
        );
        for title in [
            "Fix the Login bug!",
            "!!! ???",
            "a..b",
            "x/y",
            "trailing -",
            &"word ".repeat(50),
        ] {
            let branch = work_branch(id, title);
            assert!(is_branch_name(&branch), "{branch} from {title:?}");
        }
    }

    #[test]
    fn an_output_from_a_node_is_capped_to_its_bounds() {
        let file = |i: usize| FileChange {
            path: format!("{i}/{}", "p".repeat(900)),
            added: 1,
            removed: 0,
        };
        let output = TaskOutput {
            branch: "hangar/x".into(),
            base_branch: "main".into(),
            commit: Some("a".repeat(40)),
            files: (0..OUTPUT_MAX_FILES + 5).map(file).collect(),
            files_changed: (OUTPUT_MAX_FILES + 5) as u64,
            added: 105,
            removed: 0,
            pull_request_url: None,
        }
        .capped();
        assert_eq!(output.files.len(), OUTPUT_MAX_FILES);
        assert_eq!(
            output.files_changed,
            (OUTPUT_MAX_FILES + 5) as u64,
            "totals count every file"
        );
        assert!(
            output
                .files
                .iter()
                .all(|f| f.path.chars().count() == PATH_MAX_CHARS && f.path.ends_with('…'))
        );
    }

    #[test]
    fn branch_names_git_refuses_are_refused() {
        for good in ["main", "release/1.2", "feature_x", "v2.0"] {
            assert!(is_branch_name(good), "{good}");
        }
        for bad in [
            "", "-x", "a..b", "a/", "a.lock", "a b", "a~1", "a^", "a:b", "/a", "a//b", ".a",
            "a/.b", "a\\b",
        ] {
            assert!(!is_branch_name(bad), "{bad:?}");
        }
        assert!(is_branch_name(&"b".repeat(BRANCH_MAX_CHARS)));
        assert!(!is_branch_name(&"b".repeat(BRANCH_MAX_CHARS + 1)));
    }

    #[test]
    fn repository_urls_are_known_schemes_only() {
        assert_eq!(
            repo_scheme("https://github.com/acme/shop.git"),
            Some(RepoScheme::Https)
        );
        assert_eq!(
            repo_scheme("ssh://git@github.com/acme/shop.git"),
            Some(RepoScheme::Ssh)
        );
        assert_eq!(
            repo_scheme("git@github.com:acme/shop.git"),
            Some(RepoScheme::Ssh)
        );
        assert_eq!(
            repo_scheme("file:///srv/repos/shop.git"),
            Some(RepoScheme::File)
        );
        for bad in [
            "acme/shop",
            "https://github.com",
            "https://",
            "ftp://x/y",
            "file://relative",
            "git@github.com:/abs",
            "https://github.com/acme/shop evil",
            "ext::sh -c touch% /tmp/pwned",
            "-uhttps://x/y",
            "ssh://-oProxyCommand=evil/x",
            "git@host:-upload-pack=evil",
            "git@-host:x",
            "https://x-access-token:ghp_secret@github.com/acme/shop.git",
        ] {
            assert_eq!(repo_scheme(bad), None, "{bad}");
        }
    }
}
