//! The agent endpoints: listing and detail, and the admin ones that change what is served
//! (upload a version, roll back, remove).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::body;
use crate::error::ApiError;
use crate::extract::AgentId;
use crate::state::ServerState;
use crate::views::{AgentView, SwapReply};

/// `GET /v1/agents`: every loaded agent.
pub(crate) async fn list_agents(State(state): State<Arc<ServerState>>) -> Response {
    let views: Vec<AgentView> = state
        .host
        .agents()
        .iter()
        .map(|agent| AgentView::of(&state.host, agent))
        .collect();
    axum::Json(serde_json::json!({ "agents": views })).into_response()
}

/// `GET /v1/agents/{id}`: one agent.
pub(crate) async fn agent_detail(
    State(state): State<Arc<ServerState>>,
    AgentId(id): AgentId,
) -> Result<Response, ApiError> {
    let agent = state.host.agent(&id)?;
    Ok(axum::Json(AgentView::of(&state.host, &agent)).into_response())
}

/// `PUT /v1/agents/{id}` (admin): the body is a component; it becomes agent `id`'s current
/// version once it passed every check (201 for a new agent, 200 for a swap). It keeps the current
/// version's manifest policy (a new agent gets the defaults, which grant nothing).
pub(crate) async fn put_agent(
    State(state): State<Arc<ServerState>>,
    AgentId(id): AgentId,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (_slot, body) = body::read_upload(&state, &headers, body).await?;
    let policy = match state.host.agent(&id) {
        Ok(current) => current.policy().clone(),
        Err(_) => tandem::sandbox::Policy::default(),
    };
    let source = std::path::PathBuf::from(format!("upload of `{id}`"));
    let swap = state
        .host
        .swap_in(Some(&id), &source, body.to_vec(), policy, "api")
        .await;
    state.audited().await;
    let swap = swap?;
    let status = if swap.previous.is_some() || swap.unchanged {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(SwapReply::of(&swap))).into_response())
}

/// `POST /v1/agents/{id}/rollback` (admin): back to the version before the current one.
pub(crate) async fn rollback_agent(
    State(state): State<Arc<ServerState>>,
    AgentId(id): AgentId,
) -> Result<Response, ApiError> {
    let swap = state.host.rollback(&id, "api");
    state.audited().await;
    let swap = swap?;
    Ok(axum::Json(SwapReply::of(&swap)).into_response())
}

/// `DELETE /v1/agents/{id}` (admin): unloads the agent; calls already running finish.
pub(crate) async fn delete_agent(
    State(state): State<Arc<ServerState>>,
    AgentId(id): AgentId,
) -> Result<Response, ApiError> {
    let removed = state.host.remove(&id, "api");
    state.audited().await;
    let removed = removed?;
    let body = serde_json::json!({
        "removed": {"agent": removed.id(), "version": removed.info.version.to_string()}
    });
    Ok(axum::Json(body).into_response())
}
