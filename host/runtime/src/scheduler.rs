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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::task::JoinSet;

use crate::dispatch::{Dispatcher, Origin};
use crate::error::{CallError, ErrorKind, Site};

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
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    /// It succeeded with `output`.
    Succeeded { output: Value },
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

/// The `${id}` or `${id/pointer}` reference in a string value, if it is one.
fn template(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix("${")?.strip_suffix('}')?;
    Some(match inner.find('/') {
        Some(slash) => (&inner[..slash], &inner[slash..]),
        None => (inner, ""),
    })
}

/// Checks that every template in `value` refers to a dependency; true when there is at least one.
fn check_templates(node: &Node, value: &Value) -> Result<bool, PlanError> {
    match value {
        Value::String(text) => match template(text) {
            Some((id, _)) if !node.depends_on.iter().any(|d| d == id) => Err(PlanError(format!(
                "node `{}`: its input refers to `{id}`, which is not among its depends-on",
                node.id
            ))),
            Some(_) => Ok(true),
            None => Ok(false),
        },
        Value::Array(items) => items
            .iter()
            .try_fold(false, |any, v| Ok(check_templates(node, v)? || any)),
        Value::Object(map) => map
            .values()
            .try_fold(false, |any, v| Ok(check_templates(node, v)? || any)),
        _ => Ok(false),
    }
}

/// Writes `value` as JSON text into `out` with its templates replaced by the outputs of finished
/// dependencies. The text is bounded as it is written: past `out`'s limit the rendering stops, so a
/// plan that refers to a large output many times costs at most the limit, never its product.
fn render(
    value: &Value,
    outputs: &HashMap<&str, &Value>,
    node: &str,
    out: &mut Bounded,
) -> Result<(), String> {
    let write = |out: &mut Bounded, value: &Value| {
        serde_json::to_writer(&mut *out, value).map_err(|_| out.overflow(node))
    };
    match value {
        Value::String(text) => match template(text) {
            Some((id, pointer)) => {
                let output = outputs
                    .get(id)
                    .ok_or_else(|| format!("node `{node}`: no output from `{id}`"))?;
                let part = output.pointer(pointer).ok_or_else(|| {
                    format!("node `{node}`: the output of `{id}` has nothing at `{pointer}`")
                })?;
                write(out, part)
            }
            None => write(out, value),
        },
        Value::Array(items) => {
            out.push(b"[", node)?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b",", node)?;
                }
                render(item, outputs, node, out)?;
            }
            out.push(b"]", node)
        }
        Value::Object(map) => {
            out.push(b"{", node)?;
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b",", node)?;
                }
                serde_json::to_writer(&mut *out, key).map_err(|_| out.overflow(node))?;
                out.push(b":", node)?;
                render(item, outputs, node, out)?;
            }
            out.push(b"}", node)
        }
        other => write(out, other),
    }
}

/// A buffer that refuses to grow past its limit.
struct Bounded {
    text: Vec<u8>,
    limit: usize,
    /// Who set the limit, for the message.
    whose: String,
}

impl Bounded {
    fn push(&mut self, bytes: &[u8], node: &str) -> Result<(), String> {
        std::io::Write::write_all(self, bytes).map_err(|_| self.overflow(node))
    }

