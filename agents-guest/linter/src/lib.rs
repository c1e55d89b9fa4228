//! `linter`: parses what it lints and reports what the usual linter of each language would.
//!
//! Operations: `lint` (inline text, inline files, or paths in granted directories; JSON or SARIF),
//! `fix` (the safe fixes, written to files in a read-write grant, with a unified diff per file),
//! `rules` (every rule, by language, with whether it is on by default and fixable).
//!
//! Layout: [`lint`] takes one file through its language: [`python`] (pycodestyle's and pyflakes'
//! codes), [`rust`], [`js`], [`data`] (TOML, JSON), [`yaml`], [`markdown`], and the [`text`] rules;
//! [`config`] is the rule selection and settings, [`fix`] the fixes.

pub mod config;
pub mod data;
pub mod fix;
pub mod js;
pub mod lint;
pub mod markdown;
pub mod python;
pub mod rust;
pub mod text;
pub mod yaml;

use guest_support::sarif::{self, RuleInfo};
use guest_support::{Finding, Format, InlineFile, Skipped, Summary, Tree, TreeLimits};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task};

use config::Config;

/// The input of `lint`. At least one of `text`, `files` or `paths` must be given.
#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
struct LintInput {
    /// Inline text, reported under `name` (default `<text>`; its extension picks the language).
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
    /// "json" (default) or "sarif".
    #[serde(default)]
    format: Format,
}

#[derive(Serialize)]
struct LintOutput {
    findings: Vec<Finding>,
    /// Files that were not linted (binary, too large, not UTF-8, a linked directory), with why.
    skipped: Vec<Skipped>,
    summary: Summary,
}

/// The input of `fix`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FixInput {
    /// Files or directories to fix in place (they must be in a read-write grant).
    #[serde(default)]
    paths: Vec<String>,
    /// Inline files: fixed in the output, nothing written.
    #[serde(default)]
    files: Vec<InlineFile>,
    /// Report the diffs without writing.
    #[serde(default, rename = "dry-run")]
    dry_run: bool,
    #[serde(default)]
    config: Config,
}

#[derive(Serialize)]
struct FixOutput {
    files: Vec<FixedFile>,
    skipped: Vec<Skipped>,
    summary: FixSummary,
}

#[derive(Serialize)]
struct FixedFile {
    file: String,
    /// changed, unchanged or refused.
    status: &'static str,
    /// The codes fixed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fixed: Vec<String>,
    /// A unified diff of the change.
    #[serde(skip_serializing_if = "String::is_empty")]
    diff: String,
    /// For inline files: the fixed content.
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    /// Why a file was left alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    written: bool,
}

#[derive(Serialize, Default)]
struct FixSummary {
    files: usize,
    changed: usize,
    written: usize,
    refused: usize,
}

struct Linter;

impl Agent for Linter {
    fn describe() -> AgentInfo {
        AgentInfo::new(
            "linter",
            "Parses and lints Python (pycodestyle and pyflakes codes), Rust, JavaScript/TypeScript, \
             TOML, YAML, JSON and Markdown; fixes whitespace and blank lines",
        )
        .operation(
            // Not deterministic: with `paths` it reads files, which change between calls.
            Operation::new("lint", "Lints inline text, inline files, or paths in granted directories (JSON or SARIF)")
                .example(serde_json::json!({"text": "import os\nx=1\n", "name": "a.py"}))
                .input::<LintInput>(),
        )
        .operation(
            Operation::new("fix", "Fixes whitespace, blank lines and final newlines in place; returns a diff per file")
                .example(serde_json::json!({"paths": ["src"], "dry-run": true}))
                .input::<FixInput>(),
        )
        .operation(Operation::new("rules", "Lists every rule by language").deterministic())
        .capability("files:read")
        .capability("files:write (fix only)")
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "lint" => run_lint(task.input()?),
            "fix" => task.run(run_fix),
            "rules" => tandem_sdk::to_json(&describe_rules()),
            other => Err(AgentError::unsupported(other)),
        }
    }
}

tandem_sdk::export_agent!(Linter);

/// Every rule code: (code, description, language).
fn all_rules() -> Vec<(&'static str, &'static str, &'static str)> {
    let mut rules = Vec::new();
    for (language, list) in [
        ("python", python::RULES),
        ("rust", rust::RULES),
        ("javascript", js::RULES),
        ("toml/json", data::RULES),
        ("yaml", yaml::RULES),
        ("markdown", markdown::RULES),
        ("text", text::RULES),
    ] {
        rules.extend(
            list.iter()
                .map(|(code, description)| (*code, *description, language)),
        );
    }
    rules.push((
        "syntax-error",
        "the file does not parse (the parser's position)",
        "all",
    ));
    rules
}

fn known_rule(prefix: &str) -> bool {
    all_rules()
        .iter()
        .any(|(code, _, _)| code.starts_with(prefix))
}

#[derive(Serialize)]
struct RuleDescription {
    rule: &'static str,
    language: &'static str,
    description: &'static str,
    default: bool,
    fixable: bool,
}

