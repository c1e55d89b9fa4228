//! `incident`: an alert (as MONITOR publishes it, or given by hand) about an agent. DIRECTOR asks
//! MONITOR for the agent's figures around the alert and, when crash text is attached, DEBUGGER to
//! parse and explain it (explain after parse: a graph); then it decides: abort the agent's canary
//! if one runs, roll back to the previous version if the host holds one, or nothing to undo. With
//! `control` of the agent it does so; without, it proposes the command. Every step is an event.

use guest_support::time::now_ms;
use serde::Deserialize;
use serde_json::{Value, json};
use tandem_sdk::{AgentError, Json, Task, control, events, host_info, to_json};

use crate::steps::{self, Step, Strategy};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct IncidentInput {
    /// The alert: MONITOR's `alert` event data (`target`, `status`, `severity`, `since_ms`, ...).
    alert: Option<Value>,
    /// The event that fired DIRECTOR's trigger (its `data` is the alert).
    event: Option<Value>,
    /// The agent, when there is no alert or it names none.
    target: Option<String>,
    /// Crash text (a panic, a traceback, a trap report) for DEBUGGER.
    crash: Option<String>,
    /// How far around the alert MONITOR's figures go (default 15 minutes).
    window: Option<Value>,
    /// Act when granted `control` (default true; never on a resolved alert); false only proposes.
    #[serde(default = "yes")]
    act: bool,
    #[serde(default)]
    strategy: Strategy,
}

fn yes() -> bool {
    true
}

/// What to do about the agent, and whether it was done.
fn decide(target: &str, act: bool) -> Result<Value, AgentError> {
    let route = host_info::routes()?
        .into_iter()
        .find(|r| r.agent == target)
        .ok_or_else(|| AgentError::invalid(format!("no agent `{target}` is loaded")))?;
    let (action, reason, command) = if let Some(canary) = &route.canary {
        (
            "abort-canary",
            format!(
                "`{target}` serves canary {} to {} % of the traces beside {}: end the canary, the current version keeps serving",
                canary.version, canary.weight, route.version
            ),
            format!("tandem agent abort {target}"),
        )
    } else {
        match control::versions(target) {
            Ok(versions) if versions.len() >= 2 => {
                let previous = &versions[versions.len() - 2];
                let current = &versions[versions.len() - 1];
                (
                    "rollback",
                    format!(
                        "`{target}` {} became current {} (by {}); {} served before it",
                        current.version, current.since, current.by, previous.version
                    ),
                    format!("tandem agent rollback {target}"),
                )
            }
            Ok(_) => (
                "none",
                format!(
                    "the host holds one version of `{target}` ({}): there is nothing to roll back to",
                    route.version
                ),
                String::new(),
            ),
            Err(AgentError::Denied(_)) => (
                "rollback",
                format!(
                    "`{target}` serves {}; DIRECTOR may not list its versions (no `control` grant), so it proposes going back to the previous one if the host holds it",
                    route.version
                ),
                format!("tandem agent rollback {target}"),
            ),
            Err(e) => return Err(e),
        }
    };
    let mut performed = Value::Null;
    if act && action != "none" {
        let done = match action {
            "abort-canary" => {
                control::abort(target).map(|c| json!({"canary": c.version, "weight": c.weight}))
            }
            _ => control::rollback(target)
                .map(|v| json!({"version": v.version, "content_hash": v.content_hash})),
        };
        performed = match done {
            Ok(result) => json!({"action": action, "result": result}),
            Err(AgentError::Denied(why)) => {
                json!({"action": null, "why": format!("not granted: {why}")})
            }
            Err(e) => json!({"action": null, "why": format!("{e:?}")}),
        };
    }
    Ok(json!({"action": action, "reason": reason, "command": command, "performed": performed}))
}

pub fn run(task: &Task) -> Result<Json, AgentError> {
    let started = now_ms();
    let input: IncidentInput = task.input()?;
    let alert = input
        .alert
        .clone()
        .or_else(|| input.event.as_ref().and_then(|e| e.get("data").cloned()))
        .unwrap_or(Value::Null);
    let target = input
        .target
        .clone()
        .or_else(|| alert.get("target").and_then(Value::as_str).map(str::to_string))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            AgentError::invalid("give the agent as `target`, or an `alert` that names one (MONITOR's `alert` event data)")
        })?;
    events::emit(
        "incident-step",
        &json!({"step": "opened", "target": target, "alert": alert}),
    );

    let mut figures_input = json!({"agent": target});
    if let Some(w) = &input.window {
        figures_input["window"] = w.clone();
    }
    if let Some(since) = alert.get("since_ms").and_then(Value::as_f64) {
        figures_input["around-ms"] = json!(since);
    }
    let mut plan = vec![Step::new("figures", "monitor", "figures", figures_input)];
    if let Some(text) = &input.crash {
        plan.push(Step::new(
            "parse",
            "debugger",
            "parse",
            json!({"text": text}),
        ));
        let mut explain = Step::new("explain", "debugger", "explain", json!({"text": text}));
        explain.depends_on = vec!["parse".into()];
        plan.push(explain);
    }
    let load = host_info::load().ok();
    let (strategy, reason) = steps::choose(input.strategy, &plan, load.as_ref());
    let deadline = started + task.time_left_ms as f64;
    let results = steps::run("incident", &plan, strategy, &[], u64::MAX, deadline)?;
    let output_of = |id: &str| {
        results
            .iter()
            .find(|r| r.id == id)
            .and_then(|r| r.output.clone())
            .unwrap_or(Value::Null)
    };
    // A resolved alert is looked into, not acted on.
    let resolved = alert.get("status").and_then(Value::as_str) == Some("resolved");
    let decision = decide(&target, input.act && !resolved)?;
    events::emit(
        "incident",
        &json!({"target": target, "alert": alert.get("alert"), "decision": decision}),
    );
    to_json(&json!({
        "goal": "incident",
        "target": target,
        "alert": alert,
        "strategy": strategy,
        "strategy_reason": reason,
        "steps": results,
        "figures": output_of("figures"),
        "crash": output_of("parse"),
        "explanation": output_of("explain"),
        "decision": decision,
        "elapsed_ms": now_ms() - started,
    }))
}
