//! What the API shows of agents and versions (`GET /v1/agents`, the admin answers); `tandem stats`
//! reads the same types back.

use serde::{Deserialize, Serialize};
use tandem::agent::{Agent, OperationInfo};
use tandem::breaker::BreakerState;
use tandem::canary::{Canary, GuardRails};
use tandem::engine::Tier;
use tandem::host::{Host, Swap};
use tandem::metrics::StatsSnapshot;
use tandem::triggers::TriggerStatus;

/// One agent as `GET /v1/agents` shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct AgentView {
    /// The agent's id.
    pub id: String,
    /// The version serving.
    pub version: String,
    /// The hex SHA-256 of its component.
    pub content_hash: String,
    /// Which compiler made the code it runs: `optimized` (Cranelift), or `baseline` (Winch) for
    /// a hot-swapped version's first moments while Cranelift compiles it.
    #[serde(default)]
    pub code: String,
    /// What it does.
    pub description: String,
    /// Where it was loaded from.
    pub source: String,
    /// RFC 3339.
    pub loaded_at: String,
    /// Its operations.
    pub operations: Vec<OperationView>,
    /// Its main limits.
    pub limits: LimitsView,
    /// Its breaker's state.
    pub breaker: BreakerState,
    /// Instances alive now.
    pub live_instances: usize,
    /// The figures of this version's calls.
    pub stats: StatsSnapshot,
    /// The versions kept for rollback, oldest first; the current one is last.
    pub history: Vec<VersionView>,
    /// The canary served beside the current version, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryView>,
    /// Its manifest's triggers, with their figures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<TriggerStatus>,
}

/// An agent's canary.
#[derive(Debug, Serialize, Deserialize)]
pub struct CanaryView {
    /// The agent's id.
    pub agent: String,
    /// The canary's version.
    pub version: String,
    /// The hex SHA-256 of its component.
    pub content_hash: String,
    /// The share of traces it serves, in percent (0 once it ended).
    pub weight: u8,
    /// When it started (RFC 3339).
    pub since: String,
    /// Who started it.
    pub by: String,
    /// When the host aborts it.
    pub guard: GuardRails,
    /// The figures of its calls.
    pub stats: StatsSnapshot,
}

impl CanaryView {
    pub(crate) fn of(host: &Host, canary: &Canary) -> CanaryView {
        let agent = &canary.agent;
        let version = agent.info.version.to_string();
        CanaryView {
            agent: agent.id().to_string(),
            stats: host.metrics().snapshot(agent.id(), &version),
            version,
            content_hash: agent.content_hash.clone(),
            weight: canary.weight(),
            since: humantime::format_rfc3339_millis(canary.since).to_string(),
            by: canary.by.clone(),
            guard: canary.guard.clone(),
        }
    }
}

/// One version in an agent's history.
#[derive(Debug, Serialize, Deserialize)]
pub struct VersionView {
    /// The version.
    pub version: String,
    /// The hex SHA-256 of its component.
    pub content_hash: String,
    /// When it became current (RFC 3339).
    pub loaded_at: String,
    /// Who or what loaded it: `startup`, `api`, `watch`, ...
    pub by: String,
}

impl VersionView {
    pub(crate) fn of(agent: &Agent, by: &str, at: std::time::SystemTime) -> VersionView {
        VersionView {
            version: agent.info.version.to_string(),
            content_hash: agent.content_hash.clone(),
            loaded_at: humantime::format_rfc3339_millis(at).to_string(),
            by: by.to_string(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
/// One operation of an agent.
pub struct OperationView {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Whether its results may be cached.
    pub deterministic: bool,
}

#[derive(Debug, Serialize, Deserialize)]
/// An agent's main limits.
pub struct LimitsView {
    /// Wall clock per call.
    pub timeout_ms: u64,
    /// Fuel per call.
    pub fuel: Option<u64>,
    /// Linear memory per instance.
    pub memory_bytes: usize,
    /// Instances alive at once.
    pub max_instances: usize,
    /// The largest output.
    pub max_output_bytes: usize,
}

impl AgentView {
    pub(crate) fn of(host: &Host, agent: &Agent) -> AgentView {
        let version = agent.info.version.to_string();
        let limits = &agent.policy().limits;
        AgentView {
            id: agent.id().to_string(),
            stats: host.metrics().snapshot(agent.id(), &version),
            version,
            content_hash: agent.content_hash.clone(),
            code: code(agent).to_string(),
            description: agent.info.description.clone(),
            source: agent.source.display().to_string(),
            loaded_at: humantime::format_rfc3339_seconds(agent.loaded_at).to_string(),
            operations: agent
                .info
                .operations
                .iter()
                .map(|op: &OperationInfo| OperationView {
                    name: op.name.clone(),
                    description: op.description.clone(),
                    deterministic: op.deterministic,
                })
                .collect(),
            limits: LimitsView {
                timeout_ms: limits.timeout.as_millis() as u64,
                fuel: limits.fuel,
                memory_bytes: limits.max_memory_bytes,
                max_instances: limits.max_instances,
                max_output_bytes: limits.max_output_bytes,
            },
            breaker: agent.breaker().state(),
            live_instances: agent.live_instances(),
            history: host
                .history(agent.id())
                .iter()
                .map(|v| VersionView::of(&v.agent, &v.by, v.at))
                .collect(),
            canary: host
                .canary(agent.id())
                .map(|canary| CanaryView::of(host, &canary)),
            triggers: host.triggers(agent.id()),
        }
    }
}

/// What the admin endpoints answer: the version now serving and the one it replaced.
#[derive(Debug, Serialize, Deserialize)]
pub struct SwapReply {
    /// The agent's id.
    pub agent: String,
    /// The version now serving.
    pub version: String,
    /// The hex SHA-256 of its component.
    pub content_hash: String,
    /// Which compiler made the code it runs now (see [`AgentView::code`]).
    #[serde(default)]
    pub code: String,
    /// The version it replaced.
    pub previous: Option<Replaced>,
    /// Compiling, describing and probing the new version, in milliseconds (0 for a rollback).
    pub prepared_ms: f64,
    /// The upload was the current version already (same component, same policy): nothing changed.
    #[serde(default)]
    pub unchanged: bool,
}

/// The version a swap or rollback replaced.
#[derive(Debug, Serialize, Deserialize)]
pub struct Replaced {
    /// The version.
    pub version: String,
    /// The hex SHA-256 of its component.
    pub content_hash: String,
}

impl SwapReply {
    pub(crate) fn of(swap: &Swap) -> SwapReply {
        SwapReply {
            agent: swap.agent.id().to_string(),
            version: swap.agent.info.version.to_string(),
            content_hash: swap.agent.content_hash.clone(),
            code: code(&swap.agent).to_string(),
            previous: swap.previous.as_deref().map(|p| Replaced {
                version: p.info.version.to_string(),
                content_hash: p.content_hash.clone(),
            }),
            prepared_ms: swap.prepared_in.as_secs_f64() * 1000.0,
            unchanged: swap.unchanged,
        }
    }
}

/// How the API names the compiler that made an agent's code.
fn code(agent: &Agent) -> &'static str {
    match agent.tier() {
        Tier::Optimized => "optimized",
        Tier::Baseline => "baseline",
    }
}
