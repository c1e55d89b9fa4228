//! Canary routing: a second version of an agent served beside the current one to a share of the
//! traffic, and the guard rails that abort it without waiting for anyone.
//!
//! The share is by trace, not by call: a trace id and the agent id hash to a bucket in 0..100
//! (`bucket_seeded`), and
//! the traces whose bucket is below the canary's weight go to the canary. Every call of one trace
//! (a delegation chain, a fan-out, a graph) therefore meets the same version of each agent, and two
//! agents' canaries split the traffic independently. Changing the weight moves only the traces
//! whose bucket lies between the old and the new weight.
//!
//! The guard rails watch the canary's own calls over a sliding window: when at least `min-calls`
//! of them fell in the window and their error rate (failures that count against the agent's health,
//! as for its breaker) or their p99 passes its bound, or when the canary's breaker opens, the
//! dispatcher aborts the canary at once: weight to 0, an event and an audit line.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::agent::Agent;
use crate::breaker::counts_against;
use crate::error::ErrorKind;

/// The most recent calls a canary's guard keeps, whatever its window.
const MAX_SAMPLES: usize = 4096;

/// When a canary is aborted by the host.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct GuardRails {
    /// The highest share of failed calls (0.0 to 1.0) over the window.
    pub max_error_rate: f64,
    /// The highest p99 latency over the window, in milliseconds (none: latency is not watched).
    pub max_p99_ms: Option<u64>,
    /// How far back the guard looks, in milliseconds.
    pub window_ms: u64,
    /// Calls in the window before a bound is judged (fewer say nothing yet).
    pub min_calls: u32,
}

impl Default for GuardRails {
    fn default() -> GuardRails {
        GuardRails {
            max_error_rate: 0.1,
            max_p99_ms: None,
            window_ms: 30_000,
            min_calls: 10,
        }
    }
}

impl GuardRails {
    /// Checks the bounds are meaningful; the error names the one that is not.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            return Err(format!(
                "max-error-rate must be between 0 and 1, not {}",
                self.max_error_rate
            ));
        }
        if self.window_ms == 0 || self.window_ms > 24 * 3600 * 1000 {
            return Err(format!(
                "window-ms must be between 1 and 86400000 (a day), not {}",
                self.window_ms
            ));
        }
        if self.min_calls == 0 || self.min_calls as usize > MAX_SAMPLES {
            return Err(format!(
                "min-calls must be between 1 and {MAX_SAMPLES}, not {}",
                self.min_calls
            ));
        }
        if self.max_p99_ms == Some(0) {
            return Err("max-p99-ms must be at least 1".into());
        }
        Ok(())
    }
}

/// Checks a weight is a percentage.
pub fn check_weight(weight: u8) -> Result<(), String> {
    if weight > 100 {
        return Err(format!(
            "a canary's weight is a percentage (0 to 100), not {weight}"
        ));
    }
    Ok(())
}

/// One call the guard saw.
struct Sample {
    at: Instant,
    failed: bool,
    /// Slower than the p99 bound.
    slow: bool,
    latency_us: u64,
}

/// The calls within the guard's window, with running counts, so that judging a call costs the
/// same whatever the window holds.
#[derive(Default)]
struct Window {
    samples: VecDeque<Sample>,
    failed: usize,
    slow: usize,
}

impl Window {
    fn push(&mut self, sample: Sample) {
        self.failed += usize::from(sample.failed);
        self.slow += usize::from(sample.slow);
        self.samples.push_back(sample);
    }

    fn pop(&mut self) {
        if let Some(sample) = self.samples.pop_front() {
            self.failed -= usize::from(sample.failed);
            self.slow -= usize::from(sample.slow);
        }
    }
}

/// A canary version of an agent beside its current one.
pub struct Canary {
    /// The canary version.
    pub agent: Arc<Agent>,
    weight: AtomicU8,
    /// Its guard rails.
    pub guard: GuardRails,
    /// Who started it.
    pub by: String,
    /// When it started.
    pub since: SystemTime,
    /// The seed of its agent's buckets.
    seed: u64,
    window: Mutex<Window>,
}

