//! The identity provider user tokens come from: any OpenID Connect issuer (the stack's Cognito
//! user pool, Auth0, Okta, Google, the local stack's own), found through its discovery
//! document and checked against its JWKS.

use hangar_protocol::config::{ConfigError, Vars};

/// The signature algorithms a provider's tokens may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAlgorithm {
    Rs256,
    Es256,
    EdDsa,
}

impl TokenAlgorithm {
    const NAMES: [(&'static str, TokenAlgorithm); 3] = [
        ("RS256", TokenAlgorithm::Rs256),
        ("ES256", TokenAlgorithm::Es256),
        ("EdDSA", TokenAlgorithm::EdDsa),
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, algorithm)| *algorithm == self)
            .map_or("", |(name, _)| name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// `HANGAR_OIDC_ISSUER`: the `iss` of its tokens, exactly (Auth0's ends in `/`, Cognito's
    /// does not), and where `/.well-known/openid-configuration` is found.
    pub issuer: String,
    /// `HANGAR_OIDC_CLIENT_ID`: the UI's public client; tokens must name it (`aud` or
    /// `client_id`), or one of `HANGAR_OIDC_AUDIENCES` (an API identifier, say).
    pub client_id: String,
    pub audiences: Vec<String>,
    /// `HANGAR_OIDC_ALGORITHMS` (default all three).
    pub algorithms: Vec<TokenAlgorithm>,
    /// `HANGAR_OIDC_JWKS_URL`: else the discovery document's `jwks_uri`.
    pub jwks_url: Option<String>,
    /// `HANGAR_OIDC_LOGOUT_URL`: where sign-out sends the browser when the discovery document
    /// names no `end_session_endpoint` (Cognito's hosted `/logout`).
    pub logout_url: Option<String>,
    /// `HANGAR_OIDC_SCOPES` the UI asks for.
    pub scopes: String,
}

pub fn oidc(vars: Vars) -> Result<OidcConfig, ConfigError> {
    let issuer = vars.required(
        "HANGAR_OIDC_ISSUER",
        "the OpenID Connect issuer of user tokens",
    )?;
    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
        return Err(invalid(
            "HANGAR_OIDC_ISSUER",
            issuer,
            "must be an https:// URL",
        ));
    }
    let client_id = vars
        .required("HANGAR_OIDC_CLIENT_ID", "the UI's OpenID Connect client id")?
        .to_string();
    let mut audiences = vec![client_id.clone()];
    audiences.extend(list(vars.get_or("HANGAR_OIDC_AUDIENCES", "")).map(String::from));
    let algorithms = list(vars.get_or("HANGAR_OIDC_ALGORITHMS", "RS256,ES256,EdDSA"))
        .map(|name| {
            TokenAlgorithm::NAMES
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(_, algorithm)| *algorithm)
                .ok_or_else(|| {
                    invalid(
                        "HANGAR_OIDC_ALGORITHMS",
                        name,
                        "a comma-separated list of RS256, ES256, EdDSA",
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if algorithms.is_empty() {
        return Err(invalid("HANGAR_OIDC_ALGORITHMS", "", "names no algorithm"));
    }
    Ok(OidcConfig {
        issuer: issuer.to_string(),
        client_id,
        audiences,
        algorithms,
        jwks_url: vars.optional_url("HANGAR_OIDC_JWKS_URL")?,
        logout_url: vars.optional_url("HANGAR_OIDC_LOGOUT_URL")?,
        scopes: vars
            .get_or("HANGAR_OIDC_SCOPES", "openid email profile")
            .to_string(),
    })
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

fn invalid(name: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        name,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}
