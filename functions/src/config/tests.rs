use super::*;
use crate::lambda::catalog::READ;

fn base() -> HashMap<String, String> {
    [
        ("HANGAR_TABLE_NAME", "hangar"),
        (
            "HANGAR_CALLBACK_PUBLIC_KEY",
            "-----BEGIN PUBLIC KEY-----\\nabc\\n-----END PUBLIC KEY-----",
        ),
        ("HANGAR_OIDC_ISSUER", "https://auth.example/"),
        ("HANGAR_OIDC_CLIENT_ID", "web-client"),
        (
            "HANGAR_CALLBACK_PRIVATE_KEY",
            "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----",
        ),
        ("HANGAR_PUBLIC_API_URL", "https://api.example/"),
        (
            "HANGAR_NODE_SOCKET_URL",
            "wss://abc.execute-api.us-east-1.amazonaws.com/live",
        ),
        (
            "HANGAR_WARM_TIMEOUT_ARN",
            "arn:aws:lambda:us-east-1:1:function:warm",
        ),
        ("HANGAR_SCHEDULER_ROLE_ARN", "arn:aws:iam::1:role/scheduler"),
        ("HANGAR_EC2_AMI_ID", "ami-123"),
        ("HANGAR_STACK_NAME", "hangar"),
        (
            "HANGAR_WS_ENDPOINT",
            "https://abc.execute-api.us-east-1.amazonaws.com/live",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn defaults_apply_and_escaped_newlines_are_restored() {
    let config = Config::from_vars(&base()).expect("valid");
    assert_eq!(config.timeouts.node_warm_ms, 1_800_000);
    assert_eq!(config.timeouts.max_node_lifetime_ms, 14_400_000);
    assert_eq!(config.timeouts.run_ms, 14_400_000);
    assert_eq!(config.timeouts.node_lost_ms, 300_000);
    let signing = config.signing.expect("signing");
    assert_eq!(signing.public_api_url, "https://api.example");
    assert!(matches!(signing.key, SigningKey::Pem(pem) if pem.contains("KEY-----\nabc")));
    let ec2 = config.ec2.expect("ec2");
    assert_eq!(ec2.instance_types.len(), 3);
    assert_eq!(ec2.acp_command, "claude-code-acp");
    assert_eq!(config.scheduler.expect("scheduler").group, "hangar");
    assert!(config.callback_public_key_pem.contains("KEY-----\nabc\n"));
    assert_eq!(config.oidc.issuer, "https://auth.example/");
    assert_eq!(config.oidc.audiences, ["web-client"]);
    assert_eq!(config.oidc.algorithms.len(), 3);
    assert!(
        !config.dev_token_sign_in,
        "a deployed stack takes no bare token"
    );
}

#[test]
fn a_function_reads_only_the_sections_it_needs() {
    let mut vars = base();
    for name in [
        "HANGAR_CALLBACK_PRIVATE_KEY",
        "HANGAR_EC2_AMI_ID",
        "HANGAR_WS_ENDPOINT",
    ] {
        vars.remove(name);
    }
    let reader = Config::for_needs(&vars, READ).expect("a reader needs none of them");
    assert!(reader.signing.is_none() && reader.ec2.is_none() && reader.push_endpoint.is_none());
    let err = Config::for_needs(&vars, &[Need::Sign]).expect_err("a signer needs its key");
    assert_eq!(named(&err), "HANGAR_CALLBACK_PRIVATE_KEY");
    vars.insert(
        "HANGAR_SIGNING_KEY_SECRET_ARN".into(),
        "arn:aws:secretsmanager:x".into(),
    );
    let signer = Config::for_needs(&vars, &[Need::Sign]).expect("the key from a secret");
    assert!(matches!(
        signer.signing.map(|s| s.key),
        Some(SigningKey::Secret { arn, .. }) if arn == "arn:aws:secretsmanager:x"
    ));
}

/// The error of starting with `base()` changed by `change` (`None` removes the variable).
fn error_with(name: &str, change: Option<&str>) -> ConfigError {
    let mut vars = base();
    match change {
        Some(value) => vars.insert(name.into(), value.into()),
        None => vars.remove(name),
    };
    Config::from_vars(&vars).expect_err(name)
}

fn named(err: &ConfigError) -> &'static str {
    match err {
        ConfigError::Missing { name, .. } | ConfigError::Invalid { name, .. } => name,
    }
}

#[test]
fn each_bad_variable_is_named() {
    let missing = error_with("HANGAR_TABLE_NAME", None);
    assert!(
        missing
            .to_string()
            .starts_with("HANGAR_TABLE_NAME is required"),
        "{missing}"
    );
    let soon = error_with("NODE_WARM_TIMEOUT_MS", Some("soon"));
    assert!(
        soon.to_string()
            .contains("NODE_WARM_TIMEOUT_MS is \"soon\""),
        "{soon}"
    );
    let sizes = error_with("HANGAR_EC2_INSTANCE_TYPES", Some("small=t3.micro"));
    assert!(
        sizes
            .to_string()
            .contains("no instance type for size medium"),
        "{sizes}"
    );
    for (name, value, invalid) in [
        ("MAX_AUTO_NODE_LIFETIME_MS", Some("0"), true),
        ("HANGAR_OIDC_ALGORITHMS", Some("RS256,HS256"), true),
        ("HANGAR_DEV_TOKEN_SIGN_IN", Some("yes"), true),
        ("HANGAR_PUBLIC_WS_URL", Some("https://not-a-socket"), true),
        ("HANGAR_OIDC_ALGORITHMS", Some(" , "), true),
        ("HANGAR_OIDC_ISSUER", Some("auth.example"), true),
        ("HANGAR_OIDC_ISSUER", None, false),
        ("HANGAR_OIDC_CLIENT_ID", None, false),
        ("HANGAR_CALLBACK_PUBLIC_KEY", Some("not a pem"), true),
        (
            "HANGAR_EC2_INSTANCE_TYPES",
            Some("small=t3.micro,huge=x"),
            true,
        ),
        ("HANGAR_TABLE_NAME", Some("bad name!"), true),
        ("HANGAR_WARM_TIMEOUT_ARN", None, false),
        ("HANGAR_NODE_SOCKET_URL", Some("https://not-a-socket"), true),
        ("HANGAR_STACK_NAME", None, false),
    ] {
        let err = error_with(name, value);
        assert_eq!(named(&err), name, "{err}");
        assert_eq!(matches!(err, ConfigError::Invalid { .. }), invalid, "{err}");
    }
}
