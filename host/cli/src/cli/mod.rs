//! The `tandem` subcommands: argument definitions and one module per command.

/// Writes to stdout like `print!`; when stdout is closed (`tandem list --json | head -1`), ends the
/// process quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!($($arg)*))
    };
}

/// Like `println!`, through [`out!`].
macro_rules! outln {
    () => {
        out!("\n")
    };
    ($($arg:tt)*) => {
        out!("{}\n", format_args!($($arg)*))
    };
}

mod agent;
mod audit;
mod build;
mod componentize;
mod graph;
mod inspect;
mod list;
mod mcp;
mod new;
mod run;
mod serve;
mod state;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tandem::{ErrorKind, Host, HostConfig};

/// Run AI/automation agents as sandboxed WebAssembly components.
#[derive(Parser)]
#[command(name = "tandem", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
pub struct GlobalArgs {
    /// Directory of the compiled-code cache [default: $TANDEM_CACHE_DIR, $XDG_CACHE_HOME/tandem or
    /// ~/.cache/tandem].
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile components every time instead of using the cache.
    #[arg(long, global = true)]
    no_cache: bool,
    /// Where agents' state and the audit log are kept [default: $TANDEM_DATA_DIR,
    /// $XDG_DATA_HOME/tandem or ~/.local/share/tandem].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log format on stderr. The filter comes from $TANDEM_LOG (e.g. `debug`, `tandem=trace`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Threads running agent calls and requests [default: one per CPU core]. On a machine shared with
    /// a load generator, fewer workers than cores keeps tail latency low.
    #[arg(long, global = true, env = "TANDEM_WORKERS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: Option<u16>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Call one operation of an agent and print its output.
    Run(run::RunArgs),
    /// Show what a component is: the agent's info, its operations, its imports and exports.
    Inspect(inspect::InspectArgs),
    /// List the agents in a directory of components.
    List(list::ListArgs),
    /// Make a component from a core module built for wasm32-wasip1 (adds the WASI adapter).
    Componentize(componentize::ComponentizeArgs),
    /// Run or check a plan: a dependency graph of agent calls.
    Graph(graph::GraphArgs),
    /// Serve the HTTP API: invoke agents, run graphs, metrics, health, live events.
    Serve(serve::ServeArgs),
    /// Show a running server's per-agent statistics (calls, latency percentiles, fuel, ...).
    Stats(stats::StatsArgs),
    /// Work with audit logs.
    Audit(audit::AuditArgs),
    /// Swap, roll back, remove or canary an agent on a running server (admin API).
    Agent(agent::AgentArgs),
    /// Inspect, export and import agents' durable state (works while a server runs).
    State(state::StateArgs),
    /// Scaffold a project from a template (a Tandem agent, a Rust crate, a Python or Node.js
    /// package) by running the `constructor` agent; prints the commands to run next.
    New(new::NewArgs),
    /// Compile an agent crate into a component in the agents directory, its manifest beside it.
    Build(build::BuildArgs),
    /// Offer every agent operation as a Model Context Protocol tool, over stdin/stdout or
    /// streamable HTTP (`--http`).
    Mcp(mcp::McpArgs),
}

/// The directory of components (and their manifests) that agent ids are looked up in.
#[derive(Args)]
pub struct AgentsDir {
    /// The directory of agent components, each with its optional manifest beside it.
    #[arg(
        long = "agents",
        env = "TANDEM_AGENTS",
        default_value = "target/agents",
        value_name = "DIR"
    )]
    pub path: PathBuf,
}

/// A command's failure: the error and how it is classified (which sets the exit code).
pub struct Failure {
    pub kind: ErrorKind,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn new(kind: ErrorKind, error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            kind,
            error: error.into(),
        }
    }

    pub fn invalid_input(message: String) -> Failure {
        Failure::new(ErrorKind::InvalidInput, anyhow::anyhow!(message))
    }

    /// A file (or stream) given on the command line that cannot be read or written.
    pub fn file(path: &std::path::Path, error: std::io::Error) -> Failure {
        Failure::new(
            ErrorKind::InvalidInput,
            anyhow::anyhow!("{}: {error}", path.display()),
        )
    }
}

