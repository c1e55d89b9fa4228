//! `twin`: a test-only agent built three times from this one source, as the crates `twin-v1`
//! (version 1.0.0), `twin-v2` (2.0.0) and `twin-sick` (3.0.0, whose health probe fails), so that
//! hot swap can be tested between real versions. Each answer names the version that gave it.

use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task};

struct Twin;

impl Agent for Twin {
    fn describe() -> AgentInfo {
        AgentInfo::new("twin", "Says which version of it answered").operation(
            Operation::new(
                "version",
                "returns {\"version\": <this build's version>, \"input\": <the input>}",
            )
            .deterministic(),
        )
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "version" => Ok(format!(
                "{{\"version\":\"{}\",\"input\":{}}}",
                env!("CARGO_PKG_VERSION"),
                task.input
            )),
            other => Err(AgentError::unsupported(other)),
        }
    }

    fn health() -> Result<(), String> {
        if env!("CARGO_PKG_NAME") == "twin-sick" {
            Err("this build is broken on purpose".into())
        } else {
            Ok(())
        }
    }
}

tandem_sdk::export_agent!(Twin);
