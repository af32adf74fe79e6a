//! The provider's endpoints: discovery, JWKS, the sign-in page (authorization endpoint),
//! the token endpoint (code with PKCE, refresh) and sign-out.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use hangar_protocol::time::now_ms;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{DevIdentityProvider, DevUser, ISSUER_PATH, LOCAL_CLIENT_ID};

/// The development users the sign-in page offers with one click.
pub fn dev_users() -> Vec<DevUser> {
    vec![DevUser {
        subject: "dev-user".into(),
        email: "dev@hangar.local".into(),
        name: "Dev User".into(),
    }]
}

pub fn router(provider: Arc<DevIdentityProvider>) -> Router {
    Router::new()
        .route(
            &format!("{ISSUER_PATH}/.well-known/openid-configuration"),
            get(discovery),
        )
        .route(&format!("{ISSUER_PATH}/jwks"), get(jwks))
        .route(
            &format!("{ISSUER_PATH}/authorize"),
            get(sign_in_page).post(signed_in),
        )
        .route(&format!("{ISSUER_PATH}/token"), axum::routing::post(token))
        .route(&format!("{ISSUER_PATH}/logout"), get(logout))
        .with_state(provider)
}

async fn discovery(State(provider): State<Arc<DevIdentityProvider>>) -> Json<serde_json::Value> {
    let issuer = provider.issuer();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA", "ES256", "RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": ["openid", "email", "profile"],
        "claims_supported": ["sub", "email", "email_verified", "name"],
    }))
}

async fn jwks(State(provider): State<Arc<DevIdentityProvider>>) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Json(provider.jwks())).into_response()
}

/// An authorization request (RFC 6749 4.1.1 with RFC 7636's PKCE parameters).
#[derive(Debug, Deserialize)]
struct AuthorizeRequest {
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    code_challenge: String,
    #[serde(default)]
    code_challenge_method: String,
    #[serde(default)]
    nonce: Option<String>,
    /// Filled by the sign-in page's form.
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

impl AuthorizeRequest {
    /// What makes the request one this provider answers.
    fn check(&self) -> Result<(), String> {
        if self.client_id != LOCAL_CLIENT_ID {
            return Err(format!("unknown client_id {:?}", self.client_id));
        }
        if self.response_type != "code" {
            return Err("response_type must be code".into());
        }
        if !(self.redirect_uri.starts_with("http://") || self.redirect_uri.starts_with("https://"))
        {
            return Err("redirect_uri must be an http(s) URL".into());
        }
        if self.code_challenge_method != "S256" || self.code_challenge.len() < 43 {
            return Err(
                "PKCE is required: code_challenge (S256) and code_challenge_method=S256".into(),
            );
        }
        Ok(())
    }

    fn hidden_fields(&self) -> String {
        let mut fields = String::new();
        for (name, value) in [
            ("response_type", self.response_type.as_str()),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("state", self.state.as_deref().unwrap_or_default()),
            ("code_challenge", self.code_challenge.as_str()),
            ("code_challenge_method", self.code_challenge_method.as_str()),
            ("nonce", self.nonce.as_deref().unwrap_or_default()),
        ] {
            fields.push_str(&format!(
                r#"<input type="hidden" name="{name}" value="{}">"#,
                escape(value)
            ));
        }
        fields
    }
}

fn refused(reason: &str) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"en\"><title>Sign-in refused</title><main><h1>Sign-in refused</h1><p>{}</p></main></html>",
        escape(reason)
    );
    (StatusCode::BAD_REQUEST, Html(page)).into_response()
}

async fn sign_in_page(Query(request): Query<AuthorizeRequest>) -> Response {
    if let Err(reason) = request.check() {
        return refused(&reason);
    }
    let hidden = request.hidden_fields();
    let mut users = String::new();
    for user in dev_users() {
        users.push_str(&format!(
            r#"<li><form method="post">{hidden}<input type="hidden" name="email" value="{email}"><input type="hidden" name="name" value="{name}"><button type="submit">Sign in as {name} ({email})</button></form></li>"#,
            email = escape(&user.email),
            name = escape(&user.name),
        ));
    }
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in to Hangar (local)</title></head>
<body><main><h1>Sign in to Hangar</h1><p>The local stack's identity provider, for development users.</p>
<ul>{users}</ul>
<form method="post" id="another">{hidden}
<label>Email <input type="email" name="email" required></label>
<label>Name <input type="text" name="name" required></label>
<button type="submit">Sign in</button></form></main></body></html>"#
    ))
    .into_response()
}

