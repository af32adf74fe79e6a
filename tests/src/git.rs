//! Real git repositories for the tests: a bare repository made with `git init --bare` and
//! seeded with commits stands in for a project's remote (GitHub cannot be reached from here;
//! git speaks the same protocol to a `file://` remote).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::unique;

/// The files every seeded repository starts with.
pub const SEEDED_FILES: &[(&str, &str)] = &[
    ("README.md", "# Shop\n\nA small shop.\n"),
    ("src/lib.rs", "pub fn price() -> u32 {\n    42\n}\n"),
];

/// Runs git in `dir` with no system or global configuration; panics with git's own
/// message when it fails (a test's set-up).
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Seed")
        .env("GIT_AUTHOR_EMAIL", "seed@example.com")
        .env("GIT_COMMITTER_NAME", "Seed")
        .env("GIT_COMMITTER_EMAIL", "seed@example.com")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A bare repository with two commits on `main` (and a `develop` branch one commit ahead).
pub struct BareRepo {
    pub dir: PathBuf,
}

impl BareRepo {
    pub fn seeded() -> BareRepo {
        let root = std::env::temp_dir().join(unique("hangar-repo"));
        let dir = root.join("shop.git");
        let seed = root.join("seed");
        std::fs::create_dir_all(&seed).expect("repo dirs");
        git(
            &root,
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                "shop.git",
            ],
        );
        // Partial clones need the server side to filter, as GitHub does.
        git(&dir, &["config", "uploadpack.allowFilter", "true"]);
        git(&seed, &["init", "--quiet", "--initial-branch=main"]);
        for (path, text) in SEEDED_FILES {
            let file = seed.join(path);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("dirs");
            std::fs::write(file, text).expect("seed file");
            git(&seed, &["add", path]);
            git(&seed, &["commit", "--quiet", "-m", &format!("Add {path}")]);
        }
        git(&seed, &["switch", "--quiet", "--create", "develop"]);
        std::fs::write(seed.join("DEVELOP.md"), "on develop\n").expect("seed file");
        git(&seed, &["add", "DEVELOP.md"]);
        git(&seed, &["commit", "--quiet", "-m", "Start develop"]);
        let url = format!("file://{}", dir.display());
        git(&seed, &["push", "--quiet", &url, "main", "develop"]);
        std::fs::remove_dir_all(&seed).expect("remove seed");
        BareRepo { dir }
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    /// The branches the repository holds.
    pub fn branches(&self) -> Vec<String> {
        git(
            &self.dir,
            &["for-each-ref", "--format=%(refname:short)", "refs/heads"],
        )
        .lines()
        .map(String::from)
        .collect()
    }

    /// `path` as `rev` has it, if it has it.
    pub fn file(&self, rev: &str, path: &str) -> Option<String> {
        let output = Command::new("git")
            .args(["show", &format!("{rev}:{path}")])
            .current_dir(&self.dir)
            .output()
            .expect("git runs");
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The files `rev` holds.
    pub fn files(&self, rev: &str) -> Vec<String> {
        git(&self.dir, &["ls-tree", "-r", "--name-only", rev])
            .lines()
            .map(String::from)
            .collect()
    }

    /// The commit `rev` names.
    pub fn commit_of(&self, rev: &str) -> String {
        git(&self.dir, &["rev-parse", rev]).trim().to_string()
    }

    /// `format` (git log's) of `rev`'s commit.
    pub fn show(&self, rev: &str, format: &str) -> String {
        git(
            &self.dir,
            &["log", "-1", &format!("--format={format}"), rev],
        )
    }

    /// Makes the repository refuse every push with `message` (a `pre-receive` hook).
    pub fn refuse_pushes(&self, message: &str) {
        let hook = self.dir.join("hooks").join("pre-receive");
        std::fs::write(&hook, format!("#!/bin/sh\necho '{message}' >&2\nexit 1\n")).expect("hook");
        let mut permissions = std::fs::metadata(&hook).expect("hook").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&hook, permissions).expect("hook mode");
    }

    /// Takes the `pre-receive` hook away again.
    pub fn accept_pushes(&self) {
        std::fs::remove_file(self.dir.join("hooks").join("pre-receive")).expect("remove hook");
    }
}
