//! `director`: coordinates the other agents through the host. A goal is split into steps (calls
//! to other agents) that run by a strategy chosen from the host's load ([`steps`]): `review` a tree
//! through four code agents into one ranked report ([`review`], [`merge`]), handle an `incident`
//! raised by MONITOR ([`incident`]), `release` a version ([`release`]).

pub mod incident;
pub mod merge;
pub mod release;
pub mod review;
pub mod steps;

use serde_json::json;
use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task};

struct Director;

impl Agent for Director {
    fn describe() -> AgentInfo {
        AgentInfo::new("director", "Coordinates the other agents: a tree reviewed by four of them into one ranked report, incidents from MONITOR's alerts, releases")
            .operation(Operation::new("review", "LINTER, SECURITY, SECURITYAUDITOR and CRYPTOEXPERT over a read-only tree, merged and ranked (JSON, Markdown or SARIF); partial when a helper fails")
                .example(json!({"paths": ["repo"], "format": "markdown"})))
            .operation(Operation::new("incident", "An alert: MONITOR's figures, DEBUGGER on the crash text, then a rollback or canary abort proposed (performed with `control`)")
                .example(json!({"alert": {"target": "linter", "status": "firing", "severity": "page"}, "crash": "thread 'main' panicked at src/main.rs:3:5:\nboom\n"})))
            .operation(Operation::new("release", "A version the host holds made current through `control`: as a canary at a weight, or activated")
                .example(json!({"agent": "linter", "content-hash": "9f86d081...", "mode": "canary", "weight": 10})))
            .capability("host-info")
            .capability("delegate")
            .capability("files:read")
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "review" => review::run(&task),
            "incident" => incident::run(&task),
            "release" => release::run(&task),
            other => Err(AgentError::unsupported(other)),
        }
    }
}

tandem_sdk::export_agent!(Director);
