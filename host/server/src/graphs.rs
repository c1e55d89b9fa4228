//! `POST /v1/graphs`: a dependency graph of calls, run by the scheduler.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tandem::scheduler::{Outcome, Plan, RunReport};

use crate::error::ApiError;
use crate::state::ServerState;

#[derive(Serialize)]
struct GraphReply {
    /// Every node succeeded.
    ok: bool,
    #[serde(flatten)]
    report: RunReport,
}

/// Runs the plan in the body; the answer is 200 with every node's outcome, `ok` when all succeeded.
pub(crate) async fn run_graph(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = state.read_json(body, &headers).await?;
    let plan: Plan = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the request body is not a valid plan: {e}")))?;
    let graph = state
        .host
        .check_plan(plan)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let report = state
        .host
        .run_graph(graph, state.stopped.clone().cancelled_owned(), |_| {})
        .await;
    state.audited().await;
    let ok = report
        .nodes
        .iter()
        .all(|n| matches!(n.outcome, Outcome::Succeeded { .. }));
    Ok(axum::Json(GraphReply { ok, report }).into_response())
}
