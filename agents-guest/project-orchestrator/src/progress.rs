//! What a run gives back: every task's result beside its estimate, the progress of the whole
//! plan (done over total, elapsed against the estimate, the critical path), and after a failure a
//! new plan: the tasks it blocked (with the failure that blocked each) and the critical path of
//! the tasks that can still run.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use tandem_sdk::delegation::{NodeOutcome, NodeResult};

use crate::plan::{Checked, Policy};

/// One task's result.
#[derive(Debug, Serialize)]
pub struct TaskResult {
    pub id: String,
    pub agent: String,
    pub operation: String,
    /// `succeeded`, `failed`, `skipped` or `cancelled`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The error class and message of a failed task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Why a task did not run: the dependency that did not succeed, or the cancellation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub attempts: u32,
    pub duration_ms: f64,
    pub estimate_ms: f64,
    /// Duration over estimate (none when it did not run or had no estimate).
    pub vs_estimate: Option<f64>,
    pub critical: bool,
}

/// The plan as a whole.
#[derive(Debug, Serialize)]
pub struct Progress {
    pub total: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub skipped: usize,
    pub cancelled: usize,
    /// Succeeded over total, in percent.
    pub percent_done: f64,
    pub elapsed_ms: f64,
    /// The critical path's length by the estimates.
    pub estimated_ms: f64,
    pub elapsed_vs_estimate: f64,
    pub critical_path: Vec<String>,
    /// What the tasks on the critical path took, in all.
    pub critical_path_ms: f64,
}

/// A task a failure kept from running.
#[derive(Debug, Serialize)]
pub struct Blocked {
    pub id: String,
    /// The failed task it (transitively) depends on.
    pub by: String,
}

/// After a failure: what it blocked and the plan of what can still run.
#[derive(Debug, Serialize)]
pub struct Replan {
    pub policy: Policy,
    pub failed: Vec<String>,
    pub blocked: Vec<Blocked>,
    /// Every task neither failed nor blocked.
    pub can_still_run: Vec<String>,
    /// Their critical path and its length by the estimates.
    pub critical_path: Vec<String>,
    pub estimated_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub progress: Progress,
    pub tasks: Vec<TaskResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replan: Option<Replan>,
}

/// The report of a run of `checked` that gave `results` (in plan order) in `elapsed_ms`.
pub fn report(checked: &Checked, results: &[NodeResult], elapsed_ms: f64) -> Report {
    let tasks = &checked.input.tasks;
    let by_id: HashMap<&str, &NodeResult> = results.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut out = Vec::with_capacity(tasks.len());
    for (i, task) in tasks.iter().enumerate() {
        let result = by_id.get(task.id.as_str());
        let duration_ms = result.map_or(0.0, |r| r.duration_us as f64 / 1000.0);
        let (status, output, error, reason) = match result.map(|r| &r.outcome) {
            Some(NodeOutcome::Succeeded(json)) => (
                "succeeded",
                Some(serde_json::from_str(json).unwrap_or(Value::String(json.clone()))),
                None,
                None,
            ),
            Some(NodeOutcome::Failed(e)) => (
                "failed",
                None,
                Some(serde_json::json!({"kind": e.kind.as_str(), "message": e.message})),
                None,
            ),
            Some(NodeOutcome::Skipped(dep)) => ("skipped", None, None, Some(dep.clone())),
            Some(NodeOutcome::Cancelled(why)) => ("cancelled", None, None, Some(why.clone())),
            None => ("cancelled", None, None, Some("no result".into())),
        };
        let estimate_ms = checked.estimates[i];
        out.push(TaskResult {
            id: task.id.clone(),
            agent: task.agent.clone(),
            operation: task.operation.clone(),
            status,
            output,
            error,
            reason,
            attempts: result.map_or(0, |r| r.attempts),
            duration_ms,
            estimate_ms,
            vs_estimate: (status != "skipped" && status != "cancelled" && estimate_ms > 0.0)
                .then(|| duration_ms / estimate_ms),
            critical: checked.schedule.critical[i],
        });
    }
    let count = |s: &str| out.iter().filter(|t| t.status == s).count();
    let succeeded = count("succeeded");
    let estimated_ms = checked.schedule.makespan;
    let progress = Progress {
        total: out.len(),
        succeeded,
        failed: count("failed"),
        skipped: count("skipped"),
        cancelled: count("cancelled"),
        percent_done: 100.0 * succeeded as f64 / out.len().max(1) as f64,
        elapsed_ms,
        estimated_ms,
        elapsed_vs_estimate: if estimated_ms > 0.0 {
            elapsed_ms / estimated_ms
        } else {
            0.0
        },
        critical_path: checked.critical_path(&checked.schedule),
        critical_path_ms: checked
            .schedule
            .path
            .iter()
            .map(|&i| out[i].duration_ms)
            .sum(),
    };
    let replan = (succeeded < out.len()).then(|| replan(checked, &out));
    Report {
        progress,
        tasks: out,
        replan,
    }
}

/// The failed tasks, what they blocked, and the critical path of the rest.
fn replan(checked: &Checked, out: &[TaskResult]) -> Replan {
    let index: HashMap<&str, usize> = out
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    let failed: Vec<String> = out
        .iter()
        .filter(|t| t.status == "failed")
        .map(|t| t.id.clone())
        .collect();
    // A skipped task's reason names the dependency that did not succeed ("dependency `b` did not
    // succeed"); follow skips back to a failure.
    let named = |reason: &str| {
        reason
            .split('`')
            .nth(1)
            .and_then(|id| index.get(id))
            .copied()
    };
    let root = |mut i: usize| -> String {
        for _ in 0..out.len() {
            match (out[i].status, out[i].reason.as_deref().and_then(named)) {
                ("skipped", Some(dep)) => i = dep,
                _ => break,
            }
        }
        out[i].id.clone()
    };
    let blocked: Vec<Blocked> = out
        .iter()
        .enumerate()
        .filter(|(_, t)| t.status == "skipped" || t.status == "cancelled")
        .map(|(i, t)| Blocked {
            id: t.id.clone(),
            by: root(i),
        })
        .collect();
    let active: Vec<bool> = out.iter().map(|t| t.status == "succeeded").collect();
    let schedule = checked
        .dag
        .schedule(&checked.order, &checked.estimates, Some(&active));
    Replan {
        policy: checked.input.policy,
        failed,
        blocked,
        can_still_run: out
            .iter()
            .filter(|t| t.status == "succeeded")
            .map(|t| t.id.clone())
            .collect(),
        critical_path: checked.critical_path(&schedule),
        estimated_ms: schedule.makespan,
    }
}
