//! `tandem list`: the agents in a directory of components.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tandem::ErrorKind;

use super::{Failure, GlobalArgs};

#[derive(Args)]
pub struct ListArgs {
    /// The directory to list.
    #[arg(env = "TANDEM_AGENTS", default_value = "target/agents")]
    dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Prints every agent that loads; files that do not load are reported on stderr and make the exit
/// code that of an invalid input.
pub async fn list(global: &GlobalArgs, args: ListArgs) -> Result<ExitCode, Failure> {
    let host = super::host(global)?;
    let (agents, failed) = host.load_dir(&args.dir).await?;
    if args.json {
        let rows: Vec<_> = agents
            .iter()
            .map(|a| serde_json::json!({"agent": a.info, "file": a.source, "sha256": a.content_hash}))
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    } else {
        outln!("{:<20} {:<10} {:<30} FILE", "ID", "VERSION", "OPERATIONS");
        for agent in &agents {
            let ops: Vec<&str> = agent
                .info
                .operations
                .iter()
                .map(|o| o.name.as_str())
                .collect();
            outln!(
                "{:<20} {:<10} {:<30} {}",
                agent.id(),
                agent.info.version.to_string(),
                ops.join(","),
                agent.source.display()
            );
        }
    }
    for error in &failed {
        eprintln!("error[{}]: {error}", error.kind());
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(ErrorKind::InvalidInput.exit_code())
    })
}
