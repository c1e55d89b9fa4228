//! `tandem:agent/log`: guest log records into the host's tracing, tagged with the agent, operation
//! and trace id. Messages are truncated and each call may write only `limits.max_log_records`
//! records, so a flooding guest cannot grow the host's memory or drown its logs.
//!
//! The capability owns its context ([`LogCtx`]: the call's budget) and implements the generated
//! `Host` trait on [`LogView`], a view of that context and the call, linked with a one-line
//! projection (wasmtime's `random` pattern).

use wasmtime::component::{HasData, Linker};

use crate::bindings::log::{self, Host, Level};
use crate::sandbox::{CallState, StoreData};
use crate::text::truncate;

/// The longest message kept, in bytes.
const MAX_MESSAGE_BYTES: usize = 4096;
/// The most fields kept per record, and the longest value.
const MAX_FIELDS: usize = 32;
const MAX_FIELD_BYTES: usize = 1024;

/// One instance's log budget for the call it runs.
#[derive(Debug)]
pub struct LogCtx {
    /// Records the call may still write.
    left: u32,
    /// Records dropped because `left` ran out.
    dropped: u32,
}

impl LogCtx {
    /// A budget of `records`.
    pub fn new(records: u32) -> LogCtx {
        LogCtx {
            left: records,
            dropped: 0,
        }
    }

    /// A new call's budget of `records`.
    pub fn reset(&mut self, records: u32) {
        *self = LogCtx::new(records);
    }

    /// Records the call could not write.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }

    /// Takes one record from the budget; `false` (and one more dropped) when it is spent.
    fn take(&mut self) -> bool {
        if self.left == 0 {
            self.dropped = self.dropped.saturating_add(1);
            return false;
        }
        self.left -= 1;
        true
    }
}

/// What the log functions see: the budget and who is calling.
pub struct LogView<'a> {
    ctx: &'a mut LogCtx,
    call: &'a CallState,
}

struct HasLog;

impl HasData for HasLog {
    type Data<'a> = LogView<'a>;
}

impl StoreData {
    fn log_view(&mut self) -> LogView<'_> {
        LogView {
            ctx: &mut self.log,
            call: &self.call,
        }
    }
}

/// Links `tandem:agent/log`.
pub fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    log::add_to_linker::<StoreData, HasLog>(linker, StoreData::log_view)
}

impl Host for LogView<'_> {
    async fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        if !self.ctx.take() {
            return;
        }
        let message = truncate(message, MAX_MESSAGE_BYTES);
        let fields: Vec<String> = fields
            .into_iter()
            .take(MAX_FIELDS)
            .map(|(key, value)| {
                format!("{}={}", truncate(key, 64), truncate(value, MAX_FIELD_BYTES))
            })
            .collect();
        let fields = fields.join(" ");
        let call = self.call;
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
        if self.ctx.left == 0 {
            tracing::warn!(target: "tandem::guest", agent, operation, trace_id, "log limit reached: dropping this call's further records");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn call() -> CallState {
        CallState {
            agent: "a".into(),
            operation: "op".into(),
            trace_id: "t".into(),
            deadline: Instant::now(),
            chain: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_call_writes_its_budget_and_the_rest_are_counted_as_dropped() {
        let (mut ctx, call) = (LogCtx::new(2), call());
        let mut view = LogView {
            ctx: &mut ctx,
            call: &call,
        };
        for i in 0..5 {
            view.log(Level::Info, format!("record {i}"), vec![]).await;
        }
        assert_eq!((ctx.left, ctx.dropped()), (0, 3));
        ctx.reset(2);
        assert_eq!((ctx.left, ctx.dropped()), (2, 0));
    }
}
