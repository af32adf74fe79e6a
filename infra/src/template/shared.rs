//! The parts of the template every function shares: parameters, the globals, the user pool,
//! the table, the APIs, the schedule group, the signing key's secret, the nodes' security group, the alarm
//! topic, and the outputs.

pub const HEADER: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: >
  Hangar control plane. One Rust bootstrap (provided.al2023, arm64, built once with
  cargo-lambda) serves every function; HANGAR_LAMBDA names which Lambda each one is, and
  each has only the grants and variables its needs name. One DynamoDB table (equal to
  migrations/dynamodb/table.json), the HTTP API, the WebSocket API that viewers and nodes
  dial, an EventBridge Scheduler group for warm timeouts and a rate schedule for the sweep.
  Rendered from the code by scripts/render-template; do not edit by hand."#;

pub const PARAMETERS: &str = r#"Parameters:
  OidcIssuer:
    Type: String
    Default: ""
    Description: >
      An external OpenID Connect issuer users sign in with (Auth0, Okta, Google, ...), its
      `iss` exactly; empty for the stack's own Cognito user pool (the default).
  OidcClientId:
    Type: String
    Default: ""
    Description: The UI's public client (code flow with PKCE) at OidcIssuer; only with OidcIssuer.
  SelfSignUp:
    Type: String
    AllowedValues: ["true", "false"]
    Default: "false"
    Description: >
      Whether anyone may create an account in the stack's user pool; otherwise only people
      an administrator (or AdminEmail) adds.
  AdminEmail:
    Type: String
    Default: ""
    Description: A first user of the user pool, mailed a temporary password (empty for none).
  NodeAmiId:
    Type: AWS::EC2::Image::Id
    Description: Node image (infra/node-image) with hangar-agent and its service installed.
  NodeVpcId:
    Type: AWS::EC2::VPC::Id
    Description: VPC of the nodes' security group (no ingress; nodes only dial out).
  NodeSubnetId:
    Type: String
    Default: ""
    Description: Subnet nodes launch in (with a route out); empty for the VPC's default.
  NodeAcpCommand:
    Type: String
    Default: claude-code-acp
    Description: The ACP agent nodes run unless a project names another.
  NodeAgentEnvSecretArn:
    Type: String
    Default: ""
    Description: >
      Secrets Manager secret holding the coding agent's environment, one KEY=VALUE per line
      (e.g. ANTHROPIC_API_KEY=...); nodes read it at boot with their instance role. Empty
      for none.
  NodeWarmTimeoutMs:
    Type: Number
    Default: 1800000
    MinValue: 1
  MaxAutoNodeLifetimeMs:
    Type: Number
    Default: 14400000
    MinValue: 1
  MaxNodes:
    Type: Number
    Default: 10
    MinValue: 1
    Description: Nodes (instances) of all projects at once; run-now tasks beyond it wait queued.
  MaxNodesPerProject:
    Type: Number
    Default: 5
    MinValue: 1
  MaxConnectionsPerUser:
    Type: Number
    Default: 20
    MinValue: 1
    Description: Live viewer connections one user may hold (then 429 too_many_connections).
  MaxConnectionsPerProject:
    Type: Number
    Default: 1000
    MinValue: 1
    Description: Live viewer connections one project may hold (each message is posted to all).
  ApiRateLimit:
    Type: Number
    Default: 50
    MinValue: 1
    Description: Steady requests per second the HTTP API accepts before answering 429.
  ApiBurstLimit:
    Type: Number
    Default: 100
    MinValue: 1
  AlarmEmail:
    Type: String
    Default: ""
    Description: Where alarms are mailed (empty for none; the topic is there to subscribe to)."#;

pub const GLOBALS: &str = r#"Conditions:
  HasAlarmEmail: !Not [!Equals [!Ref AlarmEmail, ""]]
  UseCognito: !Equals [!Ref OidcIssuer, ""]
  HasAdminEmail: !And [!Condition UseCognito, !Not [!Equals [!Ref AdminEmail, ""]]]
  AdminCreatesUsers: !Equals [!Ref SelfSignUp, "false"]
  HasAgentEnvSecret: !Not [!Equals [!Ref NodeAgentEnvSecretArn, ""]]

