//! `hostile`: a test-only agent whose operations attack the host, one attack each. Never shipped:
//! it is built into `target/test-agents/` and used by `tests/hostile.rs`.

use std::hint::black_box;

use serde::Deserialize;
use tandem_sdk::delegation::delegate_json;
use tandem_sdk::{Agent, AgentError, AgentInfo, ErrorKind, Json, Operation, Task};

/// Every attack, with what the host should answer.
const ATTACKS: &[(&str, &str)] = &[
    ("spin", "an infinite loop"),
    (
        "host-info",
        "reads the host's agents, figures and load (granted or not)",
    ),
    (
        "control",
        "acts on agent `agent`'s versions: `name` is versions, rollback, activate (hash `path`), \
         canary, start-canary (hash `path`, weight `count`), set-weight (`count`), promote or abort",
    ),
    ("spin-on-host", "an infinite loop of host calls"),
    ("grow", "allocates until memory runs out"),
    ("recurse", "unbounded recursion"),
    ("big-output", "returns 100 MB"),
    ("panic", "panics"),
    ("unreachable", "executes `unreachable`"),
    ("sleep", "sleeps on the WASI clock for a minute"),
    (
        "nap",
        "sleeps `count` milliseconds, then answers when it started and ended (ms since 1970)",
    ),
    (
        "lend",
        "calls `agent`'s `operation` with `input`, lending it `lends` ([{path, guest, read_only}]); \
         `copies` > 1: that many calls at once (fan-out), `graph`: as nodes of a graph",
    ),
    (
        "emit",
        "emits the event `name` with data {\"n\": `count`} (not an attack: for triggers)",
    ),
    ("read", "reads the file at `path`"),
    ("write", "writes to the file at `path`"),
    ("env", "reads the environment variable `name`"),
    ("delegate", "calls agent `agent`"),
    ("log-flood", "writes `count` log records"),
    ("print", "prints `count` lines to stdout"),
    ("big-error", "fails with a message of `count` bytes"),
    (
        "bad-output",
        "writes state key `name`, then returns text that is not JSON",
    ),
    ("deep-output", "returns arrays nested `count` deep"),
    (
        "open-files",
        "opens the file at `path` `count` times and never closes it",
    ),
    (
        "symlink",
        "makes a symbolic link at `path` pointing to `name`",
    ),
    (
        "state-peek",
        "lists every state key it can see and reads the key `name` (another agent's, it hopes)",
    ),
];

struct Hostile;

#[derive(Deserialize)]
struct Target {
    #[serde(default)]
    path: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    agent: String,
    #[serde(default)]
    count: u64,
}

