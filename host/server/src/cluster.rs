//! `GET /v1/cluster`: every host of the cluster this one joined, with what it serves and its
//! figures (the hosts that answer within the census's wait); 404 when the server is not one of a
//! cluster.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::ServerState;

pub(crate) async fn census(State(state): State<Arc<ServerState>>) -> Result<Response, ApiError> {
    let hosts = state.host.census().await.ok_or(ApiError::NotInCluster)?;
    Ok(axum::Json(serde_json::json!({ "hosts": hosts })).into_response())
}