impl std::fmt::Debug for Canary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Canary")
            .field("agent", &self.agent.id())
            .field("version", &self.agent.info.version.to_string())
            .field("weight", &self.weight())
            .finish()
    }
}

impl Canary {
    /// A canary of `agent` at `weight` percent (checked by the caller).
    pub fn new(agent: Arc<Agent>, weight: u8, guard: GuardRails, by: &str) -> Canary {
        Canary {
            seed: agent_seed(agent.id()),
            agent,
            weight: AtomicU8::new(weight.min(100)),
            guard,
            by: by.to_string(),
            since: SystemTime::now(),
            window: Mutex::new(Window::default()),
        }
    }

    /// The share of traces it serves, in percent.
    pub fn weight(&self) -> u8 {
        self.weight.load(Ordering::Relaxed)
    }

    /// Sets the share of traces it serves (a percentage, checked by the caller).
    pub fn set_weight(&self, weight: u8) {
        self.weight.store(weight.min(100), Ordering::Relaxed);
    }

    /// Whether the calls of trace `trace_id` go to the canary.
    pub fn takes(&self, trace_id: &str) -> bool {
        let weight = self.weight();
        weight > 0 && bucket_seeded(trace_id, self.seed) < weight
    }

    /// Counts one call the canary answered (`Err`: its class) that took `latency`; returns why the
    /// canary must be aborted when a bound is passed.
    pub fn observe(&self, outcome: Result<(), ErrorKind>, latency: Duration) -> Option<String> {
        let failed = match outcome {
            Ok(()) => false,
            // The caller's own faults and the host's refusals say nothing of the canary.
            Err(kind) if !counts_against(kind) => return None,
            Err(_) => true,
        };
        let now = Instant::now();
        let latency_us = latency.as_micros() as u64;
        let bound_us = self.guard.max_p99_ms.map(|ms| ms.saturating_mul(1000));
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        window.push(Sample {
            at: now,
            failed,
            slow: bound_us.is_some_and(|bound| latency_us > bound),
            latency_us,
        });
        let horizon = Duration::from_millis(self.guard.window_ms);
        while window.samples.len() > MAX_SAMPLES
            || window
                .samples
                .front()
                .is_some_and(|s| now.duration_since(s.at) > horizon)
        {
            window.pop();
        }
        judge(&self.guard, &window, horizon)
    }
}

/// Why the calls in `window` (spanning `horizon`) pass a bound of `guard`, if they do.
fn judge(guard: &GuardRails, window: &Window, horizon: Duration) -> Option<String> {
    let calls = window.samples.len();
    if calls < guard.min_calls as usize {
        return None;
    }
    let failures = window.failed;
    let rate = failures as f64 / calls as f64;
    if rate > guard.max_error_rate {
        return Some(format!(
            "its error rate {:.1} % ({failures} of the last {calls} calls within {}) passed the bound of {:.1} %",
            rate * 100.0,
            humantime::format_duration(horizon),
            guard.max_error_rate * 100.0
        ));
    }
    // The p99 (the value of rank ceil(0.99 n)) is above the bound exactly when at least
    // n - rank + 1 calls are: counted as they come, sorted only to report it.
    let bound_ms = guard.max_p99_ms?;
    let rank = (calls * 99).div_ceil(100);
    if window.slow < calls - rank + 1 {
        return None;
    }
    let mut latencies: Vec<u64> = window.samples.iter().map(|s| s.latency_us).collect();
    let p99_us = *latencies.select_nth_unstable(rank - 1).1;
    Some(format!(
        "its p99 latency {:.1} ms over the last {calls} calls within {} passed the bound of {bound_ms} ms",
        p99_us as f64 / 1000.0,
        humantime::format_duration(horizon),
    ))
}

