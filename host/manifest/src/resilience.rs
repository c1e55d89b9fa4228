//! How calls to an agent are protected (the `[resilience]` section): its circuit breaker's settings
//! and its retries. The breaker and the backoff themselves are the runtime's.

use std::time::Duration;

/// How calls to an agent are protected: its circuit breaker and its retries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resilience {
    /// The circuit breaker.
    pub breaker: BreakerSettings,
    /// Retries of failed calls.
    pub retry: RetryPolicy,
}

/// Breaker settings (the manifest's `[resilience]`).
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSettings {
    /// Failures in a row that open the breaker.
    pub consecutive_failures: u32,
    /// The share of failed calls in the window that opens it.
    pub failure_rate: f64,
    /// How many recent calls the failure rate is taken over (at most 64).
    pub window: u32,
    /// Calls the window must hold before the rate counts.
    pub minimum_calls: u32,
    /// How long it fails fast before letting probes through.
    pub open_for: Duration,
    /// Probe calls that must succeed to close it again.
    pub half_open_probes: u32,
}

impl Default for BreakerSettings {
    /// Opens after 5 failures in a row (the users' old default), or when half of the last 20 calls
    /// failed once at least 10 were made; probes again after 500 ms with one call.
    fn default() -> Self {
        BreakerSettings {
            consecutive_failures: 5,
            failure_rate: 0.5,
            window: 20,
            minimum_calls: 10,
            open_for: Duration::from_millis(500),
            half_open_probes: 1,
        }
    }
}

/// Retry settings (the manifest's `[resilience]`).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 means no retries.
    pub max_attempts: u32,
    /// The backoff before the first retry; it doubles for each one after.
    pub backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 3 attempts, 10 ms doubling up to 1 s, with full jitter.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(1),
        }
    }
}
