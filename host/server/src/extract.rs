//! Extractors: the `{id}` of a path, checked before a handler sees it.

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use tandem::error::CallError;

use crate::error::ApiError;

/// The `{id}` of a path: percent-decoded UTF-8 and a valid agent id, or a JSON 400.
pub struct AgentId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for AgentId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<AgentId, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection: PathRejection| {
                ApiError::BadRequest(format!("the path is not usable: {}", rejection.body_text()))
            })?;
        CallError::check_name("agent id", &id)?;
        Ok(AgentId(id))
    }
}
