//! The run's board: what one run of a graph shares between its runners, behind one lock. Which
//! nodes are ready (one queue per agent, with its bulkhead), which run, what each produced, what
//! the run holds in bytes, and how many runners there are to take the ready nodes.
//!
//! A runner takes the best ready node ([`Board::take`]) and, when more are ready than runners are
//! free, wakes idle runners or starts new ones, up to the plan's `max-concurrency`; it hands the
//! node's end back ([`Board::ended`]), which makes the nodes waiting on it ready. Nothing here
//! waits: the lock is held for bookkeeping only, never across a call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::ready::Ready;
use super::run::Progress;
use super::template::{Bounded, render};
use super::{FailurePolicy, Graph, Groups, MAX_RUN_BYTES, Node, Plan};
use crate::dispatch::{Dispatcher, Origin};
use crate::error::{CallError, ErrorKind, Site};

/// One run of a graph: what does not change while it runs, and its [`Board`].
pub(super) struct Run {
    pub(super) plan: Plan,
    pub(super) groups: Groups,
    templated: Vec<bool>,
    /// Whether a templated node depends on a node: its output is then kept parsed as well.
    wanted: Vec<bool>,
    timeouts: Vec<Option<Duration>>,
    pub(super) dispatcher: Arc<Dispatcher>,
    /// What every node inherits.
    origin: Origin,
    /// The run's own deadline, or the caller's if sooner.
    pub(super) deadline: Option<Instant>,
    max_concurrency: usize,
    agent_of: Vec<usize>,
    board: Mutex<Board>,
    /// Idle runners wait here for nodes to become ready, or for the run to end.
    pub(super) wake: Notify,
    /// The run's own task waits here for the run to end or stop.
    pub(super) done: Notify,
}

/// The ready nodes of one agent, and its bulkhead.
struct AgentQueue {
    limit: usize,
    busy: usize,
    /// The agent's `limits.max-input`: a rendered input is bounded by it.
    max_input: usize,
    ready: Ready,
}

/// What changes while a graph runs.
pub(super) struct Board {
    /// Ready nodes wait in one queue per agent, so that an agent at its bound (its bulkhead: the
    /// plan's `max-per-agent`, never above the agent's own instance limit) holds back only its own
    /// nodes. The next node to start is the best head among the agents with room.
    agents: Vec<AgentQueue>,
    /// Each group's dependencies that have not succeeded yet.
    indegree: Vec<usize>,
    /// How each node that ended did.
    pub(super) records: Vec<Option<Record>>,
    /// What each node that succeeded returned.
    pub(super) outputs: Vec<Option<Box<RawValue>>>,
    /// The same, parsed, for the nodes whose outputs templates take.
    values: Vec<Option<Value>>,
    pub(super) start_order: Vec<Option<usize>>,
    /// Bytes the run holds: the outputs kept and the rendered inputs of running nodes, bounded by
    /// [`MAX_RUN_BYTES`].
    held: usize,
    input_bytes: Vec<usize>,
    pub(super) counters: Progress,
    /// Set when the run must stop: a failure under fail-fast, cancellation, or the deadline.
    pub(super) stopping: Option<String>,
    pub(super) peak: usize,
    /// The runners started besides the run's own.
    runners: JoinSet<()>,
    /// Runners alive, the run's own among them.
    staff: usize,
    /// Runners waiting on [`Run::wake`] that no one has woken yet.
    idle: usize,
    /// No runner may start any more: the run's task is ending the run.
    closed: bool,
}

/// What a runner does next.
pub(super) enum Next {
    /// Call node `node`, with `input` when its templates were filled (the plan's own input
    /// otherwise, written out by the runner, outside the lock).
    Call { node: usize, input: Option<String> },
    /// Wait for nodes to become ready: the ones left depend on nodes still running.
    Wait,
    /// Leave: the run has ended or is stopping.
    Leave,
}

/// What a node's call gave: its output as the run keeps it or its error, the attempts made and
/// how long it took.
pub(super) struct Ended {
    pub(super) result: Result<Kept, CallError>,
    pub(super) attempts: u32,
    pub(super) took: Duration,
}

/// How a node ended.
#[derive(Clone)]
pub(super) struct Record {
    /// The class of its error and the error; none when it succeeded (its output is in
    /// [`Board::outputs`]).
    pub(super) failure: Option<(ErrorKind, String)>,
    pub(super) attempts: u32,
    pub(super) micros: u64,
}

/// A node's output as the run keeps it.
pub(super) struct Kept {
    pub(super) text: Box<RawValue>,
    /// Parsed, when a templated node takes it.
    pub(super) value: Option<Value>,
}

