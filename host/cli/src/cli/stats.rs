//! `tandem stats`: the per-agent statistics of a running server, as a table; with `--cluster`,
//! those of every host of its cluster.

use std::process::ExitCode;

use clap::Args;
use tandem::ErrorKind;
use tandem_server::AgentView;

use super::Failure;

#[derive(Args)]
pub struct StatsArgs {
    /// The server's address.
    #[arg(long, env = "TANDEM_SERVER", default_value = "http://127.0.0.1:7878")]
    server: String,
    /// Print the server's JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Every host of the server's cluster (`tandem serve --nats`), a row per host and agent.
    #[arg(long)]
    cluster: bool,
    /// A file holding the server's caller token [default: $TANDEM_TOKEN, if set].
    #[arg(long, value_name = "FILE")]
    token_file: Option<std::path::PathBuf>,
}

#[derive(serde::Deserialize)]
struct Agents {
    agents: Vec<AgentView>,
}

#[derive(serde::Deserialize)]
struct Cluster {
    hosts: Vec<tandem::dispatch::HostCensus>,
}

pub fn stats(args: StatsArgs) -> Result<ExitCode, Failure> {
    let path = if args.cluster { "cluster" } else { "agents" };
    let url = format!("{}/v1/{path}", args.server.trim_end_matches('/'));
    let unreachable = |e: ureq::Error| {
        Failure::new(
            ErrorKind::Unavailable,
            anyhow::anyhow!("cannot read {url}: {e} (is `tandem serve` running there?)"),
        )
    };
    let token = super::read_token(args.token_file.as_deref(), "TANDEM_TOKEN", "--token-file")?;
    let mut request = ureq::get(&url);
    if let Some(token) = token {
        request = request.header("authorization", &format!("Bearer {token}"));
    }
    let mut response = request
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .map_err(unreachable)?;
    let status = response.status();
    let text = response.body_mut().read_to_string().map_err(unreachable)?;
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or(text);
        let kind = if status == 404 {
            ErrorKind::Unavailable
        } else {
            ErrorKind::Internal
        };
        return Err(Failure::new(
            kind,
            anyhow::anyhow!("{url}: {status}: {message}"),
        ));
    }
    if args.json {
        outln!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    if args.cluster {
        return cluster_table(&url, &text);
    }
    let agents: Agents = serde_json::from_str(&text).map_err(|e| {
        Failure::new(
            ErrorKind::Internal,
            anyhow::anyhow!("{url} answered something that is not a list of agents: {e}"),
        )
    })?;
    outln!(
        "{:<20} {:<8} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>12} {:>9} {:>4} {:>7} {:>9} BREAKER",
        "AGENT",
        "VERSION",
        "CALLS",
        "ERRORS",
        "P50",
        "P75",
        "P90",
        "P95",
        "P99",
        "FUEL",
        "PEAK-MEM",
        "LIVE",
        "RETRIES",
        "DELEG-O/I"
    );
    for agent in &agents.agents {
        let s = &agent.stats;
        let errors = errors(s);
        outln!(
            "{:<20} {:<8} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>12} {:>9} {:>4} {:>7} {:>9} {}",
            agent.id,
            agent.version,
            s.calls,
            errors,
            latency(s.p50_us),
            latency(s.p75_us),
            latency(s.p90_us),
            latency(s.p95_us),
            latency(s.p99_us),
            s.fuel,
            bytesize::ByteSize(s.peak_memory_bytes)
                .display()
                .iec_short()
                .to_string(),
            agent.live_instances,
            s.retries,
            format!("{}/{}", s.delegations_made, s.delegations_received),
            serde_json::to_value(agent.breaker)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The table of `--cluster`: a row per host and agent.
fn cluster_table(url: &str, text: &str) -> Result<ExitCode, Failure> {
    let cluster: Cluster = serde_json::from_str(text).map_err(|e| {
        Failure::new(
            ErrorKind::Internal,
            anyhow::anyhow!("{url} answered something that is not a cluster's census: {e}"),
        )
    })?;
    outln!(
        "{:<20} {:<20} {:<8} {:<12} {:>9} {:>7} {:>9} {:>9} {:>12} {:>7}",
        "HOST",
        "AGENT",
        "VERSION",
        "HASH",
        "CALLS",
        "ERRORS",
        "P50",
        "P99",
        "FUEL",
        "RETRIES"
    );
    for host in &cluster.hosts {
        for agent in &host.agents {
            let s = &agent.stats;
            let errors = errors(s);
            outln!(
                "{:<20} {:<20} {:<8} {:<12} {:>9} {:>7} {:>9} {:>9} {:>12} {:>7}",
                host.host,
                agent.id,
                agent.version,
                agent.content_hash.get(..12).unwrap_or(&agent.content_hash),
                s.calls,
                errors,
                latency(s.p50_us),
                latency(s.p99_us),
                s.fuel,
                s.retries,
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Calls that did not end `ok`.
fn errors(stats: &tandem::metrics::StatsSnapshot) -> u64 {
    stats.calls - stats.outcomes.get("ok").copied().unwrap_or(0)
}

/// Microseconds, printed in the unit that keeps three digits or fewer.
fn latency(us: Option<f64>) -> String {
    match us {
        None => "-".to_string(),
        Some(us) if us < 1000.0 => format!("{us:.1}us"),
        Some(us) if us < 1_000_000.0 => format!("{:.1}ms", us / 1000.0),
        Some(us) => format!("{:.2}s", us / 1_000_000.0),
    }
}
