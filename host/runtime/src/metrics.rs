//! Every agent version's figures: the [`Metrics`] registry.
//!
//! Every loaded version of an agent owns an [`AgentStats`]: counters and a latency histogram made of
//! atomics, updated on every call without a lock. The registry keeps them all (a version that was
//! swapped out keeps its counts) and adds them up ([`Metrics::totals`], [`StatsSnapshot`]). The
//! Prometheus exposition of these figures is the server's (`tandem-server`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub use tandem_engine::stats::{AgentStats, StatsSnapshot, Totals};

/// Every agent version's stats, by (agent id, version).
#[derive(Debug, Default)]
pub struct Metrics {
    stats: Mutex<Vec<(String, String, Arc<AgentStats>)>>,
}

impl Metrics {
    /// Registers `stats` under `agent` and `version`; stats registered under the same pair are summed.
    /// Registering the same stats again (a rolled-back version coming back) changes nothing.
    pub fn register(&self, agent: &str, version: &str, stats: Arc<AgentStats>) {
        let mut all = self.lock();
        if !all.iter().any(|(_, _, known)| Arc::ptr_eq(known, &stats)) {
            all.push((agent.to_string(), version.to_string(), stats));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, String, Arc<AgentStats>)>> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every agent version's totals, by (agent id, version).
    pub fn totals(&self) -> BTreeMap<(String, String), Totals> {
        let mut totals: BTreeMap<(String, String), Totals> = BTreeMap::new();
        for (agent, version, stats) in self.lock().iter() {
            stats.add_into(totals.entry((agent.clone(), version.clone())).or_default());
        }
        totals
    }

    /// The snapshot of one agent version.
    pub fn snapshot(&self, agent: &str, version: &str) -> StatsSnapshot {
        let totals = self.totals();
        let key = (agent.to_string(), version.to_string());
        StatsSnapshot::from(totals.get(&key).unwrap_or(&Totals::default()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn percentiles_come_within_a_bucket_of_the_truth() {
        let stats = AgentStats::default();
        // 1..=1000 us, uniform: p50 = 500 us, p99 = 990 us.
        for us in 1..=1000u64 {
            stats.record_call(Ok(()), Duration::from_micros(us));
        }
        stats.record_call(Err(ErrorKind::Timeout), Duration::from_secs(5));
        let metrics = Metrics::default();
        metrics.register("a", "1.0.0", Arc::new(stats));
        let s = metrics.snapshot("a", "1.0.0");
        assert_eq!(s.calls, 1001);
        assert_eq!(s.outcomes["ok"], 1000);
        assert_eq!(s.outcomes["timeout"], 1);
        let p50 = s.p50_us.unwrap();
        let p99 = s.p99_us.unwrap();
        assert!((420.0..=600.0).contains(&p50), "p50 {p50}");
        assert!((830.0..=1190.0).contains(&p99), "p99 {p99}");
        assert_eq!(metrics.snapshot("a", "2.0.0").calls, 0);
    }
}
