//! `tandem graph run|check`: a plan file of agent calls with dependencies, on the scheduler.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tandem::ErrorKind;
use tandem::scheduler::{FailurePolicy, Outcome, Plan};

use super::{Failure, GlobalArgs};

#[derive(Args)]
pub struct GraphArgs {
    #[command(subcommand)]
    command: GraphCommand,
}

#[derive(Subcommand)]
enum GraphCommand {
    /// Run a plan: each node as soon as its dependencies are done; a progress bar, then a summary.
    Run(RunArgs),
    /// Validate a plan without running it.
    Check(CheckArgs),
}

#[derive(Args)]
struct CheckArgs {
    /// The plan: TOML, or JSON when the name ends in `.json`.
    plan: PathBuf,
    #[command(flatten)]
    agents: super::AgentsDir,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    check: CheckArgs,
    /// Print the machine-readable result (JSON) instead of the progress bar and table.
    #[arg(long)]
    json: bool,
    /// Override the plan's failure policy.
    #[arg(long, value_parser = ["fail-fast", "continue"])]
    policy: Option<String>,
}

pub async fn graph(global: &GlobalArgs, args: GraphArgs) -> Result<ExitCode, Failure> {
    match args.command {
        GraphCommand::Check(args) => {
            let (host, plan) = load(global, &args).await?;
            let nodes = plan.nodes.len();
            host.check_plan(plan)
                .map_err(|e| Failure::invalid_input(e.to_string()))?;
            outln!("{}: {nodes} nodes, valid", args.plan.display());
            Ok(ExitCode::SUCCESS)
        }
        GraphCommand::Run(args) => run(global, args).await,
    }
}

async fn load(global: &GlobalArgs, args: &CheckArgs) -> Result<(tandem::Host, Plan), Failure> {
    let plan = Plan::read(&args.plan).map_err(|e| Failure::invalid_input(e.to_string()))?;
    let host = super::host(global)?;
    let (_, failed) = host.load_dir(&args.agents.path).await?;
    for error in failed {
        tracing::warn!("{error}");
    }
    Ok((host, plan))
}

async fn run(global: &GlobalArgs, args: RunArgs) -> Result<ExitCode, Failure> {
    let (host, mut plan) = load(global, &args.check).await?;
    match args.policy.as_deref() {
        Some("continue") => plan.policy = FailurePolicy::Continue,
        Some(_) => plan.policy = FailurePolicy::FailFast,
        None => {}
    }
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(plan.nodes.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} done  {msg}  [{elapsed}]")
            .map_err(|e| Failure::new(ErrorKind::Internal, e))?,
    );
    let cancel = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let report = host
        .run_plan(plan, cancel, |p| {
            bar.set_position((p.succeeded + p.failed) as u64);
            bar.set_message(format!("{} running, {} failed", p.running, p.failed));
        })
        .await
        .map_err(|e| Failure::invalid_input(e.to_string()))?;
    bar.finish_and_clear();

    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        outln!(
            "{:<24} {:<10} {:>8} {:>12}  DETAIL",
            "NODE",
            "STATUS",
            "ATTEMPTS",
            "DURATION"
        );
        for node in &report.nodes {
            let (status, detail) = match &node.outcome {
                Outcome::Succeeded { output } => ("succeeded", truncate(&output.to_string(), 60)),
                Outcome::Failed { kind, error } => ("failed", format!("[{kind}] {error}")),
                Outcome::Skipped { reason } => ("skipped", reason.clone()),
                Outcome::Cancelled { reason } => ("cancelled", reason.clone()),
            };
            let duration = std::time::Duration::from_micros(node.duration_us);
            outln!(
                "{:<24} {:<10} {:>8} {:>12.1?}  {detail}",
                node.id,
                status,
                node.attempts,
                duration
            );
        }
        let count = |f: fn(&Outcome) -> bool| report.count(f);
        outln!(
            "{} succeeded, {} failed, {} skipped, {} cancelled in {:.1?} (at most {} at once)",
            count(|o| matches!(o, Outcome::Succeeded { .. })),
            count(|o| matches!(o, Outcome::Failed { .. })),
            count(|o| matches!(o, Outcome::Skipped { .. })),
            count(|o| matches!(o, Outcome::Cancelled { .. })),
            std::time::Duration::from_micros(report.duration_us),
            report.peak_concurrency,
        );
    }
    // The exit code of the first failure's class; cancelled or skipped nodes alone: 130.
    let first_failure = report.nodes.iter().find_map(|n| match &n.outcome {
        Outcome::Failed { kind, .. } => Some(*kind),
        _ => None,
    });
    Ok(match first_failure {
        Some(kind) => ExitCode::from(kind.exit_code()),
        None if report
            .nodes
            .iter()
            .all(|n| matches!(n.outcome, Outcome::Succeeded { .. })) =>
        {
            ExitCode::SUCCESS
        }
        None => ExitCode::from(130),
    })
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}
