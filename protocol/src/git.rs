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

/// The scheme of a repository URL, if it is one Hangar clones.
pub fn repo_scheme(url: &str) -> Option<RepoScheme> {
    let has_path = |rest: &str| {
        rest.split_once('/')
            .is_some_and(|(host, path)| !host.is_empty() && !path.is_empty())
    };
    // Nothing git or ssh could take for an option (`-oProxyCommand=…`), no spaces.
    let optionlike =
        url.starts_with('-') || url.contains("/-") || url.contains("@-") || url.contains(":-");
    if optionlike || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    if let Some(rest) = url.strip_prefix("https://") {
        // A credential in the URL would be kept in `.git/config`: credentials go by helper.
        let userinfo = rest
            .split('/')
            .next()
            .is_some_and(|host| host.contains('@'));
        return (has_path(rest) && !userinfo).then_some(RepoScheme::Https);
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let userinfo = rest
            .split('/')
            .next()
            .is_some_and(|host| host.contains('@'));
        return (has_path(rest) && !userinfo).then_some(RepoScheme::Http);
    }
    if let Some(rest) = url.strip_prefix("ssh://") {
        return has_path(rest).then_some(RepoScheme::Ssh);
    }
    if let Some(path) = url.strip_prefix("file://") {
        return (path.starts_with('/') && path.len() > 1).then_some(RepoScheme::File);
    }
    // scp-like: git@github.com:owner/repo.git
    let (user_host, path) = url.split_once(':')?;
    let (user, host) = user_host.split_once('@')?;
    let valid = !user.is_empty()
        && !host.is_empty()
        && !host.contains('/')
        && !path.is_empty()
        && !path.starts_with('/');
    valid.then_some(RepoScheme::Ssh)
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
