//! The agent manifest: a TOML file beside the component (`linter.wasm` + `linter.toml`) that sets
//! the agent's limits and grants its capabilities. Everything not granted is denied; a missing
//! manifest means the defaults below and no capabilities at all.
//!
//! Unknown keys are rejected by name, and every value is range-checked with an error that names the
//! key. Relative host paths are resolved against the manifest's directory.
//!
//! ```toml
//! [agent]
//! id = "linter"              # optional: the component's describe() must return this id
//!
//! [limits]
//! timeout = "5s"             # wall clock per call: "250ms", "5s", "2m"
//! fuel = 500_000_000         # fuel per call
//! memory = "64MiB"           # linear memory per instance
//! table-elements = 10_000
//! max-instances = 32         # instances alive at once: the agent's concurrency bound
//! max-queue = 256            # calls that may wait for a busy instance; more are `overloaded`
//! max-input = "4MiB"         # the largest input a call may bring
//! max-output = "16MiB"
//! log-records = 1_000        # per call; the rest are dropped
//! max-open-files = 64        # files a guest holds open at once (an instance that ends a call
//!                            #   with files open is not reused)
//! isolation = "pooled"       # "pooled": warm instances reused; "fresh": a new instance per call
//!
//! [capabilities]
//! env = ["LANG"]             # host environment variables passed through by name
//! stdio = "discard"          # or "log": the guest's stdout/stderr go to the host's log
//! delegate = ["security"]    # agents it may call
//! dirs = [
//!     { host = "samples", guest = "samples", mode = "read-only" },
//!     { host = "/var/tmp/out", guest = "/out", mode = "read-write" },
//! ]
//!
//! [resilience]
//! consecutive-failures = 5   # the breaker opens after this many failures in a row,
//! failure-rate = 0.5         # or when this share of the last `window` calls failed,
//! window = 20                #   (at most 64)
//! minimum-calls = 10         #   once at least this many were made;
//! open-for = "500ms"         # then it fails fast this long before letting probes through
//! half-open-probes = 1       # probe calls that must succeed to close it again
//! max-attempts = 3           # attempts per call (timeouts, traps, `retryable` errors)
//! backoff = "10ms"           # before the first retry, doubling, with full jitter,
//! max-backoff = "1s"         #   up to this
//!
//! [state]                    # the agent's durable key-value store (the `state` import)
//! max-keys = 1024            # keys it may keep
//! max-bytes = "1MiB"         # keys plus values, in bytes
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::engine::EngineLimits;
use crate::sandbox::{DirGrant, Isolation, Policy, Stdio};

