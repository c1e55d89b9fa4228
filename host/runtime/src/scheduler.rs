//! The parallel scheduler: a plan of agent calls with dependencies, validated as a whole, then run
//! with a ready queue: each node starts the moment its last dependency has succeeded, highest priority
//! first among the ready ones, within a global concurrency bound and a per-agent bound (bulkhead).
//!
//! A node's input may take outputs of its dependencies: a string value `"${id}"` is replaced by the
//! whole output of node `id`, and `"${id/pointer}"` by the part of it at that JSON pointer (RFC 6901,
//! e.g. `"${lint/summary/findings}"`). Only whole string values are replaced, and `id` must be among
//! the node's `depends-on`.
//!
//! Failure policy: `fail-fast` cancels running nodes and skips the rest at the first failure;
//! `continue` skips only the nodes that depend (transitively) on a failed one. Every node ends
//! `succeeded`, `failed` (with its classified error), `skipped` or `cancelled`.
//!
//! This file holds the plan and its validation; `run` runs a validated [`Graph`] with `runner`s
//! sharing the run's `board`, and `template` fills the templates of an input.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::dispatch::Dispatcher;
use crate::error::ErrorKind;

mod board;
mod ready;
mod run;
mod runner;
mod template;

pub use run::Progress;
use template::check_templates;

/// A plan as written in a file (TOML or JSON) or handed over by a guest.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Plan {
    #[serde(default)]
    /// What a failed node does to the rest.
    pub policy: FailurePolicy,
    /// Nodes running at once, across all agents (default 64).
    pub max_concurrency: Option<usize>,
    /// Nodes of one agent running at once (default: the agent's `max-instances`).
    pub max_per_agent: Option<usize>,
    /// A deadline for the whole run, e.g. `"30s"`: nodes still running then are cancelled.
    pub timeout: Option<String>,
    /// The nodes.
    pub nodes: Vec<Node>,
}

/// One call in a plan.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Node {
    /// The node's id, unique in the plan.
    pub id: String,
    /// The agent to call.
    pub agent: String,
    /// The operation.
    pub op: String,
    #[serde(default = "empty_object")]
    /// The input; strings may hold `${node}` templates of dependencies' outputs.
    pub input: Value,
    #[serde(default)]
    /// The nodes that must succeed first.
    pub depends_on: Vec<String>,
    /// Higher runs first among nodes ready at the same time.
    #[serde(default)]
    pub priority: i32,
    /// Overrides the agent's `max-attempts` for this node.
    pub max_attempts: Option<u32>,
    /// Caps the node's time, e.g. `"2s"` (the agent's own timeout still applies).
    pub timeout: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// What the rest of a run does when a node fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailurePolicy {
    #[default]
    /// The first failure cancels the nodes not yet started.
    FailFast,
    /// Nodes that do not depend on a failure go on.
    Continue,
}

/// Why a plan cannot run. Every message names the nodes concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid plan: {0}")]
pub struct PlanError(pub String);

/// How a node ended.
// Each variant's fields are named in its doc.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    /// It succeeded with `output`, the JSON text the agent returned (checked by the host).
    Succeeded { output: Box<RawValue> },
    /// It failed with an error of class `kind`.
    Failed { kind: ErrorKind, error: String },
    /// It did not run because a dependency failed.
    Skipped { reason: String },
    /// It was stopped or never started because the run was cancelled.
    Cancelled { reason: String },
}

/// The result of one node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    /// The node's id.
    pub id: String,
    #[serde(flatten)]
    /// How it ended.
    pub outcome: Outcome,
    /// Attempts made.
    pub attempts: u32,
    /// How long it ran.
    pub duration_us: u64,
    /// The order in which nodes started (0 first), absent for nodes that never ran.
    pub started: Option<usize>,
}

