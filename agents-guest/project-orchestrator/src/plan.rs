//! A project plan: tasks with an estimate, dependencies, a priority and the agent and operation
//! that do each. Validated as a whole (every problem named, not just the first), then analysed by
//! the critical path method and ordered for the scheduler: priority first, then least slack.

use std::collections::HashMap;

use guest_support::critical::{Dag, Schedule};
use guest_support::time::duration_ms;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tandem_sdk::AgentError;
use tandem_sdk::host_info::AgentSummary;

/// The most tasks in one plan (the host's scheduler runs up to 10 000 nodes at once).
pub const MAX_TASKS: usize = 10_000;

/// One task as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Task {
    pub id: String,
    pub agent: String,
    pub operation: String,
    /// The call's input; a string value `"${id}"` or `"${id/pointer}"` takes a dependency's output.
    pub input: Option<Value>,
    /// How long it should take: milliseconds, or text such as `"250ms"`, `"2s"`, `"1h"`.
    pub estimate: Option<Value>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Higher first among ready tasks.
    #[serde(default)]
    pub priority: i32,
    pub max_attempts: Option<u32>,
    /// The task's own timeout (the callee's otherwise).
    pub timeout: Option<Value>,
}

/// What to do with the rest of the plan when a task fails.
#[derive(Debug, Deserialize, Serialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Cancel what runs, skip what has not started.
    FailFast,
    /// Skip only what depends on the failed task.
    #[default]
    ContinueIndependent,
}

/// The input of `plan` and `run`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PlanInput {
    pub tasks: Vec<Task>,
    #[serde(default)]
    pub policy: Policy,
}

/// A task's place in the plan as the analysis sees it.
#[derive(Debug, Serialize)]
pub struct TaskTiming {
    pub id: String,
    pub estimate_ms: f64,
    pub earliest_start_ms: f64,
    pub latest_start_ms: f64,
    pub slack_ms: f64,
    pub critical: bool,
    /// Its place among all tasks: by priority, then least slack, then plan order (1 first).
    pub rank: usize,
}

/// A checked plan with its analysis.
pub struct Checked<'a> {
    pub input: &'a PlanInput,
    pub dag: Dag<'a>,
    pub order: Vec<usize>,
    pub estimates: Vec<f64>,
    pub timeout_ms: Vec<Option<u64>>,
    pub schedule: Schedule,
    /// The scheduler priority of each task: tasks ranked by priority then slack, the first highest.
    pub ranked_priority: Vec<i32>,
}

impl Checked<'_> {
    /// The timings of every task, in plan order.
    pub fn timings(&self) -> Vec<TaskTiming> {
        let n = self.dag.len();
        (0..n)
            .map(|i| TaskTiming {
                id: self.dag.ids[i].to_string(),
                estimate_ms: self.estimates[i],
                earliest_start_ms: self.schedule.earliest[i],
                latest_start_ms: self.schedule.latest[i],
                slack_ms: self.schedule.slack[i],
                critical: self.schedule.critical[i],
                rank: n - (self.ranked_priority[i] as usize) + 1,
            })
            .collect()
    }

    /// The ids along the critical path.
    pub fn critical_path(&self, schedule: &Schedule) -> Vec<String> {
        schedule
            .path
            .iter()
            .map(|&i| self.dag.ids[i].to_string())
            .collect()
    }
}

/// Checks `input` against itself and the loaded `agents` (none: not checked), naming every
/// problem found, and analyses it.
pub fn check<'a>(
    input: &'a PlanInput,
    agents: Option<&[AgentSummary]>,
) -> Result<Checked<'a>, AgentError> {
    let tasks = &input.tasks;
    if tasks.is_empty() {
        return Err(AgentError::invalid("the plan has no tasks"));
    }
    if tasks.len() > MAX_TASKS {
        return Err(AgentError::invalid(format!(
            "the plan has {} tasks; at most {MAX_TASKS}",
            tasks.len()
        )));
    }
    let dag = Dag::new(
        tasks
            .iter()
            .map(|t| (t.id.as_str(), t.depends_on.iter().map(String::as_str))),
    )
    .map_err(AgentError::invalid)?;
    let order = dag.order().map_err(AgentError::invalid)?;

    let mut problems = Vec::new();
    let loaded: Option<HashMap<&str, &AgentSummary>> =
        agents.map(|list| list.iter().map(|a| (a.id.as_str(), a)).collect());
    let mut estimates = Vec::with_capacity(tasks.len());
    let mut timeout_ms = Vec::with_capacity(tasks.len());
    for task in tasks {
        match loaded.as_ref().map(|l| l.get(task.agent.as_str())) {
            Some(None) => problems.push(format!(
                "task `{}`: no agent `{}` is loaded",
                task.id, task.agent
            )),
            Some(Some(agent)) if !agent.operations.contains(&task.operation) => {
                problems.push(format!(
                    "task `{}`: agent `{}` has no operation `{}` (it has: {})",
                    task.id,
                    task.agent,
                    task.operation,
                    agent.operations.join(", ")
                ))
            }
            _ => {}
        }
        match &task.input {
            None => problems.push(format!(
                "task `{}` has no `input` (give {{}} when it takes none)",
                task.id
            )),
            Some(value) => missing_inputs(task, value, &mut problems),
        }
        match &task.estimate {
            None => {
                problems.push(format!("task `{}` has no `estimate`", task.id));
                estimates.push(0.0);
            }
            Some(value) => match duration_ms(value, &format!("task `{}`: estimate", task.id)) {
                Ok(ms) => estimates.push(ms),
                Err(e) => {
                    problems.push(e.message());
                    estimates.push(0.0);
                }
            },
        }
        timeout_ms.push(match &task.timeout {
            None => None,
            Some(value) => match duration_ms(value, &format!("task `{}`: timeout", task.id)) {
                Ok(ms) if ms >= 1.0 => Some(ms.ceil() as u64),
                Ok(_) => {
                    problems.push(format!("task `{}`: timeout is at least 1ms", task.id));
                    None
                }
                Err(e) => {
                    problems.push(e.message());
                    None
                }
            },
        });
        if task.max_attempts == Some(0) {
            problems.push(format!("task `{}`: max-attempts is at least 1", task.id));
        }
    }
    if !problems.is_empty() {
        let shown: Vec<&str> = problems.iter().take(20).map(String::as_str).collect();
        let more = problems.len().saturating_sub(shown.len());
        return Err(AgentError::invalid(format!(
            "the plan is not valid ({} problem(s)): {}{}",
            problems.len(),
            shown.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        )));
    }
    let schedule = dag.schedule(&order, &estimates, None);
    let mut ranking: Vec<usize> = (0..tasks.len()).collect();
    ranking.sort_by(|&a, &b| {
        tasks[b]
            .priority
            .cmp(&tasks[a].priority)
            .then(schedule.slack[a].total_cmp(&schedule.slack[b]))
            .then(a.cmp(&b))
    });
    let mut ranked_priority = vec![0i32; tasks.len()];
    for (rank, &i) in ranking.iter().enumerate() {
        ranked_priority[i] = (tasks.len() - rank) as i32;
    }
    Ok(Checked {
        input,
        dag,
        order,
        estimates,
        timeout_ms,
        schedule,
        ranked_priority,
    })
}

