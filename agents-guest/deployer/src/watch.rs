//! Judging a version while it serves: its figures (`host-info`) since a baseline taken when the
//! watch began, against the deploy's bounds. The error rate counts the calls that failed through
//! the version's fault (every outcome but `ok` and the caller's own mistakes); the p99 is the
//! host's for the version (since it was loaded), judged once enough calls were seen.

use guest_support::time::duration_ms;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tandem_sdk::AgentError;
use tandem_sdk::host_info::{self, Figures};

/// The bounds a version must stay within.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Bounds {
    /// The largest share of failed calls (0 to 1).
    pub max_error_rate: f64,
    /// The largest p99 latency, in ms (none: not watched).
    pub max_p99_ms: Option<f64>,
    /// Calls seen before a bound is judged.
    pub min_calls: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_error_rate: 0.05,
            max_p99_ms: None,
            min_calls: 10,
        }
    }
}

impl Bounds {
    pub fn check(&self) -> Result<(), AgentError> {
        if !(0.0..=1.0).contains(&self.max_error_rate)
            || self.max_p99_ms.is_some_and(|p| p <= 0.0)
            || self.min_calls == 0
        {
            return Err(AgentError::invalid(
                "bounds: max-error-rate is 0 to 1, max-p99-ms above 0, min-calls at least 1",
            ));
        }
        Ok(())
    }
}

/// A version's counts at a moment.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    pub calls: u64,
    pub failed: u64,
    pub p99_ms: Option<f64>,
}

impl Counts {
    fn of(figures: &Figures) -> Counts {
        Counts {
            calls: figures.calls,
            failed: figures.failed(),
            p99_ms: figures.p99_us.map(|us| us / 1000.0),
        }
    }
}

/// The counts of `version` of `agent` now (zero before its first call).
pub fn counts(agent: &str, version: &str) -> Result<Counts, AgentError> {
    Ok(host_info::figures(Some(agent))?
        .iter()
        .find(|f| f.version == version)
        .map(Counts::of)
        .unwrap_or_default())
}

/// What the figures since `base` say.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    pub calls: u64,
    pub failed: u64,
    pub error_rate: f64,
    pub p99_ms: Option<f64>,
    /// Why a bound is crossed, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crossed: Option<String>,
}

/// `now` since `base`, judged against `bounds`.
pub fn judge(base: Counts, now: Counts, bounds: &Bounds) -> Seen {
    let calls = now.calls.saturating_sub(base.calls);
    let failed = now.failed.saturating_sub(base.failed);
    let error_rate = if calls == 0 {
        0.0
    } else {
        failed as f64 / calls as f64
    };
    let crossed = if calls < bounds.min_calls {
        None
    } else if error_rate > bounds.max_error_rate {
        Some(format!(
            "error rate {error_rate:.3} over {calls} calls is above {}",
            bounds.max_error_rate
        ))
    } else {
        match (now.p99_ms, bounds.max_p99_ms) {
            (Some(p99), Some(max)) if p99 > max => {
                Some(format!("p99 {p99:.1} ms is above {max} ms"))
            }
            _ => None,
        }
    };
    Seen {
        calls,
        failed,
        error_rate,
        p99_ms: now.p99_ms,
        crossed,
    }
}

/// Milliseconds of an optional duration field (`default` when absent), at least 1.
pub fn ms(value: Option<&Value>, what: &str, default: u64) -> Result<u64, AgentError> {
    match value {
        Some(value) => Ok(duration_ms(value, what)?.max(1.0) as u64),
        None => Ok(default),
    }
}

/// Sleeps `ms` milliseconds (on the WASI clock: no fuel is used while it waits).
pub fn sleep(ms: u64) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_judged_once_enough_calls_were_seen() {
        let bounds = Bounds::default();
        let base = Counts {
            calls: 100,
            failed: 50,
            p99_ms: None,
        };
        let few = judge(
            base,
            Counts {
                calls: 105,
                failed: 55,
                p99_ms: None,
            },
            &bounds,
        );
        assert!(few.crossed.is_none());
        let bad = judge(
            base,
            Counts {
                calls: 120,
                failed: 56,
                p99_ms: None,
            },
            &bounds,
        );
        assert_eq!((bad.calls, bad.failed), (20, 6));
        assert!(
            bad.crossed
                .unwrap()
                .contains("error rate 0.300 over 20 calls")
        );
        let slow = Bounds {
            max_p99_ms: Some(50.0),
            ..Bounds::default()
        };
        let seen = judge(
            base,
            Counts {
                calls: 120,
                failed: 50,
                p99_ms: Some(80.0),
            },
            &slow,
        );
        assert!(seen.crossed.unwrap().contains("p99 80.0 ms"));
    }
}
