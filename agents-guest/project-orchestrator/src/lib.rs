//! `project-orchestrator`: runs a project plan on the host's scheduler. [`plan`] validates it and
//! computes the critical path, slack and the order of ready work; [`progress`] turns the
//! scheduler's results into per-task results, progress figures and, after a failure, a new plan of
//! what can still run.
//!
//! Operations: `plan` (check and analyse, run nothing) and `run` (the same, then run it).

pub mod plan;
pub mod progress;

use guest_support::time::now_ms;
use serde_json::json;
use tandem_sdk::delegation::{FailurePolicy, Graph, GraphNode, run_graph};
use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task, events, to_json};

use plan::{Checked, PlanInput, Policy};

/// The loaded agents, for the check; a host that does not grant `host-info` is named.
fn loaded_agents() -> Result<Vec<tandem_sdk::host_info::AgentSummary>, AgentError> {
    tandem_sdk::host_info::agents().map_err(|e| match e {
        AgentError::Denied(why) => AgentError::Denied(format!(
            "checking the plan's agents needs `host-info = true` in this agent's manifest: {why}"
        )),
        other => other,
    })
}

fn plan_op(input: PlanInput) -> Result<Json, AgentError> {
    let agents = loaded_agents()?;
    let checked = plan::check(&input, Some(&agents))?;
    to_json(&json!({
        "tasks": checked.dag.len(),
        "policy": input.policy,
        "estimated_ms": checked.schedule.makespan,
        "total_work_ms": checked.estimates.iter().sum::<f64>(),
        "critical_path": checked.critical_path(&checked.schedule),
        "timings": checked.timings(),
    }))
}

/// The scheduler's graph of a checked plan: each task a node, its priority from its rank.
fn graph(checked: &Checked) -> Result<Graph, AgentError> {
    let nodes = checked
        .input
        .tasks
        .iter()
        .enumerate()
        .map(|(i, task)| {
            Ok(GraphNode {
                id: task.id.clone(),
                agent: task.agent.clone(),
                operation: task.operation.clone(),
                input: to_json(
                    task.input
                        .as_ref()
                        .expect("checked: every task has an input"),
                )?,
                depends_on: task.depends_on.clone(),
                priority: checked.ranked_priority[i],
                max_attempts: task.max_attempts,
                timeout_ms: checked.timeout_ms[i],
            })
        })
        .collect::<Result<Vec<_>, AgentError>>()?;
    Ok(Graph {
        nodes,
        policy: match checked.input.policy {
            Policy::FailFast => FailurePolicy::FailFast,
            Policy::ContinueIndependent => FailurePolicy::ContinueIndependent,
        },
    })
}

fn run_op(input: PlanInput) -> Result<Json, AgentError> {
    let agents = loaded_agents()?;
    let checked = plan::check(&input, Some(&agents))?;
    let graph = graph(&checked)?;
    events::emit(
        "plan-started",
        &json!({"tasks": checked.dag.len(), "estimated_ms": checked.schedule.makespan,
                "critical_path": checked.critical_path(&checked.schedule)}),
    );
    let started = now_ms();
    let results = run_graph(&graph)?;
    let elapsed = now_ms() - started;
    let report = progress::report(&checked, &results, elapsed);
    events::emit("plan-finished", &report.progress);
    to_json(&report)
}

struct ProjectOrchestrator;

impl Agent for ProjectOrchestrator {
    fn describe() -> AgentInfo {
        let example = json!({"tasks": [
            {"id": "lint", "agent": "linter", "operation": "lint", "input": {"text": "x=1\n", "name": "a.py"}, "estimate": "200ms"},
            {"id": "secrets", "agent": "security", "operation": "scan-secrets", "input": {"files": [{"path": ".env", "content": "A=1\n"}]}, "estimate": "100ms"},
            {"id": "explain", "agent": "debugger", "operation": "explain", "input": {"text": "error[fuel-exhausted]: x.y: used up its fuel (5 units)"}, "estimate": "50ms", "depends-on": ["lint", "secrets"], "priority": 1}
        ], "policy": "continue-independent"});
        AgentInfo::new("project-orchestrator", "Runs a project plan on the host's scheduler: checked, critical path and slack, ordered by priority then slack, with progress and re-planning after a failure")
            .operation(Operation::new("plan", "Checks a plan (cycles, unknown agents and operations, missing inputs and estimates) and gives its critical path, slack and order; runs nothing").example(example.clone()))
            .operation(Operation::new("run", "Checks and runs a plan (`run-graph`); per-task results, progress against the estimates, what a failure blocked and the new critical path").example(example))
            .capability("host-info")
            .capability("delegate")
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "plan" => plan_op(task.input()?),
            "run" => run_op(task.input()?),
            other => Err(AgentError::unsupported(other)),
        }
    }
}

tandem_sdk::export_agent!(ProjectOrchestrator);