/// Sleeps a minute when `$HOSTILE_SLOW` names `step` (`describe` or `health`): a component that
/// hangs while the host loads it.
fn slow_at(step: &str) {
    if std::env::var("HOSTILE_SLOW").is_ok_and(|slow| slow == step) {
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

impl Agent for Hostile {
    fn health() -> Result<(), String> {
        slow_at("health");
        Ok(())
    }

    fn describe() -> AgentInfo {
        slow_at("describe");
        ATTACKS.iter().fold(
            AgentInfo::new(env!("CARGO_PKG_NAME"), "Misbehaves on purpose (tests only)"),
            |info, (name, what)| info.operation(Operation::new(*name, *what)),
        )
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        let target: Target = task.input()?;
        match task.operation.as_str() {
            "spin" => {
                let mut x: u64 = 0;
                loop {
                    x = black_box(x.wrapping_add(1));
                }
            }
            "host-info" => Ok(serde_json::json!({
                "agents": tandem_sdk::host_info::agents()?,
                "figures": tandem_sdk::host_info::figures(None)?,
                "load": tandem_sdk::host_info::load()?,
                "routes": tandem_sdk::host_info::routes()?,
            })
            .to_string()),
            "control" => {
                use tandem_sdk::control;
                let (agent, weight) = (target.agent.as_str(), target.count.min(255) as u8);
                match target.name.as_str() {
                    "versions" => tandem_sdk::to_json(&control::versions(agent)?),
                    "rollback" => tandem_sdk::to_json(&control::rollback(agent)?),
                    "canary" => tandem_sdk::to_json(&control::canary(agent)?),
                    "start-canary" => {
                        tandem_sdk::to_json(&control::start_canary(agent, &target.path, weight)?)
                    }
                    "set-weight" => tandem_sdk::to_json(&control::set_weight(agent, weight)?),
                    "promote" => tandem_sdk::to_json(&control::promote(agent)?),
                    "abort" => tandem_sdk::to_json(&control::abort(agent)?),
                    _ => tandem_sdk::to_json(&control::activate(agent, &target.path)?),
                }
            }
            "spin-on-host" => loop {
                tandem_sdk::log::debug("still here");
            },
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(black_box(vec![1u8; 1 << 20]));
                }
            }
            "recurse" => Ok(recurse(u64::MAX).to_string()),
            "big-output" => Ok("x".repeat(100 << 20)),
            "panic" => panic!("the hostile guest panics"),
            "unreachable" => unreachable_instruction(),
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(60));
                Ok("\"woke up\"".into())
            }
            "lend" => lend(&task.input),
            "nap" => {
                let now = || {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis())
                };
                let started = now();
                std::thread::sleep(std::time::Duration::from_millis(target.count));
                Ok(format!(
                    "{{\"napped_ms\":{},\"started_ms\":{started},\"ended_ms\":{}}}",
                    target.count,
                    now()
                ))
            }
            "emit" => {
                tandem_sdk::events::emit(&target.name, &serde_json::json!({"n": target.count}));
                Ok("{}".into())
            }
            "big-error" => Err(AgentError::failed("e".repeat(target.count as usize))),
            "bad-output" => {
                tandem_sdk::state::set(&target.name, b"written")?;
                Ok("this is not JSON".to_string())
            }
            "deep-output" => {
                let depth = target.count as usize;
                Ok("[".repeat(depth) + &"]".repeat(depth))
            }
            "open-files" => {
                for i in 0..target.count {
                    match std::fs::File::open(&target.path) {
                        Ok(file) => std::mem::forget(file),
                        Err(e) => {
                            return Err(AgentError::failed(format!("open #{i}: {e}")));
                        }
                    }
                }
                Ok(target.count.to_string())
            }
            "symlink" =>
            {
                #[allow(deprecated)]
                std::fs::soft_link(&target.name, &target.path)
                    .map(|()| "\"linked\"".to_string())
                    .map_err(|e| AgentError::Denied(format!("cannot link {}: {e}", target.path)))
            }
            "state-peek" => {
                let keys = tandem_sdk::state::keys("")?;
                let value = tandem_sdk::state::get(&target.name)?;
                let value = value.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
                Ok(serde_json::json!({"keys": keys, "value": value}).to_string())
            }
            "read" => std::fs::read_to_string(&target.path)
                .map(|text| serde_json::Value::String(text).to_string())
                .map_err(|e| AgentError::Denied(format!("cannot read {}: {e}", target.path))),
            "write" => std::fs::write(&target.path, "owned")
                .map(|()| "\"written\"".to_string())
                .map_err(|e| AgentError::Denied(format!("cannot write {}: {e}", target.path))),
            "env" => std::env::var(&target.name)
                .map(|value| serde_json::Value::String(value).to_string())
                .map_err(|e| AgentError::Denied(format!("cannot read ${}: {e}", target.name))),
            "delegate" => match delegate_json(&target.agent, "echo", "{}") {
                Ok(output) => Ok(output),
                Err(e) if e.kind == ErrorKind::Denied => Err(AgentError::Denied(e.message)),
                Err(e) => Err(e.into()),
            },
            "log-flood" => {
                for i in 0..target.count {
                    tandem_sdk::log::with_fields(
                        tandem_sdk::log::Level::Info,
                        "flood",
                        &[("i", &i.to_string())],
                    );
                }
                Ok(target.count.to_string())
            }
            "print" => {
                for i in 0..target.count {
                    println!("line {i}");
                }
                Ok(target.count.to_string())
            }
            other => Err(AgentError::unsupported(other)),
        }
    }
}

