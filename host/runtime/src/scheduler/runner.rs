//! A runner of a graph's run: it takes the best ready node from the run's [`Board`], calls it,
//! hands its end back and takes the next, until the run ends or stops.
//!
//! A run's nodes are called by at most `max-concurrency` runners, started as nodes become ready
//! (the run's own task is the first), instead of a task per node: a node that becomes ready as
//! another ends (every hop of a chain, most nodes of a wide graph) is taken by the runner that saw
//! it end, without waking or starting a task.
//!
//! [`Board`]: super::board::Board

use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use serde_json::value::RawValue;

use super::MAX_RUN_BYTES;
use super::board::{Ended, Kept, Next, Run, run_full, site};
use crate::error::CallError;

/// Runs nodes of `run` until it ends or stops. A panic of the runner's own (a host bug) stops the
/// run rather than leaving it waiting for a node that will never end.
pub(super) async fn runner(run: Arc<Run>) {
    if AssertUnwindSafe(take_and_call(&run))
        .catch_unwind()
        .await
        .is_err()
    {
        tracing::error!("a runner of a graph panicked");
        let mut board = run.board();
        board
            .stopping
            .get_or_insert_with(|| "a runner of the run failed (a host bug)".to_string());
        board.leave();
        drop(board);
        run.done.notify_one();
    }
}

/// Takes ready nodes and calls them, one at a time, waiting while the nodes left depend on
/// running ones.
async fn take_and_call(run: &Arc<Run>) {
    loop {
        let mut notified = pin!(run.wake.notified());
        let next = {
            let mut board = run.board();
            let next = board.take(run);
            match next {
                // Enabled while the board is locked, so that a runner that makes a node ready
                // after this cannot miss this one.
                Next::Wait => {
                    notified.as_mut().enable();
                    board.idle();
                }
                Next::Leave => board.leave(),
                Next::Call { .. } => {}
            }
            next
        };
        match next {
            Next::Call { node, input } => {
                // A `Value` cannot fail to serialize; `to_string` writes faster than `Display`.
                let plain = || serde_json::to_string(&run.plan.nodes[node].input);
                let input = input.unwrap_or_else(|| plain().unwrap_or_default());
                let ended = call(run, node, input).await;
                run.board().ended(run, node, ended);
            }
            Next::Wait => notified.await,
            Next::Leave => {
                run.wake.notify_waiters();
                run.done.notify_one();
                return;
            }
        }
    }
}

/// Calls node `i` with `input`.
async fn call(run: &Run, i: usize, input: String) -> Ended {
    let node = &run.plan.nodes[i];
    let origin = run.origin_of(i);
    let began = Instant::now();
    let called =
        AssertUnwindSafe(
            run.dispatcher
                .call_counting(&node.agent, &node.op, input, origin),
        )
        .catch_unwind()
        .await;
    let took = began.elapsed();
    let (result, attempts) = called.unwrap_or_else(|_| {
        tracing::error!("a graph node's call panicked");
        let reason = "the node's call panicked (a host bug)".to_string();
        let site = site(node);
        (Err(CallError::Internal { site, reason }), 0)
    });
    let result = result.and_then(|response| kept(run, i, response.output));
    Ended {
        result,
        attempts,
        took,
    }
}

/// Node `i`'s output as the run keeps it: as the agent wrote it, and parsed as well when a
/// template takes it.
fn kept(run: &Run, i: usize, output: String) -> Result<Kept, CallError> {
    let node = &run.plan.nodes[i];
    if output.len() > MAX_RUN_BYTES {
        // It cannot fit whatever the run holds: refused unread.
        return Err(run_full(node, output.len(), None));
    }
    // The host checked that the output is JSON within serde_json's depth before the call
    // succeeded.
    let unreadable = |e: serde_json::Error| CallError::Internal {
        site: site(node),
        reason: format!("the checked output does not parse: {e}"),
    };
    let value = match run.wanted(i) {
        true => Some(serde_json::from_str(&output).map_err(unreadable)?),
        false => None,
    };
    let text = RawValue::from_string(output).map_err(unreadable)?;
    Ok(Kept { text, value })
}
