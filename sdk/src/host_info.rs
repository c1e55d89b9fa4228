//! Reading the host: its loaded agents (and how their calls are routed: [`routes`]), every agent
//! version's figures and its load, for agents whose
//! manifest grants `host-info = true` (`[capabilities]`). Without the grant every function returns
//! [`AgentError::Denied`], which an agent passes on with `?`.
//!
//! ```ignore
//! let load = tandem_sdk::host_info::load()?;
//! if load.queued > 0 { /* the host is busy: work sequentially */ }
//! for f in tandem_sdk::host_info::figures(Some("echo"))? {
//!     tandem_sdk::log::info(&format!("{} {}: {} calls, p99 {:?} us", f.agent, f.version, f.calls, f.p99_us), &[]);
//! }
//! ```

use serde::{Deserialize, Serialize};

use crate::bindings::tandem::agent::host_info as wit;
use crate::bindings::tandem::agent::types::AgentError;

/// The limits a loaded agent's calls run under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub timeout_ms: u64,
    pub fuel: u64,
    pub memory_bytes: u64,
    pub max_instances: u32,
}

/// A loaded agent: the version serving its calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSummary {
    pub id: String,
    pub version: String,
    /// Hex SHA-256 of the component.
    pub content_hash: String,
    pub operations: Vec<String>,
    pub limits: Limits,
}

/// The figures of one version of one agent since the host started: what `/metrics` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub agent: String,
    pub version: String,
    /// Calls that ended, after retries.
    pub calls: u64,
    /// Calls by outcome (`ok` or an error class), only those seen.
    pub outcomes: Vec<(String, u64)>,
    pub p50_us: Option<f64>,
    pub p90_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub mean_us: Option<f64>,
    /// Fuel used by all calls, and the most one attempt used.
    pub fuel: u64,
    pub max_fuel: u64,
    pub peak_memory_bytes: u64,
    pub retries: u64,
    /// `closed`, `open`, `half-open`, or `retired` for a version no longer serving.
    pub breaker: String,
    pub live_instances: u32,
}

impl Figures {
    /// The outcomes that are the caller's mistake, not the agent's failure.
    pub const CALLER_ERRORS: [&str; 3] = ["invalid-input", "unsupported-operation", "denied"];

    /// Calls that failed through the agent's fault: every outcome but `ok` and the caller's
    /// mistakes ([`Figures::CALLER_ERRORS`]). What MONITOR and DEPLOYER count as errors.
    pub fn failed(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(outcome, _)| {
                outcome != "ok" && !Self::CALLER_ERRORS.contains(&outcome.as_str())
            })
            .map(|(_, n)| n)
            .sum()
    }
}

/// The host's load at the moment of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Load {
    /// Calls running in an instance, the caller's own included.
    pub running: u32,
    /// Calls waiting for a free instance.
    pub queued: u32,
    pub instances_live: u32,
    /// How many instances the engine's pool allows at once.
    pub instances_bound: u32,
}

fn denied(error: wit::HostInfoError) -> AgentError {
    match error {
        wit::HostInfoError::Denied(reason) => AgentError::Denied(reason),
    }
}

/// Every loaded agent, by id.
pub fn agents() -> Result<Vec<AgentSummary>, AgentError> {
    let agents = wit::agents().map_err(denied)?;
    Ok(agents
        .into_iter()
        .map(|a| AgentSummary {
            id: a.id,
            version: a.version,
            content_hash: a.content_hash,
            operations: a.operations,
            limits: Limits {
                timeout_ms: a.limits.timeout_ms,
                fuel: a.limits.fuel,
                memory_bytes: a.limits.memory_bytes,
                max_instances: a.limits.max_instances,
            },
        })
        .collect())
}

/// The figures of every version of `agent` (`None`: of every agent), by agent then version.
pub fn figures(agent: Option<&str>) -> Result<Vec<Figures>, AgentError> {
    let figures = wit::figures(agent).map_err(denied)?;
    Ok(figures
        .into_iter()
        .map(|f| Figures {
            agent: f.agent,
            version: f.version,
            calls: f.calls,
            outcomes: f.outcomes,
            p50_us: f.p50_us,
            p90_us: f.p90_us,
            p99_us: f.p99_us,
            mean_us: f.mean_us,
            fuel: f.fuel,
            max_fuel: f.max_fuel,
            peak_memory_bytes: f.peak_memory_bytes,
            retries: f.retries,
            breaker: f.breaker,
            live_instances: f.live_instances,
        })
        .collect())
}

/// An agent's canary and the share of traces it serves (percent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanaryRoute {
    pub version: String,
    /// Hex SHA-256 of the component.
    pub content_hash: String,
    pub weight: u8,
}

/// How one agent's calls are routed: its current version, and its canary if it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub agent: String,
    pub version: String,
    /// Hex SHA-256 of the component.
    pub content_hash: String,
    pub canary: Option<CanaryRoute>,
}

/// Every loaded agent's route, by id.
pub fn routes() -> Result<Vec<Route>, AgentError> {
    let routes = wit::routes().map_err(denied)?;
    Ok(routes
        .into_iter()
        .map(|r| Route {
            agent: r.agent,
            version: r.version,
            content_hash: r.content_hash,
            canary: r.canary.map(|c| CanaryRoute {
                version: c.version,
                content_hash: c.content_hash,
                weight: c.weight,
            }),
        })
        .collect())
}

/// The host's load now.
pub fn load() -> Result<Load, AgentError> {
    let l = wit::load().map_err(denied)?;
    Ok(Load {
        running: l.running,
        queued: l.queued,
        instances_live: l.instances_live,
        instances_bound: l.instances_bound,
    })
}
