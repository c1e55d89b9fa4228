//! What went wrong while guest code ran, classified: a trap, fuel or a deadline run out, a limit
//! refused ([`LimitExceeded`]), a handle table full; each becomes the [`CallError`] of its class.

use std::time::Duration;

use wasmtime::Trap;

use crate::error::{CallError, Site};
use crate::sandbox::{Limits, MAX_HANDLES};

/// A guest asked for more memory or table space than its limits allow.
#[derive(Debug, thiserror::Error)]
#[error("{what} of {requested} over the limit of {limit}")]
pub struct LimitExceeded {
    /// What grew: `linear memory`, `table`, `open files`.
    pub what: &'static str,
    /// How much it asked for.
    pub requested: usize,
    /// The limit.
    pub limit: usize,
}

/// Classifies an error raised while running guest code; `timeout` is the time the call had (its own
/// limit, or less when it inherited a caller's deadline).
pub fn classify(
    error: wasmtime::Error,
    site: Site,
    limits: &Limits,
    timeout: Duration,
) -> CallError {
    if let Some(wasmtime::component::ResourceTableError::Full) =
        error.downcast_ref::<wasmtime::component::ResourceTableError>()
    {
        return CallError::MemoryLimit {
            site,
            what: "handles",
            requested: MAX_HANDLES + limits.max_open_files + 1,
            limit: MAX_HANDLES + limits.max_open_files,
        };
    }
    if let Some(limit) = error.downcast_ref::<LimitExceeded>() {
        return CallError::MemoryLimit {
            site,
            what: limit.what,
            requested: limit.requested,
            limit: limit.limit,
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => CallError::FuelExhausted {
            site,
            limit: limits.fuel.unwrap_or(0),
            backtrace: backtrace(&error),
        },
        Some(Trap::Interrupt) => CallError::Timeout {
            site,
            limit: timeout,
            backtrace: backtrace(&error),
        },
        Some(Trap::StackOverflow) => CallError::StackOverflow {
            site,
            backtrace: backtrace(&error),
        },
        Some(trap) => CallError::Trap {
            site,
            reason: format!("{trap}{}", backtrace(&error)),
        },
        None => CallError::Trap {
            site,
            reason: format!("{error:#}"),
        },
    }
}

/// Frames of a trap's wasm backtrace kept in its report: enough to see where a guest failed, not so
/// many that a deep recursion makes a report of megabytes.
pub const BACKTRACE_LINES: usize = 32;

/// The wasm backtrace wasmtime attached to `error` after a newline, in wasmtime's own format
/// (`error while executing at wasm backtrace:` then a line per frame) and cut at
/// [`BACKTRACE_LINES`]; empty when there is none. DEBUGGER reads it (`tests/data/debug`).
fn backtrace(error: &wasmtime::Error) -> String {
    let Some(backtrace) = error.downcast_ref::<wasmtime::WasmBacktrace>() else {
        return String::new();
    };
    let text = backtrace.to_string();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for line in lines.iter().take(BACKTRACE_LINES + 1) {
        out.push('\n');
        out.push_str(line);
    }
    if lines.len() > BACKTRACE_LINES + 1 {
        out.push_str(&format!(
            "\n  ... {} more lines",
            lines.len() - BACKTRACE_LINES - 1
        ));
    }
    out
}
