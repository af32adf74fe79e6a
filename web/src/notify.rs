//! Opt-in browser notifications: once a member turns them on (and the browser allows
//! them), a task of the project that ends and a permission that waits raise a notification,
//! each once.

use std::cell::RefCell;
use std::collections::HashSet;

use wasm_bindgen_futures::JsFuture;
use web_sys::{Notification, NotificationOptions, NotificationPermission};

const OPTED_IN: &str = "hangar.notify";

thread_local! {
    /// What was notified already (a re-sent frame, a repeated task frame).
    static NOTIFIED: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// Whether notifications are on: opted in here, and allowed by the browser.
pub fn enabled() -> bool {
    let opted = storage()
        .and_then(|s| s.get_item(OPTED_IN).ok().flatten())
        .is_some_and(|v| v == "1");
    opted && Notification::permission() == NotificationPermission::Granted
}

/// Asks the browser, and turns notifications on if it allows them; whether they are on.
pub async fn enable() -> bool {
    let Ok(asked) = Notification::request_permission() else {
        return false;
    };
    let _ = JsFuture::from(asked).await;
    let granted = Notification::permission() == NotificationPermission::Granted;
    if let Some(storage) = storage() {
        let _ = storage.set_item(OPTED_IN, if granted { "1" } else { "0" });
    }
    granted
}

pub fn disable() {
    if let Some(storage) = storage() {
        let _ = storage.set_item(OPTED_IN, "0");
    }
}

/// Shows `title` once per `key`, when notifications are on.
pub fn once(key: String, title: &str, body: &str) {
    if !enabled() || !NOTIFIED.with(|seen| seen.borrow_mut().insert(key)) {
        return;
    }
    let options = NotificationOptions::new();
    options.set_body(body);
    if let Err(err) = Notification::new_with_options(title, &options) {
        web_sys::console::warn_1(&err);
    }
}
