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
        // The key's maker (the SigningKey custom resource's function) reads and writes it.
        let maker = lambda.name == catalog::STACK_RESOURCES;
        assert_eq!(
            reads_key,
            lambda.needs(Need::Sign) || maker,
            "{logical} reads the key"
        );
        assert_eq!(
            grants_on(
                function,
                "secretsmanager:PutSecretValue",
                "SigningKeySecret"
            ),
            maker,
            "{logical} writes the key"
        );
        // Every function that checks tokens verifies with the public half the maker answered.
        if !maker {
            assert_eq!(
                format!(
                    "{:?}",
                    function["Properties"]["Environment"]["Variables"]["HANGAR_CALLBACK_PUBLIC_KEY"]
                ),
                format!("{:?}", Yaml::String("SigningKey.PublicKeyPem".into())),
                "{logical} verifies with the stack's public key"
            );
        }
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
    // Nobody pastes a key: the stack makes it into its secret.
    let parameters = format!("{:?}", template["Parameters"]);
    assert!(!parameters.contains("Signing"), "{parameters}");
    let key = &template["Resources"]["SigningKey"];
    assert_eq!(key["Type"].as_str(), Some("Custom::SigningKey"));
    assert_eq!(
        format!("{:?}", key["Properties"]["SecretArn"]),
        format!("{:?}", Yaml::String("SigningKeySecret".into()))
    );
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
        // The stack's deletion terminates what its nodes left (the NodeCleanup resource).
        assert_eq!(
            grants(function, "ec2:TerminateInstances"),
            lambda.needs(Need::Terminate) || lambda.name == catalog::STACK_RESOURCES,
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
    let throttling = &template["Resources"]["HttpApiStage"]["Properties"]["DefaultRouteSettings"];
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
