//! `tandem serve`: loads a directory of agents and serves the HTTP API until SIGTERM or Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tandem::ErrorKind;
use tandem_server::{self as server, ServerConfig, ServerState};

use super::{Failure, GlobalArgs};

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    agents: super::AgentsDir,
    /// The address to listen on (port 0 picks a free port; the address is printed on stdout).
    #[arg(long, env = "TANDEM_ADDR", default_value = "127.0.0.1:7878")]
    addr: SocketAddr,
    #[command(flatten)]
    audit: super::AuditLogArgs,
    /// How long calls in flight may take to finish after SIGTERM or Ctrl-C (at most 1h).
    #[arg(long, default_value = "10s", value_parser = super::duration_up_to_an_hour)]
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
    /// How long a changed file must stay quiet before watch mode reads it (at most 1h).
    #[arg(long, default_value = "300ms", value_parser = super::duration_up_to_an_hour)]
    debounce: Duration,
    /// A file holding the admin endpoints' bearer token ($TANDEM_ADMIN_TOKEN also sets it). Without
    /// one, the admin endpoints answer 401.
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// A file holding the token callers must present (`Authorization: Bearer ...`) on every
    /// endpoint but /healthz and /readyz ($TANDEM_TOKEN also sets it). Without one, anyone who
    /// can reach the address can call agents.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// A host name requests may use in `Host` besides IP addresses and `localhost`. Repeatable.
    #[arg(long = "allow-host", value_name = "NAME")]
    allowed_hosts: Vec<String>,
    /// An origin (e.g. `https://ui.example`) requests may come from besides the server's own.
    /// Repeatable.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    /// Connections served at once (also capped at half the process's descriptor limit); more wait
    /// in the listen backlog.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
    /// How long a client has to send a request's headers; also how long an idle kept-alive
    /// connection stays open.
    #[arg(long, default_value = "10s", value_parser = super::positive_duration_up_to_an_hour)]
    header_timeout: Duration,
    /// How long a client has to send a request's body.
    #[arg(long, default_value = "30s", value_parser = super::positive_duration_up_to_an_hour)]
    body_timeout: Duration,
    /// How long the server waits for a client that stopped reading (an answer, an event stream)
    /// before it ends the connection.
    #[arg(long, default_value = "30s", value_parser = super::positive_duration_up_to_an_hour)]
    send_timeout: Duration,
    /// Subscribers of `GET /events` at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_subscribers: u32,
    /// Join the cluster of hosts sharing this NATS server (e.g. `nats://127.0.0.1:4222`; credentials
    /// as `nats://user:password@host:port`, best through $TANDEM_NATS): calls run on whichever host
    /// of the cluster serves the agent and has room.
    #[arg(long, env = "TANDEM_NATS", value_name = "URL")]
    nats: Option<String>,
    /// This host's id in the cluster (a-z, 0-9, `-`); the machine's name and the process id by
    /// default.
    #[arg(long, env = "TANDEM_HOST_ID", value_name = "ID", requires = "nats")]
    host_id: Option<String>,
    /// Where this host's own calls run in a cluster: `spread` (on whichever host NATS gives each
    /// to) or `local` (here while this host serves the agent and has room, else the cluster).
    #[arg(long, value_enum, default_value = "spread", requires = "nats")]
    placement: PlacementArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PlacementArg {
    Spread,
    Local,
}

/// The default host id: the machine's name (as a name: lowercase, `-` for anything else; `host-`
/// before it unless it starts with a letter) and the process id.
fn default_host_id() -> String {
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let machine: String = machine
        .trim()
        .chars()
        .take(40)
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    let machine = machine.trim_matches('-');
    // A host id starts with a letter.
    match machine.chars().next() {
        Some('a'..='z') => format!("{machine}-{}", std::process::id()),
        Some(_) => format!("host-{machine}-{}", std::process::id()),
        None => format!("host-{}", std::process::id()),
    }
}

/// A token for the server (see [`super::read_token`]): at least 16 characters.
fn token(file: Option<&PathBuf>, env: &str, flag: &str) -> Result<Option<String>, Failure> {
    match super::read_token(file.map(PathBuf::as_path), env, flag)? {
        Some(token) if token.len() < 16 => Err(Failure::invalid_input(format!(
            "the token of {flag} (or ${env}) must be at least 16 characters"
        ))),
        token => Ok(token),
    }
}