/// The seed of an agent's buckets: FNV-1a of its id.
fn agent_seed(agent: &str) -> u64 {
    agent.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The bucket (0..100) of a trace for an agent (its [`agent_seed`]): the trace id taken eight bytes
/// at a time, multiplied in, then splitmix64's finaliser, so that trace ids that differ in their
/// last digit land far apart. A few nanoseconds for a 32-digit trace id.
fn bucket_seeded(trace_id: &str, seed: u64) -> u8 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut hash = seed ^ (trace_id.len() as u64).wrapping_mul(K);
    for chunk in trace_id.as_bytes().chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        hash = (hash ^ u64::from_le_bytes(word)).wrapping_mul(K);
        hash ^= hash >> 29;
    }
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^= hash >> 31;
    (hash % 100) as u8
}

#[cfg(test)]
fn bucket(trace_id: &str, agent: &str) -> u8 {
    bucket_seeded(trace_id, agent_seed(agent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_of_sequential_trace_ids_are_uniform() {
        let host = |task: u64| format!("00000000deadbeef{task:016x}");
        let client = |task: u64| format!("pinned-trace-{task}");
        for trace in [&host as &dyn Fn(u64) -> String, &client] {
            let mut counts = [0u32; 100];
            for task in 0..100_000u64 {
                counts[bucket(&trace(task), "echo") as usize] += 1;
            }
            // 1000 expected per bucket, sd ~31.5: 5 sd either side.
            for (b, &n) in counts.iter().enumerate() {
                assert!((840..=1160).contains(&n), "{}: bucket {b}: {n}", trace(0));
            }
        }
    }

    #[test]
    fn agents_split_the_same_traces_independently() {
        let both = (0..10_000u64)
            .map(|t| format!("{t:032x}"))
            .filter(|t| bucket(t, "a") < 20 && bucket(t, "b") < 20)
            .count();
        // 4 % expected (400), not 20 % (2000) as it would be if the buckets were shared.
        assert!((300..=500).contains(&both), "{both}");
    }

    #[test]
    fn the_p99_bound_is_judged_from_running_counts() {
        let guard = GuardRails {
            max_p99_ms: Some(10),
            min_calls: 100,
            ..GuardRails::default()
        };
        let mut window = Window::default();
        let sample = |ms: u64| Sample {
            at: Instant::now(),
            failed: false,
            slow: ms > 10,
            latency_us: ms * 1000,
        };
        // 99 fast calls and one slow: the p99 (rank 99 of 100) is fast.
        for _ in 0..99 {
            window.push(sample(1));
        }
        window.push(sample(50));
        let horizon = Duration::from_secs(30);
        assert_eq!(judge(&guard, &window, horizon), None);
        // A second slow call (the oldest fast one leaving) makes the 99th value slow.
        window.push(sample(50));
        window.pop();
        assert_eq!(window.slow, 2);
        let reason = judge(&guard, &window, horizon).unwrap();
        assert!(
            reason.starts_with("its p99 latency 50.0 ms over the last 100 calls"),
            "{reason}"
        );
        // Failures are judged first, from their own count.
        let failing = Sample {
            failed: true,
            ..sample(1)
        };
        for _ in 0..20 {
            window.push(Sample { ..failing });
            window.pop();
        }
        assert_eq!(window.failed, 20);
        let reason = judge(&guard, &window, horizon).unwrap();
        assert!(reason.starts_with("its error rate 20.0 %"), "{reason}");
    }

    #[test]
    fn bad_guard_rails_are_named() {
        let bad = GuardRails {
            max_error_rate: 1.5,
            ..GuardRails::default()
        };
        assert!(bad.check().unwrap_err().contains("max-error-rate"));
        let bad = GuardRails {
            min_calls: 0,
            ..GuardRails::default()
        };
        assert!(bad.check().unwrap_err().contains("min-calls"));
        assert!(check_weight(101).unwrap_err().contains("101"));
        assert!(GuardRails::default().check().is_ok());
    }
}
