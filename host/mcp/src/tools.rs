//! Agents' operations as MCP tools: a tool's name, its input schema and its hints, and the way
//! back from a tool call to the agent, operation and input it stands for.
//!
//! A tool is named `<agent>_<operation>`: agent ids and operation names are lower-kebab-case, so
//! the first `_` is where the agent's id ends, and the name stays within MCP's tool-name alphabet
//! (`A-Z a-z 0-9 _ - .`). The input schema is the one the operation declares (`input-schema` in
//! `describe()`, from the SDK's typed inputs), else one read off its `input-example` (the type of
//! each field, the example itself under `examples`), else any object. An operation whose input is
//! not an object is offered with one property, `input`, holding it, since MCP passes tool
//! arguments as an object.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Map, Value, json};
use tandem::{Agent, OperationInfo};

/// What separates the agent's id from the operation's name in a tool's name.
const SEPARATOR: char = '_';

/// The argument that holds the input of an operation whose input is not an object.
const WRAPPED: &str = "input";

/// The longest tool name MCP clients accept.
const MAX_NAME: usize = 128;

/// The tool's name for `operation` of `agent`.
pub fn tool_name(agent: &str, operation: &str) -> String {
    format!("{agent}{SEPARATOR}{operation}")
}

/// The agent and operation a tool's name stands for, if it has the shape of one.
pub fn parse_tool_name(name: &str) -> Option<(&str, &str)> {
    name.split_once(SEPARATOR)
        .filter(|(agent, op)| !agent.is_empty() && !op.is_empty())
}

/// Every operation of `agents` as a tool, sorted by name. A name longer than MCP allows is left
/// out (and logged): no shipped agent comes near it.
pub fn tools(agents: &[Arc<Agent>]) -> Vec<Tool> {
    let mut tools: Vec<Tool> = agents
        .iter()
        .flat_map(|agent| agent.info.operations.iter().map(move |op| tool(agent, op)))
        .filter(|tool| {
            let fits = tool.name.len() <= MAX_NAME;
            if !fits {
                tracing::warn!(target: "tandem::mcp", tool = %tool.name, "tool name longer than {MAX_NAME} characters: not offered");
            }
            fits
        })
        .collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    tools
}

fn tool(agent: &Agent, op: &OperationInfo) -> Tool {
    let description = format!(
        "{} (agent `{}` {}: {})",
        op.description, agent.info.id, agent.info.version, agent.info.description
    );
    let annotations = ToolAnnotations::new()
        .read_only(op.deterministic)
        .idempotent(op.deterministic)
        .open_world(false);
    Tool::new(
        tool_name(&agent.info.id, &op.name),
        description,
        Arc::new(input_schema(op)),
    )
    .with_title(format!("{} {}", agent.info.id, op.name))
    .with_annotations(annotations)
}

/// Whether `op`'s input is offered wrapped in an `input` property (it is not an object).
fn is_wrapped(op: &OperationInfo) -> bool {
    let declared = op.input_schema.as_ref().and_then(|s| s.get("type"));
    match (declared, &op.input_example) {
        (Some(kind), _) => kind != "object",
        (None, Some(example)) => !example.is_object(),
        (None, None) => false,
    }
}

/// The JSON Schema of `op`'s tool arguments.
pub fn input_schema(op: &OperationInfo) -> JsonObject {
    let schema = match (&op.input_schema, &op.input_example) {
        (Some(schema), _) => schema.clone(),
        (None, Some(example)) => {
            let mut schema = schema_of(example);
            schema["examples"] = json!([example]);
            schema
        }
        (None, None) => json!({"type": "object"}),
    };
    let schema = if is_wrapped(op) {
        json!({"type": "object", "properties": {WRAPPED: schema}, "required": [WRAPPED]})
    } else {
        schema
    };
    match schema {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A schema that `value` satisfies, field by field: its types, not its values.
fn schema_of(value: &Value) -> Value {
    match value {
        Value::Null => json!({"type": "null"}),
        Value::Bool(_) => json!({"type": "boolean"}),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({"type": "integer"}),
        Value::Number(_) => json!({"type": "number"}),
        Value::String(_) => json!({"type": "string"}),
        Value::Array(items) => match items.first() {
            Some(first) => json!({"type": "array", "items": schema_of(first)}),
            None => json!({"type": "array"}),
        },
        Value::Object(fields) => {
            let properties: Map<String, Value> = fields
                .iter()
                .map(|(name, value)| (name.clone(), schema_of(value)))
                .collect();
            json!({"type": "object", "properties": properties})
        }
    }
}

/// The input (JSON text) a call of `op` with `arguments` hands the agent.
pub fn input(op: &OperationInfo, arguments: Option<JsonObject>) -> String {
    let mut arguments = arguments.unwrap_or_default();
    let value = if is_wrapped(op) {
        arguments.remove(WRAPPED).unwrap_or(Value::Null)
    } else {
        Value::Object(arguments)
    };
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(example: Option<Value>) -> OperationInfo {
        OperationInfo {
            name: "check".into(),
            description: "checks".into(),
            deterministic: true,
            input_example: example,
            input_schema: None,
        }
    }

    #[test]
    fn names_split_where_the_agent_id_ends() {
        assert_eq!(
            tool_name("security-auditor", "audit"),
            "security-auditor_audit"
        );
        assert_eq!(
            parse_tool_name("security-auditor_audit"),
            Some(("security-auditor", "audit"))
        );
        assert_eq!(parse_tool_name("linter_"), None);
        assert_eq!(parse_tool_name("linter"), None);
    }

    #[test]
    fn a_schema_is_read_off_the_example() {
        let example =
            json!({"path": "src", "max": 3, "ratio": 0.5, "rules": ["E501"], "deep": {"on": true}});
        let schema = input_schema(&op(Some(example.clone())));
        assert_eq!(
            Value::Object(schema),
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "max": {"type": "integer"},
                    "ratio": {"type": "number"},
                    "rules": {"type": "array", "items": {"type": "string"}},
                    "deep": {"type": "object", "properties": {"on": {"type": "boolean"}}},
                },
                "examples": [example],
            })
        );
    }

    #[test]
    fn an_input_that_is_not_an_object_is_wrapped_and_unwrapped() {
        let op = op(Some(json!("some text")));
        let schema = input_schema(&op);
        assert_eq!(schema["required"], json!(["input"]));
        assert_eq!(schema["properties"]["input"]["type"], "string");
        let mut arguments = JsonObject::new();
        arguments.insert("input".into(), json!("hello"));
        assert_eq!(input(&op, Some(arguments)), "\"hello\"");
    }

    #[test]
    fn a_declared_schema_wins() {
        let mut op = op(Some(json!({"a": 1})));
        op.input_schema = Some(json!({"type": "object", "required": ["a"]}));
        assert_eq!(
            Value::Object(input_schema(&op)),
            json!({"type": "object", "required": ["a"]})
        );
        assert_eq!(input(&op, None), "{}");
    }
}
