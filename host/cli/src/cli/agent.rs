//! `tandem agent swap|rollback|remove|canary|promote|abort`: hot swap and canary routing on a
//! running server, through its admin API.

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
    /// Serve FILE as a canary of ID to --weight percent of the traces beside the current version
    /// (it must pass the checks of a swap and carry another version); without FILE, change the
    /// running canary's weight.
    Canary {
        id: String,
        file: Option<PathBuf>,
        /// The share of traces the canary serves, in percent.
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
        weight: u8,
        #[command(flatten)]
        guard: GuardArgs,
    },
    /// Make ID's canary its current version.
    Promote { id: String },
    /// End ID's canary: all its traces go back to the current version.
    Abort { id: String },
}

/// The guard rails of a new canary (the server's defaults when not given).
#[derive(Args)]
struct GuardArgs {
    /// Abort the canary when its error rate over the window passes this share (0 to 1) [default: 0.1].
    #[arg(long)]
    max_error_rate: Option<f64>,
    /// Abort the canary when its p99 over the window passes this many milliseconds [default: not watched].
    #[arg(long)]
    max_p99_ms: Option<u64>,
    /// How far back the guard looks, in milliseconds [default: 30000].
    #[arg(long)]
    window_ms: Option<u64>,
    /// Calls in the window before a bound is judged [default: 10].
    #[arg(long)]
    min_calls: Option<u32>,
}

impl GuardArgs {
    fn query(&self, weight: u8) -> String {
        let mut query = format!("weight={weight}");
        let mut add = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                query.push_str(&format!("&{name}={value}"));
            }
        };
        add("max-error-rate", self.max_error_rate.map(|v| v.to_string()));
        add("max-p99-ms", self.max_p99_ms.map(|v| v.to_string()));
        add("window-ms", self.window_ms.map(|v| v.to_string()));
        add("min-calls", self.min_calls.map(|v| v.to_string()));
        query
    }

    fn given(&self) -> bool {
        self.max_error_rate.is_some()
            || self.max_p99_ms.is_some()
            || self.window_ms.is_some()
            || self.min_calls.is_some()
    }
}

pub fn agent(args: AgentArgs) -> Result<ExitCode, Failure> {
    // An id goes into a URL path: check it first, so that `../metrics` cannot name another endpoint.
    let (AgentCommand::Swap { id, .. }
    | AgentCommand::Rollback { id }
    | AgentCommand::Remove { id }
    | AgentCommand::Canary { id, .. }
    | AgentCommand::Promote { id }
    | AgentCommand::Abort { id }) = &args.command;
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
    let read = |file: &PathBuf| {
        std::fs::read(file).map_err(|e| Failure::invalid_input(format!("{}: {e}", file.display())))
    };
    let response = match &args.command {
        AgentCommand::Swap { id, file } => http
            .put(format!("{base}/v1/agents/{id}"))
            .header("authorization", &bearer)
            .header("content-type", "application/wasm")
            .send(&read(file)?[..]),
        AgentCommand::Canary {
            id,
            file: Some(file),
            weight,
            guard,
        } => http
            .post(format!(
                "{base}/v1/agents/{id}/canary?{}",
                guard.query(*weight)
            ))
            .header("authorization", &bearer)
            .header("content-type", "application/wasm")
            .send(&read(file)?[..]),
        AgentCommand::Canary {
            id,
            file: None,
            weight,
            guard,
        } => {
            if guard.given() {
                return Err(Failure::invalid_input(
                    "a running canary's guard rails do not change: give FILE to start a canary with them".into(),
                ));
            }
            http.patch(format!("{base}/v1/agents/{id}/canary?weight={weight}"))
                .header("authorization", &bearer)
                .send_empty()
        }
        AgentCommand::Promote { id } => http
            .post(format!("{base}/v1/agents/{id}/canary/promote"))
            .header("authorization", &bearer)
            .send_empty(),
        AgentCommand::Abort { id } => http
            .post(format!("{base}/v1/agents/{id}/canary/abort"))
            .header("authorization", &bearer)
            .send_empty(),
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
        Some("conflict") => ErrorKind::Conflict,
        _ => ErrorKind::Internal,
    };
    let message = error["error"]["message"].as_str().unwrap_or(&body);
    Err(Failure::new(kind, anyhow::anyhow!("{status}: {message}")))
}
