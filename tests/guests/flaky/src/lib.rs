//! `flaky`: a test-only agent for delegation and resilience. It fails on demand (for its first calls,
//! or while a flag file exists), passes calls down a chain of agents, and fans calls out.
//!
//! Its id is `flaky`, or the value of the environment variable `AGENT_ID` when the host grants one,
//! so one component can be loaded as several agents (`a`, `b`, `c`) to build chains and cycles.

use std::cell::Cell;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tandem_sdk::delegation::{
    Call, FailurePolicy, Graph, GraphNode, NodeOutcome, delegate, delegate_all, run_graph,
};
use tandem_sdk::{Agent, AgentError, AgentInfo, ErrorKind, Json, Operation, Task};

thread_local! {
    /// Calls this instance has handled.
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

const OPERATIONS: &[(&str, &str)] = &[
    ("echo", "returns its input"),
    (
        "fail-first",
        "fails with `retryable` for the first `n` calls to this instance",
    ),
    (
        "flag",
        "fails with `retryable` while the file `state/down` exists",
    ),
    (
        "chain",
        "calls `chain` on the first agent of `next` with the rest, and reports each hop",
    ),
    ("sleep-ms", "sleeps `ms` milliseconds"),
    (
        "fan-out",
        "calls `sleep-ms` on `agent` `count` times at once",
    ),
    (
        "call",
        "calls `op` on `agent` with `{}` and returns its output",
    ),
    (
        "graph",
        "runs a chain of `count` `echo` nodes on `agent` through the host's scheduler",
    ),
];

#[derive(Deserialize, Default)]
#[serde(default)]
struct Input {
    n: u64,
    next: Vec<String>,
    ms: u64,
    agent: String,
    op: String,
    count: u32,
}

/// What one hop of a chain saw.
#[derive(Serialize, Deserialize)]
struct Hop {
    agent: String,
    time_left_ms: u64,
    chain: Vec<String>,
    trace_id: String,
}

struct Flaky;

fn id() -> String {
    std::env::var("AGENT_ID").unwrap_or_else(|_| "flaky".to_string())
}

impl Agent for Flaky {
    fn describe() -> AgentInfo {
        OPERATIONS.iter().fold(
            AgentInfo::new(id(), "Fails on demand, chains and fans out (tests only)"),
            |info, (name, what)| info.operation(Operation::new(*name, *what)),
        )
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        let calls = CALLS.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        let input: Input = task.input()?;
        match task.operation.as_str() {
            "echo" => Ok(task.input),
            "fail-first" if calls <= input.n => Err(AgentError::Retryable(format!(
                "call {calls} of {} failing",
                input.n
            ))),
            "fail-first" => Ok(json!({"calls": calls, "attempt": task.attempt}).to_string()),
            "flag" if std::path::Path::new("state/down").exists() => {
                Err(AgentError::Retryable("down".into()))
            }
            "flag" => Ok(json!({"up": true, "attempt": task.attempt}).to_string()),
            "chain" => {
                let me = Hop {
                    agent: id(),
                    time_left_ms: task.time_left_ms,
                    chain: task.chain,
                    trace_id: task.trace_id,
                };
                let mut hops = match input.next.split_first() {
                    None => Vec::new(),
                    Some((next, rest)) => {
                        delegate::<_, Vec<Hop>>(next, "chain", &json!({ "next": rest }))?
                    }
                };
                hops.insert(0, me);
                tandem_sdk::to_json(&hops)
            }
            "sleep-ms" => {
                std::thread::sleep(std::time::Duration::from_millis(input.ms));
                Ok(input.ms.to_string())
            }
            "fan-out" => {
                let calls: Vec<Call> = (0..input.count)
                    .map(|_| Call::new(&input.agent, "sleep-ms", &json!({ "ms": input.ms })))
                    .collect::<Result<_, _>>()?;
                let results = delegate_all(&calls);
                let ok = results.iter().filter(|r| r.is_ok()).count();
                let errors: Vec<String> = results
                    .into_iter()
                    .filter_map(|r| r.err())
                    .map(|e| e.message)
                    .collect();
                Ok(json!({"ok": ok, "errors": errors}).to_string())
            }
            "call" => match delegate::<Value, Value>(&input.agent, &input.op, &json!({})) {
                Ok(output) => Ok(output.to_string()),
                Err(e) if e.kind == ErrorKind::Denied => Err(AgentError::Denied(e.message)),
                Err(e) => Err(e.into()),
            },
            "graph" => {
                let nodes = (0..input.count)
                    .map(|i| GraphNode {
                        id: format!("n{i}"),
                        agent: input.agent.clone(),
                        operation: "echo".into(),
                        input: if i == 0 {
                            json!({"step": 0}).to_string()
                        } else {
                            format!("\"${{n{}}}\"", i - 1)
                        },
                        depends_on: if i == 0 {
                            Vec::new()
                        } else {
                            vec![format!("n{}", i - 1)]
                        },
                        priority: 0,
                        max_attempts: None,
                        timeout_ms: None,
                    })
                    .collect();
                let results = run_graph(&Graph {
                    nodes,
                    policy: FailurePolicy::FailFast,
                })?;
                let summary: Vec<Value> = results
                    .into_iter()
                    .map(|r| match r.outcome {
                        NodeOutcome::Succeeded(output) => json!({"id": r.id, "output": output}),
                        NodeOutcome::Failed(e) => json!({"id": r.id, "failed": e.message}),
                        NodeOutcome::Skipped(why) | NodeOutcome::Cancelled(why) => {
                            json!({"id": r.id, "not-run": why})
                        }
                    })
                    .collect();
                tandem_sdk::to_json(&summary)
            }
            other => Err(AgentError::unsupported(other)),
        }
    }
}

tandem_sdk::export_agent!(Flaky);
