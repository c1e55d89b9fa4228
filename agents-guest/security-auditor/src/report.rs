//! `report`: the risk score and the report as JSON, Markdown or SARIF.
//!
//! The score (0 to 100, higher is worse) is documented in the README:
//! `min(100, sum over vulnerabilities of cvss x fix x confidence + 1 per warning + 10 per failed
//! check)`, where `cvss` is the base score (or the severity's nominal score when the advisory has
//! no vector), `fix` is 0.5 when a fixed version exists (the fix is in reach) and 1 when none does,
//! and `confidence` is 0.5 for a requirement that only may resolve to an affected version.

use guest_support::{Finding as SarifFinding, Severity as Level, sarif};
use serde::Serialize;
use serde_json::{Value, json};

use crate::audit::Finding;
use crate::compliance::Check;
use crate::osv::Severity;

/// The score and how it adds up.
#[derive(Serialize, Debug, Clone)]
pub struct Score {
    pub score: f64,
    /// `none` (0), `low` (< 10), `medium` (< 30), `high` (< 60), `critical`.
    pub rating: &'static str,
    pub vulnerabilities: f64,
    pub warnings: f64,
    pub checks: f64,
}

pub fn score(findings: &[Finding], checks: &[Check]) -> Score {
    let vulnerabilities: f64 = findings
        .iter()
        .filter(|f| f.kind == "vulnerability")
        .map(|f| {
            let base = f
                .cvss
                .as_ref()
                .and_then(|c| c.score)
                .unwrap_or_else(|| f.severity.nominal_score());
            let fix = if f.fixed.is_some() { 0.5 } else { 1.0 };
            let confidence = if f.confidence == "certain" { 1.0 } else { 0.5 };
            base * fix * confidence
        })
        .sum();
    let warnings = findings
        .iter()
        .filter(|f| f.kind != "vulnerability")
        .count() as f64;
    let checks = 10.0 * checks.iter().filter(|c| c.status == "fail").count() as f64;
    let total = (vulnerabilities + warnings + checks).min(100.0);
    let score = (total * 10.0).round() / 10.0;
    Score {
        score,
        rating: if score <= 0.0 {
            "none"
        } else if score < 10.0 {
            "low"
        } else if score < 30.0 {
            "medium"
        } else if score < 60.0 {
            "high"
        } else {
            "critical"
        },
        vulnerabilities: (vulnerabilities * 10.0).round() / 10.0,
        warnings,
        checks,
    }
}

fn level(f: &Finding) -> Level {
    match f.severity {
        _ if f.kind != "vulnerability" => Level::Info,
        Severity::Critical | Severity::High => Level::Error,
        Severity::Medium | Severity::Unknown => Level::Warning,
        Severity::Low => Level::Info,
    }
}

fn installed(f: &Finding) -> String {
    f.version
        .clone()
        .unwrap_or_else(|| format!("{} (not pinned)", f.allows.as_deref().unwrap_or("any")))
}

/// A SARIF 2.1.0 log: one result per finding at its lockfile line, one per failed check.
pub fn sarif(version: &str, findings: &[Finding], checks: &[Check]) -> Value {
    let mut results: Vec<SarifFinding> = findings
        .iter()
        .map(|f| {
            let fix = f
                .fixed
                .as_ref()
                .map(|v| format!("; fixed in {v}"))
                .unwrap_or_else(|| "; no fixed version".into());
            SarifFinding::new(
                &f.file,
                f.line,
                1,
                &f.id,
                level(f),
                format!("{} {}: {}{fix}", f.package, installed(f), f.summary),
            )
            .with("aliases", json!(f.aliases))
            .with("severity", json!(f.severity))
        })
        .collect();
    for check in checks.iter().filter(|c| c.status == "fail") {
        let file = check
            .evidence
            .first()
            .and_then(|e| e.split(':').next())
            .filter(|f| !f.contains(' '))
            .unwrap_or(".");
        results.push(SarifFinding::new(
            file,
            1,
            1,
            check.check,
            Level::Warning,
            check.evidence.join("; "),
        ));
    }
    sarif::log("security-auditor", version, &[], &results)
}

/// The report in Markdown.
pub fn markdown(score: &Score, findings: &[Finding], checks: &[Check]) -> String {
    let mut md = String::from("# Security audit\n\n");
    md.push_str(&format!(
        "**Risk score: {} / 100 ({})**: vulnerabilities {}, warnings {}, failed checks {}.\n\n",
        score.score, score.rating, score.vulnerabilities, score.warnings, score.checks
    ));
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.package.cmp(&b.package)));
    md.push_str("## Dependencies\n\n");
    if sorted.is_empty() {
        md.push_str("No advisory matches an installed version.\n\n");
    } else {
        md.push_str("| Severity | Package | Installed | Advisory | Fixed in | Where |\n|---|---|---|---|---|---|\n");
        for f in sorted {
            let severity = if f.kind == "vulnerability" {
                format!("{:?}", f.severity).to_lowercase()
            } else {
                f.kind.clone()
            };
            md.push_str(&format!(
                "| {severity} | {} ({}) | {} | [{}]({}) {} | {} | {}:{} |\n",
                f.package,
                f.ecosystem.osv_name(),
                installed(f),
                f.id,
                f.url,
                f.summary.replace('|', "\\|"),
                f.fixed.as_deref().unwrap_or("no fix"),
                f.file,
                f.line
            ));
        }
        md.push('\n');
    }
    if !checks.is_empty() {
        md.push_str("## Compliance\n\n| Check | Status | Evidence |\n|---|---|---|\n");
        for c in checks {
            md.push_str(&format!(
                "| {} | {} | {} |\n",
                c.check,
                c.status,
                c.evidence.join("<br>").replace('|', "\\|")
            ));
        }
    }
    md
}