/// The result of a run: one report per node, in the plan's order.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Every node, in the plan's order.
    pub nodes: Vec<NodeReport>,
    /// How long the run took.
    pub duration_us: u64,
    /// The most nodes that ran at once.
    pub peak_concurrency: usize,
}

impl RunReport {
    /// How many nodes ended as `status` says.
    pub fn count(&self, status: fn(&Outcome) -> bool) -> usize {
        self.nodes.iter().filter(|n| status(&n.outcome)).count()
    }
}

/// A plan that passed validation: dependencies as indices, inputs with their templates located.
pub struct Graph {
    plan: Plan,
    groups: Groups,
    /// Whether a node's input has templates to fill.
    templated: Vec<bool>,
    timeouts: Vec<Option<Duration>>,
    run_timeout: Option<Duration>,
}

/// The dependencies of a plan, by group: nodes with the same `depends-on` list share a group.
#[derive(Default)]
struct Groups {
    /// Each group's dependencies (node indices), and how many of them have not succeeded yet.
    deps: Vec<Vec<usize>>,
    indegree: Vec<usize>,
    /// Each group's nodes.
    members: Vec<Vec<usize>>,
    /// Each node's group (`None`: no dependencies).
    group_of: Vec<Option<usize>>,
    /// For each node, the groups that wait on it.
    waiting_on: Vec<Vec<usize>>,
}

impl Groups {
    fn deps_of(&self, node: usize) -> &[usize] {
        self.group_of[node].map_or(&[], |g| &self.deps[g])
    }
}

impl Plan {
    /// Reads a plan file: JSON when the name ends in `.json`, TOML otherwise.
    pub fn read(path: &std::path::Path) -> Result<Plan, PlanError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PlanError(format!("{}: {e}", path.display())))?;
        let parsed = if path.extension().is_some_and(|ext| ext == "json") {
            serde_json::from_str(&text).map_err(|e| e.to_string())
        } else {
            toml::from_str(&text).map_err(|e| e.to_string())
        };
        parsed.map_err(|e| PlanError(format!("{}: {}", path.display(), e.trim_end())))
    }

    /// Checks the plan against the loaded agents: ids unique and well-formed, dependencies known,
    /// agents and operations known, templates referring to dependencies, no cycle.
    pub fn validate(self, dispatcher: &Dispatcher) -> Result<Graph, PlanError> {
        let n = self.nodes.len();
        count_in_range("max-concurrency", self.max_concurrency, MAX_CONCURRENCY)?;
        count_in_range("max-per-agent", self.max_per_agent, MAX_CONCURRENCY)?;
        let mut index = HashMap::with_capacity(n);
        for (i, node) in self.nodes.iter().enumerate() {
            if node.id.is_empty() {
                return Err(PlanError(format!("node #{} has an empty id", i + 1)));
            }
            if index.insert(node.id.as_str(), i).is_some() {
                return Err(PlanError(format!("duplicate node id `{}`", node.id)));
            }
        }
        // Nodes with the same dependency list share one group and one counter: a layer of 500 nodes
        // that each wait for the whole previous layer is 500 edges, not 250 000.
        let mut group_index: HashMap<&[String], usize> = HashMap::new();
        let mut groups = Groups {
            group_of: vec![None; n],
            waiting_on: vec![Vec::new(); n],
            ..Groups::default()
        };
        let mut templated = Vec::with_capacity(n);
        let mut timeouts = Vec::with_capacity(n);
        for (i, node) in self.nodes.iter().enumerate() {
            let agent = dispatcher
                .registry()
                .get(&node.agent)
                .map_err(|e| PlanError(format!("node `{}`: {e}", node.id)))?;
            if agent.info.operation(&node.op).is_none() {
                return Err(PlanError(format!(
                    "node `{}`: agent `{}` has no operation `{}`",
                    node.id, node.agent, node.op
                )));
            }
            if !node.depends_on.is_empty() {
                let g = match group_index.get(node.depends_on.as_slice()) {
                    Some(&g) => g,
                    None => {
                        let g = groups.deps.len();
                        let mut deps = Vec::with_capacity(node.depends_on.len());
                        for dep in &node.depends_on {
                            let &d = index.get(dep.as_str()).ok_or_else(|| {
                                PlanError(format!(
                                    "node `{}` depends on unknown node `{dep}`",
                                    node.id
                                ))
                            })?;
                            groups.waiting_on[d].push(g);
                            deps.push(d);
                        }
                        groups.indegree.push(deps.len());
                        groups.deps.push(deps);
                        groups.members.push(Vec::new());
                        group_index.insert(node.depends_on.as_slice(), g);
                        g
                    }
                };
                groups.group_of[i] = Some(g);
                groups.members[g].push(i);
            }
            count_in_range(
                &format!("node `{}`: max-attempts", node.id),
                node.max_attempts.map(|n| n as usize),
                10,
            )?;
            templated.push(check_templates(node, &node.input)?);
            let timeout = node
                .timeout
                .as_deref()
                .map(|t| duration(&format!("node `{}`: timeout", node.id), t));
            timeouts.push(timeout.transpose()?);
        }
        drop(group_index);
        if let Some(cycle) = find_cycle(&self.nodes, &groups) {
            return Err(PlanError(format!(
                "dependency cycle: {}",
                cycle.join(" -> ")
            )));
        }
        let run_timeout = self
            .timeout
            .as_deref()
            .map(|t| duration("timeout", t))
            .transpose()?;
        Ok(Graph {
            plan: self,
            groups,
            templated,
            timeouts,
            run_timeout,
        })
    }
}