fn describe_rules() -> Vec<RuleDescription> {
    let defaults = Config::default();
    all_rules()
        .into_iter()
        .map(|(rule, description, language)| RuleDescription {
            rule,
            language,
            description,
            default: defaults.enabled(rule),
            fixable: fix::FIXABLE.contains(&rule),
        })
        .collect()
}

/// The config of a run: the input's over the tree's.
fn effective_config(
    config: Config,
    paths: &[String],
) -> Result<(Config, Vec<config::CompiledRule>), AgentError> {
    // The directories named, and those of the files named: where a config file may sit.
    let dirs: Vec<String> = paths
        .iter()
        .filter_map(|p| match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => Some(p.clone()),
            Ok(_) => Some(
                p.rsplit_once('/')
                    .map_or(".".to_string(), |(d, _)| d.to_string()),
            ),
            Err(_) => None,
        })
        .collect();
    let tree_config = config::from_tree(&dirs).map_err(AgentError::invalid)?;
    let config = config.over(tree_config);
    let compiled = config.validate(&known_rule).map_err(AgentError::invalid)?;
    Ok((config, compiled))
}

fn run_lint(input: LintInput) -> Result<Json, AgentError> {
    if input.text.is_none() && input.files.is_empty() && input.paths.is_empty() {
        return Err(AgentError::invalid(
            "give at least one of `text`, `files` or `paths`",
        ));
    }
    let (config, custom) = effective_config(input.config, &input.paths)?;
    let limits = TreeLimits::default();
    let mut tree = Tree::read(&input.paths, limits)?;
    let on_disk = tree.files.len();
    if let Some(text) = input.text {
        tree.add_inline(
            input.name.unwrap_or_else(|| "<text>".to_string()),
            text,
            &limits,
        );
    }
    for file in input.files {
        tree.add_inline(file.path, file.content, &limits);
    }
    let mut findings = Vec::new();
    for (i, file) in tree.files.iter().enumerate() {
        findings.extend(lint::lint_file(
            &file.path,
            &file.text,
            &config,
            &custom,
            i < on_disk,
        ));
    }
    let summary = Summary::of(tree.files.len(), tree.bytes, &findings);
    tandem_sdk::log::with_fields(
        tandem_sdk::log::Level::Info,
        "linted",
        &[
            ("files", &summary.files.to_string()),
            ("findings", &summary.findings.to_string()),
        ],
    );
    if input.format == Format::Sarif {
        let rules = all_rules();
        let infos: Vec<RuleInfo> = rules
            .iter()
            .map(|(id, description, _)| RuleInfo { id, description })
            .collect();
        return tandem_sdk::to_json(&sarif::log(
            "tandem-linter",
            env!("CARGO_PKG_VERSION"),
            &infos,
            &findings,
        ));
    }
    tandem_sdk::to_json(&LintOutput {
        findings,
        skipped: tree.skipped,
        summary,
    })
}

fn run_fix(input: FixInput) -> Result<FixOutput, AgentError> {
    if input.paths.is_empty() && input.files.is_empty() {
        return Err(AgentError::invalid(
            "give `paths` (to fix in place) or `files` (inline)",
        ));
    }
    let (config, _) = effective_config(input.config, &input.paths)?;
    let limits = TreeLimits::default();
    let tree = Tree::read(&input.paths, limits)?;
    let mut output = FixOutput {
        files: Vec::new(),
        skipped: tree.skipped,
        summary: FixSummary::default(),
    };
    let inline = input.files.into_iter().map(|f| (f.path, f.content, false));
    let on_disk = tree.files.into_iter().map(|f| (f.path, f.text, true));
    for (path, text, on_disk) in on_disk.chain(inline) {
        output.summary.files += 1;
        let mut entry = FixedFile {
            file: path.clone(),
            status: "unchanged",
            fixed: Vec::new(),
            diff: String::new(),
            content: None,
            reason: None,
            written: false,
        };
        match fix::fix(&path, &text, &config) {
            fix::Fixed::Unchanged => {}
            fix::Fixed::Refused(reason) => {
                entry.status = "refused";
                entry.reason = Some(reason);
                output.summary.refused += 1;
            }
            fix::Fixed::Changed { text: fixed, codes } => {
                entry.status = "changed";
                entry.fixed = codes;
                entry.diff = fix::unified_diff(&path, &text, &fixed);
                output.summary.changed += 1;
                if on_disk && !input.dry_run {
                    std::fs::write(&path, &fixed).map_err(|e| {
                        let done: Vec<&str> = output.files.iter().filter(|f| f.written).map(|f| f.file.as_str()).collect();
                        AgentError::Denied(format!(
                            "`{path}` is not writable here ({e}): `fix` needs its directory granted read-write \
                             (`--dir-rw`); files written before it: {done:?}"
                        ))
                    })?;
                    entry.written = true;
                    output.summary.written += 1;
                } else if !on_disk {
                    entry.content = Some(fixed);
                }
            }
        }
        output.files.push(entry);
    }
    Ok(output)
}
