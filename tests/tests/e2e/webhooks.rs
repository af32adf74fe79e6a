//! A project's webhook hears of a permission that waits and of a task that ends, once each,
//! as a real HTTP server on loopback receives them (it stands in for a team's endpoint).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use hangar_protocol::routes;
use hangar_protocol::tasks::TaskStatus;
use hangar_tests::fixtures::user;
use hangar_tests::{LIMIT, TestStack, eventually};
use serde_json::{Value, json};

type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// A webhook endpoint on loopback: its URL and what it received (event header, body).
async fn endpoint() -> (String, Received) {
    let received: Received = Arc::default();
    let keep = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::Json<Value>| {
            let keep = Arc::clone(&keep);
            async move {
                let event = headers
                    .get("x-hangar-event")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                keep.lock().expect("lock").push((event, body.0));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, received)
}

#[tokio::test]
async fn the_webhook_hears_once_of_a_waiting_permission_and_of_the_task_ending() {
    let stack = TestStack::start().await;
    let owner = user();
    let (url, received) = endpoint().await;
    let steps = json!([{"permission": "Deploy", "kind": "execute"}, {"say": "done"}]);
    let fields =
        json!({"permissions": {"default": "ask", "timeoutSecs": 2}, "webhook": {"url": url}});
    let project = stack.scripted_project(&owner, steps, fields).await;
    let task = stack.submit_task(&owner, &project.id, "Ship", "run").await;
    eventually("the permission is announced", LIMIT, async || {
        received.lock().expect("lock").len() == 1
    })
    .await;
    let (event, body) = received.lock().expect("lock")[0].clone();
    assert_eq!(event, "permission.waiting");
    assert_eq!(body["event"], "permission.waiting");
    assert_eq!(body["asked"], "Permission requested: Deploy.");
    assert_eq!(body["options"].as_array().map(Vec::len), Some(2));

    stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;
    eventually("the end is announced", LIMIT, async || {
        received.lock().expect("lock").len() >= 2
    })
    .await;
    // Changes after the end (the workspace going, the node going warm) announce nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = received.lock().expect("lock").clone();
    assert_eq!(all.len(), 2, "{all:#?}");
    let (event, body) = &all[1];
    assert_eq!(event, "task.ended");
    assert_eq!(body["taskId"], task.id.as_str());
    assert_eq!(body["status"], "completed");
    assert_eq!(body["title"], "Ship");
}

#[tokio::test]
async fn webhook_urls_are_checked_and_a_webhook_is_removed_with_null() {
    let stack = TestStack::start().await;
    let owner = user();
    let token = stack.user_token(&owner);
    let project = stack.new_project(&owner).await;
    let path = routes::project(&project);
    for bad in [
        json!({"url": "ftp://example.com/hook"}),
        json!({"url": "http://example.com/hook"}),
        json!({"url": "https://"}),
        json!({"url": format!("https://example.com/{}", "x".repeat(500))}),
    ] {
        let (status, body) = stack
            .call("PATCH", &path, Some(&token), Some(json!({"webhook": bad})))
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (400, json!("invalid_webhook")),
            "{bad}"
        );
    }
    let (status, body) = stack
        .call(
            "PATCH",
            &path,
            Some(&token),
            Some(json!({"webhook": {"url": "https://hooks.example.com/h"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["webhook"]["url"], "https://hooks.example.com/h");
    let (status, body) = stack
        .call("PATCH", &path, Some(&token), Some(json!({"webhook": null})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("webhook").is_none(), "{body}");
}