impl Run {
    /// A run of `graph` with its ready queues filled with the nodes that depend on nothing.
    pub(super) fn new(
        graph: Graph,
        dispatcher: Arc<Dispatcher>,
        origin: Origin,
        started: Instant,
    ) -> Run {
        let Graph {
            plan,
            mut groups,
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
                    ready: Ready::new([]),
                });
                agents.len() - 1
            });
            agent_of.push(a);
        }
        let mut roots = vec![Vec::new(); agents.len()];
        for i in (0..n).filter(|&i| groups.group_of[i].is_none()) {
            roots[agent_of[i]].push((plan.nodes[i].priority, i));
        }
        for (queue, roots) in agents.iter_mut().zip(roots) {
            queue.ready = Ready::new(roots);
        }
        let mut wanted = vec![false; n];
        for m in (0..n).filter(|&m| templated[m]) {
            for &d in groups.deps_of(m) {
                wanted[d] = true;
            }
        }
        let board = Board {
            agents,
            indegree: std::mem::take(&mut groups.indegree),
            records: vec![None; n],
            outputs: vec![None; n],
            values: vec![None; n],
            start_order: vec![None; n],
            held: 0,
            input_bytes: vec![0; n],
            counters: Progress {
                total: n,
                ..Progress::default()
            },
            stopping: None,
            peak: 0,
            runners: JoinSet::new(),
            staff: 1,
            idle: 0,
            closed: false,
        };
        Run {
            deadline: earliest(run_timeout.map(|t| started + t), origin.deadline),
            max_concurrency: plan.max_concurrency.unwrap_or(64).max(1),
            agent_of,
            board: Mutex::new(board),
            wake: Notify::new(),
            done: Notify::new(),
            plan,
            groups,
            templated,
            wanted,
            timeouts,
            dispatcher,
            origin,
        }
    }

    /// The board, locked. A runner that panicked while holding it (a host bug) left it as it was:
    /// the run goes on with it rather than every runner panicking in turn.
    pub(super) fn board(&self) -> MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether node `i`'s output is kept parsed as well, for the templates that take it.
    pub(super) fn wanted(&self, i: usize) -> bool {
        self.wanted[i]
    }

    /// What node `i`'s call inherits: the run's origin, the node's attempts and its deadline.
    pub(super) fn origin_of(&self, i: usize) -> Origin {
        let mut origin = self.origin.clone();
        origin.max_attempts = self.plan.nodes[i].max_attempts;
        origin.deadline = earliest(self.timeouts[i].map(|t| Instant::now() + t), self.deadline);
        origin
    }

    /// Node `i`'s input, its templates filled from its dependencies' outputs into a buffer bounded
    /// by its agent's `max-input` and by what the run may still hold, or why it cannot be; none
    /// when it has no templates.
    fn input_of(&self, board: &Board, i: usize) -> Result<Option<String>, String> {
        let node = &self.plan.nodes[i];
        if !self.templated[i] {
            return Ok(None);
        }
        let done: HashMap<&str, &Value> = self
            .groups
            .deps_of(i)
            .iter()
            .filter_map(|&d| {
                board.values[d]
                    .as_ref()
                    .map(|o| (self.plan.nodes[d].id.as_str(), o))
            })
            .collect();
        let room = MAX_RUN_BYTES.saturating_sub(board.held);
        let max_input = board.agents[self.agent_of[i]].max_input;
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
        Ok(Some(out.into_text()))
    }

    /// Stops the run for `reason` (the first reason stays) and closes it to new runners; returns
    /// the runners started besides the run's own, for the caller to stop.
    pub(super) fn close(&self, reason: Option<String>) -> JoinSet<()> {
        let mut board = self.board();
        if board.stopping.is_none() && !board.finished() {
            board.stopping = reason;
        }
        board.closed = true;
        let runners = std::mem::take(&mut board.runners);
        drop(board);
        self.wake.notify_waiters();
        runners
    }
}

impl Board {
    /// Whether every node has ended or can no longer start.
    pub(super) fn finished(&self) -> bool {
        self.counters.running == 0 && self.agents.iter().all(|q| q.ready.is_empty())
    }

    /// Takes the best ready node within the bounds and, when more are ready, finds runners for
    /// them; or says why there is none to take.
    pub(super) fn take(&mut self, run: &Arc<Run>) -> Next {
        loop {
            if self.stopping.is_some() || self.closed || self.finished() {
                return Next::Leave;
            }
            let Some(a) = self.best_agent(run) else {
                return Next::Wait;
            };
            let Some(i) = self.agents[a].ready.pop() else {
                return Next::Wait;
            };
            let input = match run.input_of(self, i) {
                Ok(input) => input,
                Err(error) => {
                    self.records[i] = Some(Record {
                        failure: Some((ErrorKind::InvalidInput, error)),
                        attempts: 0,
                        micros: 0,
                    });
                    self.counters.failed += 1;
                    self.fail(run, i);
                    continue;
                }
            };
            if let Some(input) = &input {
                self.input_bytes[i] = input.len();
                self.held += input.len();
            }
            self.agents[a].busy += 1;
            self.start_order[i] = Some(self.counters.started);
            self.counters.started += 1;
            self.counters.running += 1;
            self.peak = self.peak.max(self.counters.running);
            self.staff_up(run);
            return Next::Call { node: i, input };
        }
    }

