//! One report from many agents' findings: every helper's findings read into one shape, duplicates
//! across agents merged (the same file, line and issue: the CWE class when both name one, the rule
//! without its language prefix otherwise), ranked by severity, then confidence (raised when two
//! agents agree), then how many agents agree, grouped by file with counts, and rendered as JSON,
//! Markdown or SARIF 2.1.0.

use std::collections::BTreeMap;

use guest_support::{Finding, Severity, sarif};
use serde::Serialize;
use serde_json::{Value, json};

/// A finding as one helper reported it.
#[derive(Debug, Clone)]
pub struct Reported {
    pub agent: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub rule: String,
    pub severity: Severity,
    pub confidence: Confidence,
    pub message: String,
    pub cwe: Option<String>,
    pub fix: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    /// A helper's `confidence` field; a finding without one is `medium`, except a parser's or a
    /// linter's (exact by construction), which is `high`.
    pub fn of(value: Option<&Value>, agent: &str) -> Confidence {
        match value
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("high") => Confidence::High,
            Some("low") => Confidence::Low,
            Some(_) => Confidence::Medium,
            None if agent == "linter" => Confidence::High,
            None => Confidence::Medium,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }

    fn raised(self) -> Confidence {
        match self {
            Confidence::Low => Confidence::Medium,
            _ => Confidence::High,
        }
    }
}

impl Reported {
    /// A helper's finding (the shared finding JSON: file, line, column, rule, severity, message,
    /// and extras such as confidence, cwe, fix); none when it lacks the position or rule.
    pub fn read(agent: &str, value: &Value) -> Option<Reported> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
        let severity = match value.get("severity").and_then(Value::as_str)? {
            "error" => Severity::Error,
            "warning" => Severity::Warning,
            _ => Severity::Info,
        };
        Some(Reported {
            agent: agent.to_string(),
            file: text("file")?,
            line: value
                .get("line")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .max(1) as usize,
            column: value
                .get("column")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .max(1) as usize,
            rule: text("rule")?,
            severity,
            confidence: Confidence::of(value.get("confidence"), agent),
            message: text("message").unwrap_or_default(),
            cwe: text("cwe"),
            fix: text("fix"),
        })
    }

    /// What the finding is about, so that two agents' reports of one problem meet.
    pub fn issue(&self) -> String {
        if let Some(cwe) = &self.cwe {
            return match cwe.as_str() {
                // Broken or risky cryptography: weak hashes, ciphers, key sizes, password hashing.
                "CWE-326" | "CWE-327" | "CWE-328" | "CWE-916" | "CWE-759" | "CWE-760" => {
                    "weak-crypto".into()
                }
                // Credentials in the code.
                "CWE-798" | "CWE-259" | "CWE-321" => "hardcoded-credential".into(),
                other => other.to_string(),
            };
        }
        let rule = self.rule.to_ascii_lowercase();
        for prefix in ["py-", "js-", "ts-", "rs-", "rust-", "go-", "sh-", "java-"] {
            if let Some(rest) = rule.strip_prefix(prefix) {
                return rest.to_string();
            }
        }
        rule
    }
}

