//! [`ErrorKind`]: the classification of every failure, which breakers, retries, exit codes and HTTP
//! statuses branch on. A leaf: it imports nothing of the crate, so every layer can name it.

use std::fmt;

/// The classification of every failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// Bad input from the caller: malformed JSON, an unknown operation, an unusable component.
    InvalidInput,
    /// No such agent is loaded, or the host is shutting down.
    Unavailable,
    /// The guest reported that the operation failed.
    Failed,
    /// The guest reported a failure that may pass on retry.
    Retryable,
    /// A capability was not granted.
    Denied,
    /// A call the agent delegated failed.
    DependencyFailed,
    /// The call's deadline passed.
    Timeout,
    /// The call used up its fuel.
    FuelExhausted,
    /// The call tried to grow memory or tables past the agent's limit.
    MemoryLimit,
    /// The call overflowed the wasm stack.
    StackOverflow,
    /// The guest trapped (panic, `unreachable`, out-of-bounds access, ...).
    Trap,
    /// The agent's circuit breaker is open.
    CircuitOpen,
    /// The agent had no free instance in time: its wait queue was full, or the call's deadline
    /// passed while it waited. Says nothing about the agent's health: not retried, not counted by
    /// the breaker.
    Overloaded,
    /// A state write would take the agent past its state quota (keys or bytes).
    QuotaExceeded,
    /// A state compare-and-swap of the call lost to another call's write before it committed; none
    /// of its writes were kept. Retried; it does not count against the agent's health.
    Conflict,
    /// A fault in the host itself; a bug to report.
    Internal,
}

impl ErrorKind {
    /// Every class.
    pub const ALL: [ErrorKind; 16] = [
        ErrorKind::InvalidInput,
        ErrorKind::Unavailable,
        ErrorKind::Failed,
        ErrorKind::Retryable,
        ErrorKind::Denied,
        ErrorKind::DependencyFailed,
        ErrorKind::Timeout,
        ErrorKind::FuelExhausted,
        ErrorKind::MemoryLimit,
        ErrorKind::StackOverflow,
        ErrorKind::Trap,
        ErrorKind::CircuitOpen,
        ErrorKind::Overloaded,
        ErrorKind::QuotaExceeded,
        ErrorKind::Conflict,
        ErrorKind::Internal,
    ];

    /// The class named `name` (its [`as_str`](ErrorKind::as_str)), if any.
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    /// The kebab-case name used in CLI output, JSON bodies and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid-input",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Failed => "failed",
            ErrorKind::Retryable => "retryable",
            ErrorKind::Denied => "denied",
            ErrorKind::DependencyFailed => "dependency-failed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::FuelExhausted => "fuel-exhausted",
            ErrorKind::MemoryLimit => "memory-limit",
            ErrorKind::StackOverflow => "stack-overflow",
            ErrorKind::Trap => "trap",
            ErrorKind::CircuitOpen => "circuit-open",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::QuotaExceeded => "quota-exceeded",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Internal => "internal",
        }
    }

    /// The process exit code `tandem run` uses for this class (documented in the README).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::InvalidInput => 3,
            ErrorKind::Unavailable => 4,
            ErrorKind::Failed
            | ErrorKind::Retryable
            | ErrorKind::DependencyFailed
            | ErrorKind::Conflict => 5,
            ErrorKind::Denied => 6,
            ErrorKind::Timeout => 7,
            ErrorKind::FuelExhausted
            | ErrorKind::MemoryLimit
            | ErrorKind::StackOverflow
            | ErrorKind::QuotaExceeded => 8,
            ErrorKind::Trap => 9,
            ErrorKind::CircuitOpen => 10,
            ErrorKind::Overloaded => 11,
            ErrorKind::Internal => 70,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorKind;

    #[test]
    fn every_class_is_found_by_its_name() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(ErrorKind::from_name("nonsense"), None);
    }
}