pub async fn serve(global: &GlobalArgs, args: ServeArgs) -> Result<ExitCode, Failure> {
    let data_dir = super::data_dir(global)?;
    let _lock = super::lock_data_dir(&data_dir)?;
    // Connections and guests' files both use descriptors: take what the system allows, and keep
    // half of it for everything but connections.
    let descriptors = tandem_server::connections::raise_descriptor_limit();
    let max_connections = match descriptors {
        Some(limit) => u64::from(args.max_connections).min(limit / 2).max(1),
        None => u64::from(args.max_connections),
    };
    let config = ServerConfig {
        max_body_bytes: args.max_body.as_u64().try_into().unwrap_or(usize::MAX),
        max_component_bytes: args.max_component.as_u64().try_into().unwrap_or(usize::MAX),
        admin_token: token(
            args.admin_token_file.as_ref(),
            "TANDEM_ADMIN_TOKEN",
            "--admin-token-file",
        )?,
        caller_token: token(args.token_file.as_ref(), "TANDEM_TOKEN", "--token-file")?,
        allowed_hosts: args.allowed_hosts.clone(),
        allowed_origins: args.allowed_origins.clone(),
        grace: args.grace,
        connections: tandem_server::connections::ConnectionLimits {
            max_connections: max_connections as usize,
            header_timeout: args.header_timeout,
            send_timeout: args.send_timeout,
        },
        body_timeout: args.body_timeout,
        max_subscribers: args.max_subscribers as usize,
        host_id: args
            .nats
            .is_some()
            .then(|| args.host_id.clone().unwrap_or_else(default_host_id)),
    };
    if !args.addr.ip().is_loopback() && config.caller_token.is_none() {
        tracing::warn!(addr = %args.addr, "listening beyond loopback without a caller token: anyone who can reach this address can call every agent (set --token-file or $TANDEM_TOKEN)");
    }
    let mut host_config = super::host_config(global);
    host_config.agent_store = Some(data_dir.join("agents"));
    host_config.baseline_tier = true;
    let audit_log = args.audit.configure(&data_dir, &mut host_config)?;
    host_config.result_cache_bytes = args.result_cache.as_u64().try_into().unwrap_or(usize::MAX);
    let host = Arc::new(super::build_host(host_config)?);
    // Open the state store now: a server that cannot keep its agents' state says so at start.
    let store = host
        .state()
        .store()
        .map_err(|e| Failure::new(e.kind(), e))?;
    tracing::info!(target: "tandem::serve", "state: {}", store.path().display());
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
    outln!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    if let Some(path) = &audit_log {
        tracing::info!(target: "tandem::serve", "audit log: {}", path.display());
    }
    let (max_component_bytes, host_id) = (config.max_component_bytes, config.host_id.clone());
    let state = ServerState::new(host.clone(), config);
    let server = tokio::spawn(server::serve(listener, state.clone(), shutdown_signal()));
    let (loaded, failed) = host.resume(&args.agents.path).await?;
    for error in &failed {
        tracing::error!(target: "tandem::serve", kind = %error.kind(), "{error}");
    }
    tracing::info!(
        target: "tandem::serve",
        "{} agent(s) serving, from {} and the saved agent set",
        loaded.len(),
        args.agents.path.display()
    );
    let cluster = match &args.nats {
        Some(url) => {
            let cluster = tandem_cluster::ClusterConfig {
                url: url.clone(),
                host_id: host_id.clone().unwrap_or_default(),
                max_component_bytes,
                placement: match args.placement {
                    PlacementArg::Spread => tandem_cluster::Placement::Spread,
                    PlacementArg::Local => tandem_cluster::Placement::Local,
                },
            };
            let cluster = tandem_cluster::Cluster::join(cluster, host.clone())
                .await
                .map_err(|e| Failure::new(ErrorKind::Unavailable, e))?;
            tracing::info!(target: "tandem::serve", "joined the cluster at {} as host `{}`", tandem_cluster::shown(url), cluster.host_id());
            let (stopping, grace) = (state.stopping(), args.grace);
            Some(tokio::spawn(async move {
                stopping.await;
                cluster.leave(grace).await;
            }))
        }
        None => None,
    };
    state.set_started();
    if args.watch {
        let (host, dir, stop) = (host.clone(), args.agents.path.clone(), state.stopping());
        let debounce = args.debounce;
        tokio::spawn(async move {
            if let Err(e) = tandem_server::watch::watch(host, &dir, debounce, stop).await {
                tracing::error!(target: "tandem::serve", "{e}; watch mode is off");
            }
        });
    }
    let served = server.await;
    if let Some(leaving) = cluster {
        let _ = leaving.await;
    }
    match served {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        Ok(Err(e)) => Err(Failure::new(ErrorKind::Internal, e)),
        Err(e) => Err(Failure::new(ErrorKind::Internal, e)),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub(super) async fn shutdown_signal() {
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
