//! Submit -> running through the push path: each task claims a warm node, its create command
//! goes down the node's socket, the node starts the ACP session and acknowledges. Measured
//! on the control plane's own clock, from the task's creation to its `running` transition.

use std::time::{Duration, Instant};

use hangar_protocol::tasks::{NodeStatus, TaskStatus, TaskView};
use hangar_tests::TestStack;
use hangar_tests::fixtures::user;
use serde_json::json;

use crate::table::{Row, Table};

fn transition_at(task: &TaskView, to: TaskStatus) -> Option<u64> {
    task.history
        .iter()
        .find(|step| step.to == to)
        .map(|step| step.at)
}

/// `count` run-now tasks one after another, each on the warm node the last one left.
pub async fn run(table: &mut Table, count: usize) {
    let dir = tempfile::tempdir().expect("dir");
    let script = dir.path().join("script.json");
    std::fs::write(&script, json!([{"say": "done", "chunks": 1}]).to_string()).expect("script");
    let script = script.display().to_string();
    let stack = TestStack::start_with(|options| {
        options
            .nodes
            .env
            .push(("SCRIPTED_ACP_SCRIPT".into(), script));
    })
    .await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    // The first task provisions the node the others claim warm.
    let first = stack.submit_task(&owner, &project, "warm up", "run").await;
    let first = stack
        .wait_for_status(&owner, &first, TaskStatus::Completed)
        .await;
    let node = first.node_id.expect("node");

    let (mut to_running, mut to_starting, mut submit) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..count {
        stack.wait_for_node(&node, NodeStatus::Warm).await;
        let sent = Instant::now();
        let task = stack
            .submit_task(&owner, &project, &format!("task {n}"), "run")
            .await;
        submit.push(sent.elapsed().as_millis() as u64);
        let task = stack
            .wait_for_status(&owner, &task, TaskStatus::Completed)
            .await;
        assert_eq!(task.node_id.as_ref(), Some(&node), "claimed the warm node");
        let created = task.created_at;
        let running = transition_at(&task, TaskStatus::Running).expect("ran");
        let starting = transition_at(&task, TaskStatus::Starting).expect("started");
        to_running.push(running - created);
        to_starting.push(starting - created);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    table.add(Row {
        measure: "POST /tasks (run now, warm node) answered".into(),
        unit: "ms",
        samples: submit,
        note: "client round trip".into(),
        seed: "",
    });
    table.add(Row {
        measure: "submit -> warm node claimed, create command pushed".into(),
        unit: "ms",
        samples: to_starting,
        note: "control plane clock".into(),
        seed: "",
    });
    table.add(Row {
        measure: "submit -> running (node acknowledged the session)".into(),
        unit: "ms",
        samples: to_running,
        note: "goal p99 < 200 ms".into(),
        seed: "",
    });
}
