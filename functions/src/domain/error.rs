//! The domain's one error: a kind, a stable code and a sentence. No HTTP here; each
//! boundary maps the kinds to its own terms (the HTTP API to statuses, the scheduled
//! Lambdas to failed invocations, the sweep to log lines).

use hangar_protocol::ErrorCode;

use super::ports::{PortError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input breaks a rule (shape, range, a state it asks for).
    #[error("{message}")]
    Invalid { code: ErrorCode, message: String },
    /// The input is larger than a limit allows.
    #[error("{message}")]
    TooLarge { code: ErrorCode, message: String },
    #[error("{message}")]
    NotFound { code: ErrorCode, message: String },
    /// The caller may not do this.
    #[error("{message}")]
    Forbidden { code: ErrorCode, message: String },
    /// The thing is not in a state that allows this.
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    /// The thing existed and is gone for good (a closed workspace).
    #[error("{message}")]
    Gone { code: ErrorCode, message: String },
    /// Well-formed, but it contradicts what was asked before (a reused idempotency key).
    #[error("{message}")]
    Unprocessable { code: ErrorCode, message: String },
    /// A limit on how much a caller holds at once (live connections).
    #[error("{message}")]
    TooMany { code: ErrorCode, message: String },
    /// The store is unavailable for now (throttled, unreachable): retry.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug, a corrupt item, a failed dependency.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn too_large(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::TooLarge {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::NotFound {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn gone(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Gone {
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Unprocessable {
            code,
            message: message.into(),
        }
    }

    pub fn too_many(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::TooMany {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Invalid { code, .. }
            | Error::TooLarge { code, .. }
            | Error::NotFound { code, .. }
            | Error::Forbidden { code, .. }
            | Error::Conflict { code, .. }
            | Error::Gone { code, .. }
            | Error::Unprocessable { code, .. }
            | Error::TooMany { code, .. } => *code,
            Error::Unavailable(_) => ErrorCode::StoreUnavailable,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(detail) => Error::Unavailable(detail),
            StoreError::Failed(detail) | StoreError::ConditionFailed(detail) => {
                Error::Internal(detail)
            }
        }
    }
}

impl From<PortError> for Error {
    fn from(err: PortError) -> Self {
        Error::Internal(err.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
