//! `tandem agent swap|rollback|remove`: hot swap on a running server, through its admin API.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use tandem::ErrorKind;

use super::Failure;

#[derive(Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    command: AgentCommand,
    /// The server's address.
    #[arg(
        long,
        global = true,
        env = "TANDEM_SERVER",
        default_value = "http://127.0.0.1:7878"
    )]
    server: String,
    /// A file holding the admin token [default: $TANDEM_ADMIN_TOKEN].
    #[arg(long, global = true, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Upload a component as the new version of agent ID (loaded if ID is new). It must describe
    /// itself as ID and pass its health probe; otherwise the current version keeps serving.
    Swap { id: String, file: PathBuf },
    /// Go back to the version before the current one.
    Rollback { id: String },
    /// Unload an agent (calls already running finish).
    Remove { id: String },
}

pub fn agent(args: AgentArgs) -> Result<ExitCode, Failure> {
    // An id goes into a URL path: check it first, so that `../metrics` cannot name another endpoint.
    let (AgentCommand::Swap { id, .. }
    | AgentCommand::Rollback { id }
    | AgentCommand::Remove { id }) = &args.command;
    tandem::manifest::check_name("agent id", id).map_err(Failure::invalid_input)?;
    let token = super::read_token(
        args.admin_token_file.as_deref(),
        "TANDEM_ADMIN_TOKEN",
        "--admin-token-file",
    )?
    .ok_or_else(|| {
        Failure::invalid_input(
            "the admin API needs a token: set $TANDEM_ADMIN_TOKEN or --admin-token-file".into(),
        )
    })?;
    let bearer = format!("Bearer {token}");
    let base = args.server.trim_end_matches('/');
    let http = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let response = match &args.command {
        AgentCommand::Swap { id, file } => {
            let bytes = std::fs::read(file)
                .map_err(|e| Failure::invalid_input(format!("{}: {e}", file.display())))?;
            http.put(format!("{base}/v1/agents/{id}"))
                .header("authorization", &bearer)
                .header("content-type", "application/wasm")
                .send(&bytes[..])
        }
        AgentCommand::Rollback { id } => http
            .post(format!("{base}/v1/agents/{id}/rollback"))
            .header("authorization", &bearer)
            .send_empty(),
        AgentCommand::Remove { id } => http
            .delete(format!("{base}/v1/agents/{id}"))
            .header("authorization", &bearer)
            .call(),
    };
    let mut response = response.map_err(|e| {
        Failure::new(
            ErrorKind::Unavailable,
            anyhow::anyhow!("cannot reach {base}: {e} (is `tandem serve` running there?)"),
        )
    })?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    if (200..300).contains(&status) {
        outln!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    // The server's errors are {"error": {"kind": ..., "message": ...}}.
    let error: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let kind = match error["error"]["kind"].as_str() {
        Some("invalid-input") => ErrorKind::InvalidInput,
        Some("denied") => ErrorKind::Denied,
        Some("unavailable") => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    let message = error["error"]["message"].as_str().unwrap_or(&body);
    Err(Failure::new(kind, anyhow::anyhow!("{status}: {message}")))
}
