//! The operator endpoints: `/metrics`, `/healthz`, `/readyz` and the live event stream `/events`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::events;
use crate::state::ServerState;

/// `GET /metrics`: the Prometheus text format (0.0.4), or OpenMetrics 1.0 for a client whose
/// `Accept` asks for `application/openmetrics-text`.
pub(crate) async fn metrics(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|accept| accept.contains("application/openmetrics-text"));
    let rendered = crate::exposition::render(&state.host, state.config.host_id.as_deref());
    if openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            rendered,
        )
            .into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            crate::exposition::to_prometheus_text(&rendered),
        )
            .into_response()
    }
}

/// `GET /healthz`: the process answers.
pub(crate) async fn healthz() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: 200 once agents are loaded and until shutdown begins, 503 with the reason
/// otherwise.
pub(crate) async fn readyz(State(state): State<Arc<ServerState>>) -> Response {
    let agents = state.host.agents().len();
    let not_ready = if state.stopping.is_cancelled() {
        Some("shutting down")
    } else if !state.started.load(Ordering::Acquire) {
        Some("still loading agents")
    } else if agents == 0 {
        Some("no agent is loaded")
    } else {
        None
    };
    match not_ready {
        None => axum::Json(serde_json::json!({"ready": true, "agents": agents})).into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"ready": false, "agents": agents, "reason": reason})),
        )
            .into_response(),
    }
}

/// `GET /events`: the live event stream as Server-Sent Events (see [`events`]). Each event's
/// `event:` is its type, `id:` its sequence number and `data:` its JSON; a subscriber that fell
/// behind gets a `missed` event with how many it lost. Past `--max-subscribers`, 503.
pub(crate) async fn events(State(state): State<Arc<ServerState>>) -> Result<Response, ApiError> {
    let slot = state
        .subscribers
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::TooManySubscribers(state.config.max_subscribers))?;
    let body = events::body(
        state.host.events().subscribe(),
        slot,
        state.stopping.clone(),
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}
