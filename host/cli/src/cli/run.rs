//! `tandem run`: load one agent (and the agents its manifest lets it delegate to, from the agents
//! directory, each with its own manifest), call one operation, print the output.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tandem::{CallError, DirGrant, ErrorKind, Host, Isolation, LoadError, Manifest, Policy};

use super::{Failure, GlobalArgs};

#[derive(Args)]
pub struct RunArgs {
    /// A component file (`path/to/agent.wasm`) or the id of an agent in the --agents directory.
    agent: String,
    /// The operation to call.
    #[arg(long = "op", value_name = "NAME")]
    operation: String,
    /// The input: JSON text, `@FILE` to read it from a file, or `-` for stdin.
    #[arg(long, default_value = "{}", value_name = "JSON")]
    input: String,
    /// The agent's manifest [default: the `.toml` file beside the component, if any].
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    #[command(flatten)]
    agents: super::AgentsDir,
    /// Grant read-only access to a host directory, seen by the guest at GUEST (default: the same
    /// path). Repeatable.
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,
    /// Like --dir, but read-write.
    #[arg(long = "dir-rw", value_name = "HOST[::GUEST]")]
    dirs_rw: Vec<String>,
    /// Pass the host's environment variable NAME to the guest. Repeatable.
    #[arg(long = "env", value_name = "NAME")]
    env: Vec<String>,
    /// Wall-clock limit of the call, e.g. `500ms`, `5s`, `2m`.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    timeout: Option<Duration>,
    /// Fuel limit of the call.
    #[arg(long)]
    fuel: Option<u64>,
    /// Run in a fresh instance (the default for a single call is a pooled one).
    #[arg(long)]
    fresh: bool,
    /// Print the output as it came from the agent instead of pretty-printed.
    #[arg(long)]
    raw: bool,
}

pub async fn run(global: &GlobalArgs, args: RunArgs) -> Result<ExitCode, Failure> {
    let input = read_input(&args.input)?;
    let host = super::host(global)?;
    let file = resolve(&host, &args.agent, &args.agents.path).await?;
    let policy = policy(&host, &file, &args)?;
    let targets = policy.grants.delegate_to.clone();
    let id = host.load(&file, policy).await?.id().to_string();
    load_delegates(&host, &id, targets, &args.agents.path).await?;
    let response = host.invoke(&id, &args.operation, input).await?;
    if args.raw {
        outln!("{}", response.output);
    } else {
        match serde_json::from_str::<serde_json::Value>(&response.output) {
            Ok(value) => outln!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or(response.output)
            ),
            Err(_) => outln!("{}", response.output),
        }
    }
    tracing::info!(
        fuel = response.fuel_used,
        duration_us = response.duration.as_micros() as u64,
        "call finished"
    );
    Ok(ExitCode::SUCCESS)
}

/// Loads `agent` from the agents directory with its own manifest, grants it `dirs` besides, and
/// calls `operation` with `input`; the output as the agent gave it. (`tandem new` calls CONSTRUCTOR
/// this way.)
pub async fn call_agent(
    global: &GlobalArgs,
    agent: &str,
    agents_dir: &Path,
    operation: &str,
    input: String,
    dirs: Vec<DirGrant>,
) -> Result<String, Failure> {
    let host = super::host(global)?;
    let file = resolve(&host, agent, agents_dir).await?;
    let mut policy = host.policy_for(&file)?;
    policy.grants.dirs.extend(dirs);
    let targets = policy.grants.delegate_to.clone();
    let id = host.load(&file, policy).await?.id().to_string();
    load_delegates(&host, &id, targets, agents_dir).await?;
    Ok(host.invoke(&id, operation, input).await?.output)
}

/// Loads the agents `first` may delegate to, and theirs in turn, from the agents directory with
/// the manifests beside them (the command line's grants are the called agent's alone). A target
/// that is not there is left out: a call to it fails as `unavailable`, naming it.
async fn load_delegates(
    host: &Host,
    first: &str,
    targets: Vec<String>,
    agents_dir: &Path,
) -> Result<(), Failure> {
    let mut loaded = vec![first.to_string()];
    let mut queue = targets;
    while let Some(target) = queue.pop() {
        if loaded.contains(&target) {
            continue;
        }
        loaded.push(target.clone());
        let Ok(file) = resolve(host, &target, agents_dir).await else {
            tracing::warn!(agent = %target, "a delegation target is not in the agents directory");
            continue;
        };
        let policy = host.policy_for(&file)?;
        queue.extend(policy.grants.delegate_to.iter().cloned());
        host.load(&file, policy).await?;
    }
    Ok(())
}