impl From<tandem::LoadError> for Failure {
    fn from(error: tandem::LoadError) -> Failure {
        Failure::new(error.kind(), error)
    }
}

impl From<tandem::CallError> for Failure {
    fn from(error: tandem::CallError) -> Failure {
        Failure::new(error.kind(), error)
    }
}

pub fn init_tracing(global: &GlobalArgs) {
    let mut filter =
        tracing_subscriber::EnvFilter::try_from_env("TANDEM_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(
                "warn,tandem::guest=info,tandem::events=info,tandem::serve=info",
            )
        });
    // The NATS client's debug lines print the server's address with its credentials: they show
    // only when $TANDEM_LOG names the client itself.
    let asked = std::env::var("TANDEM_LOG").unwrap_or_default();
    if !asked.contains("async_nats")
        && let Ok(quiet) = "async_nats=info".parse()
    {
        filter = filter.add_directive(quiet);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match global.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// A bearer token from `file` (`flag` names it in errors), or else from the environment variable
/// `env`, trimmed; `None` when neither gives one.
fn read_token(
    file: Option<&std::path::Path>,
    env: &str,
    flag: &str,
) -> Result<Option<String>, Failure> {
    let token = match file {
        Some(file) => Some(
            std::fs::read_to_string(file)
                .map_err(|e| Failure::invalid_input(format!("{flag} {}: {e}", file.display())))?,
        ),
        None => std::env::var(env).ok(),
    };
    Ok(token.map(|t| t.trim().to_string()))
}

/// Writes `bytes` to `path` unless it holds them already, so that rebuilding with nothing changed
/// leaves the file alone (a server watching the directory sees no change).
fn write_if_changed(path: &std::path::Path, bytes: &[u8]) -> Result<(), Failure> {
    if std::fs::read(path).ok().as_deref() != Some(bytes) {
        std::fs::write(path, bytes).map_err(|e| Failure::file(path, e))?;
    }
    Ok(())
}

/// A duration flag from 0 to an hour (`250ms`, `5s`, `2m`).
fn duration_up_to_an_hour(text: &str) -> Result<std::time::Duration, String> {
    tandem::manifest::parse_duration(
        text,
        std::time::Duration::ZERO,
        std::time::Duration::from_secs(3600),
    )
}

/// A duration flag from 1 ms to an hour.
fn positive_duration_up_to_an_hour(text: &str) -> Result<std::time::Duration, String> {
    tandem::manifest::parse_duration(
        text,
        std::time::Duration::from_millis(1),
        std::time::Duration::from_secs(3600),
    )
}

/// The data directory: `--data-dir`, else the default ([`tandem::dirs::data_dir`]).
fn data_dir(global: &GlobalArgs) -> Result<PathBuf, Failure> {
    global
        .data_dir
        .clone()
        .or_else(tandem::dirs::data_dir)
        .ok_or_else(|| {
            Failure::invalid_input(
                "no data directory: set --data-dir or $TANDEM_DATA_DIR (HOME is not set)".into(),
            )
        })
}

/// Holds the data directory for this process: a second `tandem serve` or `tandem mcp` on the same
/// directory is refused (it would interleave the audit log). The lock is the OS's (flock),
/// released however the process ends.
pub(super) fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, Failure> {
    std::fs::create_dir_all(dir).map_err(|e| Failure::file(dir, e))?;
    let path = dir.join("serve.lock");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Failure::file(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(Failure::new(
                ErrorKind::Unavailable,
                anyhow::anyhow!(
                    "another `tandem serve` or `tandem mcp` (pid {}) uses the data directory {}; give this one its own --data-dir",
                    holder.trim(),
                    dir.display()
                ),
            ));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Failure::file(&path, e)),
    }
    use std::io::{Seek, Write};
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", std::process::id());
    Ok(file)
}

