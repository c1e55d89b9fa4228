//! [`ApiError`]: everything an API request can fail with, and the one place that decides each
//! failure's HTTP status, class and headers (as axum's `examples/error-handling` does). Handlers
//! return `Result<_, ApiError>` and convert with `?`; none picks a status itself.
//!
//! Every error answer is JSON, `{"error": {"kind": ..., "message": ...}}`.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tandem::error::{CallError, ErrorKind, LoadError};
use tandem::registry::{CanaryError, RollbackError};

/// An error answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A call failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// A component could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A rollback had nothing to go back to.
    #[error(transparent)]
    Rollback(#[from] RollbackError),
    /// A canary change could not be made.
    #[error(transparent)]
    Canary(#[from] CanaryError),
    /// The request is malformed; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// The body is over the server's limit, set by `flag`.
    #[error(
        "the request body is over the server's limit of {limit} bytes (see `tandem serve {flag}`)"
    )]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
        /// The `tandem serve` flag that sets it.
        flag: &'static str,
    },
    /// The body did not arrive in time.
    #[error("the request body did not arrive within {0:?} (see `tandem serve --body-timeout`)")]
    BodyTimeout(Duration),
    /// The body does not say it is JSON (its `Content-Type` is given).
    #[error("this endpoint takes `Content-Type: application/json`, not {0:?}")]
    NotJson(String),
    /// A missing or wrong token; the reason is given.
    #[error("{0}")]
    Unauthorized(String),
    /// The `Host` header (given, cut) names another server.
    #[error(
        "`Host: {0}` is not this server's: use an IP address or localhost, or start the server with `--allow-host NAME`"
    )]
    ForeignHost(String),
    /// A cross-site request from the `Origin` given (cut).
    #[error(
        "requests from `Origin: {0}` are refused (cross-site); start the server with `--allow-origin` to allow one"
    )]
    CrossSite(String),
    /// No route matches the path.
    #[error("no such endpoint (see the README's HTTP API section)")]
    NoEndpoint,
    /// `GET /v1/cluster` on a server that joined no cluster.
    #[error("this server is not one host of a cluster (see `tandem serve --nats`)")]
    NotInCluster,
    /// The route does not take the method.
    #[error("this endpoint does not take that method")]
    MethodNotAllowed,
    /// The server is shutting down and takes no new work.
    #[error("shutting down")]
    ShuttingDown,
    /// The server shut down, after `grace`, before the call finished.
    #[error("the server shut down before the call finished (grace period {0:?})")]
    StoppedByShutdown(Duration),
    /// The event stream has its most subscribers (`--max-subscribers`) already.
    #[error(
        "the event stream has its {0} subscribers already (see `tandem serve --max-subscribers`)"
    )]
    TooManySubscribers(usize),
    /// A fault of the server itself.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status: for calls, 404 an unknown agent, 400 bad input (413 an input over the
    /// agent's `max-input`), 403 denied, 409 a state conflict, 503 circuit open, overloaded or
    /// unavailable, 504 timeout, 507 over the agent's state quota, 500 a host fault, and 502 for
    /// everything the agent itself failed with (guest errors, traps, fuel, memory).
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Call(CallError::UnknownAgent { .. }) => StatusCode::NOT_FOUND,
            ApiError::Call(CallError::InputTooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Call(error) => status_of_kind(error.kind()),
            ApiError::Load(error) => status_of_kind(error.kind()),
            ApiError::Rollback(RollbackError::Unknown(_)) => StatusCode::NOT_FOUND,
            ApiError::Rollback(RollbackError::NoPrevious(_)) => StatusCode::CONFLICT,
            ApiError::Canary(CanaryError::Unknown(_)) => StatusCode::NOT_FOUND,
            ApiError::Canary(error) => status_of_kind(error.kind()),
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::NotJson(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::ForeignHost(_) => StatusCode::MISDIRECTED_REQUEST,
            ApiError::CrossSite(_) => StatusCode::FORBIDDEN,
            ApiError::NoEndpoint | ApiError::NotInCluster => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::ShuttingDown
            | ApiError::StoppedByShutdown(_)
            | ApiError::TooManySubscribers(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The class named in the answer.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Call(error) => error.kind(),
            ApiError::Load(error) => error.kind(),
            ApiError::Canary(error) => error.kind(),
            ApiError::Rollback(RollbackError::Unknown(_)) => ErrorKind::Unavailable,
            ApiError::Rollback(RollbackError::NoPrevious(_))
            | ApiError::BadRequest(_)
            | ApiError::BodyTooLarge { .. }
            | ApiError::BodyTimeout(_)
            | ApiError::NotJson(_)
            | ApiError::NoEndpoint
            | ApiError::MethodNotAllowed => ErrorKind::InvalidInput,
            ApiError::Unauthorized(_) | ApiError::ForeignHost(_) | ApiError::CrossSite(_) => {
                ErrorKind::Denied
            }
            ApiError::ShuttingDown | ApiError::StoppedByShutdown(_) | ApiError::NotInCluster => {
                ErrorKind::Unavailable
            }
            ApiError::TooManySubscribers(_) => ErrorKind::Overloaded,
            ApiError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// When a client should try again, for failures that pass.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Call(CallError::CircuitOpen { retry_in, .. }) => Some(*retry_in),
            ApiError::Call(CallError::Overloaded { .. }) => Some(Duration::from_secs(1)),
            ApiError::TooManySubscribers(_) => Some(Duration::from_secs(5)),
            _ => None,
        }
    }
}

/// The status of a failure of class `kind`.
fn status_of_kind(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::Denied => StatusCode::FORBIDDEN,
        ErrorKind::Unavailable | ErrorKind::CircuitOpen | ErrorKind::Overloaded => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::QuotaExceeded => StatusCode::INSUFFICIENT_STORAGE,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Failed
        | ErrorKind::Retryable
        | ErrorKind::DependencyFailed
        | ErrorKind::FuelExhausted
        | ErrorKind::MemoryLimit
        | ErrorKind::StackOverflow
        | ErrorKind::Trap => StatusCode::BAD_GATEWAY,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({
            "error": {"kind": self.kind(), "message": self.to_string()}
        });
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(wait) = self.retry_after() {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_status_class_and_headers() {
        let busy = ApiError::TooManySubscribers(4).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "5");
        let refused = ApiError::Unauthorized("no token".into()).into_response();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(refused.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let unknown = ApiError::from(RollbackError::Unknown("x".into()));
        assert_eq!(
            (unknown.status(), unknown.kind()),
            (StatusCode::NOT_FOUND, ErrorKind::Unavailable)
        );
        let large = ApiError::BodyTooLarge {
            limit: 10,
            flag: "--max-body",
        };
        assert_eq!(large.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            large.to_string(),
            "the request body is over the server's limit of 10 bytes (see `tandem serve --max-body`)"
        );
    }
}
