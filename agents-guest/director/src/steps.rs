//! Running a goal's steps (calls to other agents) by a strategy chosen from the host's load:
//! one after another when the host is busy, all at once when it is idle, as a graph on the host's
//! scheduler when steps depend on each other. Every step gets its own deadline (a graph node's
//! `timeout-ms`), so a helper that hangs costs its step, not the goal; every step's end is a
//! `director-step` event.

use guest_support::time::now_ms;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tandem_sdk::delegation::{
    FailurePolicy, Graph, GraphNode, Lend, NodeOutcome, run_graph_lending,
};
use tandem_sdk::host_info::Load;
use tandem_sdk::{AgentError, CallError, ErrorKind, events};

/// How the steps run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Chosen from the load and the steps.
    #[default]
    Auto,
    Sequential,
    FanOut,
    Graph,
}

/// Other calls running at once above which the host counts as busy.
pub const BUSY_RUNNING: u32 = 4;

/// The strategy for `steps` under `load` (none: not known), and why.
pub fn choose(asked: Strategy, steps: &[Step], load: Option<&Load>) -> (Strategy, String) {
    let dependent = steps.iter().any(|s| !s.depends_on.is_empty());
    match asked {
        Strategy::Sequential => return (Strategy::Sequential, "asked for".into()),
        Strategy::FanOut | Strategy::Graph if dependent => {
            return (
                Strategy::Graph,
                "asked for a concurrent run; steps depend on each other, so they go to the scheduler as a graph".into(),
            );
        }
        Strategy::FanOut => return (Strategy::FanOut, "asked for".into()),
        Strategy::Graph => return (Strategy::Graph, "asked for".into()),
        Strategy::Auto => {}
    }
    if steps.len() <= 1 {
        return (Strategy::Sequential, "a single step".into());
    }
    let Some(load) = load else {
        return (
            if dependent {
                Strategy::Graph
            } else {
                Strategy::FanOut
            },
            "the host's load is unknown (no `host-info` grant), so the steps run concurrently"
                .into(),
        );
    };
    // This call is one of the running ones.
    let others = load.running.saturating_sub(1);
    let free = load.instances_bound.saturating_sub(load.instances_live);
    let busy = if load.queued > 0 {
        Some(format!("{} call(s) wait for an instance", load.queued))
    } else if others >= BUSY_RUNNING {
        Some(format!(
            "{others} other call(s) run (busy from {BUSY_RUNNING})"
        ))
    } else if (free as usize) < steps.len() {
        Some(format!(
            "{free} instance(s) free of {} for {} step(s)",
            load.instances_bound,
            steps.len()
        ))
    } else {
        None
    };
    let figures = format!(
        "running {}, queued {}, instances {}/{}",
        load.running, load.queued, load.instances_live, load.instances_bound
    );
    match (busy, dependent) {
        (Some(why), _) => (
            Strategy::Sequential,
            format!("the host is busy: {why} ({figures})"),
        ),
        (None, true) => (
            Strategy::Graph,
            format!(
                "the host is idle ({figures}) and steps depend on each other: a graph on the scheduler"
            ),
        ),
        (None, false) => (
            Strategy::FanOut,
            format!(
                "the host is idle ({figures}): all {} steps at once",
                steps.len()
            ),
        ),
    }
}

/// One call of a goal.
#[derive(Debug, Clone)]
pub struct Step {
    /// Unique within the goal, e.g. `linter` or `security/scan-code`.
    pub id: String,
    pub agent: String,
    pub operation: String,
    pub input: Value,
    pub depends_on: Vec<String>,
}

impl Step {
    pub fn new(id: &str, agent: &str, operation: &str, input: Value) -> Step {
        Step {
            id: id.into(),
            agent: agent.into(),
            operation: operation.into(),
            input,
            depends_on: Vec::new(),
        }
    }
}