/// The audit log's options, shared by the commands that serve calls.
#[derive(Args)]
pub struct AuditLogArgs {
    /// The audit log: one hash-chained JSON line per call [default: DATA_DIR/audit.jsonl].
    #[arg(long, value_name = "FILE", conflicts_with = "no_audit")]
    audit_log: Option<PathBuf>,
    /// Keep no audit log.
    #[arg(long)]
    no_audit: bool,
    /// The size past which the audit log is rotated (renamed FILE.<first seq>; the chain goes on
    /// in a new FILE).
    #[arg(long, default_value = "256MiB")]
    audit_max_size: bytesize::ByteSize,
    /// Rotated audit files kept; older ones are deleted.
    #[arg(long, default_value_t = 8)]
    audit_keep: usize,
}

impl AuditLogArgs {
    /// Sets the audit log of `config` as asked (under `data_dir` by default); returns its path.
    fn configure(
        &self,
        data_dir: &std::path::Path,
        config: &mut HostConfig,
    ) -> Result<Option<PathBuf>, Failure> {
        if self.audit_max_size.as_u64() < 4096 {
            return Err(Failure::invalid_input(
                "--audit-max-size must be at least 4KiB".into(),
            ));
        }
        let path = match (&self.audit_log, self.no_audit) {
            (_, true) => None,
            (Some(file), false) => Some(file.clone()),
            (None, false) => Some(data_dir.join("audit.jsonl")),
        };
        config.audit_rotation = tandem::audit::Rotation {
            max_bytes: self.audit_max_size.as_u64(),
            keep: self.audit_keep,
        };
        config.audit_log = path.clone();
        Ok(path)
    }
}

/// The state store's file in the data directory.
fn state_file(global: &GlobalArgs) -> Result<PathBuf, Failure> {
    Ok(data_dir(global)?.join("state.redb"))
}

/// The host configuration the global options ask for. Agents keep their state in the data
/// directory (a host without one keeps none).
fn host_config(global: &GlobalArgs) -> HostConfig {
    let mut config = HostConfig {
        state_file: state_file(global).ok(),
        ..HostConfig::default()
    };
    if global.no_cache {
        config.cache_dir = None;
    } else if let Some(dir) = &global.cache_dir {
        config.cache_dir = Some(dir.clone());
    }
    config
}

fn build_host(config: HostConfig) -> Result<Host, Failure> {
    Host::new(config).map_err(|e| {
        let kind = match e {
            tandem::host::HostError::Audit(_) => ErrorKind::InvalidInput,
            _ => ErrorKind::Internal,
        };
        Failure::new(kind, e)
    })
}

fn host(global: &GlobalArgs) -> Result<Host, Failure> {
    build_host(host_config(global))
}

pub async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Run(args) => run::run(&cli.global, args).await,
        Command::Inspect(args) => inspect::inspect(&cli.global, args).await,
        Command::List(args) => list::list(&cli.global, args).await,
        Command::Componentize(args) => componentize::componentize(args),
        Command::Graph(args) => graph::graph(&cli.global, args).await,
        Command::Serve(args) => serve::serve(&cli.global, args).await,
        Command::Stats(args) => stats::stats(args),
        Command::Audit(args) => audit::audit(args),
        Command::Agent(args) => agent::agent(args),
        Command::State(args) => state::state(&cli.global, args).await,
        Command::New(args) => new::new(&cli.global, args).await,
        Command::Build(args) => build::build(args),
        Command::Mcp(args) => mcp::mcp(&cli.global, args).await,
    }
}

/// What [`out!`] does: writes and flushes; a closed stdout ends the process with status 0 (the
/// reader had what it wanted), any other write error with the I/O exit code.
pub fn write_stdout(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        let _ = writeln!(
            std::io::stderr(),
            "error[internal]: cannot write to stdout: {error}"
        );
        std::process::exit(74);
    }
}
