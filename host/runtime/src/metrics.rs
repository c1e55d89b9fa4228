//! Per-agent, per-version call statistics and their Prometheus exposition.
//!
//! Every loaded version of an agent owns an [`AgentStats`]: counters and a latency histogram made of
//! atomics, updated on every call without a lock. The [`Metrics`] registry keeps them all (a version
//! that was swapped out keeps its counts), reads percentiles off them ([`StatsSnapshot`]) and renders
//! them in OpenMetrics with `prometheus-client` ([`Metrics::render`]), and in the older Prometheus
//! text format 0.0.4 that plain scrapers and `promtool` expect ([`to_prometheus_text`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::breaker::BreakerState;
use crate::results::CacheStats;

pub use tandem_engine::stats::{
    AgentStats, BUCKETS, FIRST_OCTAVE, LAST_OCTAVE, OUTCOMES, SUB_BUCKETS, StatsSnapshot, Totals,
    bucket_upper,
};

/// The state of a loaded agent version at a scrape: what only the live agent knows.
#[derive(Debug, Clone)]
pub struct LiveState {
    /// The agent's id.
    pub agent: String,
    /// The version.
    pub version: String,
    /// Instances alive.
    pub live_instances: usize,
    /// Its breaker's state.
    pub breaker: BreakerState,
}

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

    fn totals(&self) -> BTreeMap<(String, String), Totals> {
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

    /// Everything in the Prometheus text format; `live` adds the gauges of the loaded agents.
    pub fn render(&self, live: &[LiveState], cache: CacheStats) -> String {
        let collector = Exposition {
            totals: self.totals(),
            live: live.to_vec(),
            cache,
        };
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(collector));
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }
}

/// A scrape's view, encoded by `prometheus-client`.
#[derive(Debug)]
struct Exposition {
    totals: BTreeMap<(String, String), Totals>,
    live: Vec<LiveState>,
    cache: CacheStats,
}

impl Exposition {
    /// A counter or gauge (`kind`) with one series per agent version.
    fn per_version(
        &self,
        encoder: &mut DescriptorEncoder,
        kind: MetricType,
        name: &str,
        help: &str,
        value: impl Fn(&Totals) -> u64,
    ) -> std::fmt::Result {
        let mut family = encoder.encode_descriptor(name, help, None, kind)?;
        for ((agent, version), totals) in &self.totals {
            let labels = [("agent", agent.as_str()), ("version", version.as_str())];
            let series = family.encode_family(&labels)?;
            match kind {
                MetricType::Gauge => ConstGauge::new(value(totals) as i64).encode(series)?,
                _ => ConstCounter::new(value(totals)).encode(series)?,
            }
        }
        Ok(())
    }

    /// A gauge of the loaded agents' state.
    fn live_gauge(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: impl Fn(&LiveState) -> i64,
    ) -> std::fmt::Result {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for state in &self.live {
            let labels = [
                ("agent", state.agent.as_str()),
                ("version", state.version.as_str()),
            ];
            ConstGauge::new(value(state)).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

impl prometheus_client::collector::Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let mut calls = encoder.encode_descriptor(
            "tandem_calls",
            "Calls that ended, by outcome class (ok or the error class), after retries.",
            None,
            MetricType::Counter,
        )?;
        for ((agent, version), totals) in &self.totals {
            for (outcome, &n) in OUTCOMES.iter().zip(&totals.outcomes) {
                let labels = [
                    ("agent", agent.as_str()),
                    ("version", version.as_str()),
                    ("outcome", outcome),
                ];
                ConstCounter::new(n).encode(calls.encode_family(&labels)?)?;
            }
        }
        let mut latency = encoder.encode_descriptor(
            "tandem_call_duration_seconds",
            "Call latency, retries included.",
            None,
            MetricType::Histogram,
        )?;
        for ((agent, version), totals) in &self.totals {
            // Exposed at every power of two of nanoseconds: exact cumulative counts at each bound.
            let mut buckets = Vec::with_capacity((LAST_OCTAVE - FIRST_OCTAVE + 2) as usize);
            buckets.push((bucket_upper(0) / 1e9, totals.latency[0]));
            for octave in 0..(LAST_OCTAVE - FIRST_OCTAVE) as usize {
                let first = 1 + octave * SUB_BUCKETS as usize;
                let n = totals.latency[first..first + SUB_BUCKETS as usize]
                    .iter()
                    .sum();
                buckets.push((bucket_upper(first + 3) / 1e9, n));
            }
            buckets.push((f64::INFINITY, totals.latency[BUCKETS - 1]));
            let labels = [("agent", agent.as_str()), ("version", version.as_str())];
            latency
                .encode_family(&labels)?
                .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    totals.latency_sum_ns as f64 / 1e9,
                    totals.latency.iter().sum(),
                    &buckets,
                    None,
                )?;
        }
        self.per_version(
            &mut encoder,
            MetricType::Counter,
            "tandem_fuel_consumed",
            "Fuel (about one unit per wasm instruction) used by calls, failed ones included.",
            |t| t.fuel,
        )?;
        self.per_version(
            &mut encoder,
            MetricType::Counter,
            "tandem_retries",
            "Attempts made again after a failure that may pass.",
            |t| t.retries,
        )?;
        self.per_version(
            &mut encoder,
            MetricType::Counter,
            "tandem_delegations_made",
            "Calls this agent delegated to another.",
            |t| t.delegations_made,
        )?;
        self.per_version(
            &mut encoder,
            MetricType::Counter,
            "tandem_delegations_received",
            "Calls this agent received from another agent.",
            |t| t.delegations_received,
        )?;
        self.per_version(
            &mut encoder,
            MetricType::Gauge,
            "tandem_peak_memory_bytes",
            "The largest linear memory any instance grew to.",
            |t| t.peak_memory,
        )?;
        self.live_gauge(
            &mut encoder,
            "tandem_live_instances",
            "Instances alive now: warm, running a call, or being created.",
            |state| state.live_instances as i64,
        )?;
        self.live_gauge(
            &mut encoder,
            "tandem_breaker_state",
            "The circuit breaker: 0 closed, 1 open, 2 half-open.",
            |state| match state.breaker {
                BreakerState::Closed => 0,
                BreakerState::Open => 1,
                BreakerState::HalfOpen => 2,
            },
        )?;
        let cache = &self.cache;
        for (name, help, value) in [
            (
                "tandem_result_cache_hits",
                "Calls answered from the result cache.",
                cache.hits,
            ),
            (
                "tandem_result_cache_misses",
                "Lookups in the result cache that found nothing.",
                cache.misses,
            ),
            (
                "tandem_result_cache_evictions",
                "Results dropped to stay within the cache's size.",
                cache.evictions,
            ),
        ] {
            let metric = ConstCounter::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)?;
        }
        for (name, help, value) in [
            (
                "tandem_result_cache_entries",
                "Results in the cache.",
                cache.entries as i64,
            ),
            (
                "tandem_result_cache_bytes",
                "Bytes of keys and results in the cache.",
                cache.bytes as i64,
            ),
        ] {
            let metric = ConstGauge::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)?;
        }
        let ratio = ConstGauge::new(cache.hit_rate());
        ratio.encode(encoder.encode_descriptor(
            "tandem_result_cache_hit_ratio",
            "Hits over lookups since the start.",
            None,
            ratio.metric_type(),
        )?)?;
        Ok(())
    }
}

