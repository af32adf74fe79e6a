//! The template signs people in through a user pool of its own (or an issuer it is given):
//! a public client of the code flow, its hosted domain, and every function told the issuer.

use super::{entries, load, text};

#[test]
fn the_template_has_a_user_pool_and_a_public_code_flow_client_unless_given_an_issuer() {
    let template = load("template.yaml");
    let resources = &template["Resources"];
    let pool = &resources["UserPool"];
    assert_eq!(pool["Type"].as_str(), Some("AWS::Cognito::UserPool"));
    assert_eq!(pool["Condition"].as_str(), Some("UseCognito"));
    assert_eq!(
        resources["UserPoolDomain"]["Type"].as_str(),
        Some("AWS::Cognito::UserPoolDomain")
    );

    let client = &resources["UserPoolClient"]["Properties"];
    // A browser holds no secret: a public client of the authorization code flow (the page
    // sends a PKCE challenge with every sign-in).
    assert_eq!(client["GenerateSecret"].as_bool(), Some(false));
    let flows: Vec<String> = client["AllowedOAuthFlows"]
        .as_vec()
        .expect("flows")
        .iter()
        .map(text)
        .collect();
    assert_eq!(flows, ["code"]);
    for scope in ["openid", "email", "profile"] {
        assert!(
            client["AllowedOAuthScopes"]
                .as_vec()
                .expect("scopes")
                .iter()
                .any(|s| text(s) == scope),
            "{scope}"
        );
    }
    let callbacks = format!("{:?}", client["CallbackURLs"]);
    assert!(callbacks.contains("UiOrigin"), "{callbacks}");

    // Every function checks user tokens against the issuer: the pool's, or the parameter.
    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    let issuer = format!("{:?}", variables["HANGAR_OIDC_ISSUER"]);
    assert!(
        issuer.contains("cognito-idp") && issuer.contains("OidcIssuer"),
        "{issuer}"
    );
    assert!(!variables["HANGAR_OIDC_CLIENT_ID"].is_badvalue());
    // No user-token key to paste in any more; the external issuer is optional.
    let parameters = entries(&template["Parameters"]);
    assert!(
        parameters
            .iter()
            .all(|(name, _)| !name.starts_with("UserJwt"))
    );
    let issuer_parameter = &template["Parameters"]["OidcIssuer"];
    assert_eq!(issuer_parameter["Default"].as_str(), Some(""));
}
