//! Running a validated [`Graph`]: a [`Run`] holds everything one run keeps (the ready queues per
//! agent, what each node produced, what the run holds in bytes, the nodes running as tasks) and
//! moves through three steps: start what is ready, take what ended, report.
//!
//! A node runs as a task of its own, so that a graph uses every worker thread; but a node that is
//! the only one ready while nothing else runs (every hop of a chain) runs inside the run's own task
//! instead, sparing the hand-off between threads that a task of its own would cost at its start and
//! its end.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::Value;
use tokio::task::JoinSet;

use super::template::{Bounded, render};
use super::{
    FailurePolicy, Graph, Groups, MAX_RUN_BYTES, Node, NodeReport, Outcome, Plan, RunReport,
};
use crate::dispatch::{Dispatcher, Origin};
use crate::error::{CallError, ErrorKind, Site};

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

/// The ready nodes of one agent, and its bulkhead.
struct AgentQueue {
    limit: usize,
    busy: usize,
    /// The agent's `limits.max-input`: a rendered input is bounded by it.
    max_input: usize,
    ready: BinaryHeap<(i32, Reverse<usize>)>,
}

/// What a node's task hands back: its index, its result, its attempts and how long it took.
type Ended = (
    usize,
    Result<crate::agent::Response, CallError>,
    u32,
    Duration,
);

/// A node's call running in the run's own task.
type Inline = Pin<Box<dyn Future<Output = Ended> + Send>>;

/// One run of a graph.
struct Run {
    plan: Plan,
    groups: Groups,
    templated: Vec<bool>,
    timeouts: Vec<Option<Duration>>,
    dispatcher: Arc<Dispatcher>,
    /// What every node inherits.
    origin: Origin,
    /// The run's own deadline, or the caller's if sooner.
    deadline: Option<Instant>,
    max_concurrency: usize,
    /// Ready nodes wait in one queue per agent, so that an agent at its bound (its bulkhead: the
    /// plan's `max-per-agent`, never above the agent's own instance limit) holds back only its own
    /// nodes. The next node to start is the best head among the agents with room.
    agents: Vec<AgentQueue>,
    agent_of: Vec<usize>,
    outcomes: Vec<Option<(Outcome, u32, u64)>>,
    outputs: Vec<Option<Value>>,
    start_order: Vec<Option<usize>>,
    /// Bytes the run holds: the outputs kept and the rendered inputs of running nodes, bounded by
    /// [`MAX_RUN_BYTES`].
    held: usize,
    input_bytes: Vec<usize>,
    /// Each node runs as its own task, so a graph uses every worker thread.
    running: JoinSet<Ended>,
    /// The node running in the run's own task, when it was the only one to run.
    inline: Option<Inline>,
    counters: Progress,
    /// Set when the run must stop: a failure under fail-fast, cancellation, or the deadline.
    stopping: Option<String>,
    peak: usize,
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
        let mut run = Run::new(self, dispatcher, origin, started);
        let mut cancel = std::pin::pin!(cancel.fuse());
        let far = started + Duration::from_secs(100 * 365 * 24 * 3600);
        let deadline = run.deadline;
        let mut sleep = std::pin::pin!(tokio::time::sleep_until(deadline.unwrap_or(far).into()));
        loop {
            run.start_ready(&mut progress);
            run.peak = run.peak.max(run.in_flight());
            run.counters.running = run.in_flight();
            if run.in_flight() == 0 || run.stopping.is_some() {
                // Dropping a node's call stops its guest; aborting a node's task drops its call.
                // Wait until each has.
                run.inline = None;
                run.running.abort_all();
                while run.running.join_next().await.is_some() {}
                break;
            }
            let inline = run.inline.as_mut();
            tokio::select! {
                Some(caught) = async { Some(AssertUnwindSafe(inline?).catch_unwind().await) } => {
                    run.inline = None;
                    let Ok(ended) = caught else {
                        // As a task's panic below: the node is reported as cancelled.
                        tracing::error!("a graph node's call panicked");
                        continue;
                    };
                    run.ended(ended);
                    progress(&run.counters);
                }
                Some(joined) = run.running.join_next() => {
                    let Ok(ended) = joined else {
                        // A node's task panicked: a host bug. The node is reported as cancelled.
                        tracing::error!("a graph node's task failed: {joined:?}");
                        continue;
                    };
                    run.ended(ended);
                    progress(&run.counters);
                }
                () = &mut cancel => run.stopping = Some("the run was cancelled".to_string()),
                () = &mut sleep, if deadline.is_some() => {
                    run.stopping = Some("the run's deadline passed".to_string());
                }
            }
        }
        run.report(started)
    }
}

