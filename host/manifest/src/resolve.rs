//! Resolving a [`Manifest`] into a [`Policy`]: one function per section, each checking every value
//! of its section against its range and naming the key when one is wrong.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::error::ManifestError;
use crate::names::check_name;
use crate::policy::{DirGrant, EngineLimits, Grants, Limits, Policy};
use crate::quota::Quota;
use crate::resilience::{BreakerSettings, RetryPolicy};
use crate::schema::{
    CapabilitiesSection, DirMode, LimitsSection, Manifest, ResilienceSection, StateSection,
};
use crate::values::{check_range, human_size, parse_duration};

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
/// The longest backoff or open period a manifest may set.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// Builds the error for `key` in the manifest at `path`.
struct Fail<'a> {
    path: &'a Path,
}

impl Fail<'_> {
    fn at(&self, key: &str, message: String) -> ManifestError {
        ManifestError {
            path: self.path.to_path_buf(),
            key: Some(key.to_string()),
            message,
        }
    }
}

/// A count checked against its range, as the error for `key` when it is out of it.
fn count<T: PartialOrd + Copy + ToString>(
    fail: &Fail,
    key: &str,
    value: T,
    min: T,
    max: T,
) -> Result<T, ManifestError> {
    check_range(value, min, max, |v| v.to_string()).map_err(|m| fail.at(key, m))?;
    Ok(value)
}

