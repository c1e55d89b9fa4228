//! Retries: which failures are worth another attempt, and how long to wait before it (exponential
//! backoff with full jitter, never past the call's deadline).

use std::time::{Duration, Instant};

use crate::error::ErrorKind;

pub use tandem_manifest::RetryPolicy;

/// Classes that can succeed on another attempt: a timeout, a trap, a guest's `retryable`.
pub fn is_retryable(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Timeout | ErrorKind::Trap | ErrorKind::Retryable | ErrorKind::Conflict
    )
}

/// The jittered exponential backoff of a [`RetryPolicy`].
pub trait Backoff {
    /// How long to wait before attempt `next` (2 for the first retry), or `None` when no attempt is
    /// left or the wait would end past `deadline`.
    fn backoff_before(&self, next: u32, deadline: Option<Instant>) -> Option<Duration>;
}

impl Backoff for RetryPolicy {
    /// How long to wait before attempt `next` (2 for the first retry), or `None` when no attempt is
    /// left or the wait would end past `deadline`.
    fn backoff_before(&self, next: u32, deadline: Option<Instant>) -> Option<Duration> {
        if next > self.max_attempts {
            return None;
        }
        let exponent = next.saturating_sub(2).min(30);
        let ceiling = self
            .backoff
            .saturating_mul(1 << exponent)
            .min(self.max_backoff);
        let wait = ceiling.mul_f64(fastrand::f64());
        match deadline {
            Some(deadline) if Instant::now() + wait >= deadline => None,
            _ => Some(wait),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_under_its_cap_and_stops_at_max_attempts() {
        let policy = RetryPolicy {
            max_attempts: 5,
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(25),
        };
        for _ in 0..100 {
            assert!(policy.backoff_before(2, None).unwrap() <= Duration::from_millis(10));
            assert!(policy.backoff_before(3, None).unwrap() <= Duration::from_millis(20));
            assert!(policy.backoff_before(5, None).unwrap() <= Duration::from_millis(25));
        }
        assert_eq!(policy.backoff_before(6, None), None);
    }

    #[test]
    fn never_waits_past_the_deadline() {
        let policy = RetryPolicy {
            max_attempts: 5,
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(10),
        };
        let soon = Instant::now() + Duration::from_millis(1);
        assert!((0..50).any(|_| policy.backoff_before(2, Some(soon)).is_none()));
        assert_eq!(policy.backoff_before(2, Some(Instant::now())), None);
    }

    #[test]
    fn only_transient_classes_are_retried() {
        assert!(
            is_retryable(ErrorKind::Timeout)
                && is_retryable(ErrorKind::Trap)
                && is_retryable(ErrorKind::Retryable)
        );
        for kind in [
            ErrorKind::InvalidInput,
            ErrorKind::Denied,
            ErrorKind::CircuitOpen,
            ErrorKind::Failed,
            ErrorKind::FuelExhausted,
        ] {
            assert!(!is_retryable(kind), "{kind}");
        }
    }
}