/// The `${id}` templates in `value` that refer to a task `task` does not depend on.
fn missing_inputs(task: &Task, value: &Value, problems: &mut Vec<String>) {
    match value {
        Value::String(text) => {
            if let Some(inner) = text.strip_prefix("${").and_then(|t| t.strip_suffix('}')) {
                let id = inner.split('/').next().unwrap_or_default();
                if !task.depends_on.iter().any(|d| d == id) {
                    problems.push(format!(
                        "task `{}`: its input takes the output of `{id}`, which is not among its depends-on",
                        task.id
                    ));
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| missing_inputs(task, v, problems)),
        Value::Object(map) => map.values().for_each(|v| missing_inputs(task, v, problems)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(value: Value) -> PlanInput {
        serde_json::from_value(value).unwrap()
    }

    fn summary(id: &str, ops: &[&str]) -> AgentSummary {
        AgentSummary {
            id: id.into(),
            version: "1.0.0".into(),
            content_hash: String::new(),
            operations: ops.iter().map(|s| s.to_string()).collect(),
            limits: tandem_sdk::host_info::Limits {
                timeout_ms: 0,
                fuel: 0,
                memory_bytes: 0,
                max_instances: 0,
            },
        }
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let plan = input(json!({"tasks": [
            {"id": "a", "agent": "ghost", "operation": "x", "input": {}, "estimate": 1},
            {"id": "b", "agent": "echo", "operation": "nope", "input": {"v": "${a}"}, "estimate": "2s"},
            {"id": "c", "agent": "echo", "operation": "echo", "depends-on": ["a"]},
        ]}));
        let err = check(&plan, Some(&[summary("echo", &["echo"])]))
            .err()
            .unwrap()
            .message();
        assert!(err.contains("5 problem(s)"), "{err}");
        assert!(err.contains("task `c` has no `estimate`"), "{err}");
        assert!(err.contains("no agent `ghost` is loaded"), "{err}");
        assert!(
            err.contains("has no operation `nope` (it has: echo)"),
            "{err}"
        );
        assert!(
            err.contains("the output of `a`, which is not among its depends-on"),
            "{err}"
        );
        assert!(err.contains("task `c` has no `input`"), "{err}");
    }

    #[test]
    fn ranks_by_priority_then_slack() {
        // a(3) -> b(2) -> d(4); a -> c(1) -> d; e(2) alone; e has priority 5.
        let plan = input(json!({"tasks": [
            {"id": "a", "agent": "x", "operation": "y", "input": {}, "estimate": 3},
            {"id": "b", "agent": "x", "operation": "y", "input": {}, "estimate": 2, "depends-on": ["a"]},
            {"id": "c", "agent": "x", "operation": "y", "input": {}, "estimate": 1, "depends-on": ["a"]},
            {"id": "d", "agent": "x", "operation": "y", "input": {}, "estimate": 4, "depends-on": ["b", "c"]},
            {"id": "e", "agent": "x", "operation": "y", "input": {}, "estimate": 2, "priority": 5},
        ]}));
        let checked = check(&plan, None).unwrap();
        let ranks: Vec<usize> = checked.timings().iter().map(|t| t.rank).collect();
        // e (priority 5), then the critical a, b, d (slack 0, plan order), then c (slack 1).
        assert_eq!(ranks, [2, 3, 5, 4, 1]);
        assert_eq!(checked.critical_path(&checked.schedule), ["a", "b", "d"]);
    }
}
