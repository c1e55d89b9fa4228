//! `security`: finds committed secrets ([`secrets`]), dangerous code ([`code`]) and attacks in
//! auth and web server logs ([`logs`]).
//!
//! Operations: `scan-secrets` and `scan-code` (inline files or paths in granted directories; JSON or
//! SARIF; `allow` globs for paths to leave out, a `baseline` of accepted fingerprints),
//! `correlate-logs` (log files, a window and thresholds), `rules`.

pub mod code;
pub mod logs;
pub mod secrets;

use guest_support::sarif::{self, RuleInfo};
use guest_support::{Finding, Format, InlineFile, Skipped, Summary, Tree, TreeLimits};
use serde::{Deserialize, Serialize};
use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task};

/// The input of both scans.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ScanInput {
    /// Files or directories in granted directories.
    #[serde(default)]
    paths: Vec<String>,
    /// Inline files.
    #[serde(default)]
    files: Vec<InlineFile>,
    /// Globs (`*`, `**`, `?`) of paths to leave out, e.g. `tests/fixtures/**`.
    #[serde(default)]
    allow: Vec<String>,
    /// Accepted fingerprints: findings with these are not reported.
    #[serde(default)]
    baseline: Vec<String>,
    /// A baseline file in a granted directory: a JSON list of fingerprints, or an earlier output.
    baseline_file: Option<String>,
    /// "json" (default) or "sarif".
    #[serde(default)]
    format: Format,
}

#[derive(Serialize)]
struct ScanOutput {
    findings: Vec<Finding>,
    /// Matches that are not findings (documented example values), redacted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ignored: Vec<secrets::Ignored>,
    /// Files not scanned, and why (binary, too large, allowed by a glob, does not parse).
    skipped: Vec<Skipped>,
    /// Findings left out because the baseline holds their fingerprint.
    baselined: usize,
    summary: Summary,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct LogsInput {
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    files: Vec<InlineFile>,
    #[serde(default)]
    thresholds: logs::Thresholds,
}

#[derive(Serialize)]
struct LogsOutput {
    incidents: Vec<logs::Incident>,
    skipped: Vec<Skipped>,
    summary: logs::LogSummary,
}

struct Security;

impl Agent for Security {
    fn describe() -> AgentInfo {
        AgentInfo::new("security", "Finds committed secrets, dangerous code patterns and attacks in auth and web server logs")
            // The scans are not deterministic: with `paths` they read files, which change between
            // calls (the result cache would answer from before the change).
            .operation(
                Operation::new("scan-secrets", "Credentials in a tree or inline files: provider tokens, keys, passwords, high-entropy strings")
                    .example(serde_json::json!({"files": [{"path": ".env", "content": "GITHUB_TOKEN=ghp_...\n"}]})),
            )
            .operation(
                Operation::new("scan-code", "Dangerous calls in Python, JavaScript/TypeScript, Rust and shell, with CWE ids")
                    .example(serde_json::json!({"paths": ["src"], "format": "sarif"})),
            )
            .operation(
                Operation::new("correlate-logs", "Brute force, password spraying and path scanning in auth.log and access logs")
                    .example(serde_json::json!({"paths": ["logs"], "thresholds": {"window-seconds": 300}})),
            )
            .operation(Operation::new("rules", "Lists the rules of both scans").deterministic())
            .capability("files:read")
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "scan-secrets" => scan(task.input()?, Scan::Secrets),
            "scan-code" => scan(task.input()?, Scan::Code),
            "correlate-logs" => task.run(correlate),
            "rules" => tandem_sdk::to_json(&rule_list()),
            other => Err(AgentError::unsupported(other)),
        }
    }
}

tandem_sdk::export_agent!(Security);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scan {
    Secrets,
    Code,
}

#[derive(Serialize)]
struct RuleDescription {
    rule: &'static str,
    operation: &'static str,
    description: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cwe: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bandit: Option<&'static str>,
}

fn rule_list() -> Vec<RuleDescription> {
    let mut list: Vec<RuleDescription> = secrets::rules()
        .into_iter()
        .map(|(rule, description)| RuleDescription {
            rule,
            operation: "scan-secrets",
            description,
            cwe: Some("CWE-798"),
            bandit: None,
        })
        .collect();
    list.extend(
        code::rules()
            .into_iter()
            .map(|(rule, cwe, bandit, description)| RuleDescription {
                rule,
                operation: "scan-code",
                description,
                cwe: Some(cwe),
                bandit,
            }),
    );
    list
}

