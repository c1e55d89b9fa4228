//! `twin`: a test-only agent built five times from this one source, as the crates `twin-v1`
//! (version 1.0.0), `twin-v2` (2.0.0), `twin-sick` (3.0.0, whose health probe fails),
//! `twin-faulty` (4.0.0, healthy, but its `version` operation always fails) and `twin-flaky`
//! (5.0.0, whose `version` fails for inputs ending in 0, 1 or 2: 30 % of 0..n), so that hot swap and
//! canary routing can be tested between real versions. Each answer names the version that gave it.
//!
//! Its `state-*` operations drive the agent's durable state (values are UTF-8 text), for the state
//! tests and benchmarks: state belongs to the agent id, so every version sees the same keys.

use serde::Deserialize;
use serde_json::json;
use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task, state, to_json};

struct Twin;

/// The operations on state, with what they do.
const STATE_OPERATIONS: &[(&str, &str)] = &[
    ("state-set", "stores `value` under `key`"),
    (
        "state-get",
        "returns {\"value\": <the value under `key`, or null>}",
    ),
    ("state-delete", "removes `key`; returns {\"existed\": bool}"),
    (
        "state-keys",
        "returns {\"keys\": <the keys that start with `prefix`>}",
    ),
    (
        "state-cas",
        "compare-and-swap: `key` from `expected` to `new` (null: absent); returns {\"swapped\": bool}",
    ),
    (
        "state-incr",
        "adds 1 to the JSON counter under `key` (update_json); returns {\"count\": n}",
    ),
    (
        "state-set-then-fail",
        "stores `value` under `key`, then fails: `how` = \"trap\" (panics), \"spin\" (runs until \
         its deadline) or \"error\"",
    ),
    (
        "state-fill",
        "stores `count` values of `size` bytes under `prefix`0, `prefix`1, ...",
    ),
    (
        "state-read-many",
        "reads `key` `count` times; returns {\"reads\": count} (for benchmarks)",
    ),
];

#[derive(Deserialize, Default)]
#[serde(default)]
struct StateInput {
    key: String,
    value: String,
    prefix: String,
    expected: Option<String>,
    new: Option<String>,
    how: String,
    count: u32,
    size: usize,
}

impl Agent for Twin {
    fn describe() -> AgentInfo {
        STATE_OPERATIONS.iter().fold(
            AgentInfo::new("twin", "Says which version of it answered").operation(
                Operation::new(
                    "version",
                    "returns {\"version\": <this build's version>, \"input\": <the input>}",
                )
                .deterministic(),
            ),
            |info, (name, what)| info.operation(Operation::new(*name, *what)),
        )
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "version" if env!("CARGO_PKG_NAME") == "twin-faulty" => Err(AgentError::failed(
                "this build fails every call on purpose (version 4.0.0)",
            )),
            // 30 % of the calls: those whose input is a number ending in 0, 1 or 2.
            "version"
                if env!("CARGO_PKG_NAME") == "twin-flaky"
                    && task.input.trim().parse::<u64>().is_ok_and(|n| n % 10 < 3) =>
            {
                Err(AgentError::failed(
                    "this build fails 30 % of calls on purpose (version 5.0.0)",
                ))
            }
            "version" => Ok(format!(
                "{{\"version\":\"{}\",\"input\":{}}}",
                env!("CARGO_PKG_VERSION"),
                task.input
            )),
            operation if operation.starts_with("state-") => {
                let input: StateInput = task.input()?;
                let output = state_operation(operation, input)?;
                to_json(&output)
            }
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

fn state_operation(operation: &str, input: StateInput) -> Result<serde_json::Value, AgentError> {
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    Ok(match operation {
        "state-set" => {
            state::set(&input.key, input.value.as_bytes())?;
            json!({"version": env!("CARGO_PKG_VERSION")})
        }
        "state-get" => json!({"value": state::get(&input.key)?.map(text)}),
        "state-delete" => json!({"existed": state::delete(&input.key)?}),
        "state-keys" => json!({"keys": state::keys(&input.prefix)?}),
        "state-cas" => {
            let swapped = state::compare_and_swap(
                &input.key,
                input.expected.as_deref().map(str::as_bytes),
                input.new.as_deref().map(str::as_bytes),
            )?;
            json!({"swapped": swapped})
        }
        "state-incr" => {
            let count = state::update_json(&input.key, |n: Option<u64>| n.unwrap_or(0) + 1)?;
            json!({"count": count})
        }
        "state-set-then-fail" => {
            state::set(&input.key, input.value.as_bytes())?;
            match input.how.as_str() {
                "trap" => panic!("trapping after a write, on purpose"),
                "spin" => loop {
                    std::hint::black_box(&input);
                },
                _ => {}
            }
            return Err(AgentError::failed("failing after a write, on purpose"));
        }
        "state-fill" => {
            let value = "x".repeat(input.size);
            for i in 0..input.count {
                state::set(&format!("{}{i}", input.prefix), value.as_bytes())?;
            }
            json!({"written": input.count})
        }
        "state-read-many" => {
            for _ in 0..input.count {
                std::hint::black_box(state::get(&input.key)?);
            }
            json!({"reads": input.count})
        }
        other => return Err(AgentError::unsupported(other)),
    })
}

tandem_sdk::export_agent!(Twin);
