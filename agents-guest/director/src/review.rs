//! `review`: a source tree through LINTER (`lint`), SECURITY (`scan-code`, `scan-secrets`),
//! SECURITYAUDITOR (`audit-deps` with advisories, `audit-tree` without), CRYPTOEXPERT
//! (`audit-crypto`) and, when the host has it loaded, INFRASTRUCTURE (`review` of Dockerfiles,
//! compose files and Kubernetes manifests), each lent the tree read-only for its call, merged into one ranked report
//! ([`crate::merge`]). A helper that fails or runs out of time leaves the report partial, naming
//! what is missing; the goal itself still succeeds.

use guest_support::Severity;
use guest_support::time::{duration_ms, now_ms};
use serde::Deserialize;
use serde_json::{Value, json};
use tandem_sdk::delegation::Lend;
use tandem_sdk::{AgentError, Json, Task, events, to_json};

use crate::merge::{self, Confidence, Counts, Reported};
use crate::steps::{self, Step, StepResult, Strategy};

/// The helpers a review can use.
pub const HELPERS: [&str; 5] = [
    "linter",
    "security",
    "security-auditor",
    "crypto-expert",
    "infrastructure",
];

/// Helpers a review uses by default only when the host has them loaded (the others are always
/// asked, and reported missing when they are not there).
const WHEN_LOADED: [&str; 1] = ["infrastructure"];

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Format {
    #[default]
    Json,
    Markdown,
    Sarif,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ReviewInput {
    /// The trees to review: this agent's granted directories or directories below them.
    paths: Vec<String>,
    /// Directories of OSV advisories for SECURITYAUDITOR's `audit-deps`.
    #[serde(default)]
    advisories: Vec<String>,
    #[serde(default)]
    format: Format,
    #[serde(default)]
    strategy: Strategy,
    /// Only these helpers (default: the first four, and INFRASTRUCTURE when it is loaded).
    #[serde(default)]
    helpers: Vec<String>,
    /// The most one helper's call may take (default: what is left of this call's deadline).
    helper_timeout: Option<Value>,
}

/// The steps of a review of `paths`, on a host with the agents `loaded`.
fn plan(input: &ReviewInput, loaded: &[String]) -> Result<Vec<Step>, AgentError> {
    for h in &input.helpers {
        if !HELPERS.contains(&h.as_str()) {
            return Err(AgentError::invalid(format!(
                "no helper `{h}` (there are: {})",
                HELPERS.join(", ")
            )));
        }
    }
    let wanted = |h: &str| {
        if input.helpers.is_empty() {
            !WHEN_LOADED.contains(&h) || loaded.iter().any(|l| l == h)
        } else {
            input.helpers.iter().any(|w| w == h)
        }
    };
    let paths = json!({"paths": input.paths});
    let mut steps = Vec::new();
    if wanted("linter") {
        steps.push(Step::new("linter/lint", "linter", "lint", paths.clone()));
    }
    if wanted("security") {
        steps.push(Step::new(
            "security/scan-code",
            "security",
            "scan-code",
            paths.clone(),
        ));
        steps.push(Step::new(
            "security/scan-secrets",
            "security",
            "scan-secrets",
            paths.clone(),
        ));
    }
    if wanted("security-auditor") {
        steps.push(if input.advisories.is_empty() {
            Step::new(
                "security-auditor/audit-tree",
                "security-auditor",
                "audit-tree",
                paths.clone(),
            )
        } else {
            Step::new(
                "security-auditor/audit-deps",
                "security-auditor",
                "audit-deps",
                json!({"paths": input.paths, "advisories": input.advisories}),
            )
        });
    }
    if wanted("crypto-expert") {
        steps.push(Step::new(
            "crypto-expert/audit-crypto",
            "crypto-expert",
            "audit-crypto",
            paths.clone(),
        ));
    }
    if wanted("infrastructure") {
        steps.push(Step::new(
            "infrastructure/review",
            "infrastructure",
            "review",
            paths,
        ));
    }
    Ok(steps)
}

/// A helper's findings in the shared shape. `audit-tree` reports checks, not findings: each
/// failed check is a finding on the tree's first path.
fn findings_of(result: &StepResult, root: &str) -> Vec<Reported> {
    let Some(output) = &result.output else {
        return Vec::new();
    };
    if let Some(checks) = output.get("checks").and_then(Value::as_array) {
        return checks
            .iter()
            .filter(|c| c["status"] == "fail")
            .map(|c| Reported {
                agent: result.agent.clone(),
                file: root.to_string(),
                line: 1,
                column: 1,
                rule: format!("compliance-{}", c["check"].as_str().unwrap_or("check")),
                severity: Severity::Warning,
                confidence: Confidence::High,
                message: c["evidence"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; "),
                cwe: None,
                fix: None,
            })
            .collect();
    }
    output
        .get("findings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| Reported::read(&result.agent, f))
        .collect()
}

pub fn run(task: &Task) -> Result<Json, AgentError> {
    let started = now_ms();
    let input: ReviewInput = task.input()?;
    if input.paths.is_empty() {
        return Err(AgentError::invalid(
            "`paths`: the trees to review (this agent's granted directories, e.g. `tandem run director --dir .::repo` and \"paths\": [\"repo\"])",
        ));
    }
    let loaded: Vec<String> = tandem_sdk::host_info::agents()
        .map(|agents| agents.into_iter().map(|a| a.id).collect())
        .unwrap_or_default();
    let steps = plan(&input, &loaded)?;
    let load = tandem_sdk::host_info::load().ok();
    let (strategy, reason) = steps::choose(input.strategy, &steps, load.as_ref());
    let lends: Vec<Lend> = input
        .paths
        .iter()
        .chain(&input.advisories)
        .map(|p| Lend::read_only(p, p))
        .collect();
    let deadline = started + task.time_left_ms as f64;
    let step_timeout = match &input.helper_timeout {
        Some(t) => duration_ms(t, "helper-timeout")?.max(1.0) as u64,
        None => u64::MAX,
    };
    let results = steps::run("review", &steps, strategy, &lends, step_timeout, deadline)?;

    let mut reported = Vec::new();
    let mut helpers = Vec::new();
    let mut missing = Vec::new();
    for r in &results {
        let found = findings_of(r, &input.paths[0]);
        helpers.push(json!({"agent": r.agent, "operation": r.operation, "status": r.status,
                            "findings": found.len(), "duration_ms": r.duration_ms, "message": r.message}));
        if !r.ok() {
            missing.push(
                json!({"agent": r.agent, "operation": r.operation, "status": r.status,
                                "message": r.message}),
            );
        }
        reported.extend(found);
    }
    let (ranked, duplicates) = merge::merge(reported);
    let elapsed = now_ms() - started;
    let mut report = json!({
        "goal": "review",
        "paths": input.paths,
        "strategy": strategy,
        "strategy_reason": reason,
        "partial": !missing.is_empty(),
        "missing": missing,
        "helpers": helpers,
        "counts": Counts::of(&ranked),
        "duplicates_merged": duplicates,
        "elapsed_ms": elapsed,
        "helpers_ms": results.iter().map(|r| r.duration_ms).sum::<f64>(),
    });
    events::emit(
        "review-done",
        &json!({"strategy": strategy, "partial": report["partial"], "counts": report["counts"],
                "elapsed_ms": elapsed}),
    );
    match input.format {
        Format::Json => {
            report["findings"] = serde_json::to_value(&ranked).unwrap_or_default();
            report["files"] = Value::Array(merge::by_file(&ranked));
            to_json(&report)
        }
        Format::Markdown => {
            report["markdown"] = Value::String(merge::markdown(&report, &ranked));
            to_json(&report)
        }
        Format::Sarif => {
            let mut log = merge::sarif(env!("CARGO_PKG_VERSION"), &ranked);
            log["runs"][0]["properties"] = report;
            to_json(&log)
        }
    }
}
