//! `tandem serve`: loads a directory of agents and serves the HTTP API until SIGTERM or Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tandem::ErrorKind;
use tandem::server::{self, ServerConfig, ServerState};

use super::{Failure, GlobalArgs};

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    agents: super::AgentsDir,
    /// The address to listen on (port 0 picks a free port; the address is printed on stdout).
    #[arg(long, env = "TANDEM_ADDR", default_value = "127.0.0.1:7878")]
    addr: SocketAddr,
    /// The audit log: one hash-chained JSON line per call [default: DATA_DIR/audit.jsonl].
    #[arg(long, value_name = "FILE", conflicts_with = "no_audit")]
    audit_log: Option<PathBuf>,
    /// Keep no audit log.
    #[arg(long)]
    no_audit: bool,
    /// How long calls in flight may take to finish after SIGTERM or Ctrl-C.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    grace: Duration,
    /// The largest request body accepted, e.g. `1MiB`.
    #[arg(long, default_value = "1MiB")]
    max_body: bytesize::ByteSize,
    /// The largest component the admin API accepts (`PUT /v1/agents/{id}`).
    #[arg(long, default_value = "64MiB")]
    max_component: bytesize::ByteSize,
    /// Bytes of results of deterministic operations to keep (0 turns the result cache off).
    #[arg(long, default_value = "64MiB")]
    result_cache: bytesize::ByteSize,
    /// Watch the agents directory: a component added, changed (or whose manifest changed) or removed
    /// there is loaded, swapped in or removed, after it has been quiet for --debounce.
    #[arg(long)]
    watch: bool,
    /// How long a changed file must stay quiet before watch mode reads it.
    #[arg(long, default_value = "300ms", value_parser = humantime::parse_duration)]
    debounce: Duration,
    /// A file holding the admin endpoints' bearer token ($TANDEM_ADMIN_TOKEN also sets it). Without
    /// one, the admin endpoints answer 401.
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
}

fn admin_token(args: &ServeArgs) -> Result<Option<String>, Failure> {
    let token = match &args.admin_token_file {
        Some(file) => Some(std::fs::read_to_string(file).map_err(|e| {
            Failure::invalid_input(format!("--admin-token-file {}: {e}", file.display()))
        })?),
        None => std::env::var("TANDEM_ADMIN_TOKEN").ok(),
    };
    match token.map(|t| t.trim().to_string()) {
        Some(token) if token.len() < 16 => Err(Failure::invalid_input(
            "the admin token must be at least 16 characters".into(),
        )),
        token => Ok(token),
    }
}

pub async fn serve(global: &GlobalArgs, args: ServeArgs) -> Result<ExitCode, Failure> {
    let audit_log = match (&args.audit_log, args.no_audit) {
        (_, true) => None,
        (Some(file), false) => Some(file.clone()),
        (None, false) => Some(super::data_dir(global)?.join("audit.jsonl")),
    };
    let config = ServerConfig {
        max_body_bytes: args.max_body.as_u64().try_into().unwrap_or(usize::MAX),
        max_component_bytes: args.max_component.as_u64().try_into().unwrap_or(usize::MAX),
        admin_token: admin_token(&args)?,
        grace: args.grace,
    };
    let mut host_config = super::host_config(global);
    host_config.audit_log = audit_log.clone();
    host_config.result_cache_bytes = args.result_cache.as_u64().try_into().unwrap_or(usize::MAX);
    let host = Arc::new(super::build_host(host_config)?);
    // Open the state store now: a server that cannot keep its agents' state says so at start.
    let store = host
        .state()
        .store()
        .map_err(|e| Failure::new(e.kind(), e))?;
    eprintln!("state: {}", store.path().display());
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| {
            Failure::new(
                ErrorKind::Unavailable,
                anyhow::anyhow!("cannot listen on {}: {e}", args.addr),
            )
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::new(ErrorKind::Internal, e))?;
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    if let Some(path) = &audit_log {
        eprintln!("audit log: {}", path.display());
    }
    let state = ServerState::new(host.clone(), config);
    let server = tokio::spawn(server::serve(listener, state.clone(), shutdown_signal()));
    let (loaded, failed) = host.load_dir(&args.agents.path).await?;
    for error in &failed {
        eprintln!("error[{}]: {error}", error.kind());
    }
    eprintln!(
        "{} agent(s) loaded from {}",
        loaded.len(),
        args.agents.path.display()
    );
    state.set_started();
    if args.watch {
        let (host, dir, stop) = (host.clone(), args.agents.path.clone(), state.stopping());
        let debounce = args.debounce;
        tokio::spawn(async move {
            if let Err(e) = tandem::watch::watch(host, &dir, debounce, stop).await {
                eprintln!("error[internal]: {e}; watch mode is off");
            }
        });
    }
    match server.await {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        Ok(Err(e)) => Err(Failure::new(ErrorKind::Internal, e)),
        Err(e) => Err(Failure::new(ErrorKind::Internal, e)),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
