//! The errors at the library's boundary, each classified by an [`ErrorKind`].
//!
//! [`LoadError`] is what loading a component can fail with; [`CallError`] what a call can fail with.
//! Breakers, retries, exit codes and HTTP statuses branch on [`ErrorKind`], never on a message.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::kind::ErrorKind;

/// Why a component could not be loaded as an agent. Each names the file.
// The fields are what each variant's message shows.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: cannot read the file: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not WebAssembly.
    #[error("{}: not a WebAssembly file (it does not start with the `\\0asm` magic bytes)", path.display())]
    NotWasm { path: PathBuf },
    /// A core module, which needs `tandem componentize` first.
    #[error(
        "{}: a core WebAssembly module, not a component; make it a component with \
         `tandem componentize {} -o <out.wasm>`",
        path.display(), path.display()
    )]
    CoreModule { path: PathBuf },
    /// WebAssembly that is not a valid component.
    #[error("{}: not a valid component: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    /// A component that does not export the agent handler.
    #[error(
        "{}: not an agent: it does not export `{}@0.1.x` (it exports: {exports})",
        path.display(), crate::bindings::HANDLER_INTERFACE
    )]
    NotAnAgent { path: PathBuf, exports: String },
    /// A component that imports what the host does not provide.
    #[error(
        "{}: imports `{import}`, which this host does not provide (it provides `tandem:agent/*@0.1.x` \
         and WASI 0.2 interfaces)",
        path.display()
    )]
    UnsupportedImport { path: PathBuf, import: String },
    /// A component that imports `wasi:http` for an agent whose manifest grants no `[egress]`.
    #[error(
        "{}: imports `{import}`, but its manifest grants no outbound HTTP: add an [egress] section \
         with the [[egress.allow]] rules it needs",
        path.display()
    )]
    EgressNotGranted { path: PathBuf, import: String },
    /// Instantiating it, `describe()` or the health probe failed.
    #[error("{}: `describe()` failed: {reason}", path.display())]
    Describe { path: PathBuf, reason: String },
    /// What `describe()` returned is not a valid agent description.
    #[error("{}: the agent's description is invalid: {reason}", path.display())]
    InvalidInfo { path: PathBuf, reason: String },
    /// Another component already serves the same id.
    #[error("{}: agent `{id}` is already loaded from {}", path.display(), existing.display())]
    Duplicate {
        path: PathBuf,
        id: String,
        existing: PathBuf,
    },
    /// The host itself failed (compiling, caching, saving).
    #[error("{}: {reason}", path.display())]
    Host { path: PathBuf, reason: String },
    /// The manifest beside it is invalid.
    #[error(transparent)]
    Manifest(#[from] tandem_manifest::ManifestError),
}

impl LoadError {
    /// The class of the failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LoadError::Host { .. } => ErrorKind::Internal,
            LoadError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::InvalidInput
            }
            LoadError::Io { .. } => ErrorKind::Unavailable,
            _ => ErrorKind::InvalidInput,
        }
    }
}

/// Where a call failed: which agent and operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The agent's id.
    pub agent: String,
    /// The operation.
    pub operation: String,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.agent, self.operation)
    }
}

