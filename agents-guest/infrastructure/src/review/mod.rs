//! `review`: existing Dockerfiles, compose files and Kubernetes manifests (named paths, walked
//! directories, inline files) checked for what hadolint, kube-linter and checkov report, each
//! finding with its file, line, rule, fix and the established linters' codes; JSON or SARIF.

mod compose;
mod dockerfile;
mod image;
mod kubernetes;
pub mod rules;
mod schema;

use guest_support::{Finding, Skipped, Tree, TreeLimits};

use crate::yaml::{self, Node};

/// What a file is, from its name and (for YAML) its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dockerfile,
    Compose,
    Kubernetes,
    /// YAML that does not parse, so neither compose nor Kubernetes can be told.
    Yaml,
}

fn base_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase()
}

fn is_dockerfile(name: &str) -> bool {
    name == "dockerfile"
        || name == "containerfile"
        || name.starts_with("dockerfile.")
        || name.ends_with(".dockerfile")
}

fn is_yaml(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// Whether a walk reads `path`: directories (not `.git`, `node_modules`, `target`), Dockerfiles and
/// YAML.
pub fn walked(path: &str, is_dir: bool) -> bool {
    let name = base_name(path);
    if is_dir {
        return !matches!(name.as_str(), ".git" | "node_modules" | "target" | "vendor");
    }
    is_dockerfile(&name) || is_yaml(&name)
}

/// The kind of a YAML stream: compose when its document has `services`, Kubernetes when its
/// documents have `kind`.
fn yaml_kind(documents: &[Node]) -> Option<Kind> {
    if documents.len() == 1 && documents[0].get("services").is_some() {
        return Some(Kind::Compose);
    }
    documents
        .iter()
        .any(|d| d.get("kind").is_some() || d.get("apiVersion").is_some())
        .then_some(Kind::Kubernetes)
}

/// Reviews one file; `None` when it is none of the three kinds.
pub fn file(path: &str, text: &str) -> Option<(Kind, Vec<Finding>)> {
    let name = base_name(path);
    if is_dockerfile(&name) {
        return Some((Kind::Dockerfile, dockerfile::review(path, text)));
    }
    if !is_yaml(&name) {
        return None;
    }
    let documents = match yaml::parse(text) {
        Ok(documents) => documents,
        Err(e) => {
            let finding = rules::finding(
                path,
                e.line,
                "syntax-error",
                format!("the YAML does not parse: {}", e.message),
                "fix the syntax",
            );
            return Some((Kind::Yaml, vec![finding]));
        }
    };
    let kind = yaml_kind(&documents)?;
    let findings = documents
        .iter()
        .filter(|d| matches!(d.value, yaml::Value::Mapping(_)))
        .flat_map(|d| match kind {
            Kind::Compose => compose::review(path, d),
            _ => kubernetes::review(path, d),
        })
        .collect();
    Some((kind, findings))
}

/// Every file of `tree` reviewed; files that are none of the three kinds are skipped.
pub fn tree(tree: Tree) -> (Vec<Finding>, Vec<(String, Kind)>, Vec<Skipped>) {
    let mut findings = Vec::new();
    let mut reviewed = Vec::new();
    let mut skipped = tree.skipped;
    for source in tree.files {
        match file(&source.path, &source.text) {
            Some((kind, found)) => {
                findings.extend(found);
                reviewed.push((source.path, kind));
            }
            None => skipped.push(Skipped {
                file: source.path,
                reason: "not a Dockerfile, a compose file or a Kubernetes manifest".into(),
            }),
        }
    }
    findings.sort_by(|a, b| (&a.file, a.line, &a.rule).cmp(&(&b.file, b.line, &b.rule)));
    (findings, reviewed, skipped)
}

/// The bounds of a review.
pub fn limits() -> TreeLimits {
    TreeLimits {
        max_file_bytes: 1024 * 1024,
        max_files: 10_000,
        max_total_bytes: 64 * 1024 * 1024,
    }
}
