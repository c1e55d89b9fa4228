//! `echo`: returns its input unchanged. The smallest useful agent, for tests and benchmarks.

use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task};

struct Echo;

impl Agent for Echo {
    fn describe() -> AgentInfo {
        AgentInfo::new("echo", "Returns its input unchanged").operation(
            Operation::new("echo", "Returns the input as it is")
                .deterministic()
                .example(serde_json::json!({"message": "hello"})),
        )
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "echo" => Ok(task.input),
            other => Err(AgentError::unsupported(other)),
        }
    }
}

tandem_sdk::export_agent!(Echo);
