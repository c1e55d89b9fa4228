//! The state export format, written by `tandem state export` and read by `tandem state import`:
//! `{"agent": ID, "entries": [{"key": K, "value": TEXT} | {"key": K, "hex": DIGITS}, ...]}`, a value
//! that is not UTF-8 as hex. Reading checks every entry and names the first bad one.

use serde::{Deserialize, Serialize};

use super::check_key;

/// An export file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// The agent the entries belong to.
    pub agent: String,
    /// Its entries.
    pub entries: Vec<Entry>,
}

/// One key and its value.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The key.
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The value, when it is UTF-8 text.
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The value in hex, when it is not.
    pub hex: Option<String>,
}

/// The entries of an export file's text, checked: valid keys, none twice, exactly one of `value`
/// and `hex`, hex that decodes. The error names the entry.
pub fn parse(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let export: Export = serde_json::from_str(text)
        .map_err(|e| format!("not a state export ({{\"agent\", \"entries\": [...]}}): {e}"))?;
    let mut seen = std::collections::BTreeSet::new();
    let mut entries = Vec::with_capacity(export.entries.len());
    for (index, entry) in export.entries.into_iter().enumerate() {
        let fail = |message: String| format!("entry {index}: {message}");
        check_key(&entry.key).map_err(|e| fail(e.to_string()))?;
        if !seen.insert(entry.key.clone()) {
            return Err(fail(format!("key `{}` appears twice", entry.key)));
        }
        let value = match (entry.value, entry.hex) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(digits)) => {
                hex::decode(&digits).map_err(|e| fail(format!("`hex` is not hex: {e}")))?
            }
            _ => return Err(fail("needs exactly one of `value` and `hex`".into())),
        };
        entries.push((entry.key, value));
    }
    Ok(entries)
}
