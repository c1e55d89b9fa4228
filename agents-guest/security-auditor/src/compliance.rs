//! `audit-tree`: compliance checks on a tree, each `pass` or `fail` with its evidence (or `error`
//! when it could not be decided): a license file identified by its SPDX id (and the licenses the
//! manifests declare, checked as SPDX expressions by the `spdx` crate), every manifest with its
//! lockfile and every requirement pinned, no committed secrets (SECURITY's `scan-secrets`, called
//! through the host), no file made world-writable by what the tree records (WASI shows no permission
//! bits: `chmod`/`umask` in scripts and Dockerfiles, `os.chmod`/`fs.chmod` modes, `defaultMode`),
//! and a CI configuration.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use guest_support::{InlineFile, SourceFile, Tree};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lockfile::Format;

/// One check's verdict.
#[derive(Serialize, Debug, Clone)]
pub struct Check {
    pub check: &'static str,
    /// `pass`, `fail`, or `error` (could not be decided).
    pub status: &'static str,
    pub evidence: Vec<String>,
}

impl Check {
    fn new(check: &'static str, pass: bool, evidence: Vec<String>) -> Check {
        Check {
            check,
            status: if pass { "pass" } else { "fail" },
            evidence,
        }
    }
}

/// Directories no check looks into.
pub fn ignored_dir(name: &str) -> bool {
    matches!(
        name,
        ".git" | "node_modules" | "target" | "__pycache__" | ".venv" | "venv" | ".tox"
    )
}

/// Every check over `tree`, whose named roots are `roots`.
pub fn checks(roots: &[String], tree: &Tree) -> Vec<Check> {
    vec![
        license(roots, &tree.files),
        pinned(&tree.files),
        secrets(&tree.files),
        world_writable(&tree.files),
        ci(&tree.files),
    ]
}

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn dir_of(path: &str) -> &str {
    path.rfind('/').map(|i| &path[..i]).unwrap_or("")
}

/// Whether `path` sits directly in one of the named roots.
fn at_root(roots: &[String], path: &str) -> bool {
    roots.iter().any(|root| {
        let root = root.trim_end_matches('/');
        dir_of(path) == root || (root == "." && !path.contains('/'))
    })
}

/// The SPDX id of a license text, by the sentences that identify each license.
pub fn identify(text: &str) -> Option<&'static str> {
    let t: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let has = |s: &str| t.contains(s);
    if let Some(at) = t.find("SPDX-License-Identifier:") {
        let id = t[at + 24..].split_whitespace().next().unwrap_or("");
        if let Some(license) = spdx::license_id(id) {
            return Some(license.name);
        }
    }
    Some(if has("Apache License") && has("Version 2.0") {
        "Apache-2.0"
    } else if has("Permission is hereby granted, free of charge, to any person obtaining a copy") {
        "MIT"
    } else if has("GNU AFFERO GENERAL PUBLIC LICENSE") {
        "AGPL-3.0"
    } else if has("GNU LESSER GENERAL PUBLIC LICENSE") {
        if has("Version 3") {
            "LGPL-3.0"
        } else {
            "LGPL-2.1"
        }
    } else if has("GNU GENERAL PUBLIC LICENSE") {
        if has("Version 3") {
            "GPL-3.0"
        } else {
            "GPL-2.0"
        }
    } else if has("Mozilla Public License Version 2.0") || has("Mozilla Public License, v. 2.0") {
        "MPL-2.0"
    } else if has("Redistribution and use in source and binary forms") {
        if has("Neither the name") || has("names of its contributors") {
            "BSD-3-Clause"
        } else {
            "BSD-2-Clause"
        }
    } else if has(
        "Permission to use, copy, modify, and/or distribute this software for any purpose",
    ) {
        "ISC"
    } else if has("This is free and unencumbered software released into the public domain") {
        "Unlicense"
    } else if has("Boost Software License - Version 1.0") {
        "BSL-1.0"
    } else if has("CC0 1.0 Universal") {
        "CC0-1.0"
    } else {
        return None;
    })
}

/// The license expressions the manifests declare, with the file each is in.
fn declared(files: &[SourceFile]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in files {
        let value = match name_of(&f.path) {
            "Cargo.toml" => toml::from_str::<toml::Value>(&f.text).ok().and_then(|doc| {
                let package = doc
                    .get("package")
                    .or_else(|| doc.get("workspace")?.get("package"))?;
                package.get("license")?.as_str().map(str::to_string)
            }),
            "package.json" => serde_json::from_str::<Value>(&f.text)
                .ok()
                .and_then(|doc| doc.get("license")?.as_str().map(str::to_string)),
            "pyproject.toml" => toml::from_str::<toml::Value>(&f.text).ok().and_then(|doc| {
                let license = doc.get("project")?.get("license")?;
                license
                    .as_str()
                    .or_else(|| license.get("text")?.as_str())
                    .map(str::to_string)
            }),
            _ => None,
        };
        if let Some(value) = value {
            out.push((f.path.clone(), value));
        }
    }
    out
}

