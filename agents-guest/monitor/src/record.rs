//! What MONITOR keeps per watched agent, one state key each (`agent/<id>`): the host's cumulative
//! figures at the last sample (per version, to take differences), a bounded ring per series, the
//! EWMA baselines, and the SLO ring of good and bad calls per sample period.
//!
//! The host's figures are cumulative since it started; a sample turns them into per-period points:
//! calls per second, the failed share of the period's calls, and the period's mean latency
//! (`(mean_1 calls_1 - mean_0 calls_0) / (calls_1 - calls_0)`, exact from the host's mean).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use tandem_sdk::host_info::Figures;

use crate::detect::EwmaState;

/// One version's cumulative figures at a sample.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    pub calls: u64,
    /// Calls that failed through the agent's fault.
    pub bad: u64,
    /// The sum of every call's latency, in microseconds.
    pub latency_us: f64,
}

impl Snapshot {
    /// The snapshot of one version's figures.
    pub fn of(figures: &Figures) -> Snapshot {
        Snapshot {
            calls: figures.calls,
            bad: figures.failed(),
            latency_us: figures.mean_us.unwrap_or(0.0) * figures.calls as f64,
        }
    }
}

/// A bounded ring of `(time ms, value)` points, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Ring(pub VecDeque<(f64, f64)>);

impl Ring {
    pub fn push(&mut self, at: f64, value: f64, capacity: usize) {
        while self.0.len() >= capacity {
            self.0.pop_front();
        }
        self.0.push_back((at, value));
    }

    pub fn values(&self) -> Vec<f64> {
        self.0.iter().map(|(_, v)| *v).collect()
    }

    pub fn last(&self) -> Option<f64> {
        self.0.back().map(|(_, v)| *v)
    }
}

/// One sample period's calls for the SLOs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SloPoint {
    pub at: f64,
    pub calls: u64,
    /// Failed through the agent's fault.
    pub bad: u64,
    /// Calls of a period whose mean latency was over the SLO's threshold (every call of it).
    pub slow: u64,
    /// The period's mean latency.
    pub latency_ms: f64,
}

/// Everything kept about one watched agent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AgentRecord {
    /// When the last sample was taken (ms since 1970); 0 before the first.
    pub at: f64,
    pub snapshots: BTreeMap<String, Snapshot>,
    pub series: BTreeMap<String, Ring>,
    pub ewma: BTreeMap<String, EwmaState>,
    pub slo: VecDeque<SloPoint>,
}

/// The new points of one sample: per metric, the value of the period (none when there were no
/// calls for a per-call metric), and the period's calls.
#[derive(Debug, Default, PartialEq)]
pub struct Period {
    pub seconds: f64,
    pub calls: u64,
    pub bad: u64,
    pub latency_ms: Option<f64>,
    pub error_rate: Option<f64>,
    pub calls_per_s: f64,
}

impl Period {
    /// The value of `metric` in this period.
    pub fn metric(&self, metric: &str) -> Option<f64> {
        match metric {
            "latency-ms" => self.latency_ms,
            "error-rate" => self.error_rate,
            "calls-per-s" => Some(self.calls_per_s),
            _ => None,
        }
    }
}

impl AgentRecord {
    /// Takes the agent's versions' `figures` at `now` in: the period since the last sample (none on
    /// the first), with the snapshots replaced. A version whose count went down (the host
    /// restarted) counts from zero; versions that are gone are forgotten.
    pub fn advance(&mut self, now: f64, figures: &[&Figures]) -> Option<Period> {
        let first = self.at == 0.0;
        let seconds = ((now - self.at) / 1000.0).max(1e-3);
        let mut period = Period {
            seconds,
            ..Period::default()
        };
        let mut latency_us = 0.0;
        let mut snapshots = BTreeMap::new();
        for f in figures {
            let now_snap = Snapshot::of(f);
            let before = self
                .snapshots
                .get(&f.version)
                .filter(|b| b.calls <= now_snap.calls)
                .cloned()
                .unwrap_or_default();
            period.calls += now_snap.calls - before.calls;
            period.bad += now_snap.bad.saturating_sub(before.bad);
            latency_us += (now_snap.latency_us - before.latency_us).max(0.0);
            snapshots.insert(f.version.clone(), now_snap);
        }
        self.snapshots = snapshots;
        self.at = now;
        if first {
            return None;
        }
        if period.calls > 0 {
            period.latency_ms = Some(latency_us / period.calls as f64 / 1000.0);
            period.error_rate = Some(period.bad as f64 / period.calls as f64);
        }
        period.calls_per_s = period.calls as f64 / seconds;
        Some(period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(version: &str, calls: u64, errors: u64, mean_us: f64) -> Figures {
        Figures {
            agent: "a".into(),
            version: version.into(),
            calls,
            outcomes: vec![
                ("ok".into(), calls - errors),
                ("trap".into(), errors),
                ("invalid-input".into(), 0),
            ],
            p50_us: None,
            p90_us: None,
            p99_us: None,
            mean_us: Some(mean_us),
            fuel: 0,
            max_fuel: 0,
            peak_memory_bytes: 0,
            retries: 0,
            breaker: "closed".into(),
            live_instances: 1,
        }
    }

    #[test]
    fn periods_come_from_the_differences_of_cumulative_figures() {
        let mut record = AgentRecord::default();
        assert_eq!(
            record.advance(1000.0, &[&figures("1", 10, 0, 1000.0)]),
            None
        );
        // 10 more calls, 2 of them traps; the mean went from 1 ms to 2 ms, so the new calls took
        // (2 * 20 - 1 * 10) / 10 = 3 ms each.
        let p = record
            .advance(3000.0, &[&figures("1", 20, 2, 2000.0)])
            .unwrap();
        assert_eq!(p.calls, 10);
        assert_eq!(p.bad, 2);
        assert_eq!(p.latency_ms, Some(3.0));
        assert_eq!(p.error_rate, Some(0.2));
        assert_eq!(p.calls_per_s, 5.0);
        // A new version beside: its calls count from zero; no calls is no latency point.
        let p = record
            .advance(
                4000.0,
                &[&figures("1", 20, 2, 2000.0), &figures("2", 4, 0, 500.0)],
            )
            .unwrap();
        assert_eq!((p.calls, p.latency_ms), (4, Some(0.5)));
        let p = record
            .advance(5000.0, &[&figures("2", 4, 0, 500.0)])
            .unwrap();
        assert_eq!((p.calls, p.latency_ms, p.error_rate), (0, None, None));
    }

    #[test]
    fn rings_are_bounded() {
        let mut ring = Ring::default();
        for i in 0..10 {
            ring.push(i as f64, i as f64, 4);
        }
        assert_eq!(ring.values(), [6.0, 7.0, 8.0, 9.0]);
    }
}