Globals:
  Function:
    Runtime: provided.al2023
    Architectures: [arm64]
    Handler: bootstrap
    MemorySize: 256
    Timeout: 29
    Environment:
      # What every function reads; a need's variables are on the functions that have it.
      Variables:
        HANGAR_TABLE_NAME: !Ref Table
        # User tokens: the stack's user pool, or the external issuer named.
        HANGAR_OIDC_ISSUER: !If
          - UseCognito
          - !Sub "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"
          - !Ref OidcIssuer
        HANGAR_OIDC_CLIENT_ID: !If [UseCognito, !Ref UserPoolClient, !Ref OidcClientId]
        # Cognito's discovery document names no end-session endpoint; its hosted /logout is it.
        HANGAR_OIDC_LOGOUT_URL: !If
          - UseCognito
          - !Sub "https://${UserPoolDomain}.auth.${AWS::Region}.amazoncognito.com/logout"
          - ""
        HANGAR_PUBLIC_WS_URL: !Sub "wss://${WebSocketApi}.execute-api.${AWS::Region}.amazonaws.com/live"
        NODE_WARM_TIMEOUT_MS: !Ref NodeWarmTimeoutMs
        MAX_AUTO_NODE_LIFETIME_MS: !Ref MaxAutoNodeLifetimeMs
        HANGAR_MAX_NODES: !Ref MaxNodes
        HANGAR_MAX_NODES_PER_PROJECT: !Ref MaxNodesPerProject
        HANGAR_MAX_CONNECTIONS_PER_USER: !Ref MaxConnectionsPerUser
        HANGAR_MAX_CONNECTIONS_PER_PROJECT: !Ref MaxConnectionsPerProject
        RUST_LOG: info"#;

pub const RESOURCES: &str = r#"Table:
  Type: AWS::DynamoDB::Table
  DeletionPolicy: Retain
  UpdateReplacePolicy: Retain
  Properties:
    BillingMode: PAY_PER_REQUEST
    AttributeDefinitions:
      - { AttributeName: pk, AttributeType: S }
      - { AttributeName: sk, AttributeType: S }
      - { AttributeName: gsi1pk, AttributeType: S }
      - { AttributeName: gsi1sk, AttributeType: S }
      - { AttributeName: gsi2pk, AttributeType: S }
      - { AttributeName: gsi2sk, AttributeType: S }
    KeySchema:
      - { AttributeName: pk, KeyType: HASH }
      - { AttributeName: sk, KeyType: RANGE }
    GlobalSecondaryIndexes:
      - IndexName: gsi1
        KeySchema:
          - { AttributeName: gsi1pk, KeyType: HASH }
          - { AttributeName: gsi1sk, KeyType: RANGE }
        Projection: { ProjectionType: ALL }
      - IndexName: gsi2
        KeySchema:
          - { AttributeName: gsi2pk, KeyType: HASH }
          - { AttributeName: gsi2sk, KeyType: RANGE }
        Projection: { ProjectionType: ALL }
    TimeToLiveSpecification:
      AttributeName: ttl
      Enabled: true
    PointInTimeRecoverySpecification:
      PointInTimeRecoveryEnabled: true

# Who signs in: the stack's own user pool unless OidcIssuer names another provider. The UI
# is a public client (no secret) of the authorization code flow, which it runs with PKCE.
# Federating Google or any OIDC provider into the pool: README, "Sign-in".
UserPool:
  Type: AWS::Cognito::UserPool
  Condition: UseCognito
  Properties:
    UserPoolName: !Sub "${AWS::StackName}-users"
    UsernameAttributes: [email]
    AutoVerifiedAttributes: [email]
    AdminCreateUserConfig:
      AllowAdminCreateUserOnly: !If [AdminCreatesUsers, true, false]
    Schema:
      - { Name: email, AttributeDataType: String, Required: true, Mutable: true }
      - { Name: name, AttributeDataType: String, Required: false, Mutable: true }
    Policies:
      PasswordPolicy:
        MinimumLength: 12

# The hosted sign-in pages: a prefix unique to this stack (its id's UUID).
UserPoolDomain:
  Type: AWS::Cognito::UserPoolDomain
  Condition: UseCognito
  Properties:
    UserPoolId: !Ref UserPool
    Domain: !Join ["-", ["hangar", !Select [2, !Split ["/", !Ref AWS::StackId]]]]

UserPoolClient:
  Type: AWS::Cognito::UserPoolClient
  Condition: UseCognito
  Properties:
    UserPoolId: !Ref UserPool
    ClientName: hangar-web
    GenerateSecret: false
    AllowedOAuthFlowsUserPoolClient: true
    AllowedOAuthFlows: [code]
    AllowedOAuthScopes: [openid, email, profile]
    SupportedIdentityProviders: [COGNITO]
    CallbackURLs: [!Sub "https://${UiDistribution.DomainName}/"]
    LogoutURLs: [!Sub "https://${UiDistribution.DomainName}/"]
    ExplicitAuthFlows: [ALLOW_REFRESH_TOKEN_AUTH]
    EnableTokenRevocation: true
    PreventUserExistenceErrors: ENABLED
    AccessTokenValidity: 60
    IdTokenValidity: 60
    RefreshTokenValidity: 30
    TokenValidityUnits: { AccessToken: minutes, IdToken: minutes, RefreshToken: days }