/// How a step ended.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub id: String,
    pub agent: String,
    pub operation: String,
    /// `ok`, an error class (`timeout`, `trap`, ...), `skipped` or `cancelled`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub duration_ms: f64,
    #[serde(skip)]
    pub output: Option<Value>,
}

impl StepResult {
    pub fn ok(&self) -> bool {
        self.status == "ok"
    }

    /// A step that did not run, or whose call was refused before it ran.
    fn not_run(step: &Step, status: &str, message: String) -> StepResult {
        StepResult {
            id: step.id.clone(),
            agent: step.agent.clone(),
            operation: step.operation.clone(),
            status: status.into(),
            message: Some(message),
            duration_ms: 0.0,
            output: None,
        }
    }
}

/// Runs `steps` by `strategy`, lending `lends` to each, each within `step_timeout_ms` (and what is
/// left of `deadline_ms`, ms since 1970, less a reserve for the goal's own work). When the host
/// refuses a concurrent run as a whole (a lend one callee does not accept, say), the steps run one
/// at a time instead, so that the refusal costs only its own step.
pub fn run(
    goal: &str,
    steps: &[Step],
    strategy: Strategy,
    lends: &[Lend],
    step_timeout_ms: u64,
    deadline_ms: f64,
) -> Result<Vec<StepResult>, AgentError> {
    let budget = |now: f64| -> u64 {
        ((deadline_ms - now - RESERVE_MS).max(1.0) as u64).min(step_timeout_ms)
    };
    if strategy != Strategy::Sequential {
        let timeout = budget(now_ms());
        let nodes = steps
            .iter()
            .map(|s| node(s, timeout, strategy != Strategy::FanOut))
            .collect::<Result<Vec<_>, _>>()?;
        match graph_run(goal, steps, nodes, lends) {
            Ok(results) => return Ok(results),
            // A refusal of one step's call (a lend, a grant, an agent not loaded) refuses the
            // whole graph: one at a time, it costs only that step.
            Err(refused)
                if matches!(
                    refused.kind,
                    ErrorKind::Denied | ErrorKind::InvalidInput | ErrorKind::Unavailable
                ) =>
            {
                tandem_sdk::log::warn(&format!(
                    "{goal}: the host refused the steps as one graph ({}); running them one at a time",
                    refused.message
                ))
            }
            Err(failed) => {
                let out: Vec<StepResult> = steps
                    .iter()
                    .map(|s| StepResult::not_run(s, failed.kind.as_str(), failed.message.clone()))
                    .collect();
                out.iter().for_each(|r| announce(goal, r));
                return Ok(out);
            }
        }
    }
    let mut out: Vec<StepResult> = Vec::new();
    for step in steps {
        let blocked = step
            .depends_on
            .iter()
            .find(|d| out.iter().any(|r| &&r.id == d && !r.ok()));
        let result = match blocked {
            Some(dep) => StepResult::not_run(
                step,
                "skipped",
                format!("dependency `{dep}` did not succeed"),
            ),
            None => {
                let node = node(step, budget(now_ms()), false)?;
                match graph_run(goal, std::slice::from_ref(step), vec![node], lends) {
                    Ok(mut one) => one.remove(0),
                    Err(e) => {
                        let result = StepResult::not_run(step, e.kind.as_str(), e.message);
                        announce(goal, &result);
                        result
                    }
                }
            }
        };
        out.push(result);
    }
    Ok(out)
}

/// Time kept back from the steps for the goal's own work after them.
const RESERVE_MS: f64 = 1000.0;

/// The graph node of `step`, with its dependencies or without (when it runs alone).
fn node(step: &Step, timeout_ms: u64, with_dependencies: bool) -> Result<GraphNode, AgentError> {
    Ok(GraphNode {
        id: step.id.clone(),
        agent: step.agent.clone(),
        operation: step.operation.clone(),
        input: tandem_sdk::to_json(&step.input)?,
        depends_on: if with_dependencies {
            step.depends_on.clone()
        } else {
            Vec::new()
        },
        priority: 0,
        max_attempts: Some(1),
        timeout_ms: Some(timeout_ms),
    })
}

