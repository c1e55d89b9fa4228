//! Publishing custom events on the host's live event stream.

use serde::Serialize;

/// Publishes an event named `name` (lower-kebab-case) with `data` as its JSON payload. A payload that
/// cannot be encoded is published as `null`.
pub fn emit(name: &str, data: &impl Serialize) {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "null".to_string());
    crate::bindings::tandem::agent::events::emit(name, &data);
}