AdminUser:
  Type: AWS::Cognito::UserPoolUser
  Condition: HasAdminEmail
  Properties:
    UserPoolId: !Ref UserPool
    Username: !Ref AdminEmail
    DesiredDeliveryMediums: [EMAIL]
    UserAttributes:
      - { Name: email, Value: !Ref AdminEmail }
      - { Name: email_verified, Value: "true" }

# The key that signs workspace and node tokens: made by the SigningKey resource into this
# secret (a placeholder until then), read only by the functions that sign. Its public half
# comes back from the resource and is every function's HANGAR_CALLBACK_PUBLIC_KEY, so the
# functions that only verify never read the secret.
SigningKeySecret:
  Type: AWS::SecretsManager::Secret
  Properties:
    Description: Hangar's token-signing key (PEM), made by the stack
    GenerateSecretString:
      PasswordLength: 32

SigningKey:
  Type: Custom::SigningKey
  Properties:
    ServiceToken: !GetAtt StackResourcesFunction.Arn
    SecretArn: !Ref SigningKeySecret

# At the stack's deletion, terminates its node instances (they are not the stack's
# resources) and waits for them, before their security group and profile go.
NodeCleanup:
  Type: Custom::NodeCleanup
  DependsOn: [NodeSecurityGroup, NodeInstanceProfile, NodeRole]
  Properties:
    ServiceToken: !GetAtt StackResourcesFunction.Arn
    StackName: !Ref AWS::StackName

# The HTTP API, declared apart from its routes: its URL is known to every function (nodes
# call back to it, CloudFront forwards /api/* to it) without a cycle through the routes.
HttpApi:
  Type: AWS::ApiGatewayV2::Api
  Properties:
    Name: !Sub "${AWS::StackName}-http"
    ProtocolType: HTTP
    # No CORS: the page is served from the distribution, which forwards /api/* here, so
    # the page and the API share an origin.

HttpApiStage:
  Type: AWS::ApiGatewayV2::Stage
  Properties:
    ApiId: !Ref HttpApi
    StageName: $default
    AutoDeploy: true
    DefaultRouteSettings:
      ThrottlingBurstLimit: !Ref ApiBurstLimit
      ThrottlingRateLimit: !Ref ApiRateLimit

# The UI: a private bucket (scripts/deploy uploads web/dist) behind CloudFront with origin
# access control; /api/* goes to the HTTP API, so the page and the API share an origin.
# scripts/teardown empties it before the stack is deleted.
UiBucket:
  Type: AWS::S3::Bucket
  Properties:
    PublicAccessBlockConfiguration:
      BlockPublicAcls: true
      BlockPublicPolicy: true
      IgnorePublicAcls: true
      RestrictPublicBuckets: true
    OwnershipControls:
      Rules: [{ ObjectOwnership: BucketOwnerEnforced }]
    BucketEncryption:
      ServerSideEncryptionConfiguration:
        - ServerSideEncryptionByDefault: { SSEAlgorithm: AES256 }

UiOriginAccessControl:
  Type: AWS::CloudFront::OriginAccessControl
  Properties:
    OriginAccessControlConfig:
      Name: !Sub "${AWS::StackName}-ui"
      OriginAccessControlOriginType: s3
      SigningBehavior: always
      SigningProtocol: sigv4

