//! Archives: an ended or backlog task, with its session, and a whole project (its owner's
//! call, once nothing runs) are hidden from their listings and read-only until unarchived.

use hangar_protocol::routes;
use hangar_protocol::tasks::TaskStatus;
use hangar_tests::TestStack;
use hangar_tests::fixtures::user;
use serde_json::{Value, json};

fn path(template: &str, ids: &[&str]) -> String {
    routes::fill(template, ids)
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i[key].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_archived_task_and_its_session_are_hidden_and_read_only_until_unarchived() {
    let stack = TestStack::start().await;
    let owner = user();
    let token = stack.user_token(&owner);
    let project = stack.new_project(&owner).await;
    let task = stack
        .submit_task(&owner, &project, "Tidy the README", "backlog")
        .await;
    let (p, t) = (project.as_str(), task.id.as_str());

    let (status, archived) = stack
        .call(
            "POST",
            &path(routes::TASK_ARCHIVE, &[p, t]),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{archived}");
    assert!(archived["archivedAt"].as_u64().is_some(), "{archived}");

    let tasks = |query: &'static str| {
        let (stack, token) = (&stack, token.clone());
        let url = format!("{}{query}", routes::tasks(&project));
        async move { stack.call("GET", &url, Some(&token), None).await }
    };
    let (_, shown) = tasks("").await;
    assert!(
        !ids(&shown["tasks"], "id").contains(&t.to_string()),
        "hidden: {shown}"
    );
    let (_, hidden) = tasks("?archived=true").await;
    assert_eq!(ids(&hidden["tasks"], "id"), [t]);
    let (status, body) = tasks("?archived=maybe").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_query"))
    );
    let sessions = format!("{}/sessions", routes::project(&project));
    let (_, listed) = stack.call("GET", &sessions, Some(&token), None).await;
    assert!(ids(&listed, "taskId").is_empty(), "{listed}");
    let (_, listed) = stack
        .call(
            "GET",
            &format!("{sessions}?archived=true"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(ids(&listed, "taskId"), [t]);
    // Still readable by id.
    let (status, _) = stack
        .call("GET", &path(routes::TASK, &[p, t]), Some(&token), None)
        .await;
    assert_eq!(status, 200);

    // Read-only: no run, no edit.
    let (status, body) = stack
        .call("POST", &path(routes::TASK_RUN, &[p, t]), Some(&token), None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("task_archived"))
    );
    let (status, body) = stack
        .call(
            "PATCH",
            &path(routes::TASK, &[p, t]),
            Some(&token),
            Some(json!({"title": "New"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("task_archived"))
    );

    // Unarchived, it shows and runs again; a task under way cannot be archived.
    let (status, back) = stack
        .call(
            "POST",
            &path(routes::TASK_UNARCHIVE, &[p, t]),
            Some(&token),
            None,
        )
        .await;
    assert_eq!((status, back.get("archivedAt")), (200, None), "{back}");
    let (_, shown) = tasks("").await;
    assert_eq!(ids(&shown["tasks"], "id"), [t]);
    let (status, _) = stack
        .call("POST", &path(routes::TASK_RUN, &[p, t]), Some(&token), None)
        .await;
    assert_eq!(status, 200);
    let (status, body) = stack
        .call(
            "POST",
            &path(routes::TASK_ARCHIVE, &[p, t]),
            Some(&token),
            None,
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("task_active")));
    stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;
    let (status, _) = stack
        .call(
            "POST",
            &path(routes::TASK_ARCHIVE, &[p, t]),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "an ended task is archived");
}

#[tokio::test]
async fn an_archived_project_is_hidden_and_read_only_until_its_owner_unarchives_it() {
    let stack = TestStack::start().await;
    let (owner, member) = (user(), user());
    let token = stack.user_token(&owner);
    let project = stack.new_project(&owner).await;
    let p = project.as_str();
    let (status, _) = stack
        .call(
            "POST",
            &routes::members(&project),
            Some(&token),
            Some(json!({"userId": member})),
        )
        .await;
    assert_eq!(status, 200);
    let archive = path(routes::PROJECT_ARCHIVE, &[p]);

    let (status, body) = stack
        .call("POST", &archive, Some(&stack.user_token(&member)), None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("not_the_owner"))
    );
    // Not while a task is under way.
    let running = stack
        .submit_task(&owner, &project, "Fix the footer", "run")
        .await;
    let (status, body) = stack.call("POST", &archive, Some(&token), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("project_busy")),
        "{body}"
    );
    stack
        .wait_for_status(&owner, &running, TaskStatus::Completed)
        .await;

    let (status, archived) = stack.call("POST", &archive, Some(&token), None).await;
    assert_eq!(status, 200, "{archived}");
    assert!(archived["archivedAt"].as_u64().is_some());
    let (_, listed) = stack
        .call("GET", routes::PROJECTS, Some(&token), None)
        .await;
    assert!(!ids(&listed, "id").contains(&p.to_string()), "{listed}");
    let (_, listed) = stack
        .call(
            "GET",
            &format!("{}?archived=true", routes::PROJECTS),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(ids(&listed, "id"), [p]);
    let (status, _) = stack
        .call("GET", &routes::project(&project), Some(&token), None)
        .await;
    assert_eq!(status, 200, "still readable");

    for (method, url, body) in [
        (
            "POST",
            routes::tasks(&project),
            Some(json!({"prompt": "More", "mode": "run"})),
        ),
        (
            "PATCH",
            routes::project(&project),
            Some(json!({"name": "Renamed"})),
        ),
        (
            "POST",
            routes::members(&project),
            Some(json!({"userId": user()})),
        ),
    ] {
        let (status, answer) = stack.call(method, &url, Some(&token), body).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (409, Some("project_archived")),
            "{method} {url}"
        );
    }

    let (status, _) = stack
        .call(
            "POST",
            &path(routes::PROJECT_UNARCHIVE, &[p]),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    stack.submit_task(&owner, &project, "More", "backlog").await;
}
