//! The manifest as written: one serde type per section, unknown keys rejected by name. Nothing here
//! checks a value's range; [`Manifest::policy`] does that while resolving it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ManifestError;
use crate::policy::{Isolation, Stdio};

/// A manifest as written, before it is checked and resolved into a [`Policy`](crate::Policy).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `[agent]`: who the manifest is for.
    #[serde(default)]
    pub agent: AgentSection,
    /// `[limits]`: the hard limits of each call.
    #[serde(default)]
    pub limits: LimitsSection,
    /// `[capabilities]`: what the agent may use.
    #[serde(default)]
    pub capabilities: CapabilitiesSection,
    /// `[resilience]`: its breaker and retries.
    #[serde(default)]
    pub resilience: ResilienceSection,
    /// `[state]`: its durable key-value store.
    #[serde(default)]
    pub state: StateSection,
    /// `[[triggers]]`: calls the host makes on a schedule or when an event happens.
    #[serde(default)]
    pub triggers: Vec<crate::triggers::TriggerSection>,
    /// `[egress]`: the outbound HTTP it may make.
    #[serde(default)]
    pub egress: crate::egress::EgressSection,
    /// `[secrets]`: secrets the host sends for it, which it never sees.
    #[serde(default)]
    pub secrets: crate::secrets::SecretsSection,
}

/// `[state]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StateSection {
    /// `max-keys`: keys it may keep.
    pub max_keys: Option<u64>,
    /// `max-bytes`: keys plus values.
    pub max_bytes: Option<Size>,
}

/// `[resilience]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ResilienceSection {
    /// `consecutive-failures`: failures in a row that open the breaker.
    pub consecutive_failures: Option<u32>,
    /// `failure-rate`: the failed share of the window that opens it.
    pub failure_rate: Option<f64>,
    /// `window`: the recent calls the rate is taken over.
    pub window: Option<u32>,
    /// `minimum-calls`: calls the window must hold first.
    pub minimum_calls: Option<u32>,
    /// `open-for`: how long it fails fast.
    pub open_for: Option<String>,
    /// `half-open-probes`: probes that must succeed to close it.
    pub half_open_probes: Option<u32>,
    /// `max-attempts`: attempts per call.
    pub max_attempts: Option<u32>,
    /// `backoff`: the wait before the first retry.
    pub backoff: Option<String>,
    /// `max-backoff`: the longest wait.
    pub max_backoff: Option<String>,
}

/// `[agent]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// `id`: the id the component must describe itself as.
    pub id: Option<String>,
}

/// `[limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitsSection {
    /// `timeout`: wall clock per call.
    pub timeout: Option<String>,
    /// `fuel`: fuel per call.
    pub fuel: Option<u64>,
    /// `memory`: linear memory per instance.
    pub memory: Option<Size>,
    /// `table-elements`: elements per table.
    pub table_elements: Option<u64>,
    /// `max-instances`: instances alive at once.
    pub max_instances: Option<u64>,
    /// `max-queue`: calls that may wait for a busy instance.
    pub max_queue: Option<u64>,
    /// `max-input`: the largest input of a call.
    pub max_input: Option<Size>,
    /// `max-output`: the largest output of a call.
    pub max_output: Option<Size>,
    /// `log-records`: log records per call.
    pub log_records: Option<u64>,
    /// `max-open-files`: files held open at once.
    pub max_open_files: Option<u64>,
    /// `isolation`: pooled or fresh instances.
    pub isolation: Option<Isolation>,
}

/// `[capabilities]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilitiesSection {
    /// `env`: host environment variables passed through by name.
    #[serde(default)]
    pub env: Vec<String>,
    /// `stdio`: where stdout and stderr go.
    #[serde(default)]
    pub stdio: Stdio,
    /// `delegate`: agents it may call.
    #[serde(default)]
    pub delegate: Vec<String>,
    /// `dirs`: directories it sees.
    #[serde(default)]
    pub dirs: Vec<DirEntry>,
    /// `host-info`: it may read the host's agents, figures and load.
    #[serde(default, rename = "host-info")]
    pub host_info: bool,
    /// `control`: agents whose versions it may list, roll back and activate.
    #[serde(default)]
    pub control: Vec<String>,
    /// `accept-lent-dirs`: callers may lend it their directories for one call.
    #[serde(default, rename = "accept-lent-dirs")]
    pub accept_lent_dirs: bool,
}

/// One entry of `capabilities.dirs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirEntry {
    /// The directory on the host (relative: to the manifest's directory).
    pub host: PathBuf,
    /// Where the guest sees it.
    pub guest: String,
    /// Read-only or read-write.
    pub mode: DirMode,
}

/// How a granted directory may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirMode {
    /// The guest may read it.
    ReadOnly,
    /// The guest may read and write it.
    ReadWrite,
}

impl Manifest {
    /// The manifest beside `component` (same name, `.toml`), if there is one.
    pub fn path_beside(component: &Path) -> PathBuf {
        component.with_extension("toml")
    }

    /// Reads and parses a manifest file; unknown keys and type errors name the key and line.
    pub fn read(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
            path: path.to_path_buf(),
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        Manifest::parse(path, &text)
    }

    /// Parses manifest text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
        toml::from_str(text).map_err(|e| ManifestError {
            path: path.to_path_buf(),
            key: None,
            message: e.to_string().trim_end().replace('\n', "\n  "),
        })
    }
}

/// A byte size: a number of bytes, or text such as `"64MiB"` or `"512 KiB"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Size {
    /// A number of bytes.
    Bytes(u64),
    /// A size with a unit, such as `"64MiB"`.
    Text(String),
}