/// A manifest as written, before it is checked and resolved into a [`Policy`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub agent: AgentSection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub capabilities: CapabilitiesSection,
    #[serde(default)]
    pub resilience: ResilienceSection,
    #[serde(default)]
    pub state: StateSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StateSection {
    pub max_keys: Option<u64>,
    pub max_bytes: Option<Size>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ResilienceSection {
    pub consecutive_failures: Option<u32>,
    pub failure_rate: Option<f64>,
    pub window: Option<u32>,
    pub minimum_calls: Option<u32>,
    pub open_for: Option<String>,
    pub half_open_probes: Option<u32>,
    pub max_attempts: Option<u32>,
    pub backoff: Option<String>,
    pub max_backoff: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    pub id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitsSection {
    pub timeout: Option<String>,
    pub fuel: Option<u64>,
    pub memory: Option<Size>,
    pub table_elements: Option<u64>,
    pub max_instances: Option<u64>,
    pub max_queue: Option<u64>,
    pub max_input: Option<Size>,
    pub max_output: Option<Size>,
    pub log_records: Option<u64>,
    pub max_open_files: Option<u64>,
    pub isolation: Option<Isolation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilitiesSection {
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub stdio: Stdio,
    #[serde(default)]
    pub delegate: Vec<String>,
    #[serde(default)]
    pub dirs: Vec<DirEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirEntry {
    pub host: PathBuf,
    pub guest: String,
    pub mode: DirMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirMode {
    ReadOnly,
    ReadWrite,
}

/// A byte size: a number of bytes, or text such as `"64MiB"` or `"512 KiB"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Size {
    Bytes(u64),
    Text(String),
}

/// A manifest that could not be read or is invalid. `key` names the offending setting.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}{message}", path.display(), key.as_ref().map(|k| format!("`{k}`: ")).unwrap_or_default())]
pub struct ManifestError {
    pub path: PathBuf,
    pub key: Option<String>,
    pub message: String,
}

/// The ranges values must fall in.
const TIMEOUT_RANGE: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(3600));
const MIN_MEMORY: u64 = 64 * 1024;
const MAX_TABLE_ELEMENTS: u64 = 10_000_000;
const MAX_LOG_RECORDS: u64 = 1_000_000;
const MAX_QUEUE: u64 = 100_000;
const MAX_OPEN_FILES: u64 = 65_536;
const MAX_INPUT_BYTES: u64 = 1 << 30;
const MAX_STATE_KEYS: u64 = 100_000_000;
const MAX_STATE_BYTES: u64 = 1 << 40;

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

    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
        toml::from_str(text).map_err(|e| ManifestError {
            path: path.to_path_buf(),
            key: None,
            message: e.to_string().trim_end().replace('\n', "\n  "),
        })
    }

    /// Checks every value and resolves the manifest into a [`Policy`]: relative directories against
    /// `base`, environment variables from `env` (a name the host does not have is an error).
    pub fn policy(
        &self,
        path: &Path,
        base: &Path,
        engine: &EngineLimits,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Policy, ManifestError> {
        let fail = |key: &str, message: String| ManifestError {
            path: path.to_path_buf(),
            key: Some(key.to_string()),
            message,
        };
        let mut policy = Policy::default();
        let (l, limits) = (&self.limits, &mut policy.limits);

        if let Some(id) = &self.agent.id {
            crate::agent::check_name("agent id", id).map_err(|m| fail("agent.id", m))?;
            policy.expected_id = Some(id.clone());
        }
        if let Some(text) = &l.timeout {
            limits.timeout = parse_duration(text, TIMEOUT_RANGE.0, TIMEOUT_RANGE.1)
                .map_err(|m| fail("limits.timeout", m))?;
        }
        if let Some(fuel) = l.fuel {
            check_range(fuel, 1, u64::MAX / 2, |v| v.to_string())
                .map_err(|m| fail("limits.fuel", m))?;
            limits.fuel = fuel;
        }
        if let Some(memory) = &l.memory {
            let bytes = memory.bytes().map_err(|m| fail("limits.memory", m))?;
            check_range(
                bytes,
                MIN_MEMORY,
                engine.max_memory_bytes as u64,
                human_size,
            )
            .map_err(|m| fail("limits.memory", m))?;
            limits.max_memory_bytes = bytes as usize;
        }
        if let Some(elements) = l.table_elements {
            check_range(elements, 1, MAX_TABLE_ELEMENTS, |v| v.to_string())
                .map_err(|m| fail("limits.table-elements", m))?;
            limits.max_table_elements = elements as usize;
        }
        if let Some(instances) = l.max_instances {
            check_range(instances, 1, u64::from(engine.max_instances), |v| {
                v.to_string()
            })
            .map_err(|m| fail("limits.max-instances", m))?;
            limits.max_instances = instances as usize;
        }
        if let Some(queue) = l.max_queue {
            check_range(queue, 0, MAX_QUEUE, |v| v.to_string())
                .map_err(|m| fail("limits.max-queue", m))?;
            limits.max_queue = queue as usize;
        }
        if let Some(input) = &l.max_input {
            let bytes = input.bytes().map_err(|m| fail("limits.max-input", m))?;
            check_range(bytes, 2, MAX_INPUT_BYTES, human_size)
                .map_err(|m| fail("limits.max-input", m))?;
            limits.max_input_bytes = bytes as usize;
        }
        if let Some(output) = &l.max_output {
            let bytes = output.bytes().map_err(|m| fail("limits.max-output", m))?;
            check_range(bytes, 1, limits.max_memory_bytes as u64, human_size)
                .map_err(|m| fail("limits.max-output", m))?;
            limits.max_output_bytes = bytes as usize;
        }
        if let Some(records) = l.log_records {
            check_range(records, 0, MAX_LOG_RECORDS, |v| v.to_string())
                .map_err(|m| fail("limits.log-records", m))?;
            limits.max_log_records = records as u32;
        }
        if let Some(files) = l.max_open_files {
            check_range(files, 1, MAX_OPEN_FILES, |v| v.to_string())
                .map_err(|m| fail("limits.max-open-files", m))?;
            limits.max_open_files = files as usize;
        }
        if let Some(isolation) = l.isolation {
            limits.isolation = isolation;
        }

        let (r, breaker) = (&self.resilience, &mut policy.resilience.breaker);
        let duration = |key: &str, text: &str, max: Duration| {
            parse_duration(text, Duration::ZERO, max).map_err(|m| fail(key, m))
        };
        if let Some(n) = r.consecutive_failures {
            check_range(n, 1, 1_000, |v| v.to_string())
                .map_err(|m| fail("resilience.consecutive-failures", m))?;
            breaker.consecutive_failures = n;
        }
        if let Some(rate) = r.failure_rate {
            check_range(rate, 0.01, 1.0, |v| v.to_string())
                .map_err(|m| fail("resilience.failure-rate", m))?;
            breaker.failure_rate = rate;
        }
        if let Some(window) = r.window {
            check_range(window, 1, 64, |v| v.to_string())
                .map_err(|m| fail("resilience.window", m))?;
            breaker.window = window;
        }
        if let Some(n) = r.minimum_calls {
            check_range(n, 1, breaker.window, |v| v.to_string())
                .map_err(|m| fail("resilience.minimum-calls", m))?;
            breaker.minimum_calls = n;
        }
        if let Some(text) = &r.open_for {
            breaker.open_for = duration("resilience.open-for", text, Duration::from_secs(3600))?;
        }
        if let Some(n) = r.half_open_probes {
            check_range(n, 1, 100, |v| v.to_string())
                .map_err(|m| fail("resilience.half-open-probes", m))?;
            breaker.half_open_probes = n;
        }
        let retry = &mut policy.resilience.retry;
        if let Some(n) = r.max_attempts {
            check_range(n, 1, 10, |v| v.to_string())
                .map_err(|m| fail("resilience.max-attempts", m))?;
            retry.max_attempts = n;
        }
        if let Some(text) = &r.backoff {
            retry.backoff = duration("resilience.backoff", text, Duration::from_secs(3600))?;
        }
        if let Some(text) = &r.max_backoff {
            retry.max_backoff =
                duration("resilience.max-backoff", text, Duration::from_secs(3600))?;
        }
        if retry.backoff > retry.max_backoff {
            let message = format!(
                "{:?} is longer than max-backoff {:?}",
                retry.backoff, retry.max_backoff
            );
            return Err(fail("resilience.backoff", message));
        }

        let (s, quota) = (&self.state, &mut policy.state_quota);
        if let Some(keys) = s.max_keys {
            check_range(keys, 0, MAX_STATE_KEYS, |v| v.to_string())
                .map_err(|m| fail("state.max-keys", m))?;
            quota.max_keys = keys;
        }
        if let Some(size) = &s.max_bytes {
            let bytes = size.bytes().map_err(|m| fail("state.max-bytes", m))?;
            check_range(bytes, 0, MAX_STATE_BYTES, human_size)
                .map_err(|m| fail("state.max-bytes", m))?;
            quota.max_bytes = bytes;
        }

        let (c, grants) = (&self.capabilities, &mut policy.grants);
        for name in &c.env {
            let value = env(name).ok_or_else(|| {
                fail(
                    "capabilities.env",
                    format!("`{name}` is not set in the host's environment"),
                )
            })?;
            grants.env.push((name.clone(), value));
        }
        grants.stdio = c.stdio;
        for agent in &c.delegate {
            crate::agent::check_name("agent id", agent)
                .map_err(|m| fail("capabilities.delegate", m))?;
            grants.delegate_to.push(agent.clone());
        }
        for dir in &c.dirs {
            let host = if dir.host.is_absolute() {
                dir.host.clone()
            } else {
                base.join(&dir.host)
            };
            if !host.is_dir() {
                return Err(fail(
                    "capabilities.dirs",
                    format!("{} is not a directory", host.display()),
                ));
            }
            if dir.guest.is_empty() {
                return Err(fail(
                    "capabilities.dirs",
                    format!("the guest path for {} is empty", host.display()),
                ));
            }
            if dir.guest.split(['/', '\\']).any(|part| part == "..") {
                return Err(fail(
                    "capabilities.dirs",
                    format!("the guest path `{}` climbs out with `..`", dir.guest),
                ));
            }
            let normal = |path: &str| path.trim_matches('/').to_string();
            if grants
                .dirs
                .iter()
                .any(|other| normal(&other.guest) == normal(&dir.guest))
            {
                return Err(fail(
                    "capabilities.dirs",
                    format!("the guest path `{}` is granted twice", dir.guest),
                ));
            }
            grants.dirs.push(DirGrant {
                host,
                guest: dir.guest.clone(),
                writable: dir.mode == DirMode::ReadWrite,
            });
        }
        Ok(policy)
    }
}

impl Size {
    fn bytes(&self) -> Result<u64, String> {
        match self {
            Size::Bytes(bytes) => Ok(*bytes),
            Size::Text(text) => text
                .parse::<bytesize::ByteSize>()
                .map(|size| size.as_u64())
                .map_err(|e| format!("`{text}` is not a size like \"64MiB\" or 1048576: {e}")),
        }
    }
}

fn human_size(bytes: u64) -> String {
    bytesize::ByteSize::b(bytes).display().iec().to_string()
}

/// Parses a duration a user wrote (`"250ms"`, `"5s"`, `"2m"`) and checks it lies in `min..=max`;
/// the error names the text and the range. Every duration from users passes here, so none can
/// overflow a deadline.
pub fn parse_duration(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration like \"500ms\", \"5s\" or \"2m\": {e}"))?;
    check_range(duration, min, max, |d| format!("{d:?}"))?;
    Ok(duration)
}

