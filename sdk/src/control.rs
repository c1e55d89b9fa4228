//! Operating other agents' versions, for agents whose manifest names them under `control = [...]`:
//! list the versions the host holds, roll back, or make a held version current again. Without the
//! grant every function returns [`AgentError::Denied`]; a missing agent or version is
//! [`AgentError::InvalidInput`], a rollback with nothing to go back to [`AgentError::Failed`].
//!
//! ```ignore
//! let versions = tandem_sdk::control::versions("linter")?;
//! if canary_is_bad { tandem_sdk::control::rollback("linter")?; }
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
