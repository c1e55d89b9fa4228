//! What a guest granted `host-info` reads of the host (the engine's [`HostInfo`] trait): the loaded
//! agents from the registry, every version's figures from the metrics (the same totals `/metrics`
//! encodes), and the load from the agents' instance pools.

use tandem_engine::bindings::host_info::{
    AgentSummary, CanaryRoute, HostLoad, Limits, Route, VersionFigures,
};
use tandem_engine::stats::{StatsSnapshot, Totals};
use tandem_engine::{CallState, HostInfo};

use super::Dispatcher;
use crate::breaker::BreakerState;

fn breaker_name(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed => "closed",
        BreakerState::Open => "open",
        BreakerState::HalfOpen => "half-open",
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl HostInfo for Dispatcher {
    fn routes(&self) -> Vec<Route> {
        self.registry()
            .all()
            .iter()
            .map(|agent| Route {
                agent: agent.id().to_string(),
                version: agent.info.version.to_string(),
                content_hash: agent.content_hash.clone(),
                canary: self.registry().canary(agent.id()).map(|c| CanaryRoute {
                    version: c.agent.info.version.to_string(),
                    content_hash: c.agent.content_hash.clone(),
                    weight: c.weight(),
                }),
            })
            .collect()
    }

    fn agents(&self) -> Vec<AgentSummary> {
        let mut agents = self.registry().all();
        agents.sort_by(|a, b| a.id().cmp(b.id()));
        agents
            .iter()
            .map(|agent| {
                let limits = &agent.policy().limits;
                AgentSummary {
                    id: agent.id().to_string(),
                    version: agent.info.version.to_string(),
                    content_hash: agent.content_hash.clone(),
                    operations: agent
                        .info
                        .operations
                        .iter()
                        .map(|o| o.name.clone())
                        .collect(),
                    limits: Limits {
                        timeout_ms: limits.timeout.as_millis() as u64,
                        // 0: not metered (a manifest's fuel limit is at least 1).
                        fuel: limits.fuel.unwrap_or(0),
                        memory_bytes: limits.max_memory_bytes as u64,
                        max_instances: count(limits.max_instances),
                    },
                }
            })
            .collect()
    }

    fn figures(&self, agent: Option<&str>) -> Vec<VersionFigures> {
        let serving = self.registry().all();
        self.metrics()
            .totals()
            .into_iter()
            .filter(|((id, _), _)| agent.is_none_or(|wanted| wanted == id))
            .map(|((id, version), totals)| {
                let current = serving
                    .iter()
                    .find(|a| a.id() == id && a.info.version.to_string() == version);
                figures(
                    id,
                    version,
                    &totals,
                    current.map(|a| (breaker_name(a.breaker().state()), count(a.live_instances()))),
                )
            })
            .collect()
    }

    fn load(&self) -> HostLoad {
        let agents = self.registry().all();
        let live: usize = agents.iter().map(|a| a.live_instances()).sum();
        let idle: usize = agents.iter().map(|a| a.idle_instances()).sum();
        HostLoad {
            running: count(live.saturating_sub(idle)),
            queued: count(agents.iter().map(|a| a.queued_calls()).sum()),
            instances_live: count(live),
            instances_bound: self.instances_bound,
        }
    }

    fn refused(&self, call: &CallState, what: &str) {
        let reason = format!("reading the host's {what} needs `host-info = true` in the manifest");
        self.denied_capability(call, "host-info", &reason);
    }
}

/// One version's figures; `serving` is its breaker and live instances when it is the version
/// serving calls.
fn figures(
    agent: String,
    version: String,
    totals: &Totals,
    serving: Option<(&'static str, u32)>,
) -> VersionFigures {
    let snapshot = StatsSnapshot::from(totals);
    let (breaker, live) = serving.unwrap_or(("retired", 0));
    VersionFigures {
        agent,
        version,
        calls: snapshot.calls,
        outcomes: snapshot.outcomes.into_iter().collect(),
        p50_us: snapshot.p50_us,
        p90_us: snapshot.p90_us,
        p99_us: snapshot.p99_us,
        mean_us: snapshot.mean_us,
        fuel: snapshot.fuel,
        max_fuel: snapshot.max_fuel,
        peak_memory_bytes: snapshot.peak_memory_bytes,
        retries: snapshot.retries,
        breaker: breaker.to_string(),
        live_instances: live,
    }
}
