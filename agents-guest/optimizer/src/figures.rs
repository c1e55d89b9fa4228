//! An agent's figures as the host reports them, read from the JSON of `tandem stats --json` and
//! `GET /v1/agents` (a list, `{"agents": [...]}`, or one agent), from the Prometheus text of
//! `GET /metrics` (percentiles from the latency histogram, as `histogram_quantile` computes them),
//! or live from the host through `tandem:agent/host-info`.

use std::collections::BTreeMap;

use serde::Deserialize;
use tandem_sdk::AgentError;

/// What is known of one agent version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub agent: String,
    pub version: String,
    pub calls: u64,
    /// Calls by outcome (`ok` or an error class).
    pub outcomes: BTreeMap<String, u64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub mean_ms: Option<f64>,
    pub fuel_total: u64,
    /// The most fuel one attempt used, when the host reports it.
    pub max_fuel: Option<u64>,
    pub peak_memory: u64,
    pub retries: u64,
    /// The limits in force, when the figures carry them (the JSON does, `/metrics` does not).
    pub limits: Option<Limits>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
pub struct Limits {
    pub timeout_ms: u64,
    /// `None`: not metered (`null` over HTTP, 0 from `host-info`).
    pub fuel: Option<u64>,
    pub memory_bytes: u64,
    pub max_instances: u64,
}

impl Figures {
    /// Failed calls of these classes.
    pub fn failed(&self, kinds: &[&str]) -> u64 {
        kinds
            .iter()
            .map(|k| self.outcomes.get(*k).copied().unwrap_or(0))
            .sum()
    }
}

#[derive(Deserialize)]
struct AgentJson {
    id: String,
    version: String,
    #[serde(default)]
    limits: Option<Limits>,
    stats: StatsJson,
}

#[derive(Deserialize)]
struct StatsJson {
    calls: u64,
    #[serde(default)]
    outcomes: BTreeMap<String, u64>,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    mean_us: Option<f64>,
    #[serde(default)]
    fuel: u64,
    #[serde(default)]
    max_fuel: Option<u64>,
    #[serde(default)]
    peak_memory_bytes: u64,
    #[serde(default)]
    retries: u64,
}

/// The figures in the JSON the host prints.
pub fn from_json(value: &serde_json::Value) -> Result<Vec<Figures>, AgentError> {
    let list = match value {
        serde_json::Value::Array(items) => items.clone(),
        serde_json::Value::Object(map) if map.contains_key("agents") => match &map["agents"] {
            serde_json::Value::Array(items) => items.clone(),
            _ => {
                return Err(AgentError::invalid(
                    "`stats.agents` must be a list of agents",
                ));
            }
        },
        serde_json::Value::Object(_) => vec![value.clone()],
        _ => {
            return Err(AgentError::invalid(
                "`stats` must be what `tandem stats --json` or `GET /v1/agents[/{id}]` prints",
            ));
        }
    };
    list.into_iter()
        .enumerate()
        .map(|(i, item)| {
            let agent: AgentJson = serde_json::from_value(item).map_err(|e| {
                AgentError::invalid(format!(
                    "`stats`, agent {i}: {e} (expected the JSON of `tandem stats --json`)"
                ))
            })?;
            let s = agent.stats;
            Ok(Figures {
                agent: agent.id,
                version: agent.version,
                calls: s.calls,
                outcomes: s.outcomes,
                p50_ms: s.p50_us.map(|v| v / 1000.0),
                p99_ms: s.p99_us.map(|v| v / 1000.0),
                mean_ms: s.mean_us.map(|v| v / 1000.0),
                fuel_total: s.fuel,
                max_fuel: s.max_fuel.filter(|m| *m > 0 || s.fuel == 0),
                peak_memory: s.peak_memory_bytes,
                retries: s.retries,
                limits: agent.limits,
            })
        })
        .collect()
}

/// The figures the host itself reports through `tandem:agent/host-info` (the manifest grants it):
/// every serving version, with the limits in force.
pub fn from_host() -> Result<Vec<Figures>, AgentError> {
    let agents = tandem_sdk::host_info::agents()?;
    let figures = tandem_sdk::host_info::figures(None)?;
    Ok(figures
        .into_iter()
        .filter(|f| f.breaker != "retired")
        .map(|f| {
            let limits = agents.iter().find(|a| a.id == f.agent).map(|a| Limits {
                timeout_ms: a.limits.timeout_ms,
                fuel: Some(a.limits.fuel).filter(|&fuel| fuel > 0),
                memory_bytes: a.limits.memory_bytes,
                max_instances: u64::from(a.limits.max_instances),
            });
            Figures {
                calls: f.calls,
                outcomes: f.outcomes.into_iter().collect(),
                p50_ms: f.p50_us.map(|v| v / 1000.0),
                p99_ms: f.p99_us.map(|v| v / 1000.0),
                mean_ms: f.mean_us.map(|v| v / 1000.0),
                fuel_total: f.fuel,
                max_fuel: Some(f.max_fuel),
                peak_memory: f.peak_memory_bytes,
                retries: f.retries,
                limits,
                agent: f.agent,
                version: f.version,
            }
        })
        .collect())
}