    fn overflow(&self, node: &str) -> String {
        format!(
            "node `{node}`: its input, with the templates filled in, is over {} bytes ({})",
            self.limit, self.whose
        )
    }
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.text.len() + buf.len() > self.limit {
            return Err(std::io::Error::other("over the limit"));
        }
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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

impl Graph {
    /// Runs the graph. `origin` is what every node inherits (a guest's trace and chain); `cancel`
    /// resolving stops the run: running nodes are cancelled (their guests stopped) and the rest
    /// skipped. `progress` is told after every node that ends.
    pub async fn run(
        self,
        dispatcher: Arc<Dispatcher>,
        origin: Origin,
        cancel: impl Future<Output = ()>,
        mut progress: impl FnMut(&Progress),
    ) -> RunReport {
        let started = Instant::now();
        let Graph {
            plan,
            mut groups,
            templated,
            timeouts,
            run_timeout,
        } = self;
        let n = plan.nodes.len();
        let deadline = earliest(run_timeout.map(|t| started + t), origin.deadline);
        let max_concurrency = plan.max_concurrency.unwrap_or(64).max(1);
        // Ready nodes wait in one queue per agent, so that an agent at its bound (its bulkhead: the
        // plan's `max-per-agent`, never above the agent's own instance limit) holds back only its
        // own nodes. The next node to start is the best head among the agents with room.
        let mut agent_of = Vec::with_capacity(n);
        let mut agents: Vec<AgentQueue> = Vec::new();
        let mut agent_index: HashMap<&str, usize> = HashMap::new();
        for node in &plan.nodes {
            let a = *agent_index.entry(node.agent.as_str()).or_insert_with(|| {
                let (own, max_input) = dispatcher
                    .registry()
                    .get(&node.agent)
                    .map(|a| {
                        let limits = &a.policy().limits;
                        (limits.max_instances, limits.max_input_bytes)
                    })
                    .unwrap_or((1, 0));
                let limit = plan
                    .max_per_agent
                    .map_or(own, |limit| limit.min(own))
                    .max(1);
                agents.push(AgentQueue {
                    limit,
                    busy: 0,
                    max_input,
                    ready: BinaryHeap::new(),
                });
                agents.len() - 1
            });
            agent_of.push(a);
        }
        for i in (0..n).filter(|&i| groups.group_of[i].is_none()) {
            agents[agent_of[i]]
                .ready
                .push((plan.nodes[i].priority, Reverse(i)));
        }
        let mut outcomes: Vec<Option<(Outcome, u32, u64)>> = vec![None; n];
        let mut outputs: Vec<Option<Value>> = vec![None; n];
        let mut start_order: Vec<Option<usize>> = vec![None; n];
        // Bytes the run holds: the outputs kept and the rendered inputs of running nodes, bounded
        // by MAX_RUN_BYTES.
        let mut held = 0usize;
        let mut input_bytes = vec![0usize; n];
        // Each node runs as its own task, so a graph uses every worker thread.
        let mut running = JoinSet::new();
        let mut counters = Progress {
            total: n,
            ..Progress::default()
        };
        // Set when the run must stop: a failure under fail-fast, cancellation, or the deadline.
        let mut stopping: Option<String> = None;
        let mut peak = 0usize;
        let mut cancel = std::pin::pin!(futures::FutureExt::fuse(cancel));
        let far = started + Duration::from_secs(100 * 365 * 24 * 3600);
        let mut sleep = std::pin::pin!(tokio::time::sleep_until(deadline.unwrap_or(far).into()));

        loop {
            // Start what is ready, best priority first, within the bounds.
            while stopping.is_none() && running.len() < max_concurrency {
                let best = agents
                    .iter()
                    .enumerate()
                    .filter(|(_, q)| q.busy < q.limit)
                    .filter_map(|(a, q)| q.ready.peek().map(|head| (*head, a)))
                    .max();
                let Some((_, a)) = best else { break };
                let Some((_, Reverse(i))) = agents[a].ready.pop() else {
                    break;
                };
                let node = &plan.nodes[i];
                let input = if templated[i] {
                    let done: HashMap<&str, &Value> = groups
                        .deps_of(i)
                        .iter()
                        .filter_map(|&d| {
                            outputs[d].as_ref().map(|o| (plan.nodes[d].id.as_str(), o))
                        })
                        .collect();
                    let room = MAX_RUN_BYTES.saturating_sub(held);
                    let mut out = if agents[a].max_input <= room {
                        Bounded {
                            text: Vec::new(),
                            limit: agents[a].max_input,
                            whose: format!("agent `{}`'s `limits.max-input`", node.agent),
                        }
                    } else {
                        Bounded {
                            text: Vec::new(),
                            limit: room,
                            whose: format!(
                                "what is left of the {MAX_RUN_BYTES} bytes a run may hold"
                            ),
                        }
                    };
                    match render(&node.input, &done, &node.id, &mut out) {
                        // JSON text written by serde_json is UTF-8.
                        Ok(()) => String::from_utf8(out.text).unwrap_or_default(),
                        Err(error) => {
                            outcomes[i] = Some((
                                Outcome::Failed {
                                    kind: ErrorKind::InvalidInput,
                                    error,
                                },
                                0,
                                0,
                            ));
                            counters.failed += 1;
                            progress(&counters);
                            if plan.policy == FailurePolicy::FailFast {
                                stopping = Some(format!("node `{}` failed", node.id));
                            }
                            continue;
                        }
                    }
                } else {
                    node.input.to_string()
                };
                if templated[i] {
                    input_bytes[i] = input.len();
                    held += input.len();
                }
                agents[a].busy += 1;
                start_order[i] = Some(counters.started);
                counters.started += 1;
                let mut node_origin = origin.clone();
                node_origin.max_attempts = node.max_attempts;
                node_origin.deadline = earliest(timeouts[i].map(|t| Instant::now() + t), deadline);
                let dispatcher = dispatcher.clone();
                let (agent, op) = (node.agent.clone(), node.op.clone());
                running.spawn(async move {
                    let began = Instant::now();
                    let (result, attempts) = dispatcher
                        .call_counting(&agent, &op, input, node_origin)
                        .await;
                    (i, result, attempts, began.elapsed())
                });
            }
            peak = peak.max(running.len());
            counters.running = running.len();
            if running.is_empty() || stopping.is_some() {
                // Aborting a node's task drops its call, which stops its guest; wait until each has.
                running.abort_all();
                while running.join_next().await.is_some() {}
                break;
            }
            tokio::select! {
                Some(joined) = running.join_next() => {
                    let Ok((i, result, attempts, took)) = joined else {
                        // A node's task panicked: a host bug. The node is reported as cancelled.
                        tracing::error!("a graph node's task failed: {joined:?}");
                        continue;
                    };
                    agents[agent_of[i]].busy -= 1;
                    held -= input_bytes[i];
                    let micros = took.as_micros() as u64;
                    let result = result.and_then(|response| keep(&response.output, held, &plan.nodes[i]));
                    match result {
                        Ok((output, size)) => {
                            held += size;
                            outputs[i] = Some(output);
                            outcomes[i] = Some((Outcome::Succeeded { output: Value::Null }, attempts, micros));
                            counters.succeeded += 1;
                            for &g in &groups.waiting_on[i] {
                                groups.indegree[g] -= 1;
                                if groups.indegree[g] == 0 {
                                    for &m in &groups.members[g] {
                                        agents[agent_of[m]].ready.push((plan.nodes[m].priority, Reverse(m)));
                                    }
                                }
                            }
                        }
                        Err(error) => {
                            outcomes[i] = Some((Outcome::Failed { kind: error.kind(), error: error.to_string() }, attempts, micros));
                            counters.failed += 1;
                            if plan.policy == FailurePolicy::FailFast {
                                stopping = Some(format!("node `{}` failed", plan.nodes[i].id));
                            }
                        }
                    }
                    counters.running = running.len();
                    progress(&counters);
                }
                () = &mut cancel => stopping = Some("the run was cancelled".to_string()),
                () = &mut sleep, if deadline.is_some() => stopping = Some("the run's deadline passed".to_string()),
            }
        }

        let reason = stopping.unwrap_or_default();
        let succeeded: Vec<bool> = outputs.iter().map(Option::is_some).collect();
        let mut nodes = Vec::with_capacity(n);
        for (i, node) in plan.nodes.iter().enumerate() {
            let (outcome, attempts, micros) = match outcomes[i].take() {
                Some((Outcome::Succeeded { .. }, attempts, micros)) => (
                    Outcome::Succeeded {
                        output: outputs[i].take().unwrap_or(Value::Null),
                    },
                    attempts,
                    micros,
                ),
                Some(done) => done,
                None if start_order[i].is_some() => (
                    Outcome::Cancelled {
                        reason: reason.clone(),
                    },
                    0,
                    0,
                ),
                None => match groups.deps_of(i).iter().find(|&&d| !succeeded[d]) {
                    Some(&d) => {
                        let reason = format!("dependency `{}` did not succeed", plan.nodes[d].id);
                        (Outcome::Skipped { reason }, 0, 0)
                    }
                    None => (
                        Outcome::Skipped {
                            reason: reason.clone(),
                        },
                        0,
                        0,
                    ),
                },
            };
            nodes.push(NodeReport {
                id: node.id.clone(),
                outcome,
                attempts,
                duration_us: micros,
                started: start_order[i],
            });
        }
        let report = RunReport {
            nodes,
            duration_us: started.elapsed().as_micros() as u64,
            peak_concurrency: peak,
        };
        // A large plan (millions of dependency ids) takes a while to free: not on the caller's time.
        drop(agent_index);
        tokio::task::spawn_blocking(move || drop((plan, groups)));
        report
    }
}

/// A node's output as the run keeps it, with its size; or the failure of the node when keeping it
/// would take what the run holds (`held`) past [`MAX_RUN_BYTES`].
fn keep(output: &str, held: usize, node: &Node) -> Result<(Value, usize), CallError> {
    let site = || Site {
        agent: node.agent.clone(),
        operation: node.op.clone(),
    };
    let size = output.len();
    if held + size > MAX_RUN_BYTES {
        return Err(CallError::RunFull {
            site: site(),
            reason: format!(
                "node `{}`: its output of {size} bytes would take what the run holds from {held} to over {MAX_RUN_BYTES} bytes",
                node.id
            ),
        });
    }
    // The host checked that the output is JSON within serde_json's depth before the call succeeded.
    serde_json::from_str(output)
        .map(|value| (value, size))
        .map_err(|e| CallError::Internal {
            site: site(),
            reason: format!("the checked output does not parse: {e}"),
        })
}

/// The ready nodes of one agent, and its bulkhead.
struct AgentQueue {
    limit: usize,
    busy: usize,
    /// The agent's `limits.max-input`: a rendered input is bounded by it.
    max_input: usize,
    ready: BinaryHeap<(i32, Reverse<usize>)>,
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Counts reported while a graph runs.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Nodes in the run.
    pub total: usize,
    /// Nodes started.
    pub started: usize,
    /// Nodes running now.
    pub running: usize,
    /// Nodes that succeeded.
    pub succeeded: usize,
    /// Nodes that failed.
    pub failed: usize,
}
