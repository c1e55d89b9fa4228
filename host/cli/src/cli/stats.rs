//! `tandem stats`: the per-agent statistics of a running server, as a table.

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
    /// A file holding the server's caller token [default: $TANDEM_TOKEN, if set].
    #[arg(long, value_name = "FILE")]
    token_file: Option<std::path::PathBuf>,
}

#[derive(serde::Deserialize)]
struct Agents {
    agents: Vec<AgentView>,
}

pub fn stats(args: StatsArgs) -> Result<ExitCode, Failure> {
    let url = format!("{}/v1/agents", args.server.trim_end_matches('/'));
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
    let text = request
        .call()
        .map_err(unreachable)?
        .body_mut()
        .read_to_string()
        .map_err(unreachable)?;
    if args.json {
        outln!("{text}");
        return Ok(ExitCode::SUCCESS);
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
        let errors = s.calls - s.outcomes.get("ok").copied().unwrap_or(0);
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

/// Microseconds, printed in the unit that keeps three digits or fewer.
fn latency(us: Option<f64>) -> String {
    match us {
        None => "-".to_string(),
        Some(us) if us < 1000.0 => format!("{us:.1}us"),
        Some(us) if us < 1_000_000.0 => format!("{:.1}ms", us / 1000.0),
        Some(us) => format!("{:.2}s", us / 1_000_000.0),
    }
}