/// Reads paths and inline files, leaving out what `allow` matches.
fn read(paths: &[String], files: Vec<InlineFile>, allow: &[String]) -> Result<Tree, AgentError> {
    guest_support::glob::check(allow)?;
    let limits = TreeLimits::default();
    let mut tree = Tree::read(paths, limits)?;
    for file in files {
        tree.add_inline(file.path, file.content, &limits);
    }
    tree.leave_out(allow);
    Ok(tree)
}

fn scan(input: ScanInput, which: Scan) -> Result<Json, AgentError> {
    if input.paths.is_empty() && input.files.is_empty() {
        return Err(AgentError::invalid(
            "give `paths` (in granted directories) or `files` (inline)",
        ));
    }
    let mut baseline = input.baseline;
    if let Some(path) = &input.baseline_file {
        baseline.extend(read_baseline(path)?);
    }
    let tree = read(&input.paths, input.files, &input.allow)?;
    let mut findings = Vec::new();
    let mut ignored = Vec::new();
    let mut skipped = tree.skipped;
    for file in &tree.files {
        match which {
            Scan::Secrets => {
                let (found, examples) = secrets::scan(&file.path, &file.text);
                findings.extend(found);
                ignored.extend(examples);
            }
            Scan::Code => match code::scan(&file.path, &file.text) {
                Some(Ok(found)) => findings.extend(found),
                Some(Err(reason)) => skipped.push(Skipped {
                    file: file.path.clone(),
                    reason,
                }),
                None => {}
            },
        }
    }
    let before = findings.len();
    findings.retain(|f| {
        !f.extra
            .get("fingerprint")
            .and_then(|v| v.as_str())
            .is_some_and(|fp| baseline.iter().any(|b| b == fp))
    });
    let baselined = before - findings.len();
    let summary = Summary::of(tree.files.len(), tree.bytes, &findings);
    tandem_sdk::log::with_fields(
        tandem_sdk::log::Level::Info,
        "scanned",
        &[
            ("files", &summary.files.to_string()),
            ("findings", &summary.findings.to_string()),
        ],
    );
    if input.format == Format::Sarif {
        let rules = rule_list();
        let infos: Vec<RuleInfo> = rules
            .iter()
            .map(|r| RuleInfo {
                id: r.rule,
                description: r.description,
            })
            .collect();
        return tandem_sdk::to_json(&sarif::log(
            "tandem-security",
            env!("CARGO_PKG_VERSION"),
            &infos,
            &findings,
        ));
    }
    tandem_sdk::to_json(&ScanOutput {
        findings,
        ignored,
        skipped,
        baselined,
        summary,
    })
}

/// Fingerprints from a baseline file: a JSON list of strings, or an earlier `scan-secrets` output.
fn read_baseline(path: &str) -> Result<Vec<String>, AgentError> {
    let text = std::fs::read_to_string(path).map_err(|e| guest_support::io_error(path, &e))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| AgentError::invalid(format!("`{path}`: not JSON: {e}")))?;
    let list = match &value {
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        serde_json::Value::Object(map) => map
            .get("findings")
            .and_then(|f| f.as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(|f| f.get("fingerprint")?.as_str().map(str::to_string))
                    .collect()
            })
            .ok_or_else(|| {
                AgentError::invalid(format!(
                    "`{path}`: expected a list of fingerprints or an output with `findings`"
                ))
            })?,
        _ => {
            return Err(AgentError::invalid(format!(
                "`{path}`: expected a list of fingerprints or an output with `findings`"
            )));
        }
    };
    Ok(list)
}

fn correlate(input: LogsInput) -> Result<LogsOutput, AgentError> {
    if input.paths.is_empty() && input.files.is_empty() {
        return Err(AgentError::invalid(
            "give `paths` (log files in granted directories) or `files` (inline)",
        ));
    }
    input.thresholds.validate().map_err(AgentError::invalid)?;
    let tree = read(&input.paths, input.files, &[])?;
    let files: Vec<(String, String)> = tree.files.into_iter().map(|f| (f.path, f.text)).collect();
    let (incidents, summary) = logs::correlate(&files, &input.thresholds);
    Ok(LogsOutput {
        incidents,
        skipped: tree.skipped,
        summary,
    })
}