/// The `director-step` event of a step's end.
fn announce(goal: &str, r: &StepResult) {
    events::emit(
        "director-step",
        &json!({"goal": goal, "step": r.id, "agent": r.agent, "operation": r.operation,
                "status": r.status, "message": r.message, "duration_ms": r.duration_ms}),
    );
}

/// Runs `nodes` (of `steps`) on the scheduler and reads each result; every one is an event. The
/// host's refusal of the whole graph is passed back.
fn graph_run(
    goal: &str,
    steps: &[Step],
    nodes: Vec<GraphNode>,
    lends: &[Lend],
) -> Result<Vec<StepResult>, CallError> {
    let graph = Graph {
        nodes,
        policy: FailurePolicy::ContinueIndependent,
    };
    let results = run_graph_lending(&graph, lends)?;
    let out: Vec<StepResult> = steps
        .iter()
        .zip(results)
        .map(|(step, r)| {
            let (status, message, output) = match r.outcome {
                NodeOutcome::Succeeded(json) => (
                    "ok".to_string(),
                    None,
                    Some(serde_json::from_str(&json).unwrap_or(Value::String(json))),
                ),
                NodeOutcome::Failed(e) => (e.kind.as_str().to_string(), Some(e.message), None),
                NodeOutcome::Skipped(reason) => ("skipped".into(), Some(reason), None),
                NodeOutcome::Cancelled(why) => ("cancelled".into(), Some(why), None),
            };
            StepResult {
                id: step.id.clone(),
                agent: step.agent.clone(),
                operation: step.operation.clone(),
                status,
                message,
                duration_ms: r.duration_us as f64 / 1000.0,
                output,
            }
        })
        .collect();
    for r in &out {
        announce(goal, r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(running: u32, queued: u32, live: u32, bound: u32) -> Load {
        Load {
            running,
            queued,
            instances_live: live,
            instances_bound: bound,
        }
    }

    fn steps(n: usize, dependent: bool) -> Vec<Step> {
        (0..n)
            .map(|i| {
                let mut s = Step::new(&format!("s{i}"), "a", "op", Value::Null);
                if dependent && i > 0 {
                    s.depends_on = vec!["s0".into()];
                }
                s
            })
            .collect()
    }

    #[test]
    fn the_load_picks_the_strategy() {
        let idle = load(1, 0, 3, 1000);
        assert_eq!(
            choose(Strategy::Auto, &steps(5, false), Some(&idle)).0,
            Strategy::FanOut
        );
        assert_eq!(
            choose(Strategy::Auto, &steps(3, true), Some(&idle)).0,
            Strategy::Graph
        );
        let (s, why) = choose(
            Strategy::Auto,
            &steps(5, false),
            Some(&load(2, 3, 10, 1000)),
        );
        assert_eq!(s, Strategy::Sequential);
        assert!(why.contains("3 call(s) wait"), "{why}");
        let (s, why) = choose(
            Strategy::Auto,
            &steps(5, false),
            Some(&load(9, 0, 10, 1000)),
        );
        assert_eq!(s, Strategy::Sequential);
        assert!(why.contains("8 other call(s) run"), "{why}");
        let (s, why) = choose(
            Strategy::Auto,
            &steps(5, false),
            Some(&load(1, 0, 998, 1000)),
        );
        assert_eq!(s, Strategy::Sequential);
        assert!(why.contains("2 instance(s) free"), "{why}");
        assert_eq!(
            choose(Strategy::FanOut, &steps(3, true), None).0,
            Strategy::Graph
        );
        assert_eq!(
            choose(Strategy::Auto, &steps(1, false), None).0,
            Strategy::Sequential
        );
    }
}
