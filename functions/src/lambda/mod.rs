//! What every Lambda main shares: logging, state built once at cold start, and the runtime
//! loop. Each `src/bin/*.rs` is one call into here.

mod state;

use axum::response::IntoResponse;
use hangar_protocol::live::{CONNECT_PROJECT_PARAM, CONNECT_TOKEN_PARAM};
use hangar_protocol::tasks::WarmTimeoutEvent;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
};
use lambda_http::aws_lambda_events::encodings::Body;
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::{Error, LambdaEvent, service_fn};

use crate::domain::pool::WarmTimeoutOutcome;
use crate::http::{ApiError, AppState};

/// Serves the HTTP route(s) of the Lambda named `lambda` (see `http::ROUTES`).
pub async fn serve_http(lambda: &'static str) -> Result<(), Error> {
    crate::telemetry::init();
    let state = state::from_env().await?;
    lambda_http::run(crate::http::lambda_router(lambda, state)).await
}

/// The warm-timeout Lambda, invoked by its EventBridge Scheduler schedule.
pub async fn serve_warm_timeout() -> Result<(), Error> {
    crate::telemetry::init();
    let state = state::from_env().await?;
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<WarmTimeoutEvent>| {
        let state = state.clone();
        async move {
            let outcome = state.tasks.pool.warm_timeout(&event.payload).await?;
            tracing::info!(node = %event.payload.node_id, generation = event.payload.generation, ?outcome, "warm timeout");
            Ok::<_, Error>(matches!(outcome, WarmTimeoutOutcome::Destroyed))
        }
    }))
    .await
}

/// The reconciliation Lambda, invoked on a rate schedule.
pub async fn serve_reconcile() -> Result<(), Error> {
    crate::telemetry::init();
    let state = state::from_env().await?;
    lambda_http::lambda_runtime::run(service_fn(move |_event: LambdaEvent<serde_json::Value>| {
        let state = state.clone();
        async move {
            let report = state.tasks.sweep().await?;
            Ok::<_, Error>(serde_json::json!({
                "failedTasks": report.failed_tasks.len(),
                "destroyedNodes": report.destroyed_nodes.len(),
                "releasedNodes": report.released_nodes.len(),
                "destroyedWorkspaces": report.destroyed_workspaces.len(),
                "deletedSchedules": report.deleted_schedules.len(),
            }))
        }
    }))
    .await
}

/// The WebSocket API's routes and the Lambda serving each (template.yaml declares the same;
/// a test holds them equal).
pub const WS_ROUTES: &[(&str, &str)] =
    &[("$connect", "ws-connect"), ("$disconnect", "ws-disconnect")];

/// The WebSocket API's `$connect` route: `?token=<user jwt>&projectId=<project>`; any
/// answer but 2xx refuses the connection.
pub async fn serve_ws_connect() -> Result<(), Error> {
    serve_ws(|state, request| async move {
        let query: &QueryMap = &request.query_string_parameters;
        let user = state
            .auth
            .verify_user_token(query.first(CONNECT_TOKEN_PARAM))?;
        let connection = request.request_context.connection_id.as_deref();
        state
            .live
            .connect(
                connection.unwrap_or_default(),
                &user,
                query.first(CONNECT_PROJECT_PARAM),
            )
            .await?;
        Ok(())
    })
    .await
}

/// The WebSocket API's `$disconnect` route.
pub async fn serve_ws_disconnect() -> Result<(), Error> {
    serve_ws(|state, request| async move {
        let connection = request.request_context.connection_id;
        state
            .live
            .disconnect(connection.as_deref().unwrap_or_default())
            .await?;
        Ok(())
    })
    .await
}

/// Runs a WebSocket route's Lambda: state built once, each event answered through
/// [`ws_response`].
async fn serve_ws<F, Fut>(handle: F) -> Result<(), Error>
where
    F: Fn(AppState, ApiGatewayWebsocketProxyRequest) -> Fut,
    Fut: Future<Output = Result<(), ApiError>>,
{
    crate::telemetry::init();
    let state = state::from_env().await?;
    let handle = &handle;
    lambda_http::lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            let state = state.clone();
            async move { ws_response(handle(state, event.payload).await).await }
        },
    ))
    .await
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
