//! The input pieces the code agents share: inline files, and the output format.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A file given inline in the input (and handed on inline to another agent).
#[derive(Deserialize, Serialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct InlineFile {
    /// The name it is reported under (its extension picks the language).
    pub path: String,
    /// Its text.
    pub content: String,
}

/// How findings are returned: the agent's JSON (default) or a SARIF 2.1.0 log.
#[derive(Deserialize, JsonSchema, Default, Debug, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The agent's own JSON.
    #[default]
    Json,
    /// SARIF 2.1.0.
    Sarif,
}