fn license(roots: &[String], files: &[SourceFile]) -> Check {
    let mut evidence = Vec::new();
    let mut identified = false;
    for f in files.iter().filter(|f| at_root(roots, &f.path)) {
        let upper = name_of(&f.path).to_ascii_uppercase();
        if ["LICENSE", "LICENCE", "COPYING", "UNLICENSE"]
            .iter()
            .any(|p| upper.starts_with(p))
        {
            match identify(&f.text) {
                Some(id) => {
                    identified = true;
                    evidence.push(format!("{}: {id}", f.path));
                }
                None => evidence.push(format!(
                    "{}: a license file whose text is not identified",
                    f.path
                )),
            }
        }
    }
    if evidence.is_empty() {
        evidence.push("no LICENSE, LICENCE, COPYING or UNLICENSE file at the root".into());
    }
    for (file, expression) in declared(files) {
        match spdx::Expression::parse(&expression) {
            Ok(_) => evidence.push(format!(
                "{file} declares `{expression}` (a valid SPDX expression)"
            )),
            Err(e) => evidence.push(format!(
                "{file} declares `{expression}`: not an SPDX expression ({e})"
            )),
        }
    }
    Check::new("license", identified, evidence)
}

/// The lockfiles that serve a manifest: beside it or in a directory above it (a workspace).
fn pinned(files: &[SourceFile]) -> Check {
    let present: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let has_lock = |dir: &str, names: &[&str]| {
        let mut dir = dir.to_string();
        loop {
            for name in names {
                let path = if dir.is_empty() {
                    name.to_string()
                } else {
                    format!("{dir}/{name}")
                };
                if present.contains(path.as_str()) {
                    return Some(path);
                }
            }
            match dir.rfind('/') {
                Some(i) => dir.truncate(i),
                None if !dir.is_empty() => dir.clear(),
                None => return None,
            }
        }
    };
    let mut evidence = Vec::new();
    let mut pass = true;
    for f in files {
        let dir = dir_of(&f.path);
        let locks: &[&str] = match name_of(&f.path) {
            "Cargo.toml" => &["Cargo.lock"],
            "package.json" => &[
                "package-lock.json",
                "npm-shrinkwrap.json",
                "yarn.lock",
                "pnpm-lock.yaml",
                "bun.lock",
            ],
            "pyproject.toml" => &["poetry.lock", "uv.lock", "pdm.lock", "requirements.txt"],
            "go.mod" => &["go.sum"],
            "Gemfile" => &["Gemfile.lock"],
            _ => {
                if Format::of(&f.path) == Some(Format::Requirements)
                    && let Ok(packages) = Format::Requirements.parse(&f.path, &f.text)
                {
                    for p in packages.iter().filter(|p| p.version.is_none()) {
                        pass = false;
                        let allows = p.allows.as_deref().unwrap_or("");
                        evidence.push(format!(
                            "{}:{}: `{}{}` is not pinned (use `==`)",
                            p.file, p.line, p.name, allows
                        ));
                    }
                }
                continue;
            }
        };
        match has_lock(dir, locks) {
            Some(lock) => evidence.push(format!("{} is locked by {lock}", f.path)),
            None => {
                pass = false;
                evidence.push(format!("{} has no lockfile ({})", f.path, locks.join(", ")));
            }
        }
    }
    if evidence.is_empty() {
        evidence.push("no dependency manifests".into());
    }
    Check::new("dependencies-pinned", pass, evidence)
}

/// The budget of text handed to SECURITY in one call (its input limit is 64 MiB).
const SECRETS_BUDGET: usize = 48 * 1024 * 1024;

#[derive(Serialize)]
struct SecretsInput {
    files: Vec<InlineFile>,
}

#[derive(Deserialize)]
struct SecretsOutput {
    findings: Vec<SecretFinding>,
}

#[derive(Deserialize)]
struct SecretFinding {
    file: String,
    line: usize,
    rule: String,
}

