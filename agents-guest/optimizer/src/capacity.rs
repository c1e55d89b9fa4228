//! `capacity`: what a target load needs, from measured per-call costs. By Little's law the calls in
//! flight are the arrival rate times the time each takes; instances are sized for the tail (p99)
//! so that a burst of slow calls does not queue, worker threads for the CPU time the calls use at
//! a target utilisation, and memory for the instances' peak plus the host's own.

use serde::{Deserialize, Serialize};
use tandem_sdk::AgentError;

use crate::figures::Figures;
use crate::units::{human_bytes, mib_up};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CapacityInput {
    /// Calls per second to serve.
    pub target_rps: f64,
    /// Mean time of a call, in milliseconds (default: the figures').
    #[serde(default)]
    pub mean_ms: Option<f64>,
    /// Its 99th percentile (default: the mean times 3).
    #[serde(default)]
    pub p99_ms: Option<f64>,
    /// The share of a call's time spent on the CPU rather than waiting (default 1: a sandboxed
    /// agent computes; lower it for agents that wait on others).
    #[serde(default)]
    pub cpu_share: Option<f64>,
    /// Peak linear memory of one instance, in bytes (default: the figures').
    #[serde(default)]
    pub memory_bytes: Option<f64>,
    /// The host's own memory beside the instances (default 32 MiB).
    #[serde(default)]
    pub host_bytes: Option<f64>,
    /// The busiest the workers should be on average (default 0.7).
    #[serde(default)]
    pub utilisation: Option<f64>,
    /// Fuel per call, to say how much fuel a second the load burns (default: the figures').
    #[serde(default)]
    pub fuel_per_call: Option<f64>,
    /// The measured costs instead of the numbers above: `tandem stats --json` (or `GET /v1/agents`)
    /// JSON, or `/metrics` text, and the agent to take from it.
    #[serde(default)]
    pub stats: Option<serde_json::Value>,
    #[serde(default)]
    pub metrics: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Capacity {
    /// Calls in flight on average (Little's law: rate x mean time).
    pub in_flight: f64,
    /// `[limits] max-instances`: enough for the calls in flight when each takes the p99 time.
    pub instances: u64,
    /// Worker threads (`--workers`, about one per core) at the target utilisation.
    pub workers: u64,
    pub memory_bytes: u64,
    pub memory: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel_per_second: Option<f64>,
    pub reasoning: Vec<String>,
}

fn positive(value: f64, what: &str) -> Result<f64, AgentError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(AgentError::invalid(format!(
            "`{what}` must be a number above 0, not {value}"
        )))
    }
}

/// The figures of the agent the input names, when it gives figures.
fn measured(input: &CapacityInput) -> Result<Option<Figures>, AgentError> {
    let all = match (&input.stats, &input.metrics) {
        (Some(stats), _) => crate::figures::from_json(stats)?,
        (None, Some(text)) => crate::figures::from_metrics(text)?,
        (None, None) => return Ok(None),
    };
    let found = match &input.agent {
        Some(id) => all.into_iter().find(|f| &f.agent == id),
        None if all.len() == 1 => all.into_iter().next(),
        None => {
            return Err(AgentError::invalid(format!(
                "the figures hold {} agents: name one with `agent`",
                all.len()
            )));
        }
    };
    found.map(Some).ok_or_else(|| {
        AgentError::invalid(format!(
            "no agent `{}` in the figures",
            input.agent.as_deref().unwrap_or("")
        ))
    })
}

pub fn capacity(input: &CapacityInput) -> Result<Capacity, AgentError> {
    let figures = measured(input)?;
    let rps = positive(input.target_rps, "target-rps")?;
    let mean = input
        .mean_ms
        .or(figures.as_ref().and_then(|f| f.mean_ms))
        .ok_or_else(|| AgentError::invalid("give `mean-ms`, or figures (`stats` or `metrics`) of an agent that has served calls"))?;
    let mean = positive(mean, "mean-ms")?;
    let p99 = input
        .p99_ms
        .or(figures.as_ref().and_then(|f| f.p99_ms))
        .unwrap_or(mean * 3.0);
    let p99 = positive(p99, "p99-ms")?.max(mean);
    let cpu = input.cpu_share.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&cpu) || cpu == 0.0 {
        return Err(AgentError::invalid(format!(
            "`cpu-share` is between 0 (excluded) and 1, not {cpu}"
        )));
    }
    let utilisation = input.utilisation.unwrap_or(0.7);
    if !(0.05..=1.0).contains(&utilisation) {
        return Err(AgentError::invalid(format!(
            "`utilisation` is between 0.05 and 1, not {utilisation}"
        )));
    }
    let memory = input
        .memory_bytes
        .or(figures.as_ref().map(|f| f.peak_memory as f64))
        .ok_or_else(|| {
            AgentError::invalid("give `memory-bytes`, or figures (`stats` or `metrics`)")
        })?;
    if !memory.is_finite() || memory < 0.0 {
        return Err(AgentError::invalid("`memory-bytes` must be a number >= 0"));
    }
    let fuel_per_call = input.fuel_per_call.or(figures.as_ref().and_then(|f| {
        f.max_fuel
            .filter(|_| f.calls > 0)
            .map(|_| f.fuel_total as f64 / f.calls as f64)
    }));
    let host = input.host_bytes.unwrap_or(32.0 * 1024.0 * 1024.0);
    let in_flight = rps * mean / 1000.0;
    let instances = (rps * p99 / 1000.0).ceil().max(1.0) as u64;
    let workers = (rps * mean * cpu / 1000.0 / utilisation).ceil().max(1.0) as u64;
    let total = host + instances as f64 * memory;
    let (memory_bytes, memory_text) = mib_up(total);
    let reasoning = vec![
        format!(
            "in flight: {rps} calls/s x {mean} ms = {in_flight:.2} calls at once on average (Little's law)"
        ),
        format!(
            "instances: {rps} calls/s x p99 {p99} ms = {:.2}, rounded up to {instances}, so a run of tail-latency calls does not queue",
            rps * p99 / 1000.0
        ),
        format!(
            "workers: {rps} calls/s x {mean} ms x CPU share {cpu} / utilisation {utilisation} = {:.2}, rounded up to {workers}",
            rps * mean * cpu / 1000.0 / utilisation
        ),
        format!(
            "memory: the host's {} + {instances} instances x {} = {}, rounded up to {memory_text}",
            human_bytes(host),
            human_bytes(memory),
            human_bytes(total)
        ),
    ];
    Ok(Capacity {
        in_flight,
        instances,
        workers,
        memory_bytes,
        memory: memory_text,
        fuel_per_second: fuel_per_call.map(|f| f * rps),
        reasoning,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn littles_law_sizes_the_pool() {
        let c = capacity(&CapacityInput {
            target_rps: 500.0,
            mean_ms: Some(4.0),
            p99_ms: Some(10.0),
            cpu_share: None,
            memory_bytes: Some(2.0 * 1024.0 * 1024.0),
            host_bytes: None,
            utilisation: None,
            fuel_per_call: Some(1000.0),
            stats: None,
            metrics: None,
            agent: None,
        })
        .unwrap();
        assert_eq!(c.in_flight, 2.0);
        assert_eq!(c.instances, 5);
        assert_eq!(c.workers, 3); // 2 / 0.7 = 2.86
        assert_eq!(c.memory, "42MiB");
        assert_eq!(c.fuel_per_second, Some(500_000.0));
    }
}