impl Manifest {
    /// Checks every value and resolves the manifest into a [`Policy`]: relative directories against
    /// `base`, environment variables from `env` (a name the host does not have is an error).
    pub fn policy(
        &self,
        path: &Path,
        base: &Path,
        engine: &EngineLimits,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Policy, ManifestError> {
        let fail = Fail { path };
        let mut policy = Policy::default();
        if let Some(id) = &self.agent.id {
            check_name("agent id", id).map_err(|m| fail.at("agent.id", m))?;
            policy.expected_id = Some(id.clone());
        }
        resolve_limits(&self.limits, engine, &fail, &mut policy.limits)?;
        resolve_breaker(&self.resilience, &fail, &mut policy.resilience.breaker)?;
        resolve_retry(&self.resilience, &fail, &mut policy.resilience.retry)?;
        resolve_state(&self.state, &fail, &mut policy.state_quota)?;
        resolve_capabilities(&self.capabilities, base, &env, &fail, &mut policy.grants)?;
        let egress = crate::egress::resolve_egress(&self.egress)
            .map_err(|(key, message)| fail.at(&key, message))?;
        let secrets = crate::secrets::resolve_secrets(&self.secrets, egress.as_ref(), base, &env)
            .map_err(|(key, message)| fail.at(&key, message))?;
        policy.grants.egress = egress.map(Arc::new);
        policy.grants.secrets = Arc::new(secrets);
        policy.triggers =
            crate::triggers::resolve_triggers(&self.triggers, policy.limits.max_input_bytes)
                .map_err(|(key, message)| fail.at(&key, message))?;
        Ok(policy)
    }
}

/// `[limits]`, within the engine's own bounds.
fn resolve_limits(
    l: &LimitsSection,
    engine: &EngineLimits,
    fail: &Fail,
    limits: &mut Limits,
) -> Result<(), ManifestError> {
    if let Some(text) = &l.timeout {
        limits.timeout = parse_duration(text, TIMEOUT_RANGE.0, TIMEOUT_RANGE.1)
            .map_err(|m| fail.at("limits.timeout", m))?;
    }
    if let Some(fuel) = l.fuel {
        limits.fuel = Some(count(fail, "limits.fuel", fuel, 1, u64::MAX / 2)?);
    }
    if let Some(memory) = &l.memory {
        let bytes = memory.bytes().map_err(|m| fail.at("limits.memory", m))?;
        check_range(
            bytes,
            MIN_MEMORY,
            engine.max_memory_bytes as u64,
            human_size,
        )
        .map_err(|m| fail.at("limits.memory", m))?;
        limits.max_memory_bytes = bytes as usize;
    }
    if let Some(elements) = l.table_elements {
        let key = "limits.table-elements";
        limits.max_table_elements = count(fail, key, elements, 1, MAX_TABLE_ELEMENTS)? as usize;
    }
    if let Some(instances) = l.max_instances {
        let max = u64::from(engine.max_instances);
        limits.max_instances = count(fail, "limits.max-instances", instances, 1, max)? as usize;
    }
    if let Some(queue) = l.max_queue {
        limits.max_queue = count(fail, "limits.max-queue", queue, 0, MAX_QUEUE)? as usize;
    }
    if let Some(input) = &l.max_input {
        let bytes = input.bytes().map_err(|m| fail.at("limits.max-input", m))?;
        check_range(bytes, 2, MAX_INPUT_BYTES, human_size)
            .map_err(|m| fail.at("limits.max-input", m))?;
        limits.max_input_bytes = bytes as usize;
    }
    if let Some(output) = &l.max_output {
        let bytes = output
            .bytes()
            .map_err(|m| fail.at("limits.max-output", m))?;
        check_range(bytes, 1, limits.max_memory_bytes as u64, human_size)
            .map_err(|m| fail.at("limits.max-output", m))?;
        limits.max_output_bytes = bytes as usize;
    }
    if let Some(records) = l.log_records {
        let key = "limits.log-records";
        limits.max_log_records = count(fail, key, records, 0, MAX_LOG_RECORDS)? as u32;
    }
    if let Some(files) = l.max_open_files {
        let key = "limits.max-open-files";
        limits.max_open_files = count(fail, key, files, 1, MAX_OPEN_FILES)? as usize;
    }
    if let Some(isolation) = l.isolation {
        limits.isolation = isolation;
    }
    Ok(())
}

/// The breaker half of `[resilience]`.
fn resolve_breaker(
    r: &ResilienceSection,
    fail: &Fail,
    breaker: &mut BreakerSettings,
) -> Result<(), ManifestError> {
    if let Some(n) = r.consecutive_failures {
        breaker.consecutive_failures = count(fail, "resilience.consecutive-failures", n, 1, 1_000)?;
    }
    if let Some(rate) = r.failure_rate {
        breaker.failure_rate = count(fail, "resilience.failure-rate", rate, 0.01, 1.0)?;
    }
    if let Some(window) = r.window {
        breaker.window = count(fail, "resilience.window", window, 1, 64)?;
    }
    if let Some(n) = r.minimum_calls {
        breaker.minimum_calls = count(fail, "resilience.minimum-calls", n, 1, breaker.window)?;
    }
    if let Some(text) = &r.open_for {
        breaker.open_for = wait(fail, "resilience.open-for", text)?;
    }
    if let Some(n) = r.half_open_probes {
        breaker.half_open_probes = count(fail, "resilience.half-open-probes", n, 1, 100)?;
    }
    Ok(())
}

/// The retry half of `[resilience]`.
fn resolve_retry(
    r: &ResilienceSection,
    fail: &Fail,
    retry: &mut RetryPolicy,
) -> Result<(), ManifestError> {
    if let Some(n) = r.max_attempts {
        retry.max_attempts = count(fail, "resilience.max-attempts", n, 1, 10)?;
    }
    if let Some(text) = &r.backoff {
        retry.backoff = wait(fail, "resilience.backoff", text)?;
    }
    if let Some(text) = &r.max_backoff {
        retry.max_backoff = wait(fail, "resilience.max-backoff", text)?;
    }
    if retry.backoff > retry.max_backoff {
        let message = format!(
            "{:?} is longer than max-backoff {:?}",
            retry.backoff, retry.max_backoff
        );
        return Err(fail.at("resilience.backoff", message));
    }
    Ok(())
}

/// A wait (a backoff, an open period) of zero up to [`MAX_WAIT`].
fn wait(fail: &Fail, key: &str, text: &str) -> Result<Duration, ManifestError> {
    parse_duration(text, Duration::ZERO, MAX_WAIT).map_err(|m| fail.at(key, m))
}

/// `[state]`.
fn resolve_state(s: &StateSection, fail: &Fail, quota: &mut Quota) -> Result<(), ManifestError> {
    if let Some(keys) = s.max_keys {
        quota.max_keys = count(fail, "state.max-keys", keys, 0, MAX_STATE_KEYS)?;
    }
    if let Some(size) = &s.max_bytes {
        let bytes = size.bytes().map_err(|m| fail.at("state.max-bytes", m))?;
        check_range(bytes, 0, MAX_STATE_BYTES, human_size)
            .map_err(|m| fail.at("state.max-bytes", m))?;
        quota.max_bytes = bytes;
    }
    Ok(())
}

/// `[capabilities]`: environment variables by name from `env`, delegation targets, and directories
/// resolved against `base`, each of which must exist, with guest paths that stay inside the guest's
/// view and are granted once.
fn resolve_capabilities(
    c: &CapabilitiesSection,
    base: &Path,
    env: impl Fn(&str) -> Option<String>,
    fail: &Fail,
    grants: &mut Grants,
) -> Result<(), ManifestError> {
    for name in &c.env {
        let value = env(name).ok_or_else(|| {
            fail.at(
                "capabilities.env",
                format!("`{name}` is not set in the host's environment"),
            )
        })?;
        grants.env.push((name.clone(), value));
    }
    grants.stdio = c.stdio;
    grants.host_info = c.host_info;
    grants.accept_lent_dirs = c.accept_lent_dirs;
    for agent in &c.control {
        check_name("agent id", agent).map_err(|m| fail.at("capabilities.control", m))?;
        grants.control.push(agent.clone());
    }
    for agent in &c.delegate {
        check_name("agent id", agent).map_err(|m| fail.at("capabilities.delegate", m))?;
        grants.delegate_to.push(agent.clone());
    }
    let dir_error = |message: String| fail.at("capabilities.dirs", message);
    for dir in &c.dirs {
        let host = if dir.host.is_absolute() {
            dir.host.clone()
        } else {
            base.join(&dir.host)
        };
        if !host.is_dir() {
            return Err(dir_error(format!("{} is not a directory", host.display())));
        }
        if dir.guest.is_empty() {
            let message = format!("the guest path for {} is empty", host.display());
            return Err(dir_error(message));
        }
        if dir.guest.split(['/', '\\']).any(|part| part == "..") {
            let message = format!("the guest path `{}` climbs out with `..`", dir.guest);
            return Err(dir_error(message));
        }
        let normal = |path: &str| path.trim_matches('/').to_string();
        if grants
            .dirs
            .iter()
            .any(|other| normal(&other.guest) == normal(&dir.guest))
        {
            let message = format!("the guest path `{}` is granted twice", dir.guest);
            return Err(dir_error(message));
        }
        grants.dirs.push(DirGrant {
            host,
            guest: dir.guest.clone(),
            writable: dir.mode == DirMode::ReadWrite,
        });
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
    use crate::policy::{Isolation, Stdio};

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
        assert_eq!(p.limits.timeout, Limits::default().timeout);
        assert!(
            p.grants.dirs.is_empty() && p.grants.env.is_empty() && p.grants.delegate_to.is_empty()
        );
        assert_eq!(p.grants.stdio, Stdio::Discard);
        assert_eq!(p.expected_id, None);
        assert_eq!(p.state_quota, Quota::default());
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
            Quota {
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
                Some(1000),
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
