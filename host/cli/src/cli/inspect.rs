//! `tandem inspect`: what a component is, without calling any operation.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tandem::Policy;

use super::{Failure, GlobalArgs};

#[derive(Args)]
pub struct InspectArgs {
    /// The component file.
    component: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn inspect(global: &GlobalArgs, args: InspectArgs) -> Result<ExitCode, Failure> {
    let host = super::host(global)?;
    let inspection = host
        .prepare(&args.component, granted(&host, &args.component))
        .await?;
    let (agent, shape) = (&inspection.agent, &inspection.shape);
    if args.json {
        let value = serde_json::json!({
            "file": args.component,
            "sha256": agent.content_hash,
            "agent": agent.info,
            "imports": shape.imports,
            "exports": shape.exports,
        });
        outln!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let info = &agent.info;
    outln!("{} {}: {}", info.id, info.version, info.description);
    outln!("  file:   {}", args.component.display());
    outln!("  sha256: {}", agent.content_hash);
    outln!("operations:");
    for op in &info.operations {
        let determinism = if op.deterministic {
            "deterministic"
        } else {
            ""
        };
        outln!("  {:<16} {:<14} {}", op.name, determinism, op.description);
        if let Some(example) = &op.input_example {
            outln!("  {:<16} example: {example}", "");
        }
    }
    let capabilities = if info.capabilities.is_empty() {
        "none".to_string()
    } else {
        info.capabilities.join(", ")
    };
    outln!("capabilities requested: {capabilities}");
    outln!("imports:");
    for name in &shape.imports {
        outln!("  {name}");
    }
    outln!("exports:");
    for name in &shape.exports {
        outln!("  {name}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The policy to look at a component with: its manifest's (so that what the manifest grants, such
/// as `[egress]`, is linked), or the defaults when it has none or the manifest does not resolve.
pub(super) fn granted(host: &tandem::host::Host, component: &std::path::Path) -> Policy {
    host.policy_for(component).unwrap_or_default()
}
