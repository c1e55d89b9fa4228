//! `linter`: a text linter for any source file.
//!
//! Operation `lint` takes inline text, inline files, or paths to read through the agent's preopened
//! directories, and reports each finding with file, line, column, rule, severity and message.
//! Operation `rules` lists the rules and their defaults.

mod rules;

use serde::{Deserialize, Serialize};
use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task};

pub use rules::{Config, Finding, Severity, lint_text};

/// Files larger than this are reported as skipped rather than read.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The input of `lint`. At least one of `text`, `files` or `paths` must be given.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LintInput {
    /// Inline text, reported under `name` (default `<text>`).
    text: Option<String>,
    name: Option<String>,
    /// Inline files.
    #[serde(default)]
    files: Vec<InlineFile>,
    /// Files or directories (walked recursively) to read through the preopened directories.
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    config: Config,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InlineFile {
    path: String,
    content: String,
}

#[derive(Serialize)]
struct LintOutput {
    findings: Vec<Finding>,
    /// Files that could not be linted (unreadable, binary, too large), with the reason.
    skipped: Vec<Skipped>,
    summary: Summary,
}

#[derive(Serialize)]
struct Skipped {
    file: String,
    reason: String,
}

#[derive(Serialize, Default)]
struct Summary {
    files: usize,
    findings: usize,
    errors: usize,
    warnings: usize,
    infos: usize,
}

struct Linter;

impl Agent for Linter {
    fn describe() -> AgentInfo {
        AgentInfo::new(
            "linter",
            "Reports long lines, trailing whitespace, tab and mixed indentation, TODO/FIXME markers \
             and missing final newlines",
        )
        .operation(
            Operation::new("lint", "Lints inline text, inline files, or paths in granted directories")
                .deterministic()
                .example(serde_json::json!({"text": "fn main() {}\t \n", "config": {"max-line-length": 100}})),
        )
        .operation(Operation::new("rules", "Lists the rules with their severities and defaults").deterministic())
        .capability("files:read")
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "lint" => task.run(lint),
            "rules" => tandem_sdk::to_json(&rules::describe_rules()),
            other => Err(AgentError::unsupported(other)),
        }
    }
}

tandem_sdk::export_agent!(Linter);

fn lint(input: LintInput) -> Result<LintOutput, AgentError> {
    if input.text.is_none() && input.files.is_empty() && input.paths.is_empty() {
        return Err(AgentError::invalid(
            "give at least one of `text`, `files` or `paths`",
        ));
    }
    input.config.validate().map_err(AgentError::invalid)?;

    let mut sources: Vec<(String, String)> = Vec::new();
    let mut skipped = Vec::new();
    if let Some(text) = input.text {
        sources.push((input.name.unwrap_or_else(|| "<text>".to_string()), text));
    }
    sources.extend(input.files.into_iter().map(|f| (f.path, f.content)));
    for path in &input.paths {
        read_path(path, &mut sources, &mut skipped)?;
    }

    let mut findings = Vec::new();
    for (name, text) in &sources {
        findings.extend(lint_text(name, text, &input.config));
    }
    let mut summary = Summary {
        files: sources.len(),
        findings: findings.len(),
        ..Summary::default()
    };
    for finding in &findings {
        match finding.severity {
            Severity::Error => summary.errors += 1,
            Severity::Warning => summary.warnings += 1,
            Severity::Info => summary.infos += 1,
        }
    }
    tandem_sdk::log::with_fields(
        tandem_sdk::log::Level::Info,
        "linted",
        &[
            ("files", &summary.files.to_string()),
            ("findings", &summary.findings.to_string()),
        ],
    );
    Ok(LintOutput {
        findings,
        skipped,
        summary,
    })
}

/// Reads a file, or every file below a directory (sorted, so output is stable), into `sources`.
/// A path that does not exist or is not granted is an error for the whole call: the caller asked for
/// it by name. Unreadable or binary files found while walking a directory are skipped with a reason.
fn read_path(
    path: &str,
    sources: &mut Vec<(String, String)>,
    skipped: &mut Vec<Skipped>,
) -> Result<(), AgentError> {
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, &e))?;
    if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| io_error(path, &e))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .collect();
        entries.sort();
        for entry in entries {
            let entry = entry.to_string_lossy().into_owned();
            read_path(&entry, sources, skipped)?;
        }
        return Ok(());
    }
    if meta.len() > MAX_FILE_BYTES {
        skipped.push(Skipped {
            file: path.to_string(),
            reason: format!("larger than {MAX_FILE_BYTES} bytes"),
        });
        return Ok(());
    }
    match std::fs::read(path) {
        Ok(bytes) if bytes.contains(&0) => skipped.push(Skipped {
            file: path.to_string(),
            reason: "binary file".to_string(),
        }),
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => sources.push((path.to_string(), text)),
            Err(_) => skipped.push(Skipped {
                file: path.to_string(),
                reason: "not UTF-8 text".to_string(),
            }),
        },
        Err(e) => skipped.push(Skipped {
            file: path.to_string(),
            reason: e.to_string(),
        }),
    }
    Ok(())
}

/// WASI's `ENOTCAPABLE`: the path is outside every granted directory.
const ENOTCAPABLE: i32 = 76;

fn io_error(path: &str, error: &std::io::Error) -> AgentError {
    if error.kind() == std::io::ErrorKind::PermissionDenied
        || error.raw_os_error() == Some(ENOTCAPABLE)
    {
        return AgentError::Denied(format!(
            "`{path}`: not readable here (is its directory granted?): {error}"
        ));
    }
    AgentError::InvalidInput(format!("`{path}`: {error}"))
}