/// One finding of the merged report.
#[derive(Debug, Clone, Serialize)]
pub struct Merged {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub issue: String,
    pub severity: Severity,
    pub confidence: Confidence,
    pub message: String,
    /// The agents that reported it, and their rules (`agent:rule`).
    pub agents: Vec<String>,
    pub rules: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwe: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// `reported` merged and ranked (the most serious first); how many duplicates were merged. Only
/// reports of different agents merge: one agent's two reports on a line (two missing spaces, two
/// secrets) stay two findings.
pub fn merge(reported: Vec<Reported>) -> (Vec<Merged>, usize) {
    let total = reported.len();
    let mut by_key: BTreeMap<(String, usize, String), Vec<Merged>> = BTreeMap::new();
    for r in reported {
        let key = (r.file.clone(), r.line, r.issue());
        let tag = format!("{}:{}", r.agent, r.rule);
        let same = by_key.entry(key.clone()).or_default();
        match same.iter_mut().find(|m| !m.agents.contains(&r.agent)) {
            Some(m) => {
                m.agents.push(r.agent);
                m.confidence = m.confidence.max(r.confidence).raised();
                m.rules.push(tag);
                // Severity::Error sorts first: the smaller is the more serious.
                if r.severity < m.severity {
                    m.severity = r.severity;
                    m.message = r.message;
                }
                m.column = m.column.min(r.column);
                m.cwe = m.cwe.take().or(r.cwe);
                m.fix = m.fix.take().or(r.fix);
            }
            None => same.push(Merged {
                file: r.file,
                line: r.line,
                column: r.column,
                issue: key.2,
                severity: r.severity,
                confidence: r.confidence,
                message: r.message,
                agents: vec![r.agent],
                rules: vec![tag],
                cwe: r.cwe,
                fix: r.fix,
            }),
        }
    }
    let mut merged: Vec<Merged> = by_key.into_values().flatten().collect();
    merged.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then(b.confidence.cmp(&a.confidence))
            .then(b.agents.len().cmp(&a.agents.len()))
            .then(a.file.cmp(&b.file))
            .then(a.line.cmp(&b.line))
            .then(a.column.cmp(&b.column))
    });
    let duplicates = total - merged.len();
    (merged, duplicates)
}

/// Counts by severity.
#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub findings: usize,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

impl Counts {
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Merged>) -> Counts {
        let mut c = Counts::default();
        for f in findings {
            c.findings += 1;
            match f.severity {
                Severity::Error => c.errors += 1,
                Severity::Warning => c.warnings += 1,
                Severity::Info => c.infos += 1,
            }
        }
        c
    }
}

/// The ranked findings grouped by file, files in the order of their most serious finding.
pub fn by_file(ranked: &[Merged]) -> Vec<Value> {
    let mut order: Vec<&str> = Vec::new();
    let mut groups: BTreeMap<&str, Vec<&Merged>> = BTreeMap::new();
    for f in ranked {
        if !groups.contains_key(f.file.as_str()) {
            order.push(&f.file);
        }
        groups.entry(&f.file).or_default().push(f);
    }
    order
        .into_iter()
        .map(|file| {
            let findings = &groups[file];
            json!({"file": file, "counts": Counts::of(findings.iter().copied()), "findings": findings})
        })
        .collect()
}

/// The SARIF log of the merged findings (tool `director`; each result's properties name the
/// agents and rules behind it).
pub fn sarif(version: &str, ranked: &[Merged]) -> Value {
    let findings: Vec<Finding> = ranked
        .iter()
        .map(|m| {
            let mut f = Finding::new(&m.file, m.line, m.column, &m.issue, m.severity, &m.message)
                .with(
                    "confidence",
                    serde_json::to_value(m.confidence).unwrap_or_default(),
                )
                .with("agents", m.agents.clone())
                .with("rules", m.rules.clone());
            if let Some(cwe) = &m.cwe {
                f = f.with("cwe", cwe.clone());
            }
            f
        })
        .collect();
    sarif::log("director", version, &[], &findings)
}

