//! What a task left, as its card and the chat header show it: the pushed branch (and the
//! pull request), the change in lines, and the files changed.

use hangar_protocol::git::TaskOutput;
use sycamore::prelude::*;

/// One line: `branch · +a −r in n files`, or `no changes`, with the pull request link.
pub fn summary(output: &TaskOutput) -> View {
    if output.no_changes() {
        return view! { p(class="output", data-testid="task-output") { "No changes" } };
    }
    let branch = output.branch.clone();
    let counts = format!(
        "+{} −{} in {} file{}",
        output.added,
        output.removed,
        output.files_changed,
        if output.files_changed == 1 { "" } else { "s" }
    );
    let pull_request = match output.pull_request_url.clone() {
        Some(url) => view! {
            a(class="pr-link", href=url, target="_blank", rel="noopener", data-testid="pull-request",
              on:click=|event: web_sys::MouseEvent| event.stop_propagation()) { "Pull request" }
        },
        None => view! {},
    };
    view! {
        p(class="output", data-testid="task-output") {
            code(class="branch", data-testid="task-branch") { (branch) }
            " "
            span(class="counts") { (counts) }
            " "
            (pull_request)
        }
    }
}

/// The summary and, folded, every file listed with its counts.
pub fn details(output: &TaskOutput) -> View {
    let summary = summary(output);
    if output.no_changes() {
        return summary;
    }
    let files: Vec<View> = output
        .files
        .iter()
        .map(|file| {
            let (path, added, removed) = (file.path.clone(), file.added, file.removed);
            view! {
                li(data-testid="output-file") {
                    code { (path) }
                    span(class="added") { " +" (added) }
                    span(class="removed") { " −" (removed) }
                }
            }
        })
        .collect();
    let unlisted = output
        .files_changed
        .saturating_sub(output.files.len() as u64);
    let more = if unlisted > 0 {
        let text = format!("and {unlisted} more");
        view! { li(class="muted") { (text) } }
    } else {
        view! {}
    };
    view! {
        div(class="output-details") {
            (summary)
            details {
                summary { "Files changed" }
                ul(class="files") { (files) (more) }
            }
        }
    }
}
