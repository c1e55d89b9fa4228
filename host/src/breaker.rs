//! A circuit breaker per agent: closed (calls flow), open (calls fail fast without running any wasm),
//! half-open (a few probe calls test whether the agent has recovered).
//!
//! It opens when `consecutive-failures` calls in a row fail, or when at least `minimum-calls` of the
//! last `window` calls were made and the share that failed reaches `failure-rate`. After `open-for`
//! it lets `half-open-probes` calls through; if they all succeed it closes, if any fails it opens
//! again. Only failures that say something about the agent's health count (see
//! [`counts_against`]): bad input, denials and calls refused by the breaker itself do not.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::ErrorKind;

/// Breaker settings (the manifest's `[resilience]`).
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSettings {
    pub consecutive_failures: u32,
    pub failure_rate: f64,
    pub window: u32,
    pub minimum_calls: u32,
    pub open_for: Duration,
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

/// Whether a failure of this class counts against the agent's health.
pub fn counts_against(kind: ErrorKind) -> bool {
    !matches!(
        kind,
        ErrorKind::InvalidInput
            | ErrorKind::Denied
            | ErrorKind::Unavailable
            | ErrorKind::CircuitOpen
            | ErrorKind::DependencyFailed
    )
}

/// The state as reported to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// A call the breaker let through; report its outcome with [`Breaker::record`].
#[derive(Debug)]
#[must_use]
pub struct Admission {
    probe: bool,
}

/// The breaker of one agent. While closed, admitting and recording a call touch only atomics (every
/// call passes here); transitions take the lock.
#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    mode: AtomicU8,
    /// Failures in a row while closed.
    consecutive: AtomicU32,
    /// The outcomes of the last `window` calls while closed, newest in bit 0 (1 = failed), and how
    /// many calls that covers (up to `window`).
    history: AtomicU64,
    seen: AtomicU32,
    transition: Mutex<Transition>,
}

#[derive(Debug)]
struct Transition {
    open_until: Instant,
    probes_in_flight: u32,
    probes_passed: u32,
}

impl Breaker {
    pub fn new(settings: BreakerSettings) -> Breaker {
        Breaker {
            settings,
            mode: AtomicU8::new(CLOSED),
            consecutive: AtomicU32::new(0),
            history: AtomicU64::new(0),
            seen: AtomicU32::new(0),
            transition: Mutex::new(Transition {
                open_until: Instant::now(),
                probes_in_flight: 0,
                probes_passed: 0,
            }),
        }
    }

