//! `tandem state ls|get|export|import`: operators' access to agents' durable state, in the data
//! directory's store (it may be open in a running server at the same time), or with `--nats` in the
//! state a cluster's hosts share.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use tandem::ErrorKind;
use tandem::state::{StateError, StateStore, Usage, check_key};

use super::{Failure, GlobalArgs};

#[derive(Args)]
pub struct StateArgs {
    /// The state a cluster shares on this NATS server (`tandem serve --nats`) instead of the data
    /// directory's.
    #[arg(long, env = "TANDEM_NATS", value_name = "URL")]
    nats: Option<String>,
    #[command(subcommand)]
    command: StateCommand,
}

#[derive(Subcommand)]
enum StateCommand {
    /// List the agents that keep state (keys, bytes), or one agent's keys with their values' sizes.
    Ls {
        agent: Option<String>,
        /// Only the keys that start with this.
        #[arg(long, default_value = "", requires = "agent")]
        prefix: String,
    },
    /// Print the value stored under an agent's key, byte for byte.
    Get { agent: String, key: String },
    /// Write an agent's state as JSON: `{"agent", "entries": [{"key", "value"} or {"key", "hex"}]}`
    /// (`hex` for values that are not UTF-8).
    Export {
        agent: String,
        /// Write here instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Load entries exported by `export` into an agent's state, in one transaction (no quota).
    Import {
        agent: String,
        /// The JSON file (`-` reads stdin).
        file: PathBuf,
        /// Remove the agent's other keys first, so that its state is exactly the file's.
        #[arg(long)]
        replace: bool,
    },
}

fn state_failure(error: StateError) -> Failure {
    Failure::new(error.kind(), error)
}

fn check_agent(agent: &str) -> Result<(), Failure> {
    tandem::manifest::check_name("agent id", agent).map_err(Failure::invalid_input)
}

pub async fn state(global: &GlobalArgs, args: StateArgs) -> Result<ExitCode, Failure> {
    if let Some(url) = &args.nats {
        return shared_state(url, args.command).await;
    }
    let store = StateStore::open(&super::state_file(global)?).map_err(state_failure)?;
    match args.command {
        StateCommand::Ls {
            agent: None,
            prefix: _,
        } => {
            let agents = store.agents().map_err(state_failure)?;
            outln!("{:<24} {:>8} {:>12}", "AGENT", "KEYS", "BYTES");
            for (agent, usage) in agents {
                outln!("{agent:<24} {:>8} {:>12}", usage.keys, usage.bytes);
            }
        }
        StateCommand::Ls {
            agent: Some(agent),
            prefix,
        } => {
            check_agent(&agent)?;
            for (key, size) in store.keys(&agent, &prefix).map_err(state_failure)? {
                outln!("{size:>10}  {key}");
            }
        }
        StateCommand::Get { agent, key } => {
            check_agent(&agent)?;
            check_key(&key).map_err(state_failure)?;
            let value = store.get(&agent, &key).map_err(state_failure)?;
            write_value(&agent, &key, value)?;
        }
        StateCommand::Export { agent, output } => {
            check_agent(&agent)?;
            let entries = store.entries(&agent, "").map_err(state_failure)?;
            write_export(agent, entries, output)?;
        }
        StateCommand::Import {
            agent,
            file,
            replace,
        } => {
            check_agent(&agent)?;
            let entries = read_export(&file)?;
            let count = entries.len();
            store
                .import(&agent, entries, replace)
                .await
                .map_err(state_failure)?;
            let usage = store.usage(&agent).map_err(state_failure)?;
            eprintln!(
                "imported {count} entries into `{agent}`: it now keeps {} keys, {} bytes",
                usage.keys, usage.bytes
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints `agent`'s value under `key`, byte for byte; none is an error naming both.
fn write_value(agent: &str, key: &str, value: Option<Vec<u8>>) -> Result<(), Failure> {
    let value = value
        .ok_or_else(|| Failure::invalid_input(format!("agent `{agent}` keeps no key `{key}`")))?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&value)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::file("stdout".as_ref(), e))
}

/// Writes `agent`'s `entries` as an export, to `output` or stdout.
fn write_export(
    agent: String,
    entries: Vec<(String, Vec<u8>)>,
    output: Option<PathBuf>,
) -> Result<(), Failure> {
    let export = tandem::state::export::Export {
        agent,
        entries: entries
            .into_iter()
            .map(|(key, value)| match String::from_utf8(value) {
                Ok(text) => tandem::state::export::Entry {
                    key,
                    value: Some(text),
                    hex: None,
                },
                Err(bytes) => tandem::state::export::Entry {
                    key,
                    value: None,
                    hex: Some(hex::encode(bytes.into_bytes())),
                },
            })
            .collect(),
    };
    let mut text =
        serde_json::to_string_pretty(&export).map_err(|e| Failure::new(ErrorKind::Internal, e))?;
    text.push('\n');
    match output {
        Some(file) => std::fs::write(&file, text).map_err(|e| Failure::file(&file, e)),
        None => {
            out!("{text}");
            Ok(())
        }
    }
}

/// Times an import into the shared state is tried again after another call stored the agent's
/// state first.
const IMPORT_TRIES: u32 = 10;

/// The same commands on the state a cluster shares (the `tandem-state` bucket at `url`).
async fn shared_state(url: &str, command: StateCommand) -> Result<ExitCode, Failure> {
    use tandem::state::SharedState;
    let shared = tandem_cluster::state::SharedKv::connect(url)
        .await
        .map_err(|e| Failure::new(ErrorKind::Unavailable, e))?;
    let load = |agent: String| {
        let shared = &shared;
        async move {
            check_agent(&agent)?;
            let (revision, entries) = shared.load(&agent).await.map_err(state_failure)?;
            Ok::<_, Failure>((agent, revision, entries))
        }
    };
    match command {
        StateCommand::Ls {
            agent: None,
            prefix: _,
        } => {
            outln!("{:<24} {:>8} {:>12}", "AGENT", "KEYS", "BYTES");
            for agent in shared.agents().await.map_err(state_failure)? {
                let (agent, _, entries) = load(agent).await?;
                if !entries.is_empty() {
                    let usage = Usage::of(&entries);
                    outln!("{agent:<24} {:>8} {:>12}", usage.keys, usage.bytes);
                }
            }
        }
        StateCommand::Ls {
            agent: Some(agent),
            prefix,
        } => {
            let (_, _, entries) = load(agent).await?;
            for (key, value) in entries.range(prefix.clone()..) {
                if !key.starts_with(&prefix) {
                    break;
                }
                outln!("{:>10}  {key}", value.len());
            }
        }
        StateCommand::Get { agent, key } => {
            check_key(&key).map_err(state_failure)?;
            let (agent, _, mut entries) = load(agent).await?;
            write_value(&agent, &key, entries.remove(&key))?;
        }
        StateCommand::Export { agent, output } => {
            let (agent, _, entries) = load(agent).await?;
            write_export(agent, entries.into_iter().collect(), output)?;
        }
        StateCommand::Import {
            agent,
            file,
            replace,
        } => {
            let imported = read_export(&file)?;
            for attempt in 1..=IMPORT_TRIES {
                let (agent, revision, mut entries) = load(agent.clone()).await?;
                if replace {
                    entries.clear();
                }
                entries.extend(imported.iter().cloned());
                let usage = Usage::of(&entries);
                match shared.store(&agent, revision, entries).await {
                    Ok(()) => {
                        eprintln!(
                            "imported {} entries into `{agent}`: it now keeps {} keys, {} bytes",
                            imported.len(),
                            usage.keys,
                            usage.bytes
                        );
                        return Ok(ExitCode::SUCCESS);
                    }
                    Err(StateError::Overtaken) if attempt < IMPORT_TRIES => continue,
                    Err(error) => return Err(state_failure(error)),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads and checks an export file: every key valid and unique, every entry with exactly one of
/// `value` and `hex`.
fn read_export(file: &std::path::Path) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    let mut text = String::new();
    if file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::file(file, e))?;
    } else {
        text = std::fs::read_to_string(file).map_err(|e| Failure::file(file, e))?;
    }
    tandem::state::export::parse(&text)
        .map_err(|e| Failure::invalid_input(format!("{}: {e}", file.display())))
}