    /// The agent whose head is the best node that may start now, if any.
    fn best_agent(&self, run: &Run) -> Option<usize> {
        if self.counters.running >= run.max_concurrency {
            return None;
        }
        self.agents
            .iter()
            .enumerate()
            .filter(|(_, q)| q.busy < q.limit)
            .filter_map(|(a, q)| q.ready.best().map(|best| (best, a)))
            .max()
            .map(|(_, a)| a)
    }

    /// Finds a runner for every node that may start now: idle ones are woken, then new ones
    /// started, up to `max-concurrency` runners in all.
    fn staff_up(&mut self, run: &Arc<Run>) {
        let room = run.max_concurrency.saturating_sub(self.counters.running);
        let mut startable = 0;
        for q in &self.agents {
            startable += q.ready.len().min(q.limit.saturating_sub(q.busy));
            if startable >= room {
                break;
            }
        }
        let startable = startable.min(room);
        let woken = startable.min(self.idle);
        self.idle -= woken;
        for _ in 0..woken {
            run.wake.notify_one();
        }
        let started = (startable - woken).min(run.max_concurrency.saturating_sub(self.staff));
        for _ in 0..started {
            self.runners.spawn(super::runner::runner(run.clone()));
        }
        self.staff += started;
    }

    /// A runner waits for work from now on: `notified`, of [`Run::wake`], is already enabled.
    pub(super) fn idle(&mut self) {
        self.idle += 1;
    }

    /// A runner is leaving.
    pub(super) fn leave(&mut self) {
        self.staff -= 1;
    }

    /// Takes the end of node `i`: its outcome, its output kept, the nodes waiting on it made ready.
    pub(super) fn ended(&mut self, run: &Run, i: usize, ended: Ended) {
        let Ended {
            result,
            attempts,
            took,
        } = ended;
        self.agents[run.agent_of[i]].busy -= 1;
        self.counters.running -= 1;
        self.held -= self.input_bytes[i];
        let mut record = Record {
            failure: None,
            attempts,
            micros: took.as_micros() as u64,
        };
        let result = result.and_then(|kept| {
            let size = kept.text.get().len();
            let held = self.held;
            match held + size <= MAX_RUN_BYTES {
                true => Ok((kept, size)),
                false => Err(run_full(&run.plan.nodes[i], size, Some(held))),
            }
        });
        match result {
            Ok((Kept { text, value }, size)) => {
                self.held += size;
                self.outputs[i] = Some(text);
                self.values[i] = value;
                self.records[i] = Some(record);
                self.counters.succeeded += 1;
                for &g in &run.groups.waiting_on[i] {
                    self.indegree[g] -= 1;
                    if self.indegree[g] == 0 {
                        for &m in &run.groups.members[g] {
                            let priority = run.plan.nodes[m].priority;
                            self.agents[run.agent_of[m]].ready.push(priority, m);
                        }
                    }
                }
            }
            Err(error) => {
                record.failure = Some((error.kind(), error.to_string()));
                self.records[i] = Some(record);
                self.counters.failed += 1;
                self.fail(run, i);
            }
        }
    }

    /// Node `i` failed: under fail-fast, the run stops.
    fn fail(&mut self, run: &Run, i: usize) {
        if run.plan.policy == FailurePolicy::FailFast && self.stopping.is_none() {
            self.stopping = Some(format!("node `{}` failed", run.plan.nodes[i].id));
        }
    }
}

/// The failure of node `node` whose output of `size` bytes the run cannot keep: it would take what
/// the run holds (`held`, when known) past [`MAX_RUN_BYTES`].
pub(super) fn run_full(node: &Node, size: usize, held: Option<usize>) -> CallError {
    let reason = match held {
        Some(held) => format!(
            "node `{}`: its output of {size} bytes would take what the run holds from {held} to over {MAX_RUN_BYTES} bytes",
            node.id
        ),
        None => format!(
            "node `{}`: its output of {size} bytes is over the {MAX_RUN_BYTES} bytes a run may hold",
            node.id
        ),
    };
    CallError::RunFull {
        site: site(node),
        reason,
    }
}

/// Where a node's call was made, for its errors.
pub(super) fn site(node: &Node) -> Site {
    Site {
        agent: node.agent.clone(),
        operation: node.op.clone(),
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
