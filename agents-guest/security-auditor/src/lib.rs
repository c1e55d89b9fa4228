//! `security-auditor`: dependencies against OSV advisories ([`audit`], [`osv`], [`lockfile`],
//! [`ecosystem`]), compliance checks on a tree ([`compliance`]), and a scored report ([`report`]).
//!
//! Operations: `audit-deps` (lockfiles in granted trees or inline, advisories from granted
//! directories), `audit-tree` (license, pinning, secrets through SECURITY, world-writable modes,
//! CI), `report` (both, scored, as JSON, Markdown or SARIF).

pub mod audit;
pub mod compliance;
pub mod ecosystem;
pub mod lockfile;
pub mod osv;
pub mod report;

use std::collections::HashSet;

use guest_support::{InlineFile, Skipped, Tree, TreeLimits};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task};

use audit::{Counts, Finding, Inventory, Lockfile, Upgrade};
use compliance::Check;
use lockfile::Format;

/// The input of `audit-deps` (and of `report`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct DepsInput {
    /// Trees or lockfiles in granted directories.
    #[serde(default)]
    paths: Vec<String>,
    /// Inline lockfiles: the name (`Cargo.lock`, `requirements.txt`, ...) picks the format.
    #[serde(default)]
    files: Vec<InlineFile>,
    /// Directories (or files) of OSV advisories, granted read-only.
    #[serde(default)]
    advisories: Vec<String>,
    /// Advisory ids (or aliases) to leave out, as `cargo audit --ignore` does.
    #[serde(default)]
    ignore: Vec<String>,
    /// `report` only: run `audit-tree`'s checks on `paths` too (default true)...
    #[serde(default)]
    tree: Option<bool>,
    /// ... leaving out paths these globs match.
    #[serde(default)]
    allow: Vec<String>,
    /// "json" (default), "sarif", or for `report` "markdown".
    #[serde(default)]
    format: OutputFormat,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum OutputFormat {
    #[default]
    Json,
    Sarif,
    Markdown,
}

#[derive(Serialize)]
struct DepsOutput {
    findings: Vec<Finding>,
    upgrades: Vec<Upgrade>,
    counts: Counts,
    packages: usize,
    lockfiles: Vec<Lockfile>,
    /// Lockfiles that did not parse, each with its line.
    errors: Vec<lockfile::LockError>,
    advisories: AdvisoryStats,
    /// Files not read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<Skipped>,
}

#[derive(Serialize)]
struct AdvisoryStats {
    /// Advisory files read.
    files: usize,
    /// Of those, about a package that was audited.
    relevant: usize,
    withdrawn: usize,
    /// Files that are not OSV advisories.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<Skipped>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TreeInput {
    paths: Vec<String>,
    /// Globs of paths the checks leave out, e.g. `tests/fixtures/**`.
    #[serde(default)]
    allow: Vec<String>,
}

#[derive(Serialize)]
struct TreeOutput {
    checks: Vec<Check>,
    passed: usize,
    failed: usize,
    files: usize,
}

struct SecurityAuditor;

impl Agent for SecurityAuditor {
    fn describe() -> AgentInfo {
        AgentInfo::new("security-auditor", "Audits dependencies against OSV advisories and a tree against compliance checks")
            .operation(
                Operation::new("audit-deps", "Cargo.lock, package-lock.json, yarn.lock, requirements.txt, poetry.lock, uv.lock, pyproject.toml and go.sum against OSV advisories")
                    .example(json!({"paths": ["src"], "advisories": ["advisories"]})),
            )
            .operation(
                Operation::new("audit-tree", "License, pinned dependencies, committed secrets (through SECURITY), world-writable modes, CI")
                    .example(json!({"paths": ["src"], "allow": ["tests/fixtures/**"]})),
            )
            .operation(
                Operation::new("report", "Both audits with a risk score, as JSON, Markdown or SARIF")
                    .example(json!({"paths": ["src"], "advisories": ["advisories"], "format": "markdown"})),
            )
            .capability("files:read")
            .capability("delegate:security")
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "audit-deps" => audit_deps(task.input()?),
            "audit-tree" => audit_tree(task.input()?),
            "report" => report(task.input()?),
            other => Err(AgentError::unsupported(other)),
        }
    }
}

tandem_sdk::export_agent!(SecurityAuditor);

fn keep_lockfiles(path: &str, is_dir: bool) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    if is_dir {
        !compliance::ignored_dir(name)
    } else {
        Format::of(path).is_some()
    }
}

