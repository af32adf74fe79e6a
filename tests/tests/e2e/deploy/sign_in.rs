//! The template signs people in through a user pool of its own (or an issuer it is given):
//! a public client of the code flow, its hosted domain, and every function told the issuer.

use super::{entries, load, repo_file, text};

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
    // It sends people back to the page the stack hosts.
    let callbacks = format!("{:?}", client["CallbackURLs"]);
    assert!(
        callbacks.contains("${UiDistribution.DomainName}"),
        "{callbacks}"
    );

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

/// The stack hosts the page: a private bucket read by CloudFront alone (origin access
/// control), which also forwards `/api/*` to the HTTP API.
#[test]
fn the_template_hosts_the_ui_behind_cloudfront_with_origin_access_control() {
    let template = load("template.yaml");
    let resources = &template["Resources"];
    let block = &resources["UiBucket"]["Properties"]["PublicAccessBlockConfiguration"];
    for setting in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[setting].as_bool(), Some(true), "{setting}");
    }
    let config = &resources["UiDistribution"]["Properties"]["DistributionConfig"];
    let origins = config["Origins"].as_vec().expect("origins");
    let ui = origins
        .iter()
        .find(|o| o["Id"].as_str() == Some("ui"))
        .expect("the UI origin");
    assert!(format!("{:?}", ui["OriginAccessControlId"]).contains("UiOriginAccessControl"));
    let api = origins
        .iter()
        .find(|o| o["Id"].as_str() == Some("api"))
        .expect("the API origin");
    assert!(format!("{:?}", api["DomainName"]).contains("${HttpApi}"));
    let behaviors = config["CacheBehaviors"].as_vec().expect("behaviors");
    assert!(
        behaviors
            .iter()
            .any(|b| b["PathPattern"].as_str() == Some("/api/*")
                && b["TargetOriginId"].as_str() == Some("api"))
    );
    let policy = format!(
        "{:?}",
        resources["UiBucketPolicy"]["Properties"]["PolicyDocument"]
    );
    assert!(
        policy.contains("cloudfront.amazonaws.com") && policy.contains("${UiDistribution}"),
        "{policy}"
    );
    assert_eq!(
        text(
            &resources["UiOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]["SigningBehavior"]
        ),
        "always"
    );
}

/// Nothing to fill in by hand: every parameter has a default but the two scripts/deploy
/// finds itself (the account's node image, the region's default VPC).
#[test]
fn every_parameter_has_a_default_or_is_found_by_the_deploy_script() {
    let template = load("template.yaml");
    let without_default: Vec<String> = entries(&template["Parameters"])
        .into_iter()
        .filter(|(_, parameter)| parameter["Default"].is_badvalue())
        .map(|(name, _)| name)
        .collect();
    assert_eq!(without_default, ["NodeAmiId", "NodeVpcId"]);
    let deploy = repo_file("scripts/deploy");
    for name in &without_default {
        assert!(
            deploy.contains(&format!("has {name} ||")),
            "scripts/deploy fills {name}"
        );
    }
}