fn secrets(files: &[SourceFile]) -> Check {
    let mut inline = Vec::new();
    let mut bytes = 0;
    let mut left_out = 0;
    for f in files {
        if bytes + f.text.len() > SECRETS_BUDGET {
            left_out += 1;
            continue;
        }
        bytes += f.text.len();
        inline.push(InlineFile {
            path: f.path.clone(),
            content: f.text.clone(),
        });
    }
    if inline.is_empty() {
        return Check::new(
            "no-committed-secrets",
            left_out == 0,
            vec![format!("no text file to scan ({left_out} past the budget)")],
        );
    }
    let input = SecretsInput { files: inline };
    match tandem_sdk::delegation::delegate::<_, SecretsOutput>("security", "scan-secrets", &input) {
        Ok(out) => {
            let mut evidence: Vec<String> = out
                .findings
                .iter()
                .take(50)
                .map(|f| format!("{}:{}: {}", f.file, f.line, f.rule))
                .collect();
            if out.findings.len() > 50 {
                evidence.push(format!("... and {} more", out.findings.len() - 50));
            }
            if evidence.is_empty() {
                evidence.push(format!(
                    "SECURITY's scan-secrets found none in {} files",
                    files.len() - left_out
                ));
            }
            if left_out > 0 {
                evidence.push(format!(
                    "{left_out} files past the {SECRETS_BUDGET}-byte budget not scanned"
                ));
            }
            Check::new("no-committed-secrets", out.findings.is_empty(), evidence)
        }
        Err(e) => Check {
            check: "no-committed-secrets",
            status: "error",
            evidence: vec![format!(
                "SECURITY's scan-secrets failed ({:?}): {}",
                e.kind, e.message
            )],
        },
    }
}

fn world_writable_patterns() -> &'static [Regex; 4] {
    static PATTERNS: OnceLock<[Regex; 4]> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        [
            // chmod 777 / 0666 / a+w / o+rwx (shell, Dockerfile RUN lines)
            Regex::new(
                r"\bchmod\s+(?:-[A-Za-z]+\s+)*(?:([0-7]{3,4})\b|([ugo]*[ao][ugo]*\+[rwxXst]*w))",
            )
            .unwrap(),
            // os.chmod(p, 0o777), fs.chmodSync(p, 0o666), fs.chmod(p, '777')
            Regex::new(r#"\bchmod(?:Sync)?\s*\([^,()]+,\s*(?:0o?|['"])?([0-7]{3,4})\b"#).unwrap(),
            // Kubernetes volumes: defaultMode: 0777 (octal) or 511 (decimal)
            Regex::new(r"\b(?:defaultMode|mode)\s*:\s*(0[0-7]{3}|[0-9]{3})\b").unwrap(),
            // umask 000, umask 0002 is fine; umask 0 / 000 / 0000 / 001 let others write
            Regex::new(r"\bumask\s*\(?\s*(?:0o)?([0-7]{1,4})\b").unwrap(),
        ]
    })
}

fn others_write_octal(digits: &str) -> bool {
    digits
        .chars()
        .last()
        .and_then(|c| c.to_digit(8))
        .is_some_and(|d| d & 2 != 0)
}

/// Files that set modes: scripts, Dockerfiles, Makefiles, code, and YAML (Kubernetes, CI).
fn sets_modes(path: &str) -> bool {
    let name = name_of(path);
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    name.starts_with("Dockerfile")
        || name.starts_with("Containerfile")
        || name == "Makefile"
        || matches!(
            ext,
            "sh" | "bash"
                | "zsh"
                | "ksh"
                | "mk"
                | "py"
                | "js"
                | "mjs"
                | "cjs"
                | "ts"
                | "go"
                | "rs"
                | "rb"
                | "pl"
                | "php"
                | "yaml"
                | "yml"
                | "tf"
                | "ps1"
        )
}

/// A comment line of any of those languages (shell's `#` too: a `RUN` line is not one).
fn comment(line: &str) -> bool {
    let t = line.trim_start();
    ["#", "//", "/*", "*", "--"]
        .iter()
        .any(|c| t.starts_with(c))
        && !t.starts_with("#!")
}

