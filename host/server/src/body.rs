//! Reading a request body within bounds: a declared `Content-Length` over the limit is refused
//! before a byte is read (so a client that announces 10 MB and sends nothing, or waits for
//! `100 Continue`, gets its 413 at once); otherwise the body is read up to the limit and within the
//! body timeout. A request refused before its body was read has its body drained, within smaller
//! bounds, before the answer.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::ApiError;

/// What a body is, for the message when it is too large.
#[derive(Debug, Clone, Copy)]
pub enum Payload {
    /// A JSON request (`--max-body`).
    Json,
    /// A component upload (`--max-component`).
    Component,
}

impl Payload {
    fn too_large(self, limit: usize) -> ApiError {
        let flag = match self {
            Payload::Json => "--max-body",
            Payload::Component => "--max-component",
        };
        ApiError::BodyTooLarge { limit, flag }
    }
}

/// Reads the body of a request, at most `limit` bytes and within `timeout`.
pub async fn read(
    body: Body,
    headers: &HeaderMap,
    payload: Payload,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(payload.too_large(limit));
    }
    let collect = Limited::new(body, limit).collect();
    match tokio::time::timeout(timeout, collect).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(payload.too_large(limit))
        }
        Ok(Err(error)) => Err(ApiError::BadRequest(format!(
            "cannot read the request body: {error}"
        ))),
        Err(_) => Err(ApiError::BodyTimeout(timeout)),
    }
}

/// Refuses a body that does not say it is JSON: a browser's cross-site "simple" request (a
/// `text/plain` form post) cannot set `Content-Type: application/json` without a CORS preflight,
/// which this server never grants.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::NotJson(content_type.to_string()))
    }
}

/// A component upload (admin): one of the server's upload slots, held until the caller is done
/// with the bytes, and the body read within `--max-component`. The guard checked the token first.
pub(crate) async fn read_upload<'a>(
    state: &'a crate::state::ServerState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(tokio::sync::SemaphorePermit<'a>, Bytes), ApiError> {
    let slot = state
        .uploads
        .acquire()
        .await
        .map_err(|_| ApiError::ShuttingDown)?;
    let bytes = read(
        body,
        headers,
        Payload::Component,
        state.config.max_component_bytes,
        state.config.body_timeout,
    )
    .await?;
    Ok((slot, bytes))
}

/// The most of a refused request's body [`drain`] reads, and for how long.
const DRAIN_BYTES: usize = 64 << 10;
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Reads and drops the body of a request refused before it was read, at most 64 KiB within 1 s.
/// Answering at once would close the connection under a client still sending: its next write
/// fails, and a client that stops there never reads the answer.
pub async fn drain(body: Body) {
    let drained = Limited::new(body, DRAIN_BYTES).collect();
    let _ = tokio::time::timeout(DRAIN_TIME, drained).await;
}