impl Run {
    /// A run of `graph` with its ready queues filled with the nodes that depend on nothing.
    fn new(graph: Graph, dispatcher: Arc<Dispatcher>, origin: Origin, started: Instant) -> Run {
        let Graph {
            plan,
            groups,
            templated,
            timeouts,
            run_timeout,
        } = graph;
        let n = plan.nodes.len();
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
        Run {
            deadline: earliest(run_timeout.map(|t| started + t), origin.deadline),
            max_concurrency: plan.max_concurrency.unwrap_or(64).max(1),
            agents,
            agent_of,
            outcomes: vec![None; n],
            outputs: vec![None; n],
            start_order: vec![None; n],
            held: 0,
            input_bytes: vec![0; n],
            running: JoinSet::new(),
            inline: None,
            counters: Progress {
                total: n,
                ..Progress::default()
            },
            stopping: None,
            peak: 0,
            plan,
            groups,
            templated,
            timeouts,
            dispatcher,
            origin,
        }
    }

    /// Nodes running now, in tasks of their own or in the run's.
    fn in_flight(&self) -> usize {
        self.running.len() + usize::from(self.inline.is_some())
    }

    /// Starts what is ready, best priority first, within the bounds.
    fn start_ready(&mut self, progress: &mut impl FnMut(&Progress)) {
        while self.stopping.is_none() && self.in_flight() < self.max_concurrency {
            let best = self
                .agents
                .iter()
                .enumerate()
                .filter(|(_, q)| q.busy < q.limit)
                .filter_map(|(a, q)| q.ready.peek().map(|head| (*head, a)))
                .max();
            let Some((_, a)) = best else { break };
            let Some((_, Reverse(i))) = self.agents[a].ready.pop() else {
                break;
            };
            let input = match self.input_of(i, a) {
                Ok(input) => input,
                Err(error) => {
                    let kind = ErrorKind::InvalidInput;
                    self.outcomes[i] = Some((Outcome::Failed { kind, error }, 0, 0));
                    self.counters.failed += 1;
                    progress(&self.counters);
                    if self.plan.policy == FailurePolicy::FailFast {
                        self.stopping = Some(format!("node `{}` failed", self.plan.nodes[i].id));
                    }
                    continue;
                }
            };
            if self.templated[i] {
                self.input_bytes[i] = input.len();
                self.held += input.len();
            }
            self.agents[a].busy += 1;
            self.start_order[i] = Some(self.counters.started);
            self.counters.started += 1;
            let node = &self.plan.nodes[i];
            let mut origin = self.origin.clone();
            origin.max_attempts = node.max_attempts;
            origin.deadline = earliest(self.timeouts[i].map(|t| Instant::now() + t), self.deadline);
            let dispatcher = self.dispatcher.clone();
            let (agent, op) = (node.agent.clone(), node.op.clone());
            let call = async move {
                let began = Instant::now();
                let (result, attempts) = dispatcher.call_counting(&agent, &op, input, origin).await;
                (i, result, attempts, began.elapsed())
            };
            if self.in_flight() == 0 && self.agents.iter().all(|q| q.ready.is_empty()) {
                self.inline = Some(Box::pin(call));
            } else {
                self.running.spawn(call);
            }
        }
    }