/// Reads and parses every lockfile the input names.
fn inventory(
    paths: &[String],
    files: Vec<InlineFile>,
) -> Result<(Inventory, Vec<Skipped>), AgentError> {
    let limits = TreeLimits::default();
    let mut tree = Tree::read_where(paths, limits, &keep_lockfiles)?;
    for file in files {
        tree.add_inline(file.path, file.content, &limits);
    }
    let mut inv = Inventory::default();
    let mut seen = HashSet::new();
    let dir_of = |path: &str| path.rfind('/').map_or("", |i| &path[..i]).to_string();
    let python_locked: HashSet<String> = tree
        .files
        .iter()
        .filter(|f| {
            matches!(
                Format::of(&f.path),
                Some(Format::Requirements | Format::PoetryLock | Format::UvLock)
            )
        })
        .map(|f| dir_of(&f.path))
        .collect();
    let mut skipped = tree.skipped;
    for file in &tree.files {
        if Format::of(&file.path) == Some(Format::Pyproject)
            && python_locked.contains(&dir_of(&file.path))
        {
            skipped.push(Skipped {
                file: file.path.clone(),
                reason: "a Python lockfile beside it pins the versions".into(),
            });
            continue;
        }
        let Some(format) = Format::of(&file.path) else {
            return Err(AgentError::invalid(format!(
                "`{}` is not a lockfile this agent reads (Cargo.lock, package-lock.json, npm-shrinkwrap.json, yarn.lock, requirements*.txt, poetry.lock, uv.lock, pyproject.toml, go.sum)",
                file.path
            )));
        };
        match format.parse(&file.path, &file.text) {
            Ok(packages) => {
                inv.lockfiles.push(Lockfile {
                    file: file.path.clone(),
                    packages: packages.len(),
                });
                for p in packages {
                    let key = (
                        p.ecosystem,
                        p.name.clone(),
                        p.version.clone(),
                        p.file.clone(),
                    );
                    if seen.insert(key) {
                        inv.packages.push(p);
                    }
                }
            }
            Err(e) => inv.errors.push(e),
        }
    }
    if inv.lockfiles.is_empty() {
        if let Some(e) = inv.errors.first() {
            return Err(AgentError::invalid(format!(
                "{}:{}: {}",
                e.file, e.line, e.message
            )));
        }
        return Err(AgentError::invalid(format!(
            "no lockfile in {:?} (Cargo.lock, package-lock.json, yarn.lock, requirements*.txt, poetry.lock, uv.lock, pyproject.toml, go.sum)",
            paths
        )));
    }
    Ok((inv, skipped))
}

fn run_deps(input: &mut DepsInput) -> Result<DepsOutput, AgentError> {
    if input.paths.is_empty() && input.files.is_empty() {
        return Err(AgentError::invalid(
            "give `paths` (granted trees or lockfiles) or `files` (inline lockfiles)",
        ));
    }
    if input.advisories.is_empty() {
        return Err(AgentError::invalid(
            "give `advisories`: granted directories of OSV advisories (the sandbox has no network)",
        ));
    }
    let (inv, skipped) = inventory(&input.paths, std::mem::take(&mut input.files))?;
    let wanted: HashSet<_> = inv
        .packages
        .iter()
        .map(|p| (p.ecosystem, p.ecosystem.normalize(&p.name)))
        .collect();
    let db = osv::Database::load(&input.advisories, &wanted)?;
    let ignore: HashSet<&str> = input.ignore.iter().map(String::as_str).collect();
    let mut findings: Vec<Finding> = audit::matches(&inv.packages, &db)
        .into_iter()
        .filter(|f| {
            !ignore.contains(f.id.as_str())
                && !f.aliases.iter().any(|a| ignore.contains(a.as_str()))
        })
        .collect();
    findings.sort_by(|a, b| {
        (a.file.as_str(), a.line, a.id.as_str()).cmp(&(b.file.as_str(), b.line, b.id.as_str()))
    });
    Ok(DepsOutput {
        upgrades: audit::upgrades(&findings),
        counts: audit::counts(&findings),
        packages: inv.packages.len(),
        lockfiles: inv.lockfiles,
        errors: inv.errors,
        advisories: AdvisoryStats {
            files: db.files,
            relevant: db.advisories.len(),
            withdrawn: db.withdrawn,
            skipped: db.skipped,
        },
        skipped,
        findings,
    })
}

fn audit_deps(mut input: DepsInput) -> Result<Json, AgentError> {
    let out = run_deps(&mut input)?;
    match input.format {
        OutputFormat::Json => tandem_sdk::to_json(&out),
        OutputFormat::Sarif => tandem_sdk::to_json(&report::sarif(version(), &out.findings, &[])),
        OutputFormat::Markdown => Err(AgentError::invalid(
            "`markdown` is a format of `report`; `audit-deps` gives json or sarif",
        )),
    }
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn tree_checks(paths: &[String], allow: &[String]) -> Result<(Vec<Check>, usize), AgentError> {
    if paths.is_empty() {
        return Err(AgentError::invalid(
            "give `paths`: the granted trees to check",
        ));
    }
    guest_support::glob::check(allow)?;
    let keep = |path: &str, is_dir: bool| {
        !is_dir || !compliance::ignored_dir(path.rsplit('/').next().unwrap_or(path))
    };
    let mut tree = Tree::read_where(paths, TreeLimits::default(), &keep)?;
    tree.leave_out(allow);
    Ok((compliance::checks(paths, &tree), tree.files.len()))
}

fn audit_tree(input: TreeInput) -> Result<Json, AgentError> {
    let (checks, files) = tree_checks(&input.paths, &input.allow)?;
    tandem_sdk::to_json(&TreeOutput {
        passed: checks.iter().filter(|c| c.status == "pass").count(),
        failed: checks.iter().filter(|c| c.status == "fail").count(),
        checks,
        files,
    })
}

fn report(mut input: DepsInput) -> Result<Json, AgentError> {
    let deps = run_deps(&mut input)?;
    let checks = if input.tree.unwrap_or(true) && !input.paths.is_empty() {
        tree_checks(&input.paths, &input.allow)?.0
    } else {
        Vec::new()
    };
    let score = report::score(&deps.findings, &checks);
    match input.format {
        OutputFormat::Json => tandem_sdk::to_json(&json!({
            "score": score,
            "dependencies": deps,
            "checks": checks,
        })),
        OutputFormat::Markdown => tandem_sdk::to_json(&json!({
            "score": score,
            "markdown": report::markdown(&score, &deps.findings, &checks),
        })),
        OutputFormat::Sarif => {
            tandem_sdk::to_json(&report::sarif(version(), &deps.findings, &checks))
        }
    }
}
