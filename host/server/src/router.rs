//! The routes of the API, behind the [`guard`], with JSON answers for a path or method
//! no route takes.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::state::ServerState;
use crate::{agents, canary, cluster, graphs, guard, invoke, ops};

/// The routes of the API, behind the guard (host, origin and token checks).
pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/v1/agents", get(agents::list_agents))
        .route(
            "/v1/agents/{id}",
            get(agents::agent_detail)
                .put(agents::put_agent)
                .delete(agents::delete_agent),
        )
        .route("/v1/agents/{id}/invoke", post(invoke::invoke))
        .route("/v1/agents/{id}/rollback", post(agents::rollback_agent))
        .route(
            "/v1/agents/{id}/canary",
            post(canary::start_canary).patch(canary::reweight_canary),
        )
        .route(
            "/v1/agents/{id}/canary/promote",
            post(canary::promote_canary),
        )
        .route("/v1/agents/{id}/canary/abort", post(canary::abort_canary))
        .route("/v1/graphs", post(graphs::run_graph))
        .route("/v1/cluster", get(cluster::census))
        .route("/metrics", get(ops::metrics))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/events", get(ops::events))
        .fallback(|| async { ApiError::NoEndpoint })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state)
}