/// The component file named on the command line: a path, `DIR/<id>.wasm`, or the component in `DIR`
/// that describes itself as `<id>`.
async fn resolve(host: &Host, agent: &str, agents_dir: &Path) -> Result<PathBuf, Failure> {
    let as_path = Path::new(agent);
    if agent.ends_with(".wasm") || as_path.is_file() {
        return Ok(as_path.to_path_buf());
    }
    let file = agents_dir.join(format!("{agent}.wasm"));
    if file.is_file() {
        return Ok(file);
    }
    let mut found = Vec::new();
    let files = tandem::host::component_files(agents_dir).map_err(|e| {
        let dir = agents_dir.display();
        Failure::new(
            ErrorKind::Unavailable,
            anyhow::anyhow!("no agent `{agent}`: cannot read the agents directory {dir} ({e}); set --agents or TANDEM_AGENTS"),
        )
    })?;
    for file in files {
        match host
            .prepare(&file, super::inspect::granted(host, &file))
            .await
        {
            Ok(inspection) if inspection.agent.id() == agent => return Ok(file),
            Ok(inspection) => found.push(inspection.agent.id().to_string()),
            Err(error) => tracing::warn!("{error}"),
        }
    }
    Err(CallError::UnknownAgent {
        agent: agent.to_string(),
        loaded: found,
    }
    .into())
}

/// The manifest's policy (`--manifest`, or the one beside the component), with the command line's
/// grants added and its limits taking precedence.
fn policy(host: &Host, file: &Path, args: &RunArgs) -> Result<Policy, Failure> {
    let mut policy = match &args.manifest {
        Some(manifest) => {
            let base = manifest.parent().unwrap_or(Path::new("."));
            Manifest::read(manifest)
                .and_then(|m| {
                    m.policy(manifest, base, host.engine_limits(), |name| {
                        std::env::var(name).ok()
                    })
                })
                .map_err(LoadError::from)?
        }
        None => host.policy_for(file)?,
    };
    for (spec, writable) in args
        .dirs
        .iter()
        .map(|d| (d, false))
        .chain(args.dirs_rw.iter().map(|d| (d, true)))
    {
        policy.grants.dirs.push(parse_dir(spec, writable)?);
    }
    for name in &args.env {
        let value = std::env::var(name).map_err(|_| {
            Failure::invalid_input(format!(
                "--env {name}: no such variable in the host's environment"
            ))
        })?;
        policy.grants.env.push((name.clone(), value));
    }
    if let Some(timeout) = args.timeout {
        policy.limits.timeout = timeout;
    }
    if let Some(fuel) = args.fuel {
        policy.limits.fuel = Some(fuel);
    }
    if args.fresh {
        policy.limits.isolation = Isolation::Fresh;
    }
    Ok(policy)
}

fn parse_dir(spec: &str, writable: bool) -> Result<DirGrant, Failure> {
    let (host, guest) = spec.split_once("::").unwrap_or((spec, spec));
    let host = PathBuf::from(host);
    if !host.is_dir() {
        return Err(Failure::invalid_input(format!(
            "--dir {spec}: {} is not a directory",
            host.display()
        )));
    }
    Ok(DirGrant {
        host,
        guest: guest.to_string(),
        writable,
    })
}

fn read_input(spec: &str) -> Result<String, Failure> {
    let (text, source) = if spec == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::invalid_input(format!("--input -: cannot read stdin: {e}")))?;
        (text, "stdin".to_string())
    } else if let Some(file) = spec.strip_prefix('@') {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Failure::invalid_input(format!("--input @{file}: {e}")))?;
        (text, file.to_string())
    } else {
        return Ok(spec.to_string());
    };
    serde_json::from_str::<serde::de::IgnoredAny>(&text)
        .map_err(|e| Failure::invalid_input(format!("--input: {source} is not valid JSON: {e}")))?;
    Ok(text)
}

/// `250ms`, `5s`, `2m`: a call's timeout, from 1 ms to an hour (as in a manifest).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    super::positive_duration_up_to_an_hour(text)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_parse_with_units_and_reject_nonsense() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(
            parse_duration("5 parsecs")
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(parse_duration("5").is_err(), "a unit is required");
        assert!(parse_duration("0s").unwrap_err().contains("out of range"));
        assert!(
            parse_duration("300000000000y")
                .unwrap_err()
                .contains("out of range")
        );
        assert!(parse_duration("abc").is_err());
    }
}
