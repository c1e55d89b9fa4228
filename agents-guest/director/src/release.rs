//! `release`: a new version of an agent made current. Handed to DEPLOYER when it is loaded (a
//! canary widened in steps within bounds, or a blue-green switch, each rolled back automatically),
//! otherwise done through `control` directly (a canary at a weight the host's guard rails watch, or
//! activated outright). The version must be one the host holds (an earlier version of the agent,
//! or a component in its agent store); each step is a `release-step` event.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tandem_sdk::{AgentError, Json, Task, control, delegation, events, host_info, to_json};

#[derive(Deserialize, Serialize, Default, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    /// Served to a share of the traces beside the current version, then (DEPLOYER) widened.
    #[default]
    Canary,
    /// Made current at once (DEPLOYER: blue-green, watched after the switch).
    Activate,
}

#[derive(Deserialize, Serialize, Default, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "kebab-case")]
enum Via {
    /// DEPLOYER when it is loaded, `control` otherwise.
    #[default]
    Auto,
    Deployer,
    Control,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ReleaseInput {
    agent: String,
    /// Hex SHA-256 of the component to release.
    content_hash: String,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    via: Via,
    /// Through `control`: the canary's share of the traces, percent (default 10).
    #[serde(default = "ten")]
    weight: u8,
    /// Through DEPLOYER: its `steps`, `step-duration`, `watch`, `poll` and `bounds`, passed on.
    #[serde(default)]
    deploy: serde_json::Map<String, Value>,
}

fn ten() -> u8 {
    10
}

/// `control`'s refusal, with what to grant.
fn explain(agent: &str, error: AgentError) -> AgentError {
    match error {
        AgentError::Denied(why) => AgentError::Denied(format!(
            "releasing `{agent}` needs `control = [\"{agent}\"]` in DIRECTOR's manifest: {why}"
        )),
        other => other,
    }
}

/// Through DEPLOYER: its report.
fn through_deployer(input: &ReleaseInput) -> Result<Value, AgentError> {
    let mut request = input.deploy.clone();
    request.insert("agent".into(), json!(input.agent));
    request.insert("content-hash".into(), json!(input.content_hash));
    let operation = match input.mode {
        Mode::Canary => "canary",
        Mode::Activate => "blue-green",
    };
    Ok(delegation::delegate::<_, Value>(
        "deployer", operation, &request,
    )?)
}

/// Through `control`: what it returned.
fn through_control(input: &ReleaseInput) -> Result<Value, AgentError> {
    if input.weight == 0 || input.weight > 100 {
        return Err(AgentError::invalid(format!(
            "`weight` is 1 to 100, not {}",
            input.weight
        )));
    }
    let agent = input.agent.as_str();
    match input.mode {
        Mode::Canary => control::start_canary(agent, &input.content_hash, input.weight)
            .map(|c| json!({"canary": c.version, "weight": c.weight, "since": c.since})),
        Mode::Activate => control::activate(agent, &input.content_hash)
            .map(|v| json!({"current": v.version, "since": v.since})),
    }
    .map_err(|e| explain(agent, e))
}

pub fn run(task: &Task) -> Result<Json, AgentError> {
    let input: ReleaseInput = task.input()?;
    let deployer = match input.via {
        Via::Deployer => true,
        Via::Control => false,
        Via::Auto => host_info::routes()?.iter().any(|r| r.agent == "deployer"),
    };
    // Through DEPLOYER, DIRECTOR needs no `control` of its own: the version before is shown when
    // it may list them.
    let current = match control::versions(&input.agent) {
        Ok(versions) => versions.into_iter().find(|v| v.current),
        Err(AgentError::Denied(_)) if deployer => None,
        Err(e) => return Err(explain(&input.agent, e)),
    };
    events::emit(
        "release-step",
        &json!({"step": "start", "agent": input.agent, "mode": input.mode, "via": if deployer { "deployer" } else { "control" },
                "from": current.as_ref().map(|v| &v.version), "content_hash": input.content_hash}),
    );
    let result = if deployer {
        through_deployer(&input)?
    } else {
        through_control(&input)?
    };
    events::emit(
        "release-step",
        &json!({"step": "done", "agent": input.agent, "mode": input.mode, "result": result}),
    );
    let (strategy_reason, next) = if deployer {
        (
            "handed to DEPLOYER, which runs the steps and rolls back on its own".to_string(),
            "see `result.timeline`".to_string(),
        )
    } else {
        (
            "one step through `control` (DEPLOYER is not loaded)".to_string(),
            match input.mode {
                Mode::Canary => format!(
                    "watch it (`tandem agent canary {a}` to widen, `promote`, `abort`); the host aborts it when its guard rails are crossed",
                    a = input.agent
                ),
                Mode::Activate => format!("`tandem agent rollback {}` goes back", input.agent),
            },
        )
    };
    to_json(&json!({
        "goal": "release",
        "agent": input.agent,
        "mode": input.mode,
        "via": if deployer { "deployer" } else { "control" },
        "strategy": "sequential",
        "strategy_reason": strategy_reason,
        "from": current,
        "result": result,
        "next": next,
    }))
}
