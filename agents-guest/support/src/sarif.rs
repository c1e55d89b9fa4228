//! SARIF 2.1.0, the format code-scanning tools (GitHub code scanning, IDEs) consume: one run, the
//! tool's rules, and one result per finding with its physical location.

use serde_json::{Value, json};

use crate::finding::Finding;

/// A rule as SARIF's `tool.driver.rules` lists it.
pub struct RuleInfo<'a> {
    /// The rule's code.
    pub id: &'a str,
    /// One line about it.
    pub description: &'a str,
}

/// A SARIF 2.1.0 log of one run of `tool` (name and version) with `findings`. Rules are the ones
/// given, plus any code a finding uses that is not among them (custom rules).
pub fn log(tool: &str, version: &str, rules: &[RuleInfo], findings: &[Finding]) -> Value {
    let mut ids: Vec<String> = rules.iter().map(|r| r.id.to_string()).collect();
    let mut rule_values: Vec<Value> = rules
        .iter()
        .map(|r| json!({"id": r.id, "shortDescription": {"text": r.description}}))
        .collect();
    for finding in findings {
        if !ids.contains(&finding.rule) {
            ids.push(finding.rule.clone());
            rule_values
                .push(json!({"id": finding.rule, "shortDescription": {"text": finding.message}}));
        }
    }
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut result = json!({
                "ruleId": f.rule,
                "ruleIndex": ids.iter().position(|id| *id == f.rule).unwrap_or(0),
                "level": f.severity.sarif_level(),
                "message": {"text": f.message},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": uri(&f.file)},
                    "region": {"startLine": f.line, "startColumn": f.column},
                }}],
            });
            if let Some(fp) = f.extra.get("fingerprint") {
                result["partialFingerprints"] = json!({"primaryLocationLineHash/v1": fp});
            }
            let properties: serde_json::Map<String, Value> = f
                .extra
                .iter()
                .filter(|(k, _)| k.as_str() != "fingerprint")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !properties.is_empty() {
                result["properties"] = Value::Object(properties);
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": tool,
                "version": version,
                "informationUri": "https://github.com/tandem/tandem",
                "rules": rule_values,
            }},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    })
}

/// A relative URI for a path: no leading `/`, spaces and `%` escaped.
fn uri(path: &str) -> String {
    path.trim_start_matches('/')
        .replace('%', "%25")
        .replace(' ', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;

    #[test]
    fn one_result_per_finding_with_its_region() {
        let findings = [Finding::new(
            "src/a b.py",
            3,
            5,
            "E501",
            Severity::Warning,
            "too long",
        )];
        let log = log(
            "linter",
            "0.2.0",
            &[RuleInfo {
                id: "E501",
                description: "line too long",
            }],
            &findings,
        );
        assert_eq!(log["version"], "2.1.0");
        let result = &log["runs"][0]["results"][0];
        assert_eq!(result["ruleId"], "E501");
        assert_eq!(result["level"], "warning");
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], "src/a%20b.py");
        assert_eq!(location["region"]["startLine"], 3);
        assert_eq!(location["region"]["startColumn"], 5);
    }
}
