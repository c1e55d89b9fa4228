//! What CONSTRUCTOR wrote into a destination, kept in its state under `project/<dest>`: each file's
//! path and SHA-256 as written, and the directories it created, in order. `rollback` removes
//! exactly these, and only the files still as they were written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tandem_sdk::{AgentError, state};

use crate::template::hex;

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Record {
    pub template: String,
    pub variables: BTreeMap<String, String>,
    /// Path relative to the destination -> SHA-256 of the content written.
    pub files: BTreeMap<String, String>,
    /// Directories created (guest paths), in the order they were created.
    pub dirs: Vec<String>,
}

fn key(dest: &str) -> String {
    format!("project/{dest}")
}

impl Record {
    pub fn load(dest: &str) -> Result<Option<Record>, AgentError> {
        state::get_json(&key(dest))
    }

    pub fn store(&self, dest: &str) -> Result<(), AgentError> {
        state::set_json(&key(dest), self)
    }

    pub fn forget(dest: &str) -> Result<(), AgentError> {
        state::delete(&key(dest))?;
        Ok(())
    }
}

/// The SHA-256 of `bytes`, in hex.
pub fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}
