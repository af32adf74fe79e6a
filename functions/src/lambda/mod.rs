//! The one bootstrap every function runs: `HANGAR_LAMBDA` names which Lambda of the catalog
//! this function is; its state is built once at cold start from what it needs, then the
//! runtime loop of its trigger runs (HTTP, WebSocket route, schedule).

pub mod catalog;
pub mod certificates;
pub mod custom_resources;
pub mod metrics;
pub mod state;

use axum::response::IntoResponse;
use hangar_protocol::live::{CONNECT_PROJECT_PARAM, CONNECT_TOKEN_PARAM};
use hangar_protocol::tasks::WarmTimeoutEvent;
use hangar_protocol::time::now_ms;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
};
use lambda_http::aws_lambda_events::encodings::Body;
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::{Error, LambdaEvent, service_fn};

use self::catalog::{Lambda, Trigger, WS_CONNECT, WS_DISCONNECT, WS_HEARTBEAT};
use crate::domain::pool::WarmTimeoutOutcome;
use crate::http::{ApiError, AppState};

/// The variable that names the function's Lambda.
pub const LAMBDA_VAR: &str = "HANGAR_LAMBDA";

/// Runs the Lambda `HANGAR_LAMBDA` names.
pub async fn run() -> Result<(), Error> {
    crate::telemetry::init();
    let name = std::env::var(LAMBDA_VAR)
        .map_err(|_| format!("{LAMBDA_VAR} is required but not set: which Lambda this is"))?;
    let lambda = catalog::lambda(&name)
        .ok_or_else(|| format!("{LAMBDA_VAR} is {name:?}: no Lambda of that name"))?;
    if lambda.trigger == Trigger::CustomResource {
        return custom_resources::serve().await;
    }
    let (state, config) = state::from_env(&lambda).await?;
    match lambda.trigger {
        Trigger::Http { .. } => {
            lambda_http::run(crate::http::lambda_router(lambda.name, state)).await
        }
        Trigger::WebSocket { .. } => serve_ws(&lambda, state).await,
        Trigger::Schedule => serve_warm_timeout(state).await,
        Trigger::Rate { .. } => {
            let stack = config.ec2.map(|ec2| ec2.stack).unwrap_or_default();
            serve_reconcile(state, stack).await
        }
        Trigger::CustomResource => Ok(()),
    }
}

/// The warm timeout, invoked by its EventBridge Scheduler schedule.
async fn serve_warm_timeout(state: AppState) -> Result<(), Error> {
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<WarmTimeoutEvent>| {
        let state = state.clone();
        async move {
            let outcome = state.tasks.warm_timeout(&event.payload).await?;
            tracing::info!(node = %event.payload.node_id, generation = event.payload.generation, ?outcome, "warm timeout");
            Ok::<_, Error>(matches!(outcome, WarmTimeoutOutcome::Destroyed))
        }
    }))
    .await
}

/// The reconciliation sweep, invoked on a rate schedule. Its failed steps become the
/// `Hangar/SweepFailures` metric of `stack` (the alarm's), as an embedded-metric log line.
async fn serve_reconcile(state: AppState, stack: String) -> Result<(), Error> {
    lambda_http::lambda_runtime::run(service_fn(move |_event: LambdaEvent<serde_json::Value>| {
        let state = state.clone();
        let stack = stack.clone();
        async move {
            let report = state.tasks.sweep().await;
            println!("{}", metrics::sweep_failures(&stack, &report, now_ms()));
            Ok::<_, Error>(metrics::sweep_summary(&report))
        }
    }))
    .await
}

/// The WebSocket routes: `$connect` (a viewer's `?token=&projectId=`, or a node's token),
/// `$disconnect`, and a node's `heartbeat`. Any answer but 2xx refuses the connection.
async fn serve_ws(lambda: &Lambda, state: AppState) -> Result<(), Error> {
    let name = lambda.name;
    lambda_http::lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            let state = state.clone();
            async move { ws_response(ws_route(name, &state, event.payload).await).await }
        },
    ))
    .await
}

async fn ws_route(
    lambda: &str,
    state: &AppState,
    request: ApiGatewayWebsocketProxyRequest,
) -> Result<(), ApiError> {
    let connection = request
        .request_context
        .connection_id
        .as_deref()
        .unwrap_or_default();
    match lambda {
        WS_CONNECT => {
            let query: &QueryMap = &request.query_string_parameters;
            let token = query.first(CONNECT_TOKEN_PARAM);
            let project = query.first(CONNECT_PROJECT_PARAM);
            crate::http::connect(state, connection, token, project).await
        }
        WS_DISCONNECT => Ok(state.live.disconnect(connection).await?),
        WS_HEARTBEAT => Ok(state.live.heartbeat(connection).await?),
        other => Err(ApiError::from(crate::domain::Error::Internal(format!(
            "{other} is not a WebSocket route"
        )))),
    }
}

/// A route answer for API Gateway, through the same error mapping as every HTTP route.
async fn ws_response(result: Result<(), ApiError>) -> Result<ApiGatewayProxyResponse, Error> {
    let response = match result {
        Ok(()) => axum::http::StatusCode::OK.into_response(),
        Err(err) => err.into_response(),
    };
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
    let mut answer = ApiGatewayProxyResponse::default();
    answer.status_code = i64::from(status.as_u16());
    answer.body =
        (!body.is_empty()).then(|| Body::Text(String::from_utf8_lossy(&body).into_owned()));
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn websocket_answers_map_errors_like_every_http_route() {
        let refused = ws_response(Err(ApiError::forbidden(
            hangar_protocol::ErrorCode::NotAMember,
            "not yours",
        )))
        .await
        .expect("answer");
        assert_eq!(refused.status_code, 403);
        let Some(Body::Text(body)) = refused.body else {
            panic!("a JSON body");
        };
        let body: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["code"], "not_a_member");
        assert_eq!(body["message"], "not yours");

        let accepted = ws_response(Ok(())).await.expect("answer");
        assert_eq!(accepted.status_code, 200);
        assert!(accepted.body.is_none());
    }

    #[test]
    fn a_connect_event_of_api_gateway_parses() {
        let event: ApiGatewayWebsocketProxyRequest = serde_json::from_value(serde_json::json!({
            // As API Gateway sends it (abridged headers).
            "headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "Sec-WebSocket-Version": "13"},
            "multiValueHeaders": {"Host": ["abc123.execute-api.us-east-1.amazonaws.com"]},
            "multiValueQueryStringParameters": {"token": ["jwt"], "projectId": ["demo"]},
            "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "extendedRequestId": "x1",
                               "requestTime": "25/Nov/2026:12:00:00 +0000", "messageDirection": "IN",
                               "stage": "live", "connectedAt": 1795608000000u64, "requestTimeEpoch": 1795608000000u64,
                               "identity": {"sourceIp": "203.0.113.7", "userAgent": "Mozilla/5.0"},
                               "requestId": "r1", "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
                               "connectionId": "L0SM9cOFvHcCIhw=", "apiId": "abc123"},
            "queryStringParameters": {"token": "jwt", "projectId": "demo"},
            "isBase64Encoded": false
        }))
        .expect("event");
        assert_eq!(
            event.request_context.connection_id.as_deref(),
            Some("L0SM9cOFvHcCIhw=")
        );
        assert_eq!(
            event.query_string_parameters.first(CONNECT_PROJECT_PARAM),
            Some("demo")
        );
        assert_eq!(
            event.query_string_parameters.first(CONNECT_TOKEN_PARAM),
            Some("jwt")
        );
    }
}