/// One sample line of the exposition format: name, labels, value.
fn sample(line: &str) -> Option<(&str, BTreeMap<String, String>, f64)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        v => v.parse().ok()?,
    };
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, rest.strip_suffix('}')?),
        None => (series, ""),
    };
    let mut map = BTreeMap::new();
    let mut rest = labels;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut end = 0;
        let bytes = after.as_bytes();
        while end < bytes.len() && !(bytes[end] == b'"' && (end == 0 || bytes[end - 1] != b'\\')) {
            end += 1;
        }
        map.insert(
            key.trim_start_matches(',').trim().to_string(),
            after[..end.min(after.len())].replace("\\\"", "\""),
        );
        rest = after.get(end + 1..).unwrap_or("");
    }
    Some((name, map, value))
}

/// The figures of one (agent, version) being read from `/metrics`, and its latency buckets.
type Reading = (Figures, Vec<(f64, f64)>);

/// The figures in `/metrics` text, per agent and version.
pub fn from_metrics(text: &str) -> Result<Vec<Figures>, AgentError> {
    let mut by_version: BTreeMap<(String, String), Reading> = BTreeMap::new();
    let mut lines = 0;
    for line in text.lines() {
        let Some((name, labels, value)) = sample(line) else {
            continue;
        };
        let (Some(agent), Some(version)) = (labels.get("agent"), labels.get("version")) else {
            continue;
        };
        lines += 1;
        let (figures, buckets) = by_version
            .entry((agent.clone(), version.clone()))
            .or_insert_with(|| {
                (
                    Figures {
                        agent: agent.clone(),
                        version: version.clone(),
                        ..Figures::default()
                    },
                    Vec::new(),
                )
            });
        match name {
            "tandem_calls_total" => {
                let outcome = labels
                    .get("outcome")
                    .cloned()
                    .unwrap_or_else(|| "ok".into());
                figures.calls += value as u64;
                *figures.outcomes.entry(outcome).or_default() += value as u64;
            }
            "tandem_call_duration_seconds_bucket" => {
                if let Some(le) = labels.get("le") {
                    let le = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().unwrap_or(f64::NAN)
                    };
                    buckets.push((le, value));
                }
            }
            "tandem_call_duration_seconds_sum" => figures.mean_ms = Some(value * 1000.0),
            "tandem_fuel_consumed_total" => figures.fuel_total = value as u64,
            "tandem_max_fuel_per_call" => figures.max_fuel = Some(value as u64),
            "tandem_peak_memory_bytes" => figures.peak_memory = value as u64,
            "tandem_retries_total" => figures.retries = value as u64,
            _ => {}
        }
    }
    if lines == 0 {
        return Err(AgentError::invalid(
            "`metrics` holds no series labelled `agent` and `version`: give the text of the host's `GET /metrics`",
        ));
    }
    Ok(by_version
        .into_values()
        .map(|(mut figures, mut buckets)| {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            let count = buckets.last().map_or(0.0, |b| b.1);
            figures.mean_ms = figures
                .mean_ms
                .filter(|_| count > 0.0)
                .map(|sum_ms| sum_ms / count);
            figures.p50_ms = quantile(&buckets, 0.50).map(|s| s * 1000.0);
            figures.p99_ms = quantile(&buckets, 0.99).map(|s| s * 1000.0);
            figures
        })
        .collect())
}

/// `histogram_quantile`: the `q` quantile of cumulative `(upper bound, count)` buckets, interpolated
/// linearly within its bucket.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut below = (0.0, 0.0);
    for &(upper, count) in buckets {
        if count >= rank {
            if upper.is_infinite() {
                return Some(below.0);
            }
            let within = if count > below.1 {
                (rank - below.1) / (count - below.1)
            } else {
                0.0
            };
            return Some(below.0 + (upper - below.0) * within);
        }
        below = (upper, count);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_text_gives_the_figures() {
        let text = r#"# HELP tandem_calls Calls.
tandem_calls_total{agent="echo",version="0.1.0",outcome="ok"} 90
tandem_calls_total{agent="echo",version="0.1.0",outcome="timeout"} 10
tandem_call_duration_seconds_bucket{agent="echo",version="0.1.0",le="0.001"} 50
tandem_call_duration_seconds_bucket{agent="echo",version="0.1.0",le="0.002"} 100
tandem_call_duration_seconds_bucket{agent="echo",version="0.1.0",le="+Inf"} 100
tandem_call_duration_seconds_sum{agent="echo",version="0.1.0"} 0.12
tandem_call_duration_seconds_count{agent="echo",version="0.1.0"} 100
tandem_fuel_consumed_total{agent="echo",version="0.1.0"} 5000
tandem_peak_memory_bytes{agent="echo",version="0.1.0"} 1114112
"#;
        let figures = from_metrics(text).unwrap();
        assert_eq!(figures.len(), 1);
        let f = &figures[0];
        assert_eq!(
            (f.calls, f.failed(&["timeout"]), f.fuel_total),
            (100, 10, 5000)
        );
        assert!((f.p50_ms.unwrap() - 1.0).abs() < 1e-9, "{f:?}");
        assert!((f.p99_ms.unwrap() - 1.98).abs() < 1e-9, "{f:?}");
        assert!((f.mean_ms.unwrap() - 1.2).abs() < 1e-9);
        assert!(from_metrics("nothing here").is_err());
    }
}