/// Why a call failed. Every variant but the lookup errors names the agent and operation.
// The fields are what each variant's message shows.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No agent of that id is loaded.
    #[error("no agent `{agent}` is loaded (loaded: {})", list_or_none(loaded))]
    UnknownAgent { agent: String, loaded: Vec<String> },
    /// The agent has no operation of that name.
    #[error(
        "agent `{agent}` has no operation `{operation}` (it offers: {})",
        list_or_none(offered)
    )]
    UnknownOperation {
        agent: String,
        operation: String,
        offered: Vec<String>,
    },
    /// An id or operation name a caller gave is not a valid name.
    #[error(
        "{what} of {len} bytes is not a valid name (1-64 characters of a-z, 0-9 and `-`, starting with a letter): {shown:?}"
    )]
    InvalidName {
        what: &'static str,
        len: usize,
        /// The start of the name, at most 64 bytes of it.
        shown: String,
    },
    /// The input is not JSON.
    #[error("{site}: the input is not valid JSON: {reason}")]
    InvalidJson { site: Site, reason: String },
    /// The input is over the agent's `limits.max-input`.
    #[error(
        "{site}: the input of {size} bytes is over the agent's limit of {limit} bytes (`limits.max-input`)"
    )]
    InputTooLarge {
        site: Site,
        size: usize,
        limit: usize,
    },
    /// The agent returned output that is not usable JSON.
    #[error("{site}: the agent's output is not usable JSON: {reason}")]
    InvalidOutput { site: Site, reason: String },
    /// A graph node's output would take its run past what a run may hold.
    #[error("{site}: {reason}")]
    RunFull { site: Site, reason: String },
    /// Every instance was busy and the call could not wait (queue full, or its deadline).
    #[error("{site}: overloaded: {reason}")]
    Overloaded { site: Site, reason: String },
    /// The call ran past its deadline. `backtrace`, here and below, is where the guest was: empty,
    /// or a newline and the wasm backtrace in wasmtime's format.
    #[error("{site}: timed out after {limit:?}{backtrace}")]
    Timeout {
        site: Site,
        limit: Duration,
        backtrace: String,
    },
    /// The call used up its fuel.
    #[error("{site}: used up its fuel ({limit} units){backtrace}")]
    FuelExhausted {
        site: Site,
        limit: u64,
        backtrace: String,
    },
    /// The guest tried to grow memory, a table or its handles past a limit.
    #[error("{site}: tried to grow {what} to {requested} past its limit of {limit}")]
    MemoryLimit {
        site: Site,
        what: &'static str,
        requested: usize,
        limit: usize,
    },
    /// The guest overflowed its stack.
    #[error("{site}: stack overflow{backtrace}")]
    StackOverflow { site: Site, backtrace: String },
    /// The guest trapped.
    #[error("{site}: the guest trapped: {reason}")]
    Trap { site: Site, reason: String },
    /// The output is over the agent's `limits.max-output`.
    #[error("{site}: output of {size} bytes is over the limit of {limit} bytes")]
    OutputTooLarge {
        site: Site,
        size: usize,
        limit: usize,
    },
    /// The guest returned an error of its own, with its class.
    #[error("{site}: {message}")]
    Guest {
        site: Site,
        kind: ErrorKind,
        message: String,
    },
    /// The agent's breaker is open: the call was not attempted.
    #[error("{site}: the circuit breaker is open; the next probe in {retry_in:?}")]
    CircuitOpen { site: Site, retry_in: Duration },
    /// The call's state writes could not be kept (quota, a compare-and-swap conflict, the store),
    /// or the guest failed after a write of it was refused over quota.
    #[error("{site}: {error}")]
    State {
        site: Site,
        error: crate::state::StateError,
    },
    /// The call was stopped before it finished.
    #[error("{site}: cancelled before it finished (the caller went away or the host shut down)")]
    Cancelled { site: Site },
    /// The host itself failed.
    #[error("{site}: internal host error: {reason}")]
    Internal { site: Site, reason: String },
    /// The call left this host for the cluster and failed there, or could not be placed or
    /// answered (no host serves the agent, the host that took it went away), with its class;
    /// `reason` names the agent and operation, and the host when one took the call.
    #[error("{reason}")]
    Remote {
        site: Site,
        kind: ErrorKind,
        reason: String,
    },
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

impl CallError {
    /// Refuses `name` (an agent id or operation name from a caller) unless it is a valid name; the
    /// error quotes at most its first 64 bytes, so that nothing unbounded reaches a log.
    pub fn check_name(what: &'static str, name: &str) -> Result<(), CallError> {
        if tandem_manifest::is_valid_name(name) {
            return Ok(());
        }
        let mut end = name.len().min(64);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        Err(CallError::InvalidName {
            what,
            len: name.len(),
            shown: name[..end].to_string(),
        })
    }

    /// The class of the failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CallError::UnknownAgent { .. } => ErrorKind::Unavailable,
            CallError::UnknownOperation { .. }
            | CallError::InvalidName { .. }
            | CallError::InvalidJson { .. }
            | CallError::InputTooLarge { .. }
            | CallError::RunFull { .. } => ErrorKind::InvalidInput,
            CallError::InvalidOutput { .. } => ErrorKind::Failed,
            CallError::Overloaded { .. } => ErrorKind::Overloaded,
            CallError::Timeout { .. } => ErrorKind::Timeout,
            CallError::FuelExhausted { .. } => ErrorKind::FuelExhausted,
            CallError::MemoryLimit { .. } | CallError::OutputTooLarge { .. } => {
                ErrorKind::MemoryLimit
            }
            CallError::StackOverflow { .. } => ErrorKind::StackOverflow,
            CallError::Trap { .. } => ErrorKind::Trap,
            CallError::Guest { kind, .. } | CallError::Remote { kind, .. } => *kind,
            CallError::CircuitOpen { .. } => ErrorKind::CircuitOpen,
            CallError::State { error, .. } => error.kind(),
            CallError::Cancelled { .. } => ErrorKind::Unavailable,
            CallError::Internal { .. } => ErrorKind::Internal,
        }
    }
}
