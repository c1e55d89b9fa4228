//! The canary endpoints (admin): start a canary of an agent with a component body, change its
//! weight, promote it, abort it. Weights and guard rails are query parameters, e.g.
//! `POST /v1/agents/echo/canary?weight=10&max-error-rate=0.05&window-ms=60000`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tandem::canary::GuardRails;

use crate::body;
use crate::error::ApiError;
use crate::extract::AgentId;
use crate::state::ServerState;
use crate::views::CanaryView;

/// The query of the canary endpoints.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) struct CanaryParams {
    weight: Option<u8>,
    max_error_rate: Option<f64>,
    max_p99_ms: Option<u64>,
    window_ms: Option<u64>,
    min_calls: Option<u32>,
}

impl CanaryParams {
    fn of(query: Result<Query<CanaryParams>, QueryRejection>) -> Result<CanaryParams, ApiError> {
        query.map(|Query(params)| params).map_err(|rejection| {
            ApiError::BadRequest(format!(
                "the query is not usable: {} (it takes weight, max-error-rate, max-p99-ms, window-ms and min-calls)",
                rejection.body_text()
            ))
        })
    }

    fn weight(&self, id: &str, method: &str) -> Result<u8, ApiError> {
        self.weight.ok_or_else(|| {
            ApiError::BadRequest(format!(
                "the weight is missing: {method} /v1/agents/{id}/canary?weight=PERCENT"
            ))
        })
    }

    fn guard(&self) -> GuardRails {
        let default = GuardRails::default();
        GuardRails {
            max_error_rate: self.max_error_rate.unwrap_or(default.max_error_rate),
            max_p99_ms: self.max_p99_ms.or(default.max_p99_ms),
            window_ms: self.window_ms.unwrap_or(default.window_ms),
            min_calls: self.min_calls.unwrap_or(default.min_calls),
        }
    }

    fn has_guard(&self) -> bool {
        self.max_error_rate.is_some()
            || self.max_p99_ms.is_some()
            || self.window_ms.is_some()
            || self.min_calls.is_some()
    }
}

/// `POST /v1/agents/{id}/canary?weight=N` (admin): the body is a component, served as a canary of
/// `id` to N % of the traces once it passed every check a swap makes; it keeps the current
/// version's manifest policy. 201 with the canary.
pub(crate) async fn start_canary(
    State(state): State<Arc<ServerState>>,
    AgentId(id): AgentId,
    query: Result<Query<CanaryParams>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let params = CanaryParams::of(query)?;
    let weight = params.weight(&id, "POST")?;
    let (_slot, body) = body::read_upload(&state, &headers, body).await?;
    let policy = state.host.agent(&id)?.policy().clone();
    let source = std::path::PathBuf::from(format!("canary upload of `{id}`"));
    let started = state
        .host
        .start_canary(
            &id,
            &source,
            body.to_vec(),
            policy,
            weight,
            params.guard(),
            "api",
        )
        .await;
    state.audited().await;
    let canary = started?;
    let view = CanaryView::of(&state.host, &canary);
    Ok((StatusCode::CREATED, axum::Json(view)).into_response())
}

/// `PATCH /v1/agents/{id}/canary?weight=N` (admin): the canary's new weight.
pub(crate) async fn reweight_canary(
    State(state): State<Arc<ServerState>>,
    AgentId(id): AgentId,
    query: Result<Query<CanaryParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = CanaryParams::of(query)?;
    if params.has_guard() {
        return Err(ApiError::BadRequest(
            "a running canary's guard rails do not change: abort it and start it again".into(),
        ));
    }
    let weight = params.weight(&id, "PATCH")?;
    let canary = state.host.set_canary_weight(&id, weight, "api");
    state.audited().await;
    let canary = canary?;
    Ok(axum::Json(CanaryView::of(&state.host, &canary)).into_response())
}

/// `POST /v1/agents/{id}/canary/promote` (admin): the canary becomes the current version.
pub(crate) async fn promote_canary(
    State(state): State<Arc<ServerState>>,
    AgentId(id): AgentId,
) -> Result<Response, ApiError> {
    let canary = state.host.promote_canary(&id, "api");
    state.audited().await;
    let canary = canary?;
    Ok(axum::Json(CanaryView::of(&state.host, &canary)).into_response())
}

/// `POST /v1/agents/{id}/canary/abort` (admin): the canary ends; its traces go back to the
/// current version.
pub(crate) async fn abort_canary(
    State(state): State<Arc<ServerState>>,
    AgentId(id): AgentId,
) -> Result<Response, ApiError> {
    let canary = state.host.abort_canary(&id, "api");
    state.audited().await;
    let canary = canary?;
    Ok(axum::Json(CanaryView::of(&state.host, &canary)).into_response())
}
