//! One function per Lambda: the shared bootstrap, `HANGAR_LAMBDA`, and for each need its
//! variables and its grant (nothing else), its trigger, and an alarm on its errors and
//! throttles.

use hangar_functions::lambda::catalog::{Lambda, Need, Trigger, WARM_TIMEOUT};

use super::{Yaml, function_id};

const TABLE_READ: &str = r#"- Effect: Allow
  Action: [dynamodb:GetItem, dynamodb:BatchGetItem, dynamodb:Query]
  Resource:
    - !GetAtt Table.Arn
    - !Sub "${Table.Arn}/index/*""#;

const TABLE_WRITE: &str = r#"- Effect: Allow
  Action: [dynamodb:PutItem, dynamodb:UpdateItem, dynamodb:DeleteItem, dynamodb:ConditionCheckItem]
  Resource: !GetAtt Table.Arn"#;

const PUSH: &str = r#"- Effect: Allow
  Action: execute-api:ManageConnections
  Resource: !Sub "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/live/POST/@connections/*""#;

const SIGN: &str = r#"- Effect: Allow
  Action: secretsmanager:GetSecretValue
  Resource: !Ref SigningKeySecret"#;

const SCHEDULE: &str = r#"- Effect: Allow
  Action: [scheduler:CreateSchedule, scheduler:DeleteSchedule, scheduler:GetSchedule]
  Resource: !Sub "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${WarmScheduleGroup}/*"
- Effect: Allow
  Action: scheduler:ListSchedules
  Resource: "*"
- Effect: Allow
  Action: iam:PassRole
  Resource: !GetAtt SchedulerRole.Arn
  Condition:
    StringEquals:
      iam:PassedToService: scheduler.amazonaws.com"#;

/// RunInstances only here, tags only as part of that launch, and only the node role passed.
const PROVISION: &str = r#"- Effect: Allow
  Action: ec2:RunInstances
  Resource: "*"
- Effect: Allow
  Action: iam:PassRole
  Resource: !GetAtt NodeRole.Arn
  Condition:
    StringEquals:
      iam:PassedToService: ec2.amazonaws.com
- Effect: Allow
  Action: ec2:CreateTags
  Resource: !Sub "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:*/*"
  Condition:
    StringEquals:
      ec2:CreateAction: RunInstances"#;

/// Only this stack's instances; listing them finds a launch whose answer was lost and the
/// orphans the sweep terminates.
const TERMINATE: &str = r#"- Effect: Allow
  Action: ec2:TerminateInstances
  Resource: "*"
  Condition:
    StringEquals:
      aws:ResourceTag/hangar:stack: !Ref AWS::StackName
- Effect: Allow
  Action: ec2:DescribeInstances
  Resource: "*""#;

/// The projects' forge credentials: this stack's prefix only, never another secret.
const FORGE: &str = r#"- Effect: Allow
  Action: [secretsmanager:CreateSecret, secretsmanager:PutSecretValue, secretsmanager:GetSecretValue, secretsmanager:DeleteSecret]
  Resource: !Sub "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:hangar/${AWS::StackName}/forge/*""#;

/// The signing key's maker (the SigningKey custom resource): its secret only.
const KEY_MAKER: &str = r#"- Effect: Allow
  Action: [secretsmanager:GetSecretValue, secretsmanager:PutSecretValue]
  Resource: !Ref SigningKeySecret"#;

/// The variables a need brings.
fn variables(need: Need) -> &'static [(&'static str, &'static str)] {
    match need {
        Need::WriteStore => &[],
        Need::Push => &[(
            "HANGAR_WS_ENDPOINT",
            r#"!Sub "https://${WebSocketApi}.execute-api.${AWS::Region}.amazonaws.com/live""#,
        )],
        Need::Sign => &[
            ("HANGAR_SIGNING_KEY_SECRET_ARN", "!Ref SigningKeySecret"),
            (
                "HANGAR_PUBLIC_API_URL",
                r#"!Sub "https://${HttpApi}.execute-api.${AWS::Region}.amazonaws.com""#,
            ),
            (
                "HANGAR_NODE_SOCKET_URL",
                r#"!Sub "wss://${WebSocketApi}.execute-api.${AWS::Region}.amazonaws.com/live""#,
            ),
        ],
        Need::Schedule => &[
            ("HANGAR_SCHEDULE_GROUP", "!Ref WarmScheduleGroup"),
            (
                "HANGAR_WARM_TIMEOUT_ARN",
                r#"!Sub "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-warm-timeout""#,
            ),
            ("HANGAR_SCHEDULER_ROLE_ARN", "!GetAtt SchedulerRole.Arn"),
        ],
        Need::Forge => &[
            (
                "HANGAR_FORGE_SECRET_PREFIX",
                r#"!Sub "hangar/${AWS::StackName}/forge/""#,
            ),
            (
                "HANGAR_UI_ORIGIN",
                r#"!Sub "https://${UiDistribution.DomainName}""#,
            ),
        ],
        Need::Provision | Need::Terminate => &[
            ("HANGAR_STACK_NAME", "!Ref AWS::StackName"),
            ("HANGAR_EC2_AMI_ID", "!Ref NodeAmiId"),
            ("HANGAR_EC2_SUBNET_ID", "!Ref NodeSubnetId"),
            ("HANGAR_EC2_SECURITY_GROUP_IDS", "!Ref NodeSecurityGroup"),
            ("HANGAR_NODE_ACP_COMMAND", "!Ref NodeAcpCommand"),
            ("HANGAR_EC2_INSTANCE_PROFILE", "!Ref NodeInstanceProfile"),
            (
                "HANGAR_NODE_AGENT_ENV_SECRET_ARN",
                "!Ref NodeAgentEnvSecretArn",
            ),
        ],
    }
}

