//! The [`Agent`] trait an author implements, and the conveniences around the contract's types:
//! builders for [`AgentInfo`] and [`Operation`], typed JSON in and out of a [`Task`], and shorthand
//! constructors for [`AgentError`].

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::tandem::agent::types::{self, OperationInfo};
use crate::{AgentError, CallError, Task};

/// JSON text: the payload type of every input and output.
pub type Json = String;

/// An agent. Implement it for a (usually empty) type and export that type with
/// [`export_agent!`](crate::export_agent).
pub trait Agent {
    /// Who the agent is and what it offers. Called once by the host when it loads the component.
    fn describe() -> AgentInfo;

    /// Handles one task: `task.operation` says which operation, `task.input` carries its JSON input.
    /// [`Task::run`] does the JSON decoding and encoding for you.
    fn handle(task: Task) -> Result<Json, AgentError>;

    /// A cheap self-check run by the host before it routes calls to a newly loaded version.
    fn health() -> Result<(), String> {
        Ok(())
    }
}

/// Runs `A::describe()` and fills in `version` when the agent left it empty: what the component's
/// `describe()` returns.
#[doc(hidden)]
pub fn describe_with_version<A: Agent>(crate_version: &str) -> types::AgentInfo {
    let mut info = A::describe().info;
    if info.version.is_empty() {
        info.version = crate_version.to_string();
    }
    info
}

/// The input schemas `A::describe()` declares: what the component's `input-schemas()` returns.
#[doc(hidden)]
pub fn input_schemas<A: Agent>() -> Vec<(String, Json)> {
    A::describe().schemas
}

/// Who an agent is and what it offers: built with [`AgentInfo::new`] and [`AgentInfo::operation`],
/// returned by [`Agent::describe`].
pub struct AgentInfo {
    info: types::AgentInfo,
    /// `(operation, JSON Schema)` of the operations that declare their input's schema.
    schemas: Vec<(String, Json)>,
}

impl AgentInfo {
    /// An agent with this id (lower-kebab-case) and one-sentence description, no operations yet, and
    /// the crate's version (filled in by `export_agent!`).
    pub fn new(id: impl Into<String>, description: impl Into<String>) -> Self {
        AgentInfo {
            info: types::AgentInfo {
                id: id.into(),
                version: String::new(),
                description: description.into(),
                operations: Vec::new(),
                capabilities: Vec::new(),
            },
            schemas: Vec::new(),
        }
    }

    /// Sets the version explicitly instead of using the crate's.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.info.version = version.into();
        self
    }

    /// Adds an operation.
    pub fn operation(mut self, operation: Operation) -> Self {
        if let Some(schema) = operation.input_schema {
            self.schemas.push((operation.info.name.clone(), schema));
        }
        self.info.operations.push(operation.info);
        self
    }

    /// Declares a capability the agent asks for, e.g. `files:read` or `delegate:linter`. Only the
    /// host's manifest grants it; this is for `tandem inspect` and operators.
    pub fn capability(mut self, capability: impl Into<String>) -> Self {
        self.info.capabilities.push(capability.into());
        self
    }
}

/// Builder for one operation of an agent.
pub struct Operation {
    info: OperationInfo,
    input_schema: Option<Json>,
}

impl Operation {
    /// An operation called `name` (lower-kebab-case) with a one-line description.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        Operation {
            info: OperationInfo {
                name: name.into(),
                description: description.into(),
                deterministic: false,
                input_example: None,
            },
            input_schema: None,
        }
    }

    /// Declares that equal inputs always give equal outputs, with no side effects, so that the host
    /// may cache results.
    pub fn deterministic(mut self) -> Self {
        self.info.deterministic = true;
        self
    }

    /// An example input, shown by `tandem inspect`.
    pub fn example(mut self, input: serde_json::Value) -> Self {
        self.info.input_example = Some(input.to_string());
        self
    }

    /// Declares the input's JSON Schema from its Rust type (the type [`Task::run`] decodes), for
    /// clients that build calls from schemas (`tandem mcp` offers it as the tool's input schema).
    /// The type derives [`schemars::JsonSchema`] beside `Deserialize`.
    pub fn input<T: schemars::JsonSchema>(self) -> Self {
        let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
        self.input_schema(schema.to_value())
    }

    /// Declares the input's JSON Schema as written (a JSON object).
    pub fn input_schema(mut self, schema: serde_json::Value) -> Self {
        self.input_schema = Some(schema.to_string());
        self
    }
}

impl Task {
    /// Decodes the input as `T`; a mismatch is an `invalid-input` error that says what was wrong.
    pub fn input<T: DeserializeOwned>(&self) -> Result<T, AgentError> {
        serde_json::from_str(&self.input)
            .map_err(|e| AgentError::InvalidInput(format!("input of `{}`: {e}", self.operation)))
    }

    /// Decodes the input as `I`, runs `f`, and encodes its output as JSON.
    pub fn run<I, O, F>(&self, f: F) -> Result<Json, AgentError>
    where
        I: DeserializeOwned,
        O: Serialize,
        F: FnOnce(I) -> Result<O, AgentError>,
    {
        to_json(&f(self.input()?)?)
    }
}

/// Encodes a value as JSON text; a failure (a map with non-string keys, say) is a `failed` error.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Json, AgentError> {
    serde_json::to_string(value)
        .map_err(|e| AgentError::Failed(format!("could not encode output: {e}")))
}

impl AgentError {
    /// The error for an operation the agent does not offer.
    pub fn unsupported(operation: &str) -> Self {
        AgentError::UnsupportedOperation(format!("no operation `{operation}`"))
    }

    /// An `invalid-input` error.
    pub fn invalid(message: impl Into<String>) -> Self {
        AgentError::InvalidInput(message.into())
    }

    /// A `failed` error.
    pub fn failed(message: impl Into<String>) -> Self {
        AgentError::Failed(message.into())
    }

    /// The text the error carries (a failed delegation: the call error, as debug text).
    pub fn message(&self) -> String {
        match self {
            AgentError::InvalidInput(m)
            | AgentError::UnsupportedOperation(m)
            | AgentError::Failed(m)
            | AgentError::Retryable(m)
            | AgentError::Denied(m)
            | AgentError::Timeout(m) => m.clone(),
            other => format!("{other:?}"),
        }
    }
}

/// Lets `?` pass a failed delegation on as `dependency-failed`.
impl From<CallError> for AgentError {
    fn from(error: CallError) -> Self {
        AgentError::DependencyFailed(error)
    }
}

impl crate::ErrorKind {
    /// The kind as the contract spells it (`invalid-input`, `timeout`, `circuit-open`, ...), which
    /// is also how `/metrics` and `host-info` label outcomes.
    pub fn as_str(self) -> &'static str {
        use crate::ErrorKind as K;
        match self {
            K::InvalidInput => "invalid-input",
            K::UnsupportedOperation => "unsupported-operation",
            K::Failed => "failed",
            K::Retryable => "retryable",
            K::Denied => "denied",
            K::DependencyFailed => "dependency-failed",
            K::Timeout => "timeout",
            K::FuelExhausted => "fuel-exhausted",
            K::MemoryLimit => "memory-limit",
            K::StackOverflow => "stack-overflow",
            K::Trap => "trap",
            K::CircuitOpen => "circuit-open",
            K::Unavailable => "unavailable",
        }
    }
}
