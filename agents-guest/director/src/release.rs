//! `release`: a new version of an agent made current, through `control` (until DEPLOYER ships and
//! takes releases over): as a canary at a weight (the host's guard rails watch it), or activated
//! outright. The version must be one the host holds (an earlier version of the agent, or a
//! component in its agent store); each step is a `release-step` event.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tandem_sdk::{AgentError, Json, Task, control, events, to_json};

#[derive(Deserialize, Serialize, Default, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    /// Served to `weight` percent of the traces beside the current version.
    #[default]
    Canary,
    /// Made current at once.
    Activate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ReleaseInput {
    agent: String,
    /// Hex SHA-256 of the component to release.
    content_hash: String,
    #[serde(default)]
    mode: Mode,
    /// The canary's share of the traces, percent (default 10).
    #[serde(default = "ten")]
    weight: u8,
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

pub fn run(task: &Task) -> Result<Json, AgentError> {
    let input: ReleaseInput = task.input()?;
    if input.weight == 0 || input.weight > 100 {
        return Err(AgentError::invalid(format!(
            "`weight` is 1 to 100, not {}",
            input.weight
        )));
    }
    let before = control::versions(&input.agent).map_err(|e| explain(&input.agent, e))?;
    let current = before.iter().find(|v| v.current).cloned();
    events::emit(
        "release-step",
        &json!({"step": "start", "agent": input.agent, "mode": input.mode,
                "from": current.as_ref().map(|v| &v.version), "content_hash": input.content_hash}),
    );
    let result = match input.mode {
        Mode::Canary => control::start_canary(&input.agent, &input.content_hash, input.weight)
            .map(|c| json!({"canary": c.version, "weight": c.weight, "since": c.since})),
        Mode::Activate => control::activate(&input.agent, &input.content_hash)
            .map(|v| json!({"current": v.version, "since": v.since})),
    }
    .map_err(|e| explain(&input.agent, e))?;
    events::emit(
        "release-step",
        &json!({"step": "done", "agent": input.agent, "mode": input.mode, "result": result}),
    );
    to_json(&json!({
        "goal": "release",
        "agent": input.agent,
        "mode": input.mode,
        "strategy": "sequential",
        "strategy_reason": "one step through `control` (DEPLOYER takes releases over once it ships)",
        "from": current,
        "result": result,
        "next": match input.mode {
            Mode::Canary => format!("watch it (`tandem agent canary {a}` to widen, `promote`, `abort`); the host aborts it when its guard rails are crossed", a = input.agent),
            Mode::Activate => format!("`tandem agent rollback {}` goes back", input.agent),
        },
    }))
}
