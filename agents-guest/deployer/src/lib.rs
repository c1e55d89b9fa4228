//! `deployer`: deploys new versions of agents on the host it runs in, through `control` (granted
//! per target agent): a canary widened in steps within bounds read from `host-info`, or a
//! blue-green switch watched after it; rolled back automatically when a bound is crossed
//! ([`rollout`], judged by [`watch`]). The output is the timeline with the figures seen at each
//! step.
//!
//! Operations: `canary`, `blue-green`.

pub mod rollout;
pub mod watch;

use serde_json::json;
use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task, to_json};

fn report(result: (rollout::Outcome, rollout::Timeline)) -> Result<Json, AgentError> {
    let (outcome, timeline) = result;
    to_json(&json!({
        "outcome": outcome.outcome,
        "reason": outcome.reason,
        "from": outcome.from,
        "to": outcome.to,
        "elapsed_ms": timeline.elapsed_ms(),
        "timeline": timeline.steps,
    }))
}

struct Deployer;

impl Agent for Deployer {
    fn describe() -> AgentInfo {
        AgentInfo::new("deployer", "Deploys versions of agents on its host through `control`: canary in steps within bounds, blue-green; rolled back automatically")
            .operation(Operation::new("canary", "Serves a held version to a rising share of the traces while its error rate and p99 stay within bounds; promotes at 100 %, aborts when a bound is crossed")
                .example(json!({"agent": "linter", "content-hash": "9f86d081...", "steps": [5, 25, 50, 100], "step-duration": "30s",
                                "bounds": {"max-error-rate": 0.05, "max-p99-ms": 500, "min-calls": 20}})))
            .operation(Operation::new("blue-green", "Loads a held version beside, switches to it at once, watches it, and rolls back when a bound is crossed")
                .example(json!({"agent": "linter", "content-hash": "9f86d081...", "watch": "1m", "bounds": {"max-error-rate": 0.01}})))
            .capability("host-info")
            .capability("control")
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "canary" => report(rollout::canary(task.input()?, task.time_left_ms)?),
            "blue-green" => report(rollout::blue_green(task.input()?, task.time_left_ms)?),
            other => Err(AgentError::unsupported(other)),
        }
    }
}

tandem_sdk::export_agent!(Deployer);
