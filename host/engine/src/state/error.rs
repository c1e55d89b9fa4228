//! [`StateError`]: why a state operation or a call's commit failed, classified.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use crate::error::ErrorKind;

/// Why a state operation or a call's commit failed.
// The fields are what each variant's message shows.
#[allow(missing_docs)]
#[derive(Debug, Clone, thiserror::Error)]
pub enum StateError {
    /// A key that is empty or too long.
    #[error("invalid state key: {0}")]
    InvalidKey(String),
    /// A write would take the agent past its quota.
    #[error("over the state quota: {what} would be {would_be}, the limit is {limit}")]
    QuotaExceeded {
        what: &'static str,
        would_be: u64,
        limit: u64,
    },
    /// A compare-and-swap found another value.
    #[error(
        "state key `{key}` was changed by another call after this call compared it; none of this \
         call's writes were kept"
    )]
    Conflict { key: String },
    /// Another call of the agent stored its shared state first (see `shared`).
    #[error(
        "another call of this agent stored its state first (on this or another host of the \
         cluster); none of this call's writes were kept"
    )]
    Overtaken,
    /// The host keeps no state.
    #[error("this host keeps no state (it has no data directory)")]
    Disabled,
    /// The store failed.
    #[error("state store {}: {reason}", path.display())]
    Store { path: PathBuf, reason: String },
}

impl StateError {
    /// The class of the failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StateError::InvalidKey(_) => ErrorKind::InvalidInput,
            StateError::QuotaExceeded { .. } => ErrorKind::QuotaExceeded,
            StateError::Conflict { .. } | StateError::Overtaken => ErrorKind::Conflict,
            StateError::Disabled | StateError::Store { .. } => ErrorKind::Unavailable,
        }
    }
}

pub(super) fn store_error(path: &Path, e: impl Display) -> StateError {
    StateError::Store {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}
