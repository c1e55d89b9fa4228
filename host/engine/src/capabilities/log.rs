//! `tandem:agent/log`: guest log records into the host's tracing, tagged with the agent, operation
//! and trace id. Messages are truncated and each call may write only `limits.max_log_records`
//! records, so a flooding guest cannot grow the host's memory or drown its logs.

use crate::bindings::log::{Host, Level};
use crate::sandbox::StoreData;
use crate::text::truncate;

/// The longest message kept, in bytes.
const MAX_MESSAGE_BYTES: usize = 4096;
/// The most fields kept per record, and the longest value.
const MAX_FIELDS: usize = 32;
const MAX_FIELD_BYTES: usize = 1024;

impl Host for StoreData {
    async fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        let call = &mut self.call;
        if call.logs_left == 0 {
            call.logs_dropped = call.logs_dropped.saturating_add(1);
            return;
        }
        call.logs_left -= 1;
        let message = truncate(message, MAX_MESSAGE_BYTES);
        let fields: Vec<String> = fields
            .into_iter()
            .take(MAX_FIELDS)
            .map(|(key, value)| {
                format!("{}={}", truncate(key, 64), truncate(value, MAX_FIELD_BYTES))
            })
            .collect();
        let fields = fields.join(" ");
        let (agent, operation, trace_id) = (&*call.agent, &call.operation, &call.trace_id);
        macro_rules! emit {
            ($level:ident) => {
                tracing::$level!(target: "tandem::guest", agent, operation, trace_id, fields, "{message}")
            };
        }
        match level {
            Level::Trace => emit!(trace),
            Level::Debug => emit!(debug),
            Level::Info => emit!(info),
            Level::Warn => emit!(warn),
            Level::Error => emit!(error),
        }
        if call.logs_left == 0 {
            tracing::warn!(target: "tandem::guest", agent, operation, trace_id, "log limit reached: dropping this call's further records");
        }
    }
}
