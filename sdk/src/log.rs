//! Structured logging into the host's tracing. Each record is tagged by the host with the agent id,
//! the operation and the trace id; a call may write a bounded number of records.

pub use crate::bindings::tandem::agent::log::Level;
use crate::bindings::tandem::agent::log::log;

/// Logs `message` at `level` with key/value fields.
pub fn with_fields(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    log(level, message, &fields);
}

/// Logs at `debug`.
pub fn debug(message: &str) {
    log(Level::Debug, message, &[]);
}

/// Logs at `info`.
pub fn info(message: &str) {
    log(Level::Info, message, &[]);
}

/// Logs at `warn`.
pub fn warn(message: &str) {
    log(Level::Warn, message, &[]);
}

/// Logs at `error`.
pub fn error(message: &str) {
    log(Level::Error, message, &[]);
}
