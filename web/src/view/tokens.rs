//! The signed-in user's personal API tokens, on the projects page: make one (shown once),
//! see them, revoke them.

use std::rc::Rc;

use hangar_protocol::users::{ApiTokenView, CreateApiTokenRequest};
use sycamore::prelude::*;

use crate::api::Api;

pub fn tokens(api: Rc<Api>) -> View {
    let list = create_signal(Vec::<ApiTokenView>::new());
    let name = create_signal(String::new());
    let made = create_signal(None::<String>);
    let error = create_signal(None::<String>);
    let load = {
        let api = Rc::clone(&api);
        move || {
            let api = Rc::clone(&api);
            wasm_bindgen_futures::spawn_local(async move {
                match api.api_tokens().await {
                    Ok(tokens) => list.set(tokens),
                    Err(failure) => error.set(Some(failure.describe())),
                }
            });
        }
    };
    load();
    let create = {
        let (api, load) = (Rc::clone(&api), load.clone());
        move |event: web_sys::SubmitEvent| {
            event.prevent_default();
            let request = CreateApiTokenRequest {
                name: name.get_clone(),
                expires_in_days: None,
            };
            let (api, load) = (Rc::clone(&api), load.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match api.create_api_token(&request).await {
                    Ok(created) => {
                        made.set(Some(created.token));
                        name.set(String::new());
                        error.set(None);
                        load();
                    }
                    Err(failure) => error.set(Some(failure.describe())),
                }
            });
        }
    };
    let rows = move || {
        list.get_clone()
            .into_iter()
            .map(|token| {
                let (api, load) = (Rc::clone(&api), load.clone());
                let id = token.id.clone();
                let expires = expiry(token.expires_at);
                view! {
                    li(data-testid="api-token") {
                        span(class="token-name") { (token.name) }
                        span(class="muted") { " expires " (expires) " " }
                        button(class="link-button", data-testid="token-revoke", on:click=move |_| {
                            let (api, load, id) = (Rc::clone(&api), load.clone(), id.clone());
                            wasm_bindgen_futures::spawn_local(async move {
                                match api.revoke_api_token(&id).await {
                                    Ok(()) => load(),
                                    Err(failure) => error.set(Some(failure.describe())),
                                }
                            });
                        }) { "Revoke" }
                    }
                }
            })
            .collect::<Vec<View>>()
    };
    view! {
        section(class="api-tokens", aria-labelledby="tokens-title") {
            h2(id="tokens-title") { "API tokens" }
            p(class="muted") { "For scripts and a command line: send one as Authorization: Bearer <token>." }
            form(on:submit=create) {
                label(r#for="token-name") { "Name " }
                input(id="token-name", data-testid="token-name", bind:value=name, maxlength="100", required=true)
                button(r#type="submit", data-testid="token-create") { "Make a token" }
            }
            (match made.get_clone() {
                Some(token) => view! {
                    p { "Copy it now: it is not shown again." }
                    input(aria-label="The new token", data-testid="token-secret", readonly=true, value=token, size="60")
                },
                None => view! {},
            })
            (match error.get_clone() {
                Some(text) => view! { p(class="error-text", role="alert") { (text) } },
                None => view! {},
            })
            ul(class="token-list") { (rows) }
        }
    }
}

/// The date of a Unix epoch millisecond, in the browser's locale.
fn expiry(ms: u64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    date.to_locale_date_string("default", &wasm_bindgen::JsValue::UNDEFINED)
        .into()
}
