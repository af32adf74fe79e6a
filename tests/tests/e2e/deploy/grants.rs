//! Who may do what: the signing key's readers, EC2 launch, tags and termination.

use super::*;

#[test]
fn only_the_signing_functions_can_read_the_signing_key() {
    let template = load("template.yaml");
    let globals = format!("{:?}", template["Globals"]);
    assert!(
        !globals.contains("SigningPrivateKey")
            && !globals.contains("SigningKeySecret")
            && !globals.contains("PRIVATE"),
        "no key in Globals: {globals}"
    );
    let mut signers = BTreeSet::new();
    for lambda in catalog::lambdas() {
        let (logical, function) = function_of(&template, lambda.name);
        let environment = format!("{:?}", function["Properties"]["Environment"]);
        let reads_key = grants_on(
            function,
            "secretsmanager:GetSecretValue",
            "SigningKeySecret",
        );
        let told_where = environment.contains("SigningKeySecret");
        assert_eq!(
            reads_key,
            lambda.needs(Need::Sign),
            "{logical} reads the key"
        );
        assert_eq!(
            told_where,
            lambda.needs(Need::Sign),
            "{logical} is told the key"
        );
        assert!(
            !environment.contains("PRIVATE_KEY"),
            "{logical} holds no key itself"
        );
        if reads_key {
            signers.insert(lambda.name);
        }
    }
    assert!(
        signers.contains("create-task") && !signers.contains("list-messages"),
        "{signers:?}"
    );
    // The private key parameter goes into the secret and nowhere else.
    let document = repo_file("template.yaml");
    assert_eq!(document.matches("!Ref SigningPrivateKey").count(), 1);
    assert!(template["Parameters"]["SigningPrivateKey"]["NoEcho"].as_bool() == Some(true));
}

#[test]
fn instances_are_launched_tagged_and_terminated_only_where_needed() {
    let template = load("template.yaml");
    for lambda in catalog::lambdas() {
        let (logical, function) = function_of(&template, lambda.name);
        assert_eq!(
            grants(function, "ec2:RunInstances"),
            lambda.needs(Need::Provision),
            "{logical} launches instances"
        );
        assert_eq!(
            grants(function, "ec2:TerminateInstances"),
            lambda.needs(Need::Terminate),
            "{logical} terminates instances"
        );
        for statement in statements(function) {
            let action = format!("{:?}", statement["Action"]);
            let condition = format!("{:?}", statement["Condition"]);
            if action.contains("ec2:CreateTags") {
                assert!(
                    condition.contains("ec2:CreateAction") && condition.contains("RunInstances"),
                    "{logical}: tags only on launch"
                );
            }
            if action.contains("ec2:TerminateInstances") {
                assert!(
                    condition.contains("aws:ResourceTag/hangar:stack"),
                    "{logical}: only this stack's"
                );
            }
        }
    }
    let parameters = &template["Parameters"];
    assert!(
        parameters["UiOrigin"]["Default"].is_badvalue(),
        "UiOrigin has no default"
    );
    assert!(text(&parameters["UiOrigin"]["AllowedPattern"]).starts_with("^https?://[^*"));
    let throttling = &template["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"];
    assert!(
        !throttling["ThrottlingRateLimit"].is_badvalue(),
        "the HTTP API is throttled"
    );
    let group = &template["Resources"]["NodeSecurityGroup"]["Properties"];
    assert!(
        group["SecurityGroupIngress"].is_badvalue(),
        "nodes take no inbound connection"
    );
}

#[test]
fn only_the_forge_functions_reach_the_forge_credentials_and_only_this_stacks() {
    let template = load("template.yaml");
    let mut keepers = BTreeSet::new();
    for lambda in catalog::lambdas() {
        let (logical, function) = function_of(&template, lambda.name);
        let reaches = grants_on(function, "secretsmanager:GetSecretValue", "/forge/");
        assert_eq!(
            reaches,
            lambda.needs(Need::Forge),
            "{logical} reads forge credentials"
        );
        assert_eq!(
            grants_on(function, "secretsmanager:PutSecretValue", "/forge/"),
            lambda.needs(Need::Forge),
            "{logical} keeps forge credentials"
        );
        if reaches {
            keepers.insert(lambda.name);
            let forge = statements(function)
                .into_iter()
                .find(|s| format!("{:?}", s["Action"]).contains("PutSecretValue"))
                .expect("the forge statement");
            let resource = format!("{:?}", forge["Resource"]);
            assert!(
                resource.contains("secret:hangar/${AWS::StackName}/forge/*"),
                "{logical}: {resource}"
            );
        }
    }
    assert_eq!(
        keepers,
        BTreeSet::from([
            "create-project",
            "update-project",
            "workspace-agent-secrets",
            "workspace-git-credential",
            "workspace-status"
        ]),
    );
}