/// Checks `min <= value <= max`; a value that compares with neither (a NaN) is out of range too.
pub fn check_range<T: PartialOrd + Copy>(
    value: T,
    min: T,
    max: T,
    show: impl Fn(T) -> String,
) -> Result<(), String> {
    if !(min..=max).contains(&value) {
        return Err(format!(
            "{} is out of range ({} to {})",
            show(value),
            show(min),
            show(max)
        ));
    }
    Ok(())
}

/// The policy for the component at `path`: from the manifest beside it, or the defaults (which
/// grant nothing) when there is none.
pub fn policy_for_component(path: &Path, engine: &EngineLimits) -> Result<Policy, ManifestError> {
    let manifest_path = Manifest::path_beside(path);
    if !manifest_path.is_file() {
        return Ok(Policy::default());
    }
    let mut policy = policy_from(&manifest_path, engine)?;
    // Remembered by its full path, so that a restored version finds it from any directory.
    policy.manifest = manifest_path.canonicalize().ok().or(policy.manifest);
    Ok(policy)
}

/// The policy in the manifest file `path`, which the policy remembers (to read it again when a
/// saved version is restored).
pub fn policy_from(path: &Path, engine: &EngineLimits) -> Result<Policy, ManifestError> {
    let manifest = Manifest::read(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut policy = manifest.policy(path, base, engine, |name| std::env::var(name).ok())?;
    policy.manifest = Some(path.to_path_buf());
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Result<Policy, String> {
        let path = Path::new("agent.toml");
        let env = |name: &str| (name == "LANG").then(|| "C.UTF-8".to_string());
        Manifest::parse(path, text)
            .and_then(|m| m.policy(path, Path::new("/"), &EngineLimits::default(), env))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_empty_manifest_grants_nothing_and_keeps_the_defaults() {
        let p = policy("").unwrap();
        assert_eq!(p.limits.timeout, crate::Limits::default().timeout);
        assert!(
            p.grants.dirs.is_empty() && p.grants.env.is_empty() && p.grants.delegate_to.is_empty()
        );
        assert_eq!(p.grants.stdio, Stdio::Discard);
        assert_eq!(p.expected_id, None);
        assert_eq!(p.state_quota, crate::state::Quota::default());
    }

    #[test]
    fn a_full_manifest_sets_every_limit_and_grant() {
        let p = policy(
            r#"
            [agent]
            id = "linter"
            [limits]
            timeout = "250ms"
            fuel = 1000
            memory = "32MiB"
            table-elements = 500
            max-instances = 4
            max-output = 65536
            log-records = 10
            isolation = "fresh"
            [capabilities]
            env = ["LANG"]
            stdio = "log"
            delegate = ["security"]
            dirs = [{ host = "/tmp", guest = "/scratch", mode = "read-write" }, { host = "/", guest = "root", mode = "read-only" }]
            [resilience]
            consecutive-failures = 3
            failure-rate = 0.25
            window = 8
            minimum-calls = 4
            open-for = "2s"
            half-open-probes = 2
            max-attempts = 5
            backoff = "1ms"
            max-backoff = "50ms"
            [state]
            max-keys = 10
            max-bytes = "4KiB"
            "#,
        )
        .unwrap();
        assert_eq!(
            p.state_quota,
            crate::state::Quota {
                max_keys: 10,
                max_bytes: 4096
            }
        );
        let l = &p.limits;
        assert_eq!(
            (
                l.timeout,
                l.fuel,
                l.max_memory_bytes,
                l.max_table_elements,
                l.max_instances,
                l.max_output_bytes,
                l.max_log_records,
                l.isolation
            ),
            (
                Duration::from_millis(250),
                1000,
                32 << 20,
                500,
                4,
                65536,
                10,
                Isolation::Fresh
            )
        );
        assert_eq!(p.grants.env, [("LANG".to_string(), "C.UTF-8".to_string())]);
        assert_eq!(p.grants.stdio, Stdio::Log);
        assert_eq!(p.grants.delegate_to, ["security"]);
        assert_eq!(
            p.grants.dirs,
            [
                DirGrant {
                    host: "/tmp".into(),
                    guest: "/scratch".into(),
                    writable: true
                },
                DirGrant {
                    host: "/".into(),
                    guest: "root".into(),
                    writable: false
                },
            ]
        );
        assert_eq!(p.expected_id.as_deref(), Some("linter"));
        let b = &p.resilience.breaker;
        assert_eq!(
            (
                b.consecutive_failures,
                b.failure_rate,
                b.window,
                b.minimum_calls,
                b.open_for,
                b.half_open_probes
            ),
            (3, 0.25, 8, 4, Duration::from_secs(2), 2)
        );
        let r = &p.resilience.retry;
        assert_eq!(
            (r.max_attempts, r.backoff, r.max_backoff),
            (5, Duration::from_millis(1), Duration::from_millis(50))
        );
    }

    #[test]
    fn bad_manifests_are_rejected_with_the_key_named() {
        let cases = [
            (
                "[limits]\ntimeout = \"5s\"\nfule = 3",
                "unknown field `fule`",
            ),
            ("[limit]\n", "unknown field `limit`"),
            ("[capabilities]\nnetwork = true", "unknown field `network`"),
            (
                "[limits]\ntimeout = \"soon\"",
                "`limits.timeout`: `soon` is not a duration",
            ),
            (
                "[limits]\ntimeout = \"2h\"",
                "`limits.timeout`: 7200s is out of range",
            ),
            (
                "[limits]\nmemory = \"8GiB\"",
                "`limits.memory`: 8.0 GiB is out of range (64.0 KiB to 1.0 GiB)",
            ),
            (
                "[limits]\nmemory = \"lots\"",
                "`limits.memory`: `lots` is not a size",
            ),
            (
                "[limits]\nmax-instances = 0",
                "`limits.max-instances`: 0 is out of range (1 to 256)",
            ),
            ("[limits]\nfuel = 0", "`limits.fuel`: 0 is out of range"),
            (
                "[state]\nmax-bytes = \"2TiB\"",
                "`state.max-bytes`: 2.0 TiB is out of range",
            ),
            ("[state]\nkeys = 3", "unknown field `keys`"),
            (
                "[limits]\nmemory = \"1MiB\"\nmax-output = \"2MiB\"",
                "`limits.max-output`: 2.0 MiB is out of range",
            ),
            (
                "[limits]\nisolation = \"shared\"",
                "unknown variant `shared`",
            ),
            (
                "[capabilities]\nenv = [\"SECRET_TOKEN\"]",
                "`capabilities.env`: `SECRET_TOKEN` is not set",
            ),
            (
                "[capabilities]\ndelegate = [\"Bad Id\"]",
                "`capabilities.delegate`: agent id `Bad Id` must be",
            ),
            (
                "[capabilities]\ndirs = [{ host = \"/nonexistent\", guest = \"x\", mode = \"read-only\" }]",
                "/nonexistent is not a directory",
            ),
            (
                "[capabilities]\ndirs = [{ host = \"/tmp\", guest = \"x\", mode = \"rw\" }]",
                "unknown variant `rw`",
            ),
            (
                "[agent]\nid = \"UPPER\"",
                "`agent.id`: agent id `UPPER` must be",
            ),
            (
                "[resilience]\nwindow = 100",
                "`resilience.window`: 100 is out of range (1 to 64)",
            ),
            (
                "[resilience]\nmax-attempts = 0",
                "`resilience.max-attempts`: 0 is out of range",
            ),
            (
                "[resilience]\nbackoff = \"2s\"",
                "`resilience.backoff`: 2s is longer than max-backoff 1s",
            ),
            ("[resilience]\nretries = 3", "unknown field `retries`"),
            (
                "[resilience]\nfailure-rate = nan",
                "`resilience.failure-rate`: NaN is out of range",
            ),
            (
                "[resilience]\nopen-for = \"300000000000y\"",
                "`resilience.open-for`: 9467280000000000000s is out of range",
            ),
            (
                "[limits]\ntimeout = \"0s\"",
                "`limits.timeout`: 0ns is out of range",
            ),
            (
                "[capabilities]\ndirs = [{ host = \"/tmp\", guest = \"../x\", mode = \"read-only\" }]",
                "`capabilities.dirs`: the guest path `../x` climbs out",
            ),
            (
                "[capabilities]\ndirs = [{ host = \"/tmp\", guest = \"d\", mode = \"read-only\" }, { host = \"/\", guest = \"/d/\", mode = \"read-only\" }]",
                "`capabilities.dirs`: the guest path `/d/` is granted twice",
            ),
            (
                "[capabilities]\ndirs = [{ host = \"/tmp\", guest = \"d\" }]",
                "missing field `mode`",
            ),
            (
                "[limits]\nmax-input = \"2GiB\"",
                "`limits.max-input`: 2.0 GiB is out of range",
            ),
            (
                "[limits]\nmax-queue = 100001",
                "`limits.max-queue`: 100001 is out of range",
            ),
        ];
        for (text, expected) in cases {
            let error = policy(text).unwrap_err();
            assert!(error.starts_with("agent.toml: "), "{error}");
            assert!(
                error.contains(expected),
                "{text:?}: expected {expected:?} in {error:?}"
            );
        }
    }

    #[test]
    fn relative_dirs_resolve_against_the_manifest_directory() {
        let dir = std::env::temp_dir();
        let manifest = Manifest::parse(
            Path::new("m.toml"),
            "[capabilities]\ndirs = [{ host = \".\", guest = \"d\", mode = \"read-only\" }]",
        )
        .unwrap();
        let p = manifest
            .policy(Path::new("m.toml"), &dir, &EngineLimits::default(), |_| {
                None
            })
            .unwrap();
        assert_eq!(p.grants.dirs[0].host, dir.join("."));
    }
}
