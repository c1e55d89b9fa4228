//! npm's lockfiles: `package-lock.json` / `npm-shrinkwrap.json` (v1's nested `dependencies`, v2/v3's
//! flat `packages`) and `yarn.lock` (v1's and Berry's formats). Linked workspace packages and the
//! root are left out; everything installed (dev dependencies too, as `npm audit` does) is in.

use serde_json::Value;

use super::{LockError, Package};
use crate::ecosystem::Ecosystem;

pub fn package_lock(file: &str, text: &str) -> Result<Vec<Package>, LockError> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| LockError::new(file, e.line(), format!("not JSON: {e}")))?;
    let mut found = Vec::new();
    if let Some(packages) = doc.get("packages").and_then(Value::as_object) {
        for (key, entry) in packages {
            if key.is_empty() || entry.get("link").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let Some(version) = entry.get("version").and_then(Value::as_str) else {
                continue;
            };
            let name = entry
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_else(|| key.rsplit("node_modules/").next().unwrap_or(key));
            if !key.contains("node_modules/") {
                continue; // a workspace member, not an installed package
            }
            found.push(package(file, text, name, version, key));
        }
    } else if let Some(dependencies) = doc.get("dependencies").and_then(Value::as_object) {
        nested(file, text, dependencies, &mut found);
    } else if doc.get("lockfileVersion").is_none() {
        return Err(LockError::new(
            file,
            1,
            "no `lockfileVersion`, `packages` or `dependencies`: not an npm lockfile",
        ));
    }
    found.sort_by_key(|p| p.line);
    Ok(found)
}

fn nested(
    file: &str,
    text: &str,
    dependencies: &serde_json::Map<String, Value>,
    found: &mut Vec<Package>,
) {
    for (name, entry) in dependencies {
        if let Some(version) = entry.get("version").and_then(Value::as_str)
            && !version.starts_with("file:")
            && !version.starts_with("link:")
        {
            found.push(package(file, text, name, version, name));
        }
        if let Some(inner) = entry.get("dependencies").and_then(Value::as_object) {
            nested(file, text, inner, found);
        }
    }
}

fn package(file: &str, text: &str, name: &str, version: &str, key: &str) -> Package {
    let quoted = format!("\"{key}\": {{");
    let line = text
        .find(&quoted)
        .map(|at| super::line_of(text, at))
        .unwrap_or(1);
    Package {
        ecosystem: Ecosystem::Npm,
        name: name.to_string(),
        version: Some(version.to_string()),
        allows: None,
        file: file.to_string(),
        line,
    }
}

/// `yarn.lock`: blocks headed by their specifiers (`lodash@^4.17.15, lodash@^4.17.20:` in v1,
/// `"lodash@npm:^4.17.15":` in Berry) with an indented `version "x"` (v1) or `version: x` (Berry).
pub fn yarn_lock(file: &str, text: &str) -> Result<Vec<Package>, LockError> {
    let mut found = Vec::new();
    let mut current: Option<(String, usize)> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(' ') {
            let Some(header) = line.trim_end().strip_suffix(':') else {
                return Err(LockError::new(
                    file,
                    number,
                    format!(
                        "expected a `specifier:` block header, found `{}`",
                        line.trim()
                    ),
                ));
            };
            let first = header.split(',').next().unwrap_or(header);
            let spec = first.trim().trim_matches('"');
            current = match spec.get(1..).and_then(|rest| rest.find('@')) {
                Some(at) if spec != "__metadata" => Some((spec[..at + 1].to_string(), number)),
                _ => None,
            };
            if spec.contains("@workspace:") || spec.contains("@link:") || spec.contains("@file:") {
                current = None;
            }
            continue;
        }
        let Some((name, header_line)) = &current else {
            continue;
        };
        let trimmed = line.trim();
        if line.starts_with("  ") && !line.starts_with("   ") {
            let value = trimmed
                .strip_prefix("version ")
                .or_else(|| trimmed.strip_prefix("version: "));
            if let Some(value) = value {
                let version = value.trim().trim_matches('"');
                if version.is_empty() {
                    return Err(LockError::new(file, number, "an empty `version`"));
                }
                if version != "0.0.0-use.local" {
                    found.push(Package {
                        ecosystem: Ecosystem::Npm,
                        name: name.clone(),
                        version: Some(version.to_string()),
                        allows: None,
                        file: file.to_string(),
                        line: *header_line,
                    });
                }
                current = None;
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_lock_v3_and_v1() {
        let v3 = r#"{
  "lockfileVersion": 3,
  "packages": {
    "": {"name": "app", "dependencies": {"minimist": "^1.2.0"}},
    "node_modules/minimist": {"version": "1.2.5"},
    "node_modules/a/node_modules/@scope/b": {"version": "2.0.0"},
    "packages/web": {"version": "0.1.0"},
    "node_modules/web": {"resolved": "packages/web", "link": true}
  }
}"#;
        let found = package_lock("package-lock.json", v3).unwrap();
        let names: Vec<_> = found.iter().map(|p| (p.name.as_str(), p.line)).collect();
        assert_eq!(names, [("minimist", 5), ("@scope/b", 6)]);
        let v1 = r#"{"lockfileVersion": 1, "dependencies": {"a": {"version": "1.0.0", "dependencies": {"minimist": {"version": "0.0.8"}}}}}"#;
        let found = package_lock("package-lock.json", v1).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(package_lock("p", "{\n  \"a\": [\n}").unwrap_err().line, 3);
    }

    #[test]
    fn yarn_v1_and_berry() {
        let v1 = "# yarn lockfile v1\n\n\n\"@babel/code-frame@^7.0.0\", \"@babel/code-frame@^7.10.4\":\n  version \"7.12.13\"\n  resolved \"https://x\"\n\nlodash@^4.17.15:\n  version \"4.17.20\"\n  dependencies:\n    version \"9\"\n";
        let found = yarn_lock("yarn.lock", v1).unwrap();
        let got: Vec<_> = found
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_deref().unwrap(), p.line))
            .collect();
        assert_eq!(
            got,
            [
                ("@babel/code-frame", "7.12.13", 4),
                ("lodash", "4.17.20", 8)
            ]
        );
        let berry = "__metadata:\n  version: 6\n\n\"lodash@npm:^4.17.15\":\n  version: 4.17.21\n  resolution: \"lodash@npm:4.17.21\"\n\n\"app@workspace:.\":\n  version: 0.0.0-use.local\n";
        let found = yarn_lock("yarn.lock", berry).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].version.as_deref(), Some("4.17.21"));
        assert_eq!(
            yarn_lock("yarn.lock", "lodash@^4\n  version \"1\"\n")
                .unwrap_err()
                .line,
            1
        );
    }
}