    /// Node `i`'s input, its templates filled from its dependencies' outputs into a buffer bounded
    /// by its agent's (`a`) `max-input` and by what the run may still hold; or why it cannot be.
    fn input_of(&self, i: usize, a: usize) -> Result<String, String> {
        let node = &self.plan.nodes[i];
        if !self.templated[i] {
            return Ok(node.input.to_string());
        }
        let done: HashMap<&str, &Value> = self
            .groups
            .deps_of(i)
            .iter()
            .filter_map(|&d| {
                self.outputs[d]
                    .as_ref()
                    .map(|o| (self.plan.nodes[d].id.as_str(), o))
            })
            .collect();
        let room = MAX_RUN_BYTES.saturating_sub(self.held);
        let max_input = self.agents[a].max_input;
        let mut out = if max_input <= room {
            Bounded::new(
                max_input,
                format!("agent `{}`'s `limits.max-input`", node.agent),
            )
        } else {
            Bounded::new(
                room,
                format!("what is left of the {MAX_RUN_BYTES} bytes a run may hold"),
            )
        };
        render(&node.input, &done, &node.id, &mut out)?;
        Ok(out.into_text())
    }

    /// Takes the end of a node: its outcome, its output kept, the nodes waiting on it made ready.
    fn ended(&mut self, (i, result, attempts, took): Ended) {
        self.agents[self.agent_of[i]].busy -= 1;
        self.held -= self.input_bytes[i];
        let micros = took.as_micros() as u64;
        let result =
            result.and_then(|response| keep(&response.output, self.held, &self.plan.nodes[i]));
        match result {
            Ok((output, size)) => {
                self.held += size;
                self.outputs[i] = Some(output);
                let succeeded = Outcome::Succeeded {
                    output: Value::Null,
                };
                self.outcomes[i] = Some((succeeded, attempts, micros));
                self.counters.succeeded += 1;
                for &g in &self.groups.waiting_on[i] {
                    self.groups.indegree[g] -= 1;
                    if self.groups.indegree[g] == 0 {
                        for &m in &self.groups.members[g] {
                            let priority = self.plan.nodes[m].priority;
                            self.agents[self.agent_of[m]]
                                .ready
                                .push((priority, Reverse(m)));
                        }
                    }
                }
            }
            Err(error) => {
                let failed = Outcome::Failed {
                    kind: error.kind(),
                    error: error.to_string(),
                };
                self.outcomes[i] = Some((failed, attempts, micros));
                self.counters.failed += 1;
                if self.plan.policy == FailurePolicy::FailFast {
                    self.stopping = Some(format!("node `{}` failed", self.plan.nodes[i].id));
                }
            }
        }
        self.counters.running = self.in_flight();
    }

    /// Every node's report: how it ended, or why it did not run.
    fn report(mut self, started: Instant) -> RunReport {
        let reason = self.stopping.take().unwrap_or_default();
        let succeeded: Vec<bool> = self.outputs.iter().map(Option::is_some).collect();
        let mut nodes = Vec::with_capacity(self.plan.nodes.len());
        for (i, node) in self.plan.nodes.iter().enumerate() {
            let (outcome, attempts, micros) = match self.outcomes[i].take() {
                Some((Outcome::Succeeded { .. }, attempts, micros)) => (
                    Outcome::Succeeded {
                        output: self.outputs[i].take().unwrap_or(Value::Null),
                    },
                    attempts,
                    micros,
                ),
                Some(done) => done,
                None if self.start_order[i].is_some() => (
                    Outcome::Cancelled {
                        reason: reason.clone(),
                    },
                    0,
                    0,
                ),
                None => match self.groups.deps_of(i).iter().find(|&&d| !succeeded[d]) {
                    Some(&d) => {
                        let reason =
                            format!("dependency `{}` did not succeed", self.plan.nodes[d].id);
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
                started: self.start_order[i],
            });
        }
        let report = RunReport {
            nodes,
            duration_us: started.elapsed().as_micros() as u64,
            peak_concurrency: self.peak,
        };
        // A large plan (millions of dependency ids) takes a while to free: not on the caller's time.
        let (plan, groups) = (self.plan, self.groups);
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

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
