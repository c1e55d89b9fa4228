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
pub use tandem_manifest::BreakerSettings;

/// Whether a failure of this class counts against the agent's health.
pub fn counts_against(kind: ErrorKind) -> bool {
    !matches!(
        kind,
        ErrorKind::InvalidInput
            | ErrorKind::Denied
            | ErrorKind::Unavailable
            | ErrorKind::CircuitOpen
            | ErrorKind::Overloaded
            | ErrorKind::DependencyFailed
            | ErrorKind::QuotaExceeded
            | ErrorKind::Conflict
    )
}

/// The state as reported to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls fail fast without running.
    Open,
    /// Probe calls go through; their outcome closes or reopens it.
    HalfOpen,
}

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// A call the breaker let through; report its outcome with [`Breaker::record`]. A probe's
/// admission that is dropped unreported (its call was cancelled: the caller went away, a graph
/// failed fast) gives its probe slot back, so that the next call can probe instead.
#[derive(Debug)]
#[must_use]
pub struct Admission<'a> {
    breaker: &'a Breaker,
    probe: bool,
    /// This call's admission moved the breaker from open to half-open.
    pub half_opened: bool,
    reported: bool,
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if self.probe && !self.reported {
            self.breaker.release_probe();
        }
    }
}

/// A change of the breaker's state, for the caller to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The state it changed to.
    pub to: BreakerState,
    /// Why: which threshold was crossed, or that probes passed.
    pub reason: &'static str,
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
    /// A closed breaker with `settings`.
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

    /// Its state now.
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
    pub fn admit(&self) -> Result<Admission<'_>, Duration> {
        let admission = |probe, half_opened| Admission {
            breaker: self,
            probe,
            half_opened,
            reported: false,
        };
        if self.mode.load(Ordering::Acquire) == CLOSED {
            return Ok(admission(false, false));
        }
        let mut t = self.lock();
        match self.mode.load(Ordering::Acquire) {
            CLOSED => Ok(admission(false, false)),
            OPEN => {
                let now = Instant::now();
                if now < t.open_until {
                    return Err(t.open_until - now);
                }
                self.mode.store(HALF_OPEN, Ordering::Release);
                (t.probes_in_flight, t.probes_passed) = (1, 0);
                Ok(admission(true, true))
            }
            _ if t.probes_in_flight + t.probes_passed < self.settings.half_open_probes => {
                t.probes_in_flight += 1;
                Ok(admission(true, false))
            }
            _ => Err(Duration::ZERO),
        }
    }

    /// Records the outcome of an admitted call: `failed` is true when it failed in a way that
    /// [`counts_against`] the agent. Returns the change of state this caused, if any.
    pub fn record(&self, mut admission: Admission<'_>, failed: bool) -> Option<Change> {
        admission.reported = true;
        if admission.probe {
            return self.record_probe(failed);
        }
        if self.mode.load(Ordering::Acquire) != CLOSED {
            // An outcome from before the breaker opened says nothing about the present.
            return None;
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
            return None;
        }
        let consecutive = self.consecutive.fetch_add(1, Ordering::AcqRel) + 1;
        let failures = history.count_ones();
        let rate_tripped = seen >= self.settings.minimum_calls
            && f64::from(failures) >= self.settings.failure_rate * f64::from(seen.min(window));
        if consecutive >= self.settings.consecutive_failures {
            self.open("consecutive failures")
        } else if rate_tripped {
            self.open("failure rate over the window")
        } else {
            None
        }
    }

    /// A probe's call ended without an outcome (it was cancelled): its slot goes back, so the
    /// breaker stays half-open and the next call probes.
    fn release_probe(&self) {
        let mut t = self.lock();
        if self.mode.load(Ordering::Acquire) == HALF_OPEN {
            t.probes_in_flight = t.probes_in_flight.saturating_sub(1);
        }
    }

    fn record_probe(&self, failed: bool) -> Option<Change> {
        let mut t = self.lock();
        if self.mode.load(Ordering::Acquire) != HALF_OPEN {
            return None;
        }
        t.probes_in_flight = t.probes_in_flight.saturating_sub(1);
        if failed {
            drop(t);
            return self.open("a probe call failed");
        }
        t.probes_passed += 1;
        if t.probes_passed >= self.settings.half_open_probes {
            self.consecutive.store(0, Ordering::Relaxed);
            self.history.store(0, Ordering::Relaxed);
            self.seen.store(0, Ordering::Relaxed);
            self.mode.store(CLOSED, Ordering::Release);
            return Some(Change {
                to: BreakerState::Closed,
                reason: "the probe calls succeeded",
            });
        }
        None
    }

    fn open(&self, reason: &'static str) -> Option<Change> {
        let mut t = self.lock();
        if self.mode.load(Ordering::Acquire) == OPEN {
            return None;
        }
        t.open_until = Instant::now() + self.settings.open_for;
        (t.probes_in_flight, t.probes_passed) = (0, 0);
        self.mode.store(OPEN, Ordering::Release);
        Some(Change {
            to: BreakerState::Open,
            reason,
        })
    }

    /// How long the breaker stays open before it probes.
    pub fn open_for(&self) -> Duration {
        self.settings.open_for
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
        let admission = b.admit()?;
        b.record(admission, failed);
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
        let probe = b.admit().unwrap();
        assert!(probe.half_opened);
        assert_eq!(
            b.admit().unwrap_err(),
            Duration::ZERO,
            "one probe at a time"
        );
        assert_eq!(b.record(probe, true).unwrap().to, BreakerState::Open);
        let probe = b.admit().unwrap();
        assert_eq!(b.record(probe, false).unwrap().to, BreakerState::Closed);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn a_probe_dropped_unreported_gives_its_slot_back() {
        let b = breaker(Duration::ZERO);
        for _ in 0..5 {
            call(&b, true).unwrap();
        }
        let probe = b.admit().unwrap();
        assert!(probe.half_opened);
        assert_eq!(b.admit().unwrap_err(), Duration::ZERO, "the probe is out");
        drop(probe); // its call was cancelled
        let probe = b.admit().expect("the next call probes instead");
        assert_eq!(b.record(probe, false).unwrap().to, BreakerState::Closed);
    }

    #[test]
    fn bad_input_and_denials_do_not_count() {
        for kind in [
            ErrorKind::InvalidInput,
            ErrorKind::Denied,
            ErrorKind::CircuitOpen,
            ErrorKind::Unavailable,
            ErrorKind::Overloaded,
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
