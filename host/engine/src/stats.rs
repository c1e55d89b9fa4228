//! The figures of one agent version: [`AgentStats`], counters and a latency histogram made of
//! atomics that the engine and the runtime update on every call without a lock, and [`Totals`] and
//! [`StatsSnapshot`], what they add up to when read. The runtime's `metrics` registry keeps every
//! version's stats and exposes them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::kind::ErrorKind;

/// Outcome classes: `ok` then every [`ErrorKind`].
pub const OUTCOMES: [&str; 17] = [
    "ok",
    "invalid-input",
    "unavailable",
    "failed",
    "retryable",
    "denied",
    "dependency-failed",
    "timeout",
    "fuel-exhausted",
    "memory-limit",
    "stack-overflow",
    "trap",
    "circuit-open",
    "overloaded",
    "quota-exceeded",
    "conflict",
    "internal",
];

/// The index in [`OUTCOMES`] of a call's outcome.
pub fn outcome_index(outcome: Result<(), ErrorKind>) -> usize {
    match outcome {
        Ok(()) => 0,
        Err(kind) => OUTCOMES
            .iter()
            .position(|name| *name == kind.as_str())
            .unwrap_or(OUTCOMES.len() - 1),
    }
}

/// Latency buckets: four per power of two from 2^10 ns (about 1 us) to 2^36 ns (about 69 s), plus one
/// below and one above. Percentiles read off them are within 19 % of the truth.
pub const SUB_BUCKETS: u32 = 4;
/// The first power of two with buckets of its own (2^10 ns).
pub const FIRST_OCTAVE: u32 = 10;
/// The last power of two with buckets of its own (2^36 ns).
pub const LAST_OCTAVE: u32 = 36;
/// How many buckets: the sub-buckets of every octave, plus one below and one above.
pub const BUCKETS: usize = ((LAST_OCTAVE - FIRST_OCTAVE) * SUB_BUCKETS) as usize + 2;

/// The bucket of a latency of `nanos`.
pub fn bucket_of(nanos: u64) -> usize {
    if nanos < 1 << FIRST_OCTAVE {
        return 0;
    }
    let octave = 63 - nanos.leading_zeros();
    if octave >= LAST_OCTAVE {
        return BUCKETS - 1;
    }
    let sub = (nanos >> (octave - 2)) & 3;
    1 + ((octave - FIRST_OCTAVE) * SUB_BUCKETS + sub as u32) as usize
}

/// The upper bound of bucket `i` in nanoseconds (`f64::INFINITY` for the last).
pub fn bucket_upper(i: usize) -> f64 {
    if i == 0 {
        return (1u64 << FIRST_OCTAVE) as f64;
    }
    if i == BUCKETS - 1 {
        return f64::INFINITY;
    }
    let (octave, sub) = ((i - 1) as u32 / SUB_BUCKETS, (i - 1) as u32 % SUB_BUCKETS);
    let base = (1u64 << (octave + FIRST_OCTAVE)) as f64;
    base * (1.0 + f64::from(sub + 1) / f64::from(SUB_BUCKETS))
}

/// The lower bound of bucket `i`, in nanoseconds.
pub fn bucket_lower(i: usize) -> f64 {
    if i == 0 { 0.0 } else { bucket_upper(i - 1) }
}

/// The counters every successful call adds to, kept on one cache line: a warm call costs about a
/// microsecond, so each cache line it touches shows.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Hot {
    latency_sum_ns: AtomicU64,
    fuel: AtomicU64,
    max_fuel: AtomicU64,
}

/// The counters of one version of one agent. A successful call adds to three counters (its latency
/// bucket, the latency sum and the fuel); the `ok` count is the calls counted in the histogram less
/// the failures, which have counters of their own.
#[derive(Debug)]
pub struct AgentStats {
    hot: Hot,
    latency: [AtomicU64; BUCKETS],
    /// By outcome index; `ok` (index 0) stays 0, see above.
    failures: [AtomicU64; OUTCOMES.len()],
    peak_memory: AtomicU64,
    retries: AtomicU64,
    delegations_made: AtomicU64,
    delegations_received: AtomicU64,
    /// Outbound requests by [`EGRESS_OUTCOMES`].
    egress: [AtomicU64; EGRESS_OUTCOMES.len()],
}

/// What became of an outbound request, in the order [`Totals::egress`] counts them.
pub const EGRESS_OUTCOMES: [&str; 3] = ["sent", "denied", "failed"];