    pub fn state(&self) -> BreakerState {
        match self.mode.load(Ordering::Acquire) {
            CLOSED => BreakerState::Closed,
            OPEN if Instant::now() < self.lock().open_until => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Transition> {
        self.transition.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets a call through, or says how long until the next probe.
    pub fn admit(&self, agent: &str) -> Result<Admission, Duration> {
        if self.mode.load(Ordering::Acquire) == CLOSED {
            return Ok(Admission { probe: false });
        }
        let mut t = self.lock();
        match self.mode.load(Ordering::Acquire) {
            CLOSED => Ok(Admission { probe: false }),
            OPEN => {
                let now = Instant::now();
                if now < t.open_until {
                    return Err(t.open_until - now);
                }
                tracing::info!(agent, "circuit half-open: probing");
                self.mode.store(HALF_OPEN, Ordering::Release);
                (t.probes_in_flight, t.probes_passed) = (1, 0);
                Ok(Admission { probe: true })
            }
            _ if t.probes_in_flight + t.probes_passed < self.settings.half_open_probes => {
                t.probes_in_flight += 1;
                Ok(Admission { probe: true })
            }
            _ => Err(Duration::ZERO),
        }
    }

    /// Records the outcome of an admitted call: `failed` is true when it failed in a way that
    /// [`counts_against`] the agent.
    pub fn record(&self, agent: &str, admission: Admission, failed: bool) {
        if admission.probe {
            return self.record_probe(agent, failed);
        }
        if self.mode.load(Ordering::Acquire) != CLOSED {
            // An outcome from before the breaker opened says nothing about the present.
            return;
        }
        let window = self.settings.window.clamp(1, 64);
        let mask = if window == 64 {
            u64::MAX
        } else {
            (1u64 << window) - 1
        };
        // Shifting a success into a history of successes changes nothing: skip the write, so that a
        // healthy agent's calls do not contend on this cache line.
        let history = if !failed && self.history.load(Ordering::Acquire) == 0 {
            0
        } else {
            let shift = |h: u64| ((h << 1) | u64::from(failed)) & mask;
            self.history
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |h| Some(shift(h)))
                .map(shift)
                .unwrap_or(0)
        };
        let seen = if self.seen.load(Ordering::Relaxed) < window {
            self.seen.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            window
        };
        if !failed {
            if self.consecutive.load(Ordering::Relaxed) != 0 {
                self.consecutive.store(0, Ordering::Relaxed);
            }
            return;
        }
        let consecutive = self.consecutive.fetch_add(1, Ordering::AcqRel) + 1;
        let failures = history.count_ones();
        let rate_tripped = seen >= self.settings.minimum_calls
            && f64::from(failures) >= self.settings.failure_rate * f64::from(seen.min(window));
        if consecutive >= self.settings.consecutive_failures {
            self.open(agent, "consecutive failures");
        } else if rate_tripped {
            self.open(agent, "failure rate over the window");
        }
    }

    fn record_probe(&self, agent: &str, failed: bool) {
        let mut t = self.lock();
        if self.mode.load(Ordering::Acquire) != HALF_OPEN {
            return;
        }
        t.probes_in_flight = t.probes_in_flight.saturating_sub(1);
        if failed {
            drop(t);
            self.open(agent, "a probe call failed");
            return;
        }
        t.probes_passed += 1;
        if t.probes_passed >= self.settings.half_open_probes {
            self.consecutive.store(0, Ordering::Relaxed);
            self.history.store(0, Ordering::Relaxed);
            self.seen.store(0, Ordering::Relaxed);
            self.mode.store(CLOSED, Ordering::Release);
            tracing::info!(agent, "circuit closed: the agent recovered");
        }
    }

    fn open(&self, agent: &str, reason: &str) {
        let mut t = self.lock();
        if self.mode.load(Ordering::Acquire) == OPEN {
            return;
        }
        t.open_until = Instant::now() + self.settings.open_for;
        (t.probes_in_flight, t.probes_passed) = (0, 0);
        self.mode.store(OPEN, Ordering::Release);
        tracing::warn!(agent, reason, reopens_in = ?self.settings.open_for, "circuit opened");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(open_for: Duration) -> Breaker {
        Breaker::new(BreakerSettings {
            open_for,
            ..BreakerSettings::default()
        })
    }

    fn call(b: &Breaker, failed: bool) -> Result<(), Duration> {
        let admission = b.admit("t")?;
        b.record("t", admission, failed);
        Ok(())
    }

    #[test]
    fn opens_after_consecutive_failures_and_fails_fast() {
        let b = breaker(Duration::from_secs(60));
        for _ in 0..4 {
            call(&b, true).unwrap();
        }
        assert_eq!(b.state(), BreakerState::Closed);
        call(&b, true).unwrap();
        assert_eq!(b.state(), BreakerState::Open);
        let wait = call(&b, false).unwrap_err();
        assert!(wait > Duration::from_secs(59), "{wait:?}");
    }

    #[test]
    fn a_success_resets_the_run_of_failures() {
        let b = breaker(Duration::from_secs(60));
        for _ in 0..10 {
            call(&b, true).unwrap();
            call(&b, false).unwrap();
            call(&b, false).unwrap();
        }
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "a third failing is under the rate and never 5 in a row"
        );
    }

    #[test]
    fn opens_on_the_failure_rate_once_enough_calls_were_made() {
        let b = breaker(Duration::from_secs(60));
        for _ in 0..5 {
            call(&b, false).unwrap();
            call(&b, true).unwrap();
        }
        assert_eq!(b.state(), BreakerState::Open, "5 of the last 10 failed");
    }

    #[test]
    fn half_opens_then_closes_on_a_good_probe_or_reopens_on_a_bad_one() {
        let b = breaker(Duration::ZERO);
        for _ in 0..5 {
            call(&b, true).unwrap();
        }
        assert_eq!(b.state(), BreakerState::HalfOpen, "open_for has passed");
        let probe = b.admit("t").unwrap();
        assert_eq!(
            b.admit("t").unwrap_err(),
            Duration::ZERO,
            "one probe at a time"
        );
        b.record("t", probe, true);
        let probe = b.admit("t").unwrap();
        b.record("t", probe, false);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn bad_input_and_denials_do_not_count() {
        for kind in [
            ErrorKind::InvalidInput,
            ErrorKind::Denied,
            ErrorKind::CircuitOpen,
            ErrorKind::Unavailable,
        ] {
            assert!(!counts_against(kind), "{kind}");
        }
        for kind in [
            ErrorKind::Timeout,
            ErrorKind::Trap,
            ErrorKind::Retryable,
            ErrorKind::Failed,
            ErrorKind::FuelExhausted,
        ] {
            assert!(counts_against(kind), "{kind}");
        }
    }
}