/// Rewrites OpenMetrics 1.0 text (as [`Metrics::render`] writes it) in the Prometheus text format
/// 0.0.4: a counter's `HELP` and `TYPE` name its `_total` samples, and the OpenMetrics-only lines
/// (`# UNIT`, `# EOF`) and `_created` samples are left out.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut counters: Vec<&str> = Vec::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some(name) = rest.strip_suffix(" counter")
        {
            counters.push(name);
        }
    }
    let is_counter = |name: &str| counters.contains(&name);
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let rewritten = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            is_counter(name).then(|| format!("{prefix}{name}_total {tail}"))
        });
        match rewritten {
            Some(line) => out.push_str(&line),
            None => {
                let sample = line.split(['{', ' ']).next().unwrap_or("");
                if sample.strip_suffix("_created").is_some_and(is_counter) {
                    continue;
                }
                out.push_str(line);
            }
        }
        out.push('\n');
    }
    out
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

    #[test]
    fn exposition_sums_stats_of_one_version_and_has_cumulative_buckets() {
        let metrics = Metrics::default();
        for _ in 0..2 {
            let stats = Arc::new(AgentStats::default());
            stats.record_call(Ok(()), Duration::from_micros(3));
            stats.add_fuel(10);
            metrics.register("echo", "0.1.0", stats);
        }
        let cache = CacheStats {
            hits: 3,
            misses: 1,
            ..CacheStats::default()
        };
        let live = [LiveState {
            agent: "echo".into(),
            version: "0.1.0".into(),
            live_instances: 3,
            breaker: BreakerState::Open,
        }];
        let text = metrics.render(&live, cache);
        for line in [
            r#"tandem_calls_total{agent="echo",version="0.1.0",outcome="ok"} 2"#,
            r#"tandem_calls_total{agent="echo",version="0.1.0",outcome="trap"} 0"#,
            r#"tandem_call_duration_seconds_count{agent="echo",version="0.1.0"} 2"#,
            r#"tandem_call_duration_seconds_bucket{le="+Inf",agent="echo",version="0.1.0"} 2"#,
            r#"tandem_fuel_consumed_total{agent="echo",version="0.1.0"} 20"#,
            r#"tandem_live_instances{agent="echo",version="0.1.0"} 3"#,
            r#"tandem_breaker_state{agent="echo",version="0.1.0"} 1"#,
            "tandem_result_cache_hits_total 3",
            "tandem_result_cache_misses_total 1",
            "tandem_result_cache_hit_ratio 0.75",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        // 3 us is in (2.048 us, 4.096 us]: the bucket below holds none, the one at 4.096 us both.
        assert!(text.contains(r#"tandem_call_duration_seconds_bucket{le="0.000002048",agent="echo",version="0.1.0"} 0"#), "{text}");
        assert!(text.contains(r#"tandem_call_duration_seconds_bucket{le="0.000004096",agent="echo",version="0.1.0"} 2"#), "{text}");
    }
}
