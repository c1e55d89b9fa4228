//! A finding: one rule's report at one position of one file, and the summary counts of many.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How serious a finding is. SARIF levels: error, warning, note.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Must be fixed: a syntax error, a leaked secret, a dangerous call.
    Error,
    /// Should be fixed.
    Warning,
    /// Worth knowing.
    Info,
}

impl Severity {
    /// The SARIF `level` of this severity.
    pub fn sarif_level(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "note",
        }
    }
}

/// One rule's report. Lines and columns count from 1; columns count characters, as editors and
/// pycodestyle do.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The file, as the caller named it (a path under a granted directory, or an inline name).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The rule's code, e.g. `E501`, `F401`, `yaml-truthy`, `aws-access-key`.
    pub rule: String,
    /// How serious it is.
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Extra fields some agents add (confidence, CWE, fingerprint, redacted excerpt).
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Finding {
    /// A finding with no extra fields.
    pub fn new(
        file: &str,
        line: usize,
        column: usize,
        rule: impl Into<String>,
        severity: Severity,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            file: file.to_string(),
            line,
            column,
            rule: rule.into(),
            severity,
            message: message.into(),
            extra: serde_json::Map::new(),
        }
    }

    /// Adds an extra field.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }
}

/// Counts over a run.
#[derive(Serialize, Default, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Files read.
    pub files: usize,
    /// Bytes read.
    pub bytes: u64,
    /// Findings reported (after suppressions).
    pub findings: usize,
    /// Of which errors, warnings and infos.
    pub errors: usize,
    /// Warnings.
    pub warnings: usize,
    /// Infos.
    pub infos: usize,
}

impl Summary {
    /// Counts `findings` over `files` files of `bytes` bytes.
    pub fn of(files: usize, bytes: u64, findings: &[Finding]) -> Self {
        let mut summary = Summary {
            files,
            bytes,
            findings: findings.len(),
            ..Summary::default()
        };
        for finding in findings {
            match finding.severity {
                Severity::Error => summary.errors += 1,
                Severity::Warning => summary.warnings += 1,
                Severity::Info => summary.infos += 1,
            }
        }
        summary
    }
}

/// A stable fingerprint: the first 16 hex digits of SHA-256 over the parts, separated by NUL.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update([0]);
        }
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}