/// The report as Markdown: the helpers, what is missing, then each file's findings.
pub fn markdown(report: &Value, ranked: &[Merged]) -> String {
    let mut out = String::from("# Review\n\n");
    out += &format!(
        "Strategy: **{}** ({}). {} finding(s) after merging {} duplicate(s).\n\n",
        report["strategy"].as_str().unwrap_or(""),
        report["strategy_reason"].as_str().unwrap_or(""),
        ranked.len(),
        report["duplicates_merged"]
    );
    out += "| agent | operation | status | findings | ms |\n|---|---|---|---|---|\n";
    for h in report["helpers"].as_array().into_iter().flatten() {
        out += &format!(
            "| {} | {} | {} | {} | {:.0} |\n",
            h["agent"].as_str().unwrap_or(""),
            h["operation"].as_str().unwrap_or(""),
            h["status"].as_str().unwrap_or(""),
            h["findings"],
            h["duration_ms"].as_f64().unwrap_or(0.0)
        );
    }
    if report["partial"] == true {
        out += "\n**Partial report**: missing ";
        let missing: Vec<String> = report["missing"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                format!(
                    "{} {} ({}: {})",
                    m["agent"].as_str().unwrap_or(""),
                    m["operation"].as_str().unwrap_or(""),
                    m["status"].as_str().unwrap_or(""),
                    m["message"].as_str().unwrap_or("")
                )
            })
            .collect();
        out += &missing.join("; ");
        out += "\n";
    }
    let mut file = "";
    let mut sorted: Vec<&Merged> = ranked.iter().collect();
    sorted.sort_by(|a, b| a.file.cmp(&b.file).then(a.line.cmp(&b.line)));
    for f in sorted {
        if f.file != file {
            file = &f.file;
            out += &format!(
                "\n## {file}\n\n| line | severity | confidence | issue | agents | message |\n|---|---|---|---|---|---|\n"
            );
        }
        out += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            f.line,
            f.severity.sarif_level(),
            f.confidence.as_str(),
            f.issue,
            f.agents.join(", "),
            f.message.replace('|', "\\|").replace('\n', " ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reported(
        agent: &str,
        line: usize,
        rule: &str,
        severity: Severity,
        cwe: Option<&str>,
    ) -> Reported {
        Reported {
            agent: agent.into(),
            file: "src/app.py".into(),
            line,
            column: 12,
            rule: rule.into(),
            severity,
            confidence: Confidence::High,
            message: format!("{agent} says {rule}"),
            cwe: cwe.map(str::to_string),
            fix: None,
        }
    }

    #[test]
    fn two_agents_on_one_issue_merge_and_rank_first() {
        let (merged, duplicates) = merge(vec![
            reported("linter", 1, "E401", Severity::Error, None),
            reported(
                "security",
                5,
                "py-weak-hash",
                Severity::Warning,
                Some("CWE-327"),
            ),
            reported(
                "crypto-expert",
                5,
                "weak-hash",
                Severity::Error,
                Some("CWE-328"),
            ),
            reported(
                "security",
                4,
                "py-subprocess-shell",
                Severity::Error,
                Some("CWE-78"),
            ),
            reported("linter", 5, "E501", Severity::Warning, None),
        ]);
        assert_eq!(duplicates, 1);
        assert_eq!(merged.len(), 4);
        let weak = &merged[0];
        assert_eq!((weak.line, weak.issue.as_str()), (5, "weak-crypto"));
        assert_eq!(weak.agents, ["security", "crypto-expert"]);
        assert_eq!(weak.severity, Severity::Error);
        assert_eq!(weak.message, "crypto-expert says weak-hash");
        // The other errors, then the warning.
        assert_eq!(merged[3].issue, "e501");
        assert_eq!(merged[3].severity, Severity::Warning);
    }

    #[test]
    fn one_agents_reports_on_a_line_stay_apart() {
        let mut second = reported("linter", 7, "E231", Severity::Error, None);
        second.column = 20;
        let (merged, duplicates) = merge(vec![
            reported("linter", 7, "E231", Severity::Error, None),
            second,
        ]);
        assert_eq!((merged.len(), duplicates), (2, 0));
        assert_eq!((merged[0].column, merged[1].column), (12, 20));
    }

    #[test]
    fn rules_meet_without_their_language_prefix() {
        let a = reported("security", 3, "py-eval", Severity::Warning, None);
        let b = reported("linter", 3, "eval", Severity::Warning, None);
        assert_eq!(a.issue(), b.issue());
    }
}
