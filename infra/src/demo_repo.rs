//! The demo project's repository on the local stack: a bare repository on this machine,
//! seeded once with a small project, so the demo's tasks clone, branch and push for real.

use std::io;
use std::path::Path;
use std::process::Command;

const FILES: &[(&str, &str)] = &[
    (
        "README.md",
        "# Demo\n\nThe local stack's demo project. Tasks push their branches here.\n",
    ),
    (
        "src/main.rs",
        "fn main() {\n    println!(\"Hello from the demo project\");\n}\n",
    ),
];

fn git(dir: &Path, args: &[&str]) -> io::Result<()> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Hangar demo")
        .env("GIT_AUTHOR_EMAIL", "demo@hangar.localhost")
        .env("GIT_COMMITTER_NAME", "Hangar demo")
        .env("GIT_COMMITTER_EMAIL", "demo@hangar.localhost")
        .output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "git {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

/// Makes the bare repository at `dir` unless it exists; returns its `file://` URL.
pub fn seed(dir: &Path) -> io::Result<String> {
    if !dir.join("HEAD").is_file() {
        let parent = dir.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)?;
        let work = parent.join("demo-seed");
        if work.exists() {
            std::fs::remove_dir_all(&work)?;
        }
        std::fs::create_dir_all(work.join("src"))?;
        git(
            parent,
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                &dir.display().to_string(),
            ],
        )?;
        git(dir, &["config", "uploadpack.allowFilter", "true"])?;
        git(&work, &["init", "--quiet", "--initial-branch=main"])?;
        for (path, text) in FILES {
            std::fs::write(work.join(path), text)?;
        }
        git(&work, &["add", "--all"])?;
        git(
            &work,
            &["commit", "--quiet", "-m", "Start the demo project"],
        )?;
        git(
            &work,
            &["push", "--quiet", &dir.display().to_string(), "main"],
        )?;
        std::fs::remove_dir_all(&work)?;
    }
    Ok(format!("file://{}", std::fs::canonicalize(dir)?.display()))
}
