//! What every AWS adapter shares: the SDK configuration (production takes region and
//! credentials from the Lambda environment; locally an endpoint points at the loopback
//! server, with dummy credentials unless the environment provides some) and the one rule
//! that tells a transient SDK failure from a permanent one.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::domain::ports::{PortError, StoreError};

pub async fn sdk_config(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
        if std::env::var_os("AWS_REGION").is_none() {
            loader = loader.region(aws_config::Region::new("us-east-1"));
        }
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(aws_credential_types::Credentials::from_keys(
                "local", "local", None,
            ));
        }
    }
    loader.load().await
}

/// Service error codes that mean "try again later" across the services used here.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "LimitExceededException",
];

/// An SDK failure, classified.
#[derive(Debug)]
pub struct SdkFailure {
    /// Timeouts, network trouble, throttling: worth a retry.
    pub transient: bool,
    /// The service's error code, when the service answered.
    pub code: Option<String>,
    pub detail: String,
}

impl SdkFailure {
    pub fn of<E>(err: &SdkError<E, HttpResponse>) -> SdkFailure
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err
            .as_service_error()
            .and_then(|e| e.code())
            .map(String::from);
        let server_error = err
            .raw_response()
            .is_some_and(|response| response.status().is_server_error());
        let transient = match err {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            // Throttling, and the service's own failures (any 5xx).
            _ => {
                server_error
                    || code
                        .as_deref()
                        .is_some_and(|code| RETRYABLE_CODES.contains(&code))
            }
        };
        SdkFailure {
            transient,
            code,
            detail: DisplayErrorContext(err).to_string(),
        }
    }

    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

impl<E> From<SdkError<E, HttpResponse>> for SdkFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn from(err: SdkError<E, HttpResponse>) -> Self {
        SdkFailure::of(&err)
    }
}

impl From<SdkFailure> for StoreError {
    fn from(failure: SdkFailure) -> Self {
        if failure.transient {
            StoreError::Unavailable(failure.detail)
        } else {
            StoreError::Failed(failure.detail)
        }
    }
}

impl From<SdkFailure> for PortError {
    fn from(failure: SdkFailure) -> Self {
        if failure.transient {
            PortError::Unavailable(failure.detail)
        } else {
            PortError::Failed(failure.detail)
        }
    }
}
