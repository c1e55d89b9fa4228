//! Running a validated [`Graph`]: the run's own task starts the run on a [`Board`] (see
//! `runner` for how its nodes are called), waits for it to end, to be cancelled or to reach its
//! deadline, tells the caller its progress, stops the runners, and reports every node.
//!
//! [`Board`]: super::board::Board

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::value::RawValue;

use super::board::{Board, Record, Run};
use super::runner::runner;
use super::{Graph, NodeReport, Outcome, RunReport};
use crate::dispatch::{Dispatcher, Origin};

/// Counts reported while a graph runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// How often a long run tells its caller its progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

impl Graph {
    /// Runs the graph. `origin` is what every node inherits (a guest's trace and chain); `cancel`
    /// resolving stops the run: running nodes are cancelled (their guests stopped) and the rest
    /// skipped. `progress` is told the counts as nodes end (at most every 100 ms) and at the end.
    pub async fn run(
        self,
        dispatcher: Arc<Dispatcher>,
        origin: Origin,
        cancel: impl Future<Output = ()>,
        mut progress: impl FnMut(&Progress),
    ) -> RunReport {
        let started = Instant::now();
        let run = Arc::new(Run::new(self, dispatcher, origin, started));
        // The runners hold the run, and the run holds them: if this future is dropped before the
        // run ends (its caller gone), the guard stops them.
        let guard = Closer(run.clone());
        let mut cancel = std::pin::pin!(cancel.fuse());
        let far = started + Duration::from_secs(100 * 365 * 24 * 3600);
        let deadline = run.deadline;
        let mut sleep = std::pin::pin!(tokio::time::sleep_until(deadline.unwrap_or(far).into()));
        let mut ticks = tokio::time::interval(PROGRESS_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The run's own task is its first runner: a graph that never has two nodes ready at once
        // (a chain) runs without another task.
        let mut own = Some(Box::pin(runner(run.clone())));
        let mut told = Progress::default();
        let reason = loop {
            let ended = async {
                match own.as_mut() {
                    Some(own) => own.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = ended => own = None,
                () = run.done.notified() => {}
                () = &mut cancel => break Some("the run was cancelled".to_string()),
                () = &mut sleep, if deadline.is_some() => {
                    break Some("the run's deadline passed".to_string());
                }
                _ = ticks.tick() => {}
            }
            let board = run.board();
            let over = board.finished() || board.stopping.is_some();
            let now = board.counters.clone();
            drop(board);
            if now != told {
                progress(&now);
                told = now;
            }
            if over {
                break None;
            }
        };
        // Dropping a node's call stops its guest; aborting a runner drops its call. Wait until
        // each has.
        let mut runners = run.close(reason);
        drop(own);
        runners.abort_all();
        while runners.join_next().await.is_some() {}
        let mut board = run.board();
        board.counters.running = 0;
        if board.counters != told {
            progress(&board.counters);
        }
        let report = report(&run, &mut board, started);
        drop(board);
        drop(guard);
        // A large plan (millions of dependency ids) takes a while to free: not on the caller's time.
        if let Ok(run) = Arc::try_unwrap(run) {
            tokio::task::spawn_blocking(move || drop(run));
        }
        report
    }
}

/// Stops the runners of a run whose future was dropped.
struct Closer(Arc<Run>);

impl Drop for Closer {
    fn drop(&mut self) {
        // Dropping the runners' set aborts them; an aborted runner drops its call, which stops
        // its guest.
        drop(self.0.close(Some("the run was dropped".to_string())));
    }
}

/// Every node's report: how it ended, or why it did not run.
fn report(run: &Run, board: &mut Board, started: Instant) -> RunReport {
    let reason = board.stopping.take().unwrap_or_default();
    let succeeded: Vec<bool> = board.outputs.iter().map(Option::is_some).collect();
    let mut nodes = Vec::with_capacity(run.plan.nodes.len());
    for (i, node) in run.plan.nodes.iter().enumerate() {
        let (outcome, attempts, micros) = match board.records[i].take() {
            Some(Record {
                failure,
                attempts,
                micros,
            }) => {
                let outcome = match failure {
                    Some((kind, error)) => Outcome::Failed { kind, error },
                    None => Outcome::Succeeded {
                        output: (board.outputs[i].take())
                            .unwrap_or_else(|| RawValue::NULL.to_owned()),
                    },
                };
                (outcome, attempts, micros)
            }
            None if board.start_order[i].is_some() => (
                Outcome::Cancelled {
                    reason: reason.clone(),
                },
                0,
                0,
            ),
            None => match run.groups.deps_of(i).iter().find(|&&d| !succeeded[d]) {
                Some(&d) => {
                    let reason = format!("dependency `{}` did not succeed", run.plan.nodes[d].id);
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
            started: board.start_order[i],
        });
    }
    RunReport {
        nodes,
        duration_us: started.elapsed().as_micros() as u64,
        peak_concurrency: board.peak,
    }
}
