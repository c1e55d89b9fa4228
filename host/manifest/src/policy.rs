//! The plain description of what an agent may do and use, which the engine enforces: its
//! [`Limits`], its [`Grants`] (everything not granted is denied) and its [`Resilience`], gathered in a
//! [`Policy`]; and the bounds of the engine itself ([`EngineLimits`]) that no manifest can exceed.
//!
//! A new [`Grants`] preopens no directory, passes no environment variable, discards stdout/stderr,
//! has no network, and may delegate to nobody.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::egress::Egress;
use crate::quota::Quota;
use crate::resilience::Resilience;
use crate::secrets::Secrets;

/// How a call's instance is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// Instances are kept warm and reused by later calls (never after a trap or a limit was hit).
    #[default]
    Pooled,
    /// Every call gets a new instance, so no state can pass from one task to the next.
    Fresh,
}

/// The hard limits of one agent's calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Wall-clock time per call.
    pub timeout: Duration,
    /// Fuel (roughly, wasm instructions) per call; `None` (the default): not metered, the call is
    /// bound by its deadline alone and its guest runs without fuel instrumentation.
    pub fuel: Option<u64>,
    /// Linear memory per instance, in bytes.
    pub max_memory_bytes: usize,
    /// Elements per table.
    pub max_table_elements: usize,
    /// Instances of this agent alive at once: the bound on its concurrent calls.
    pub max_instances: usize,
    /// Calls that may wait for a free instance when all `max_instances` are busy; one more is
    /// refused at once as `overloaded`.
    pub max_queue: usize,
    /// The largest input a call may bring, in bytes (checked before it is copied anywhere).
    pub max_input_bytes: usize,
    /// The largest output a call may return, in bytes.
    pub max_output_bytes: usize,
    /// Log records one call may write before the rest are dropped.
    pub max_log_records: u32,
    /// Files and directories an instance may hold open at once (besides its granted directories).
    pub max_open_files: usize,
    /// Whether instances are reused by later calls.
    pub isolation: Isolation,
}

impl Default for Limits {
    /// 5 s, no fuel metering, 64 MiB of memory, 10 000 table elements, 32 instances, 256 calls
    /// waiting, 4 MiB of input, 16 MiB of output, 1 000 log records per call, 64 open files,
    /// pooled instances.
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(5),
            fuel: None,
            max_memory_bytes: 64 << 20,
            max_table_elements: 10_000,
            max_instances: 32,
            max_queue: 256,
            max_input_bytes: 4 << 20,
            max_output_bytes: 16 << 20,
            max_log_records: 1_000,
            max_open_files: 64,
            isolation: Isolation::Pooled,
        }
    }
}

/// A directory made visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it, e.g. `data` or `/data`.
    pub guest: String,
    /// Read-write when true, read-only otherwise.
    pub writable: bool,
}

/// Where a guest's stdout and stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stdio {
    /// Thrown away.
    #[default]
    Discard,
    /// Into the host's log, line by line, rate-limited (target `tandem::stdio`).
    Log,
}

/// The capabilities granted to one agent. The default grants nothing: no directory, no environment
/// variable, stdout/stderr discarded, no network (never linked), no secret, no delegation, no
/// host-info, no control.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grants {
    /// Directories the guest sees.
    pub dirs: Vec<DirGrant>,
    /// Environment variables the guest sees (name, value).
    pub env: Vec<(String, String)>,
    /// Where its stdout and stderr go.
    pub stdio: Stdio,
    /// Agents it may delegate to.
    pub delegate_to: Vec<String>,
    /// It may read the host's agents, figures and load (`tandem:agent/host-info`).
    pub host_info: bool,
    /// Agents whose versions it may operate (`tandem:agent/control`).
    pub control: Vec<String>,
    /// Callers may lend it one of their directories for the length of one call.
    pub accept_lent_dirs: bool,
    /// The outbound HTTP it may make (`None`: `wasi:http` is not even linked).
    pub egress: Option<Arc<Egress>>,
    /// The secrets the host substitutes into its requests.
    pub secrets: Arc<Secrets>,
}

/// Everything an agent is allowed: its limits and its grants (from its manifest, or the defaults).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// The hard limits of its calls.
    pub limits: Limits,
    /// What it may use.
    pub grants: Grants,
    /// How calls to it are protected.
    pub resilience: Resilience,
    /// How much durable state the agent may keep.
    pub state_quota: Quota,
    /// The id the manifest pins: loading fails when the component describes itself otherwise.
    pub expected_id: Option<String>,
    /// The manifest file this policy was read from (none: the defaults), read again when a saved
    /// version is restored.
    pub manifest: Option<PathBuf>,
    /// The calls the host makes to the agent on its own (under `tandem serve`).
    pub triggers: Vec<crate::triggers::Trigger>,
}

/// Limits of the engine's instance pool, shared by all agents of one host.
#[derive(Debug, Clone)]
pub struct EngineLimits {
    /// Component instances alive at once, across all agents.
    pub max_instances: u32,
    /// The largest linear memory any one instance may grow to, in bytes.
    pub max_memory_bytes: usize,
    /// Wasm stack per call, in bytes.
    pub max_wasm_stack: usize,
}

impl Default for EngineLimits {
    /// 256 instances, 1 GiB of linear memory each at most, 1 MiB of wasm stack.
    fn default() -> Self {
        EngineLimits {
            max_instances: 256,
            max_memory_bytes: 1 << 30,
            max_wasm_stack: 1 << 20,
        }
    }
}