/// The `lend` operation: one call (or `copies` at once, or a graph of them) with lent directories.
fn lend(input: &str) -> Result<Json, AgentError> {
    use tandem_sdk::delegation::{self as d, Lend};
    #[derive(Deserialize)]
    struct LentDir {
        path: String,
        guest: String,
        #[serde(default)]
        read_only: bool,
    }
    #[derive(Deserialize)]
    struct LendInput {
        agent: String,
        operation: String,
        input: serde_json::Value,
        lends: Vec<LentDir>,
        #[serde(default)]
        copies: usize,
        #[serde(default)]
        graph: bool,
    }
    let request: LendInput =
        serde_json::from_str(input).map_err(|e| AgentError::InvalidInput(e.to_string()))?;
    let lends: Vec<Lend> = request
        .lends
        .into_iter()
        .map(|l| Lend {
            path: l.path,
            guest: l.guest,
            read_only: l.read_only,
        })
        .collect();
    let text = request.input.to_string();
    let classify = |e: tandem_sdk::CallError| match e.kind {
        ErrorKind::Denied => AgentError::Denied(e.message),
        _ => e.into(),
    };
    if request.graph {
        let node = |id: &str| d::GraphNode {
            id: id.to_string(),
            agent: request.agent.clone(),
            operation: request.operation.clone(),
            input: text.clone(),
            depends_on: Vec::new(),
            priority: 0,
            max_attempts: None,
            timeout_ms: None,
        };
        let graph = d::Graph {
            nodes: vec![node("a"), node("b")],
            policy: d::FailurePolicy::FailFast,
        };
        let results = d::run_graph_lending(&graph, &lends).map_err(classify)?;
        let outputs: Vec<serde_json::Value> = results
            .into_iter()
            .map(|r| match r.outcome {
                d::NodeOutcome::Succeeded(output) => {
                    serde_json::from_str(&output).unwrap_or_default()
                }
                d::NodeOutcome::Failed(e) => serde_json::json!({"error": e.message}),
                _ => serde_json::Value::Null,
            })
            .collect();
        return Ok(serde_json::Value::Array(outputs).to_string());
    }
    if request.copies > 1 {
        let call = d::Call {
            agent: request.agent,
            operation: request.operation,
            input: text,
        };
        let calls = vec![call; request.copies.min(16)];
        let outputs: Result<Vec<serde_json::Value>, AgentError> =
            d::delegate_all_lending(&calls, &lends)
                .into_iter()
                .map(|r| {
                    r.map(|o| serde_json::from_str(&o).unwrap_or_default())
                        .map_err(classify)
                })
                .collect();
        return Ok(serde_json::Value::Array(outputs?).to_string());
    }
    d::delegate_lending(&request.agent, &request.operation, &text, &lends).map_err(classify)
}

tandem_sdk::export_agent!(Hostile);

/// Recursion through a function table, so the compiler can turn it neither into a loop nor into a
/// tail call: each level is a real wasm call frame.
fn recurse(depth: u64) -> u64 {
    static NEXT: [fn(u64) -> u64; 2] = [recurse, recurse];
    if depth == 0 {
        return 0;
    }
    let next = NEXT[(depth % 2) as usize];
    black_box(next(depth - 1))
        .wrapping_mul(3)
        .wrapping_add(depth)
}

/// Executes wasm's `unreachable` instruction (natively, for clippy and unit builds: an abort).
fn unreachable_instruction() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}
