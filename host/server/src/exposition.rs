//! The Prometheus exposition of the host's figures (`GET /metrics`): every agent version's counters
//! and latency histogram, the loaded agents' instances and breakers, their canaries' weights and
//! their triggers' runs, and the result cache, encoded
//! in OpenMetrics by `prometheus-client` ([`render`]), or in the older text format 0.0.4 that plain
//! scrapers and `promtool` expect ([`to_prometheus_text`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use tandem::breaker::BreakerState;
use tandem::host::Host;
use tandem::metrics::Totals;
use tandem::results::CacheStats;
use tandem::stats::{
    BUCKETS, EGRESS_OUTCOMES, FIRST_OCTAVE, LAST_OCTAVE, OUTCOMES, SUB_BUCKETS, bucket_upper,
};
use tandem::triggers::TriggerStatus;

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

/// What the routing and the triggers of the loaded agents say at a scrape.
#[derive(Debug, Default)]
struct Operated {
    /// (agent, canary version, weight in percent).
    canaries: Vec<(String, String, u8)>,
    /// (agent, a trigger's figures).
    triggers: Vec<(String, TriggerStatus)>,
}

/// Everything `host` knows, in OpenMetrics 1.0 text; every series labelled `host="<host_id>"` when
/// the host is one of a cluster.
pub fn render(host: &Host, host_id: Option<&str>) -> String {
    let live: Vec<LiveState> = host
        .agents()
        .iter()
        .map(|agent| LiveState {
            agent: agent.id().to_string(),
            version: agent.info.version.to_string(),
            live_instances: agent.live_instances(),
            breaker: agent.breaker().state(),
        })
        .collect();
    let mut operated = Operated::default();
    for agent in host.agents() {
        if let Some(canary) = host.canary(agent.id()) {
            let version = canary.agent.info.version.to_string();
            operated
                .canaries
                .push((agent.id().to_string(), version, canary.weight()));
        }
        for trigger in host.triggers(agent.id()) {
            operated.triggers.push((agent.id().to_string(), trigger));
        }
    }
    encode(
        host.metrics().totals(),
        live,
        host.result_cache(),
        operated,
        host_id,
    )
}

/// The figures in OpenMetrics 1.0 text; `live` adds the gauges of the loaded agents.
fn encode(
    totals: BTreeMap<(String, String), Totals>,
    live: Vec<LiveState>,
    cache: CacheStats,
    operated: Operated,
    host_id: Option<&str>,
) -> String {
    let collector = Exposition {
        totals,
        live,
        cache,
        operated,
    };
    let labels = host_id.map(|id| (Cow::Borrowed("host"), Cow::Owned(id.to_string())));
    let mut registry = prometheus_client::registry::Registry::with_labels(labels.into_iter());
    registry.register_collector(Box::new(collector));
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    text
}

/// A scrape's view, encoded by `prometheus-client`.
#[derive(Debug)]
struct Exposition {
    totals: BTreeMap<(String, String), Totals>,
    live: Vec<LiveState>,
    cache: CacheStats,
    operated: Operated,
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

    /// A counter per agent version and outcome: `counts(totals)[i]` is the count of `outcomes[i]`.
    fn by_outcome(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        outcomes: &[&str],
        counts: impl Fn(&Totals) -> &[u64],
    ) -> std::fmt::Result {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for ((agent, version), totals) in &self.totals {
            for (outcome, &n) in outcomes.iter().zip(counts(totals)) {
                let labels = [
                    ("agent", agent.as_str()),
                    ("version", version.as_str()),
                    ("outcome", outcome),
                ];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
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
        self.by_outcome(
            &mut encoder,
            "tandem_calls",
            "Calls that ended, by outcome class (ok or the error class), after retries.",
            &OUTCOMES,
            |t| &t.outcomes,
        )?;
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
        self.by_outcome(
            &mut encoder,
            "tandem_egress_requests",
            "Outbound HTTP requests of agents granted [egress]: sent (answered), denied by the rules, or failed.",
            &EGRESS_OUTCOMES,
            |t| &t.egress,
        )?;
        self.per_version(
            &mut encoder,
            MetricType::Gauge,
            "tandem_peak_memory_bytes",
            "The largest linear memory any instance grew to.",
            |t| t.peak_memory,
        )?;
        self.per_version(
            &mut encoder,
            MetricType::Gauge,
            "tandem_max_fuel_per_call",
            "The most fuel one attempt at a call used.",
            |t| t.max_fuel,
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
        self.encode_operated(&mut encoder)
    }
}

impl Exposition {
    /// A counter with one series per trigger.
    fn per_trigger(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: impl Fn(&TriggerStatus) -> u64,
    ) -> std::fmt::Result {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (agent, trigger) in &self.operated.triggers {
            let labels = [
                ("agent", agent.as_str()),
                ("trigger", trigger.name.as_str()),
            ];
            ConstCounter::new(value(trigger)).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }

    /// The canaries' weights and the triggers' counters.
    fn encode_operated(&self, encoder: &mut DescriptorEncoder) -> std::fmt::Result {
        let mut weights = encoder.encode_descriptor(
            "tandem_canary_weight",
            "The share of traces (percent) an agent's canary version serves.",
            None,
            MetricType::Gauge,
        )?;
        for (agent, version, weight) in &self.operated.canaries {
            let labels = [("agent", agent.as_str()), ("version", version.as_str())];
            ConstGauge::new(i64::from(*weight)).encode(weights.encode_family(&labels)?)?;
        }
        self.per_trigger(
            encoder,
            "tandem_trigger_runs",
            "Runs a trigger started.",
            |t| t.runs,
        )?;
        self.per_trigger(
            encoder,
            "tandem_trigger_failures",
            "Runs of a trigger that failed.",
            |t| t.failures,
        )?;
        let mut skipped = encoder.encode_descriptor(
            "tandem_trigger_skipped",
            "Runs of a trigger skipped: its previous run still going (overlap), or backing off after failures (backoff).",
            None,
            MetricType::Counter,
        )?;
        for (agent, trigger) in &self.operated.triggers {
            for (reason, n) in [
                ("overlap", trigger.skipped_overlap),
                ("backoff", trigger.skipped_backoff),
            ] {
                let labels = [
                    ("agent", agent.as_str()),
                    ("trigger", trigger.name.as_str()),
                    ("reason", reason),
                ];
                ConstCounter::new(n).encode(skipped.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// Rewrites OpenMetrics 1.0 text (as [`render`] writes it) in the Prometheus text format
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
    use std::sync::Arc;
    use std::time::Duration;

    use tandem::metrics::{AgentStats, Metrics};

    use super::*;

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
        let text = encode(
            metrics.totals(),
            live.to_vec(),
            cache,
            Operated::default(),
            None,
        );
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

    #[test]
    fn in_a_cluster_every_series_names_the_host() {
        let metrics = Metrics::default();
        metrics.register("echo", "0.1.0", Arc::new(AgentStats::default()));
        let cache = CacheStats::default();
        let text = encode(
            metrics.totals(),
            Vec::new(),
            cache,
            Operated::default(),
            Some("h1"),
        );
        let series: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(!series.is_empty());
        for line in series {
            assert!(line.contains(r#"host="h1""#), "{line}");
        }
    }
}
