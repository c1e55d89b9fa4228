//! `tandem run`: load one agent, call one operation, print the output.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tandem::{DirGrant, Host, Isolation, Policy};

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
    /// Where agent ids are looked up.
    #[arg(
        long,
        env = "TANDEM_AGENTS",
        default_value = "target/agents",
        value_name = "DIR"
    )]
    agents: PathBuf,
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
    let policy = policy(&args)?;
    let input = read_input(&args.input)?;
    let host = super::host(global)?;
    let id = load(&host, &args.agent, &args.agents, policy).await?;
    let response = host.invoke(&id, &args.operation, input).await?;
    if args.raw {
        println!("{}", response.output);
    } else {
        match serde_json::from_str::<serde_json::Value>(&response.output) {
            Ok(value) => println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or(response.output)
            ),
            Err(_) => println!("{}", response.output),
        }
    }
    tracing::info!(
        fuel = response.fuel_used,
        duration_us = response.duration.as_micros() as u64,
        "call finished"
    );
    Ok(ExitCode::SUCCESS)
}

/// Loads the agent named on the command line and returns its id.
async fn load(
    host: &Host,
    agent: &str,
    agents_dir: &Path,
    policy: Policy,
) -> Result<String, Failure> {
    let as_path = Path::new(agent);
    if agent.ends_with(".wasm") || as_path.is_file() {
        return Ok(host.load(as_path, policy).await?.id().to_string());
    }
    let file = agents_dir.join(format!("{agent}.wasm"));
    if file.is_file() {
        return Ok(host.load(&file, policy).await?.id().to_string());
    }
    // Not under its own name: load the directory and look the id up among what the files declare.
    if agents_dir.is_dir() {
        let (_loaded, failed) = host.load_dir(agents_dir, |_| policy.clone()).await?;
        for error in failed {
            tracing::warn!("{error}");
        }
    }
    host.agent(agent)?;
    Ok(agent.to_string())
}

fn policy(args: &RunArgs) -> Result<Policy, Failure> {
    let mut policy = Policy::default();
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
        policy.limits.fuel = fuel;
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

/// `250ms`, `5s`, `2m`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 500ms, 5s or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (use ms, s or m)")),
    };
    if !(seconds > 0.0 && seconds.is_finite()) {
        return Err(format!("`{text}`: must be greater than zero"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_parse_with_units_and_reject_nonsense() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5h").unwrap_err().contains("unknown unit"));
        assert!(
            parse_duration("0s")
                .unwrap_err()
                .contains("greater than zero")
        );
        assert!(parse_duration("abc").is_err());
    }
}