fn grant(need: Need) -> &'static str {
    match need {
        Need::WriteStore => TABLE_WRITE,
        Need::Push => PUSH,
        Need::Sign => SIGN,
        Need::Schedule => SCHEDULE,
        Need::Provision => PROVISION,
        Need::Terminate => TERMINATE,
        Need::Forge => FORGE,
    }
}

/// The function of `lambda`.
pub fn function(yaml: &mut Yaml, lambda: &Lambda) {
    yaml.line(1, format!("{}:", function_id(lambda.name)));
    yaml.line(2, "Type: AWS::Serverless::Function");
    yaml.block(
        2,
        "Metadata:\n  BuildMethod: rust-cargolambda\n  BuildProperties:\n    Binary: hangar-lambda",
    );
    yaml.line(2, "Properties:");
    if lambda.name == WARM_TIMEOUT {
        // Its schedules invoke it by name.
        yaml.line(3, r#"FunctionName: !Sub "${AWS::StackName}-warm-timeout""#);
    }
    yaml.line(3, "CodeUri: .");
    yaml.line(3, format!("Timeout: {}", lambda.timeout_secs));
    yaml.line(3, "Environment:");
    yaml.line(4, "Variables:");
    yaml.line(5, format!("HANGAR_LAMBDA: {}", lambda.name));
    if lambda.trigger == Trigger::CustomResource {
        // It makes the signing key the others verify with; it checks no token itself.
        yaml.line(3, "Policies:");
        yaml.line(4, r#"- Version: "2012-10-17""#);
        yaml.line(5, "Statement:");
        // The key's secret, and this stack's instances (NodeCleanup terminates them).
        yaml.block(6, KEY_MAKER);
        yaml.block(6, TERMINATE);
        return;
    }
    yaml.line(
        5,
        "HANGAR_CALLBACK_PUBLIC_KEY: !GetAtt SigningKey.PublicKeyPem",
    );
    let mut written: Vec<&str> = Vec::new();
    for need in lambda.needs {
        for (name, value) in variables(*need) {
            if !written.contains(name) {
                written.push(name);
                yaml.line(5, format!("{name}: {value}"));
            }
        }
    }
    yaml.line(3, "Policies:");
    yaml.line(4, r#"- Version: "2012-10-17""#);
    yaml.line(5, "Statement:");
    yaml.block(6, TABLE_READ);
    for need in lambda.needs {
        yaml.block(6, grant(*need));
    }
    events(yaml, lambda);
}

fn events(yaml: &mut Yaml, lambda: &Lambda) {
    match lambda.trigger {
        Trigger::Rate { expression } => {
            yaml.line(3, "Events:");
            yaml.line(4, "Sweep:");
            yaml.line(5, "Type: ScheduleV2");
            yaml.line(5, "Properties:");
            yaml.line(6, format!("ScheduleExpression: {expression}"));
            yaml.line(6, "Description: Hangar reconciliation sweep");
        }
        // Invoked by the APIs' integrations (see `routes`), by its own schedules, and by
        // CloudFormation.
        Trigger::Http { .. }
        | Trigger::WebSocket { .. }
        | Trigger::Schedule
        | Trigger::CustomResource => {}
    }
}

/// An alarm on the function's errors and throttles.
pub fn alarm(yaml: &mut Yaml, lambda: &Lambda) {
    let function = function_id(lambda.name);
    yaml.line(1, format!("{function}Alarm:"));
    yaml.block(
        2,
        &format!(
            r#"Type: AWS::CloudWatch::Alarm
Properties:
  AlarmDescription: {name} failed or was throttled
  ComparisonOperator: GreaterThanOrEqualToThreshold
  EvaluationPeriods: 1
  Threshold: 1
  TreatMissingData: notBreaching
  AlarmActions: [!Ref AlarmTopic]
  Metrics:
    - Id: errors
      ReturnData: false
      MetricStat:
        Metric:
          Namespace: AWS/Lambda
          MetricName: Errors
          Dimensions: [{{ Name: FunctionName, Value: !Ref {function} }}]
        Period: 300
        Stat: Sum
    - Id: throttles
      ReturnData: false
      MetricStat:
        Metric:
          Namespace: AWS/Lambda
          MetricName: Throttles
          Dimensions: [{{ Name: FunctionName, Value: !Ref {function} }}]
        Period: 300
        Stat: Sum
    - Id: failures
      Label: errors and throttles
      Expression: errors + throttles
      ReturnData: true"#,
            name = lambda.name
        ),
    );
}