impl Default for AgentStats {
    fn default() -> Self {
        AgentStats {
            hot: Hot::default(),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            failures: std::array::from_fn(|_| AtomicU64::new(0)),
            peak_memory: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            delegations_made: AtomicU64::new(0),
            delegations_received: AtomicU64::new(0),
            egress: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl AgentStats {
    /// A call ended (after its retries) with `outcome`, `elapsed` after it started.
    pub fn record_call(&self, outcome: Result<(), ErrorKind>, elapsed: Duration) {
        let nanos = elapsed.as_nanos().min(u128::from(u64::MAX)) as u64;
        if outcome.is_err() {
            self.failures[outcome_index(outcome)].fetch_add(1, Ordering::Relaxed);
        }
        self.latency[bucket_of(nanos)].fetch_add(1, Ordering::Relaxed);
        self.hot.latency_sum_ns.fetch_add(nanos, Ordering::Relaxed);
    }

    /// A call (one attempt) used `fuel`.
    pub fn add_fuel(&self, fuel: u64) {
        self.hot.fuel.fetch_add(fuel, Ordering::Relaxed);
        // A load, and a read-modify-write only when this call set a new maximum.
        if fuel > self.hot.max_fuel.load(Ordering::Relaxed) {
            self.hot.max_fuel.fetch_max(fuel, Ordering::Relaxed);
        }
    }

    /// An instance's linear memory grew to `bytes`.
    pub fn memory_grew_to(&self, bytes: usize) {
        self.peak_memory.fetch_max(bytes as u64, Ordering::Relaxed);
    }

    /// A call was retried.
    pub fn add_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// This agent called another.
    pub fn add_delegation_made(&self) {
        self.delegations_made.fetch_add(1, Ordering::Relaxed);
    }

    /// Another agent called this one.
    pub fn add_delegation_received(&self) {
        self.delegations_received.fetch_add(1, Ordering::Relaxed);
    }

    /// An outbound request ended as `class` (one of [`EGRESS_OUTCOMES`]).
    pub fn add_egress(&self, class: &str) {
        if let Some(i) = EGRESS_OUTCOMES.iter().position(|c| *c == class) {
            self.egress[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds these counts into `into` (several stats can share one agent version).
    pub fn add_into(&self, into: &mut Totals) {
        // Read while calls go on, the `ok` count can be off by the failures being recorded at that
        // very moment; it settles with them.
        let failures: Vec<u64> = self
            .failures
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .collect();
        let mut calls = 0;
        for (total, count) in into.latency.iter_mut().zip(&self.latency) {
            let count = count.load(Ordering::Relaxed);
            calls += count;
            *total += count;
        }
        into.outcomes[0] += calls.saturating_sub(failures.iter().sum());
        for (total, count) in into.outcomes.iter_mut().zip(failures).skip(1) {
            *total += count;
        }
        into.latency_sum_ns += self.hot.latency_sum_ns.load(Ordering::Relaxed);
        into.fuel += self.hot.fuel.load(Ordering::Relaxed);
        into.max_fuel = into.max_fuel.max(self.hot.max_fuel.load(Ordering::Relaxed));
        into.peak_memory = into
            .peak_memory
            .max(self.peak_memory.load(Ordering::Relaxed));
        into.retries += self.retries.load(Ordering::Relaxed);
        into.delegations_made += self.delegations_made.load(Ordering::Relaxed);
        into.delegations_received += self.delegations_received.load(Ordering::Relaxed);
        for (total, count) in into.egress.iter_mut().zip(&self.egress) {
            *total += count.load(Ordering::Relaxed);
        }
    }
}

/// The counts of one (agent, version), summed over the stats registered under it.
#[derive(Debug, Clone)]
pub struct Totals {
    /// Calls by outcome, in the order of [`OUTCOMES`].
    pub outcomes: [u64; OUTCOMES.len()],
    /// Calls by latency bucket.
    pub latency: [u64; BUCKETS],
    /// The sum of the calls' latencies.
    pub latency_sum_ns: u64,
    /// Fuel the calls used.
    pub fuel: u64,
    /// The most fuel one attempt used.
    pub max_fuel: u64,
    /// The largest linear memory an instance grew to.
    pub peak_memory: u64,
    /// Retries made.
    pub retries: u64,
    /// Calls this agent made to others.
    pub delegations_made: u64,
    /// Calls other agents made to this one.
    pub delegations_received: u64,
    /// Outbound requests, by [`EGRESS_OUTCOMES`].
    pub egress: [u64; EGRESS_OUTCOMES.len()],
}

impl Default for Totals {
    fn default() -> Self {
        Totals {
            outcomes: [0; OUTCOMES.len()],
            latency: [0; BUCKETS],
            latency_sum_ns: 0,
            fuel: 0,
            max_fuel: 0,
            peak_memory: 0,
            retries: 0,
            delegations_made: 0,
            delegations_received: 0,
            egress: [0; EGRESS_OUTCOMES.len()],
        }
    }
}

impl Totals {
    /// Calls counted, whatever their outcome.
    pub fn calls(&self) -> u64 {
        self.outcomes.iter().sum()
    }

    /// The `q` quantile of the latency in microseconds, interpolated within its bucket as
    /// Prometheus's `histogram_quantile` does; `None` before the first call.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        let count: u64 = self.latency.iter().sum();
        if count == 0 {
            return None;
        }
        let rank = q * count as f64;
        let mut below = 0u64;
        for (i, &n) in self.latency.iter().enumerate() {
            if n > 0 && (below + n) as f64 >= rank {
                let lower = bucket_lower(i);
                let upper = match bucket_upper(i) {
                    upper if upper.is_finite() => upper,
                    _ => lower * 2.0,
                };
                let within = ((rank - below as f64) / n as f64).clamp(0.0, 1.0);
                return Some((lower + (upper - lower) * within) / 1000.0);
            }
            below += n;
        }
        None
    }
}

/// What `GET /v1/agents` and `tandem stats` show of one agent version.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct StatsSnapshot {
    /// Calls that ended.
    pub calls: u64,
    /// Calls by outcome class (`ok` or an error class), only the classes seen.
    pub outcomes: BTreeMap<String, u64>,
    /// The median latency, in microseconds.
    pub p50_us: Option<f64>,
    /// The 75th percentile latency.
    pub p75_us: Option<f64>,
    /// The 90th percentile latency.
    pub p90_us: Option<f64>,
    /// The 95th percentile latency.
    pub p95_us: Option<f64>,
    /// The 99th percentile latency.
    pub p99_us: Option<f64>,
    /// The mean latency.
    pub mean_us: Option<f64>,
    /// Fuel used.
    pub fuel: u64,
    /// The most fuel one attempt used (what a `fuel` limit must allow).
    #[serde(default)]
    pub max_fuel: u64,
    /// The largest linear memory an instance grew to.
    pub peak_memory_bytes: u64,
    /// Retries made.
    pub retries: u64,
    /// Calls this agent made to others.
    pub delegations_made: u64,
    /// Calls other agents made to this one.
    pub delegations_received: u64,
}

impl From<&Totals> for StatsSnapshot {
    fn from(t: &Totals) -> StatsSnapshot {
        let calls = t.calls();
        StatsSnapshot {
            calls,
            outcomes: OUTCOMES
                .iter()
                .zip(t.outcomes)
                .filter(|(_, n)| *n > 0)
                .map(|(name, n)| (name.to_string(), n))
                .collect(),
            p50_us: t.quantile_us(0.50),
            p75_us: t.quantile_us(0.75),
            p90_us: t.quantile_us(0.90),
            p95_us: t.quantile_us(0.95),
            p99_us: t.quantile_us(0.99),
            mean_us: (calls > 0).then(|| t.latency_sum_ns as f64 / calls as f64 / 1000.0),
            fuel: t.fuel,
            max_fuel: t.max_fuel,
            peak_memory_bytes: t.peak_memory,
            retries: t.retries,
            delegations_made: t.delegations_made,
            delegations_received: t.delegations_received,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_their_values_and_are_ordered() {
        for nanos in [
            0,
            1023,
            1024,
            1279,
            1280,
            1500,
            2047,
            2048,
            1 << 20,
            3 << 30,
        ] {
            let i = bucket_of(nanos);
            assert!(
                bucket_lower(i) <= nanos as f64 && (nanos as f64) < bucket_upper(i),
                "{nanos} in bucket {i}: [{}, {})",
                bucket_lower(i),
                bucket_upper(i)
            );
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        for i in 1..BUCKETS {
            assert!(bucket_upper(i) > bucket_upper(i - 1));
        }
    }
}
