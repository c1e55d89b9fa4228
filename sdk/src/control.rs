//! Operating other agents' versions, for agents whose manifest names them under `control = [...]`:
//! list the versions the host holds, roll back, make a held version current again, or run a held
//! version as a canary (start at a weight, reweight, promote, abort). Without the
//! grant every function returns [`AgentError::Denied`]; a missing agent or version is
//! [`AgentError::InvalidInput`], an action the state does not allow (a rollback with nothing to go
//! back to, a second canary, a canary of the current version) [`AgentError::Failed`].
//!
//! ```ignore
//! let versions = tandem_sdk::control::versions("linter")?;
//! if canary_is_bad { tandem_sdk::control::rollback("linter")?; }
//! tandem_sdk::control::set_weight("linter", 50)?;
//! ```

use serde::{Deserialize, Serialize};

use crate::bindings::tandem::agent::control as wit;
use crate::bindings::tandem::agent::types::AgentError;

/// One version the host holds of an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub version: String,
    /// Hex SHA-256 of the component.
    pub content_hash: String,
    /// When it became current, RFC 3339.
    pub since: String,
    /// Who made it current: `startup`, `api`, `watch`, `agent:<id>`, ...
    pub by: String,
    /// It serves the agent's calls now.
    pub current: bool,
}

impl From<wit::VersionInfo> for Version {
    fn from(v: wit::VersionInfo) -> Version {
        Version {
            version: v.version,
            content_hash: v.content_hash,
            since: v.since,
            by: v.by,
            current: v.current,
        }
    }
}

fn classified(error: wit::ControlError) -> AgentError {
    match error {
        wit::ControlError::Denied(m) => AgentError::Denied(m),
        wit::ControlError::NotFound(m) => AgentError::InvalidInput(m),
        wit::ControlError::Invalid(m) => AgentError::Failed(m),
    }
}

/// The versions the host holds of `agent`, oldest first, the current one last.
pub fn versions(agent: &str) -> Result<Vec<Version>, AgentError> {
    Ok(wit::versions(agent)
        .map_err(classified)?
        .into_iter()
        .map(Version::from)
        .collect())
}

/// Makes the version before the current one of `agent` current again; returns it.
pub fn rollback(agent: &str) -> Result<Version, AgentError> {
    wit::rollback(agent).map(Version::from).map_err(classified)
}

/// Makes the held version of `agent` with `content_hash` current; returns it.
pub fn activate(agent: &str, content_hash: &str) -> Result<Version, AgentError> {
    wit::activate(agent, content_hash)
        .map(Version::from)
        .map_err(classified)
}

/// An agent's canary: a version served beside the current one to a share of the traces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Canary {
    pub version: String,
    /// Hex SHA-256 of the component.
    pub content_hash: String,
    /// The share of traces it serves, in percent (0 once it ended).
    pub weight: u8,
    /// When it started, RFC 3339.
    pub since: String,
    /// Who started it: `api`, `agent:<id>`, ...
    pub by: String,
}

impl From<wit::CanaryInfo> for Canary {
    fn from(c: wit::CanaryInfo) -> Canary {
        Canary {
            version: c.version,
            content_hash: c.content_hash,
            weight: c.weight,
            since: c.since,
            by: c.by,
        }
    }
}

/// The canary of `agent`, if it has one.
pub fn canary(agent: &str) -> Result<Option<Canary>, AgentError> {
    Ok(wit::canary(agent).map_err(classified)?.map(Canary::from))
}

/// Serves the held version of `agent` with `content_hash` as its canary to `weight` percent of
/// the traces, with the host's default guard rails.
pub fn start_canary(agent: &str, content_hash: &str, weight: u8) -> Result<Canary, AgentError> {
    wit::start_canary(agent, content_hash, weight)
        .map(Canary::from)
        .map_err(classified)
}

/// Sets the share of traces `agent`'s canary serves.
pub fn set_weight(agent: &str, weight: u8) -> Result<Canary, AgentError> {
    wit::set_weight(agent, weight)
        .map(Canary::from)
        .map_err(classified)
}

/// Makes `agent`'s canary its current version; returns it.
pub fn promote(agent: &str) -> Result<Version, AgentError> {
    wit::promote(agent).map(Version::from).map_err(classified)
}

/// Ends `agent`'s canary; returns it as it was.
pub fn abort(agent: &str) -> Result<Canary, AgentError> {
    wit::abort(agent).map(Canary::from).map_err(classified)
}