/// The range of a plan's and a node's `timeout`.
const TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_secs(24 * 3600));

/// The most nodes a plan may run at once (`max-concurrency`) or per agent (`max-per-agent`).
const MAX_CONCURRENCY: usize = 10_000;

/// The most bytes a run holds in its nodes' outputs and rendered inputs: past this a node fails
/// (`invalid-input`) instead of the host's memory growing with what a plan asks for.
pub const MAX_RUN_BYTES: usize = 64 << 20;

fn duration(what: &str, text: &str) -> Result<Duration, PlanError> {
    crate::manifest::parse_duration(text, TIMEOUT_RANGE.0, TIMEOUT_RANGE.1)
        .map_err(|e| PlanError(format!("{what}: {e}")))
}

/// Checks an optional count lies in `1..=max`.
fn count_in_range(what: &str, value: Option<usize>, max: usize) -> Result<(), PlanError> {
    match value {
        Some(n) if !(1..=max).contains(&n) => Err(PlanError(format!(
            "{what}: {n} is out of range (1 to {max})"
        ))),
        _ => Ok(()),
    }
}

/// A cycle among the nodes, as ids with the first repeated at the end, if there is one. The search
/// runs over nodes and dependency groups (node -> the groups waiting on it -> their members).
fn find_cycle(nodes: &[Node], groups: &Groups) -> Option<Vec<String>> {
    let n = nodes.len();
    let next = |v: usize| -> &[usize] {
        if v < n {
            &groups.waiting_on[v]
        } else {
            &groups.members[v - n]
        }
    };
    let vertex = |v: usize, k: usize| if v < n { n + next(v)[k] } else { next(v)[k] };
    // Iterative depth-first search: 0 = unvisited, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; n + groups.deps.len()];
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some(&mut (v, ref mut k)) = stack.last_mut() {
            if *k < next(v).len() {
                let child = vertex(v, *k);
                *k += 1;
                match state[child] {
                    0 => {
                        state[child] = 1;
                        stack.push((child, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|(u, _)| *u == child).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[from..]
                            .iter()
                            .filter(|(u, _)| *u < n)
                            .map(|(u, _)| nodes[*u].id.clone())
                            .collect();
                        cycle.push(cycle[0].clone());
                        return Some(cycle);
                    }
                    _ => {}
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }
    None
}
