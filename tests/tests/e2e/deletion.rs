//! Deleting a task (with its session) and a project: gone at once from every listing and
//! read; what they held is marked to expire through the table's TTL by the sweep, a page
//! at a time. The local table servers keep expired items (they implement no TTL), so the
//! test reads the `ttl` the sweep wrote on each item.

use aws_sdk_dynamodb::types::AttributeValue;
use hangar_protocol::routes;
use hangar_protocol::tasks::TaskStatus;
use hangar_protocol::time::now_ms;
use hangar_tests::TestStack;
use hangar_tests::fixtures::user;
use serde_json::json;

/// The items of partition `pk` as (sk, ttl).
async fn partition(stack: &TestStack, pk: &str) -> Vec<(String, Option<u64>)> {
    let sdk =
        hangar_functions::adapters::aws::sdk_config(Some(&hangar_tests::dynamodb_endpoint())).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let items = client
        .query()
        .table_name(&stack.stack.config.table_name)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()))
        .send()
        .await
        .expect("query")
        .items
        .unwrap_or_default();
    items
        .iter()
        .map(|item| {
            let sk = item["sk"].as_s().expect("sk").clone();
            let ttl = item
                .get("ttl")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok());
            (sk, ttl)
        })
        .collect()
}

#[tokio::test]
async fn a_deleted_task_is_gone_at_once_and_its_messages_expire_through_the_sweep() {
    let stack = TestStack::start().await;
    let owner = user();
    let token = stack.user_token(&owner);
    let project = stack.new_project(&owner).await;
    let task = stack
        .submit_task(&owner, &project, "Fix the footer", "run")
        .await;
    let task_path = routes::task(&project, &task.id);

    let (status, body) = stack.call("DELETE", &task_path, Some(&token), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("task_active")),
        "not while it runs"
    );
    let (status, _) = stack
        .call("DELETE", &task_path, Some(&stack.user_token(&user())), None)
        .await;
    assert_eq!(status, 403, "only members");
    stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;
    let session_pk = format!("SESSION#{}", task.session_id);
    let held = partition(&stack, &session_pk).await;
    assert!(held.len() >= 2, "the run left messages: {held:?}");

    let (status, _) = stack.call("DELETE", &task_path, Some(&token), None).await;
    assert_eq!(status, 204);
    let (status, body) = stack.call("GET", &task_path, Some(&token), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("task_not_found"))
    );
    let (_, page) = stack
        .call("GET", &routes::tasks(&project), Some(&token), None)
        .await;
    assert_eq!(page["tasks"], json!([]));
    let sessions = format!("{}/sessions", routes::project(&project));
    let (_, listed) = stack.call("GET", &sessions, Some(&token), None).await;
    assert_eq!(listed, json!([]));
    let messages = format!("{sessions}/{}/messages?after=0", task.session_id);
    let (status, _) = stack.call("GET", &messages, Some(&token), None).await;
    assert_eq!(status, 404, "its history is no longer served");
    assert!(
        partition(&stack, &session_pk)
            .await
            .iter()
            .all(|(_, ttl)| ttl.is_none())
    );

    let before = now_ms() / 1000;
    let report = stack.stack.state.tasks.sweep().await;
    assert_eq!(report.expired_items, held.len(), "{report:?}");
    let expired = partition(&stack, &session_pk).await;
    assert!(
        expired
            .iter()
            .all(|(_, ttl)| ttl.is_some_and(|at| at >= before && at <= now_ms() / 1000 + 1)),
        "{expired:?}"
    );
    // Done: the next sweep has nothing left of it.
    assert_eq!(stack.stack.state.tasks.sweep().await.expired_items, 0);
    assert!(partition(&stack, "EXPIRING").await.is_empty());
}

#[tokio::test]
async fn a_deleted_project_is_gone_for_everyone_and_what_it_held_expires() {
    let stack = TestStack::start().await;
    let (owner, member) = (user(), user());
    let token = stack.user_token(&owner);
    let project = stack.new_project(&owner).await;
    let (status, _) = stack
        .call(
            "POST",
            &routes::members(&project),
            Some(&token),
            Some(json!({"userId": member})),
        )
        .await;
    assert_eq!(status, 200);
    let backlog = stack
        .submit_task(&owner, &project, "Later", "backlog")
        .await;
    let running = stack.submit_task(&owner, &project, "Now", "run").await;

    let (status, body) = stack
        .call(
            "DELETE",
            &routes::project(&project),
            Some(&stack.user_token(&member)),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("not_the_owner"))
    );
    let (status, body) = stack
        .call("DELETE", &routes::project(&project), Some(&token), None)
        .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("project_busy")));
    stack
        .wait_for_status(&owner, &running, TaskStatus::Completed)
        .await;

    let (status, _) = stack
        .call("DELETE", &routes::project(&project), Some(&token), None)
        .await;
    assert_eq!(status, 204);
    for user in [&owner, &member] {
        let bearer = stack.user_token(user);
        let (status, body) = stack
            .call("GET", &routes::project(&project), Some(&bearer), None)
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("project_not_found"))
        );
        let (_, listed) = stack
            .call("GET", routes::PROJECTS, Some(&bearer), None)
            .await;
        assert_eq!(listed, json!([]));
    }
    let (status, _) = stack
        .call(
            "POST",
            &routes::tasks(&project),
            Some(&token),
            Some(json!({"prompt": "More", "mode": "run"})),
        )
        .await;
    assert_eq!(status, 404);

    // Two sweeps: the project's tasks and sessions, then each session's messages.
    stack.stack.state.tasks.sweep().await;
    stack.stack.state.tasks.sweep().await;
    let project_items = partition(&stack, &format!("PROJECT#{project}")).await;
    assert!(
        !project_items.is_empty() && project_items.iter().all(|(_, ttl)| ttl.is_some()),
        "{project_items:?}"
    );
    for session in [&backlog.session_id, &running.session_id] {
        let items = partition(&stack, &format!("SESSION#{session}")).await;
        assert!(
            items.iter().all(|(_, ttl)| ttl.is_some()),
            "{session}: {items:?}"
        );
    }
    assert!(partition(&stack, "EXPIRING").await.is_empty());
}