UiDistribution:
  Type: AWS::CloudFront::Distribution
  Properties:
    DistributionConfig:
      Enabled: true
      Comment: !Sub "Hangar ${AWS::StackName}"
      DefaultRootObject: index.html
      HttpVersion: http2and3
      PriceClass: PriceClass_100
      Origins:
        - Id: ui
          DomainName: !GetAtt UiBucket.RegionalDomainName
          OriginAccessControlId: !GetAtt UiOriginAccessControl.Id
          S3OriginConfig: { OriginAccessIdentity: "" }
        - Id: api
          DomainName: !Sub "${HttpApi}.execute-api.${AWS::Region}.amazonaws.com"
          CustomOriginConfig: { OriginProtocolPolicy: https-only, OriginSSLProtocols: [TLSv1.2] }
      DefaultCacheBehavior:
        TargetOriginId: ui
        ViewerProtocolPolicy: redirect-to-https
        Compress: true
        # Managed policy CachingOptimized.
        CachePolicyId: 658327ea-f89d-4fab-a63d-7e88639e58f6
      CacheBehaviors:
        - PathPattern: /api/*
          TargetOriginId: api
          ViewerProtocolPolicy: https-only
          AllowedMethods: [GET, HEAD, OPTIONS, PUT, PATCH, POST, DELETE]
          # Managed policies CachingDisabled and AllViewerExceptHostHeader.
          CachePolicyId: 4135ea2d-6df8-44a3-9df3-4b5a84be39ad
          OriginRequestPolicyId: b689b0a8-53d0-40ab-baf2-68738e2966ac

UiBucketPolicy:
  Type: AWS::S3::BucketPolicy
  Properties:
    Bucket: !Ref UiBucket
    PolicyDocument:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: { Service: cloudfront.amazonaws.com }
          Action: s3:GetObject
          Resource: !Sub "${UiBucket.Arn}/*"
          Condition:
            StringEquals:
              AWS:SourceArn: !Sub "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${UiDistribution}"

WarmScheduleGroup:
  Type: AWS::Scheduler::ScheduleGroup
  Properties:
    Name: !Sub "${AWS::StackName}-warm"

# Assumed by EventBridge Scheduler to invoke the warm-timeout Lambda, and nothing else.
SchedulerRole:
  Type: AWS::IAM::Role
  Properties:
    AssumeRolePolicyDocument:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: { Service: scheduler.amazonaws.com }
          Action: sts:AssumeRole
          Condition:
            StringEquals:
              aws:SourceAccount: !Ref AWS::AccountId
    Policies:
      - PolicyName: invoke-warm-timeout
        PolicyDocument:
          Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Action: lambda:InvokeFunction
              Resource: !Sub "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-warm-timeout"

# What a node may do with AWS: read the coding agent's environment, nothing else.
NodeRole:
  Type: AWS::IAM::Role
  Properties:
    AssumeRolePolicyDocument:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: { Service: ec2.amazonaws.com }
          Action: sts:AssumeRole
    Policies:
      - !If
        - HasAgentEnvSecret
        - PolicyName: read-agent-environment
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: secretsmanager:GetSecretValue
                Resource: !Ref NodeAgentEnvSecretArn
        - !Ref AWS::NoValue

NodeInstanceProfile:
  Type: AWS::IAM::InstanceProfile
  Properties:
    Roles: [!Ref NodeRole]

# Nodes accept no inbound connection: they dial the WebSocket API and call the HTTP API.
NodeSecurityGroup:
  Type: AWS::EC2::SecurityGroup
  Properties:
    GroupDescription: Hangar nodes (outbound only)
    VpcId: !Ref NodeVpcId
    SecurityGroupEgress:
      - { IpProtocol: "-1", CidrIp: 0.0.0.0/0, Description: outbound only }

# Viewers and nodes connect here with ?token=; the control plane posts frames and commands
# through the Management API at the "live" stage.
WebSocketApi:
  Type: AWS::ApiGatewayV2::Api
  Properties:
    Name: !Sub "${AWS::StackName}-live"
    ProtocolType: WEBSOCKET
    RouteSelectionExpression: "$request.body.action"

AlarmTopic:
  Type: AWS::SNS::Topic
  Properties:
    DisplayName: Hangar alarms

AlarmSubscription:
  Type: AWS::SNS::Subscription
  Condition: HasAlarmEmail
  Properties:
    TopicArn: !Ref AlarmTopic
    Protocol: email
    Endpoint: !Ref AlarmEmail

# The sweep counts the items it could not repair (a metric in its log lines).
SweepFailuresAlarm:
  Type: AWS::CloudWatch::Alarm
  Properties:
    AlarmDescription: The reconciliation sweep could not repair an item
    Namespace: Hangar
    MetricName: SweepFailures
    Dimensions:
      - { Name: Stack, Value: !Ref AWS::StackName }
    Statistic: Sum
    Period: 300
    EvaluationPeriods: 1
    Threshold: 1
    ComparisonOperator: GreaterThanOrEqualToThreshold
    TreatMissingData: notBreaching
    AlarmActions: [!Ref AlarmTopic]"#;

pub const OUTPUTS: &str = r#"Outputs:
  UiUrl:
    Description: The page, and the API under /api.
    Value: !Sub "https://${UiDistribution.DomainName}/"
  UiBucketName:
    Value: !Ref UiBucket
  UiDistributionId:
    Value: !Ref UiDistribution
  HttpApiUrl:
    Value: !Sub "https://${HttpApi}.execute-api.${AWS::Region}.amazonaws.com"
  WebSocketUrl:
    Description: What the UI (?token=<user jwt>&projectId=<project>) and nodes (?token=<node jwt>) dial.
    Value: !Sub "wss://${WebSocketApi}.execute-api.${AWS::Region}.amazonaws.com/live"
  TableName:
    Value: !Ref Table
  WarmScheduleGroupName:
    Value: !Ref WarmScheduleGroup
  NodeSecurityGroupId:
    Value: !Ref NodeSecurityGroup
  AlarmTopicArn:
    Value: !Ref AlarmTopic
  UserPoolId:
    Condition: UseCognito
    Value: !Ref UserPool
  SignInDomain:
    Condition: UseCognito
    Description: The user pool's hosted sign-in pages.
    Value: !Sub "https://${UserPoolDomain}.auth.${AWS::Region}.amazoncognito.com""#;