async fn signed_in(
    State(provider): State<Arc<DevIdentityProvider>>,
    Form(request): Form<AuthorizeRequest>,
) -> Response {
    if let Err(reason) = request.check() {
        return refused(&reason);
    }
    let email = request
        .email
        .clone()
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    let name = request.name.clone().unwrap_or_default().trim().to_string();
    if !email.contains('@') || name.is_empty() {
        return refused("an email and a name are needed to sign in");
    }
    let user = dev_users()
        .into_iter()
        .find(|user| user.email == email)
        .unwrap_or_else(|| DevUser {
            subject: format!("local|{email}"),
            email,
            name,
        });
    let code = provider.grant(
        user,
        request.redirect_uri.clone(),
        request.code_challenge.clone(),
        request.nonce.clone().filter(|nonce| !nonce.is_empty()),
    );
    let separator = if request.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let mut location = format!("{}{separator}code={code}", request.redirect_uri);
    if let Some(state) = request.state.as_deref().filter(|state| !state.is_empty()) {
        location.push_str(&format!("&state={}", encode(state)));
    }
    Redirect::to(&location).into_response()
}

#[derive(Debug, Deserialize)]
struct TokenRequest {
    grant_type: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    redirect_uri: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    code_verifier: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
}

fn token_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

async fn token(
    State(provider): State<Arc<DevIdentityProvider>>,
    Form(request): Form<TokenRequest>,
) -> Response {
    if request.client_id.as_deref() != Some(LOCAL_CLIENT_ID) {
        return token_error("invalid_client", "unknown client_id");
    }
    let issued = match request.grant_type.as_str() {
        "authorization_code" => {
            let grant = request
                .code
                .as_deref()
                .and_then(|code| provider.grants.lock().ok()?.remove(code));
            let Some(grant) = grant else {
                return token_error("invalid_grant", "unknown or used code");
            };
            if grant.expires_at <= now_ms() / 1000 {
                return token_error("invalid_grant", "the code has expired");
            }
            if request.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
                return token_error(
                    "invalid_grant",
                    "redirect_uri differs from the authorization request's",
                );
            }
            let verifier = request.code_verifier.unwrap_or_default();
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(verifier.as_bytes()));
            if verifier.len() < 43 || challenge != grant.challenge {
                return token_error(
                    "invalid_grant",
                    "code_verifier does not match the code_challenge",
                );
            }
            provider.tokens(&grant.user, grant.nonce.as_deref(), None)
        }
        "refresh_token" => {
            let token = request.refresh_token.unwrap_or_default();
            let user = provider
                .refresh_tokens
                .lock()
                .ok()
                .and_then(|tokens| tokens.get(&token).cloned());
            let Some(user) = user else {
                return token_error("invalid_grant", "unknown refresh token");
            };
            provider.refreshes.fetch_add(1, Ordering::Relaxed);
            provider.tokens(&user, None, Some(token))
        }
        _ => {
            return token_error(
                "unsupported_grant_type",
                "authorization_code or refresh_token",
            );
        }
    };
    match issued {
        // A public client calls from the page (a simple form POST: no preflight).
        Ok(tokens) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            ],
            Json(tokens),
        )
            .into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct LogoutRequest {
    /// OpenID Connect RP-initiated logout's name; Cognito's `/logout` says `logout_uri`.
    #[serde(default)]
    post_logout_redirect_uri: Option<String>,
    #[serde(default)]
    logout_uri: Option<String>,
}

async fn logout(Query(request): Query<LogoutRequest>) -> Response {
    match request.post_logout_redirect_uri.or(request.logout_uri) {
        Some(uri) if uri.starts_with("http://") || uri.starts_with("https://") => {
            Redirect::to(&uri).into_response()
        }
        _ => Html("<!doctype html><html lang=\"en\"><title>Signed out</title><main><h1>Signed out</h1></main></html>").into_response(),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Percent-encodes a query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
