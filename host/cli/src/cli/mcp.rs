//! `tandem mcp`: the agents of a directory as Model Context Protocol tools, for one client over
//! stdin/stdout (the default: what a client that spawns its servers runs) or for many over
//! streamable HTTP (`--http ADDR`, at `/mcp`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tandem::ErrorKind;
use tandem_mcp::{HttpConfig, Peers};
use tokio_util::sync::CancellationToken;

use super::{Failure, GlobalArgs};

#[derive(Args)]
pub struct McpArgs {
    #[command(flatten)]
    agents: super::AgentsDir,
    /// Serve streamable HTTP at http://ADDR/mcp instead of one session on stdin/stdout (port 0
    /// picks a free port; the URL is printed on stdout).
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    #[command(flatten)]
    audit: super::AuditLogArgs,
    /// Watch the agents directory: agents added, changed or removed there are loaded, swapped or
    /// removed, and clients are sent `notifications/tools/list_changed`.
    #[arg(long)]
    watch: bool,
    /// How long a changed file must stay quiet before watch mode reads it (at most 1h).
    #[arg(long, default_value = "300ms", value_parser = super::duration_up_to_an_hour)]
    debounce: Duration,
    /// HTTP: a host name requests may use in `Host` besides loopback addresses and `localhost`.
    /// Repeatable.
    #[arg(long = "allow-host", value_name = "NAME", requires = "http")]
    allowed_hosts: Vec<String>,
    /// HTTP: the largest request body accepted.
    #[arg(long, default_value = "1MiB", requires = "http")]
    max_body: bytesize::ByteSize,
    /// HTTP: sessions open at once (each ends with the client's DELETE or after 5 minutes idle).
    #[arg(long, default_value_t = 64, requires = "http", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_sessions: u32,
    /// HTTP: connections served at once.
    #[arg(long, default_value_t = 256, requires = "http", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
}

pub async fn mcp(global: &GlobalArgs, args: McpArgs) -> Result<ExitCode, Failure> {
    let data_dir = super::data_dir(global)?;
    let _lock = super::lock_data_dir(&data_dir)?;
    let mut host_config = super::host_config(global);
    let audit_log = args.audit.configure(&data_dir, &mut host_config)?;
    let host = Arc::new(super::build_host(host_config)?);
    let (loaded, failed) = host.load_dir(&args.agents.path).await?;
    for error in &failed {
        tracing::error!(target: "tandem::mcp", kind = %error.kind(), "{error}");
    }
    tracing::info!(
        target: "tandem::mcp",
        "{} agent(s) offered as tools, from {}",
        loaded.len(),
        args.agents.path.display()
    );
    if let Some(path) = &audit_log {
        tracing::info!(target: "tandem::mcp", "audit log: {}", path.display());
    }
    let stop = CancellationToken::new();
    let peers = Arc::new(Peers::default());
    tokio::spawn(peers.clone().follow(host.clone()));
    if args.watch {
        let (host, dir, stop) = (host.clone(), args.agents.path.clone(), stop.clone());
        let debounce = args.debounce;
        tokio::spawn(async move {
            if let Err(e) =
                tandem_server::watch::watch(host, &dir, debounce, stop.cancelled_owned()).await
            {
                tracing::error!(target: "tandem::mcp", "{e}; watch mode is off");
            }
        });
    }
    tokio::spawn({
        let stop = stop.clone();
        async move {
            super::serve::shutdown_signal().await;
            stop.cancel();
        }
    });
    let served = match args.http {
        None => tandem_mcp::serve_stdio(host.clone(), peers, stop.clone())
            .await
            .map_err(|e| Failure::new(ErrorKind::Unavailable, e)),
        Some(addr) => serve_http(host.clone(), peers, &args, addr, stop.clone()).await,
    };
    stop.cancel();
    host.flush_audit()
        .await
        .map_err(|e| Failure::new(ErrorKind::Internal, e))?;
    served.map(|()| ExitCode::SUCCESS)
}

async fn serve_http(
    host: Arc<tandem::Host>,
    peers: Arc<Peers>,
    args: &McpArgs,
    addr: SocketAddr,
    stop: CancellationToken,
) -> Result<(), Failure> {
    if !addr.ip().is_loopback() {
        tracing::warn!(target: "tandem::mcp", %addr, "serving MCP beyond loopback: anyone who can reach this address can call every agent");
    }
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Failure::new(
            ErrorKind::Unavailable,
            anyhow::anyhow!("cannot listen on {addr}: {e}"),
        )
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::new(ErrorKind::Internal, e))?;
    let config = HttpConfig {
        allowed_hosts: args.allowed_hosts.clone(),
        max_body_bytes: args.max_body.as_u64().try_into().unwrap_or(usize::MAX),
        max_sessions: args.max_sessions as usize,
    };
    let router = tandem_mcp::http_router(host, peers, &config, stop.clone());
    outln!("listening on http://{addr}/mcp");
    let limits = tandem_server::connections::ConnectionLimits {
        max_connections: args.max_connections as usize,
        header_timeout: Duration::from_secs(10),
        send_timeout: Duration::from_secs(30),
    };
    tandem_server::connections::serve(listener, router, limits, stop).await;
    Ok(())
}
