//! The HTTP boundary's one error, and the one place where a domain error becomes a status
//! code and a `{code, message}` body. The WebSocket routes answer through it too.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hangar_protocol::{ErrorBody, ErrorCode};

use crate::domain::Error;

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    /// What the client is told.
    message: String,
    /// What went wrong inside: logged, never sent.
    detail: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            detail: None,
        }
    }

    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn unavailable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    pub fn forbidden(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let code = err.code();
        let (status, message, detail) = match err {
            Error::Invalid { message, .. } => (StatusCode::BAD_REQUEST, message, None),
            Error::TooLarge { message, .. } => (StatusCode::PAYLOAD_TOO_LARGE, message, None),
            Error::NotFound { message, .. } => (StatusCode::NOT_FOUND, message, None),
            Error::Forbidden { message, .. } => (StatusCode::FORBIDDEN, message, None),
            Error::Conflict { message, .. } => (StatusCode::CONFLICT, message, None),
            Error::Gone { message, .. } => (StatusCode::GONE, message, None),
            Error::Unprocessable { message, .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, message, None)
            }
            Error::TooMany { message, .. } => (StatusCode::TOO_MANY_REQUESTS, message, None),
            Error::Unavailable(detail) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is unavailable; retry later".to_string(),
                Some(detail),
            ),
            Error::Internal(detail) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error".to_string(),
                Some(detail),
            ),
        };
        ApiError {
            status,
            code,
            message,
            detail,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            // The detail may name internals: log it, and tell the client only the code.
            tracing::error!(code = %self.code, detail = ?self.detail, "request failed");
        } else {
            tracing::info!(code = %self.code, message = %self.message, "request rejected");
        }
        let body = ErrorBody {
            code: self.code.as_str().to_string(),
            message: self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