fn world_writable(files: &[SourceFile]) -> Check {
    let [shell, call, kube, umask] = world_writable_patterns();
    let mut evidence = Vec::new();
    for f in files.iter().filter(|f| sets_modes(&f.path)) {
        for (index, line) in f.text.lines().enumerate().filter(|(_, l)| !comment(l)) {
            let mut hit = false;
            if let Some(c) = shell.captures(line) {
                hit |=
                    c.get(1).is_some_and(|m| others_write_octal(m.as_str())) || c.get(2).is_some();
            }
            if let Some(c) = call.captures(line) {
                hit |= others_write_octal(&c[1]);
            }
            if line.contains("S_IWOTH") && line.contains("chmod") {
                hit = true;
            }
            if let Some(c) = kube.captures(line) {
                let text = &c[1];
                let mode = if text.starts_with('0') {
                    u32::from_str_radix(text, 8).ok()
                } else {
                    text.parse().ok()
                };
                hit |= mode.is_some_and(|m| m <= 0o7777 && m & 0o002 != 0);
            }
            if let Some(c) = umask.captures(line) {
                hit |= c[1]
                    .chars()
                    .last()
                    .and_then(|d| d.to_digit(8))
                    .is_some_and(|d| d & 2 == 0);
            }
            if hit {
                evidence.push(format!("{}:{}: {}", f.path, index + 1, line.trim()));
            }
        }
    }
    let pass = evidence.is_empty();
    if pass {
        evidence.push(format!(
            "no world-writable mode set in {} files",
            files.len()
        ));
    }
    Check::new("no-world-writable-files", pass, evidence)
}

fn ci(files: &[SourceFile]) -> Check {
    let found: Vec<String> = files
        .iter()
        .filter(|f| {
            let p = f.path.as_str();
            let name = name_of(p);
            (p.contains(".github/workflows/")
                && (name.ends_with(".yml") || name.ends_with(".yaml")))
                || p.contains(".circleci/")
                || p.contains(".buildkite/")
                || p.contains("/.ci/")
                || p.starts_with(".ci/")
                || matches!(
                    name,
                    ".gitlab-ci.yml"
                        | "Jenkinsfile"
                        | "azure-pipelines.yml"
                        | ".travis.yml"
                        | "bitbucket-pipelines.yml"
                        | ".drone.yml"
                        | ".woodpecker.yml"
                )
        })
        .map(|f| f.path.clone())
        .collect();
    let pass = !found.is_empty();
    let evidence = if pass {
        found
    } else {
        vec![
            "no CI configuration (.github/workflows, .gitlab-ci.yml, .circleci, Jenkinsfile, ...)"
                .into(),
        ]
    };
    Check::new("ci-config", pass, evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            text: text.into(),
        }
    }

    #[test]
    fn licenses_are_identified() {
        assert_eq!(
            identify(
                "                                 Apache License\n                           Version 2.0, January 2004"
            ),
            Some("Apache-2.0")
        );
        assert_eq!(
            identify(
                "MIT License\n\nPermission is hereby granted, free of charge, to any\nperson obtaining a copy"
            ),
            Some("MIT")
        );
        assert_eq!(
            identify("// SPDX-License-Identifier: MPL-2.0\n"),
            Some("MPL-2.0")
        );
        assert_eq!(identify("All rights reserved."), None);
    }

    #[test]
    fn only_files_that_set_modes_are_read_and_comments_are_not() {
        let docs = file("README.md", "run `chmod 777` and you are done\n");
        let commented = file("x.sh", "# chmod 777 was here\nchmod 755 bin\n");
        assert_eq!(world_writable(&[docs, commented]).status, "pass");
    }

    #[test]
    fn world_writable_modes_are_found_and_safe_ones_are_not() {
        let f = file(
            "Dockerfile",
            "RUN chmod 777 /data\nRUN chmod 755 /app\nRUN chmod -R a+w /tmp/x\nos.chmod(p, 0o666)\nos.chmod(p, 0o644)\n  defaultMode: 0777\n  defaultMode: 420\numask 000\numask 022\n",
        );
        let check = world_writable(&[f]);
        let lines: Vec<&str> = check
            .evidence
            .iter()
            .map(|e| e.split(':').nth(1).unwrap())
            .collect();
        assert_eq!(lines, ["1", "3", "4", "6", "8"]);
    }

    #[test]
    fn manifests_need_their_lockfiles() {
        let files = [
            file("Cargo.toml", "[workspace]\n"),
            file("Cargo.lock", ""),
            file("crates/a/Cargo.toml", ""),
            file("web/package.json", "{}"),
            file("requirements.txt", "flask>=2\nrequests==2.31.0\n"),
        ];
        let check = pinned(&files);
        assert_eq!(check.status, "fail");
        assert!(
            check
                .evidence
                .contains(&"crates/a/Cargo.toml is locked by Cargo.lock".to_string()),
            "{check:?}"
        );
        assert!(
            check
                .evidence
                .iter()
                .any(|e| e.starts_with("web/package.json has no lockfile"))
        );
        assert!(
            check
                .evidence
                .iter()
                .any(|e| e.starts_with("requirements.txt:1: `flask>=2`"))
        );
    }
}
