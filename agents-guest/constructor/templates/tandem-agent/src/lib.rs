//! `{{ name }}`: {{ description }}
//!
//! Operations: `greet`. Build it with `just agents`, call it with
//! `target/debug/tandem run {{ name }} --op greet --input '{"name": "Ada"}'`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task};

/// The input of `greet`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Greet {
    /// Who to greet.
    name: String,
}

/// The output of `greet`.
#[derive(Debug, Serialize)]
struct Greeting {
    greeting: String,
}

fn greet(input: Greet) -> Result<Greeting, AgentError> {
    let name = input.name.trim();
    if name.is_empty() {
        return Err(AgentError::invalid("`name` is empty"));
    }
    Ok(Greeting {
        greeting: format!("Hello, {name}!"),
    })
}

struct {{ name|pascal }};

impl Agent for {{ name|pascal }} {
    fn describe() -> AgentInfo {
        AgentInfo::new("{{ name }}", "{{ description }}").operation(
            Operation::new("greet", "Greets someone by name")
                .deterministic()
                .example(serde_json::json!({"name": "Ada"}))
                .input::<Greet>(),
        )
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "greet" => task.run(greet),
            other => Err(AgentError::unsupported(other)),
        }
    }
}

tandem_sdk::export_agent!({{ name|pascal }});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_by_name_and_refuses_an_empty_one() {
        let greeting = greet(Greet { name: "Ada".into() }).unwrap();
        assert_eq!(greeting.greeting, "Hello, Ada!");
        assert!(greet(Greet { name: " ".into() }).is_err());
    }
}
