//! `POST /v1/agents/{id}/invoke`: one call, with its body checked before the host sees it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tandem::dispatch::Origin;

use crate::error::ApiError;
use crate::extract::AgentId;
use crate::state::ServerState;

/// `POST /v1/agents/{id}/invoke`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvokeBody<'a> {
    op: String,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
    /// Continue this trace instead of starting one.
    trace_id: Option<String>,
    /// End the call by then, if sooner than the agent's own timeout.
    timeout_ms: Option<u64>,
    /// `false`: run the guest even if the result cache has the answer.
    cache: Option<bool>,
}

/// An invoke request, checked: its operation, its input (JSON text) and what the call inherits.
pub struct InvokeRequest {
    /// The operation.
    pub op: String,
    /// The input, JSON text (`{}` when the body had none).
    pub input: String,
    /// What the call inherits: trace, deadline, caching.
    pub origin: Origin,
}

impl InvokeRequest {
    /// Parses and checks an invoke body: the fields known, `trace_id` well-formed, `timeout_ms` in
    /// range. The error names the problem.
    pub fn parse(body: &[u8]) -> Result<InvokeRequest, ApiError> {
        let request: InvokeBody = serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!(
                "the request body is not a valid invoke request ({{\"op\": ..., \"input\": ...}}): {e}"
            ))
        })?;
        if let Some(trace_id) = &request.trace_id {
            let valid = !trace_id.is_empty()
                && trace_id.len() <= 64
                && trace_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(ApiError::BadRequest(
                    "`trace_id` must be 1-64 characters of A-Z, a-z, 0-9, `-` and `_`".into(),
                ));
            }
        }
        if let Some(ms) = request.timeout_ms
            && !(1..=MAX_TIMEOUT_MS).contains(&ms)
        {
            return Err(ApiError::BadRequest(format!(
                "`timeout_ms` {ms} is out of range (1 to {MAX_TIMEOUT_MS})"
            )));
        }
        let origin = Origin {
            trace_id: request.trace_id,
            deadline: request
                .timeout_ms
                .map(|ms| Instant::now() + Duration::from_millis(ms)),
            no_cache: request.cache == Some(false),
            ..Origin::default()
        };
        Ok(InvokeRequest {
            op: request.op,
            input: request.input.map_or("{}", RawValue::get).to_string(),
            origin,
        })
    }
}

#[derive(Serialize)]
struct InvokeReply<'a> {
    output: &'a RawValue,
    trace_id: &'a str,
    fuel_used: u64,
    duration_us: u64,
    /// The answer came from the result cache (the guest did not run).
    cached: bool,
    /// The host of the cluster that ran the call (only in a cluster).
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
}

/// The longest `timeout_ms` an invoke may ask for: a day.
const MAX_TIMEOUT_MS: u64 = 24 * 3600 * 1000;

pub(crate) async fn invoke(
    State(state): State<Arc<ServerState>>,
    AgentId(id): AgentId,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = state.read_json(body, &headers).await?;
    let request = InvokeRequest::parse(&body)?;
    let (op, input, origin) = (request.op, request.input, request.origin);
    let call = state.host.invoke_from(&id, &op, input, origin);
    let response = tokio::select! {
        response = call => response,
        () = state.stopped.cancelled() => return Err(stopped_by_shutdown(&state)),
    };
    state.audited().await;
    let response = response?;
    // The host checked the output is JSON before the call counted as a success.
    let output = serde_json::from_str::<&RawValue>(&response.output).map_err(|e| {
        ApiError::Internal(format!("{id}.{op}: the checked output does not parse: {e}"))
    })?;
    let reply = InvokeReply {
        output,
        trace_id: &response.trace_id,
        fuel_used: response.fuel_used,
        duration_us: response.duration.as_micros() as u64,
        cached: response.cached,
        host: response.served_by.as_deref(),
    };
    Ok(axum::Json(reply).into_response())
}

pub(crate) fn stopped_by_shutdown(state: &ServerState) -> ApiError {
    ApiError::StoppedByShutdown(state.config.grace)
}
