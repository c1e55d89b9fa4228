//! `infrastructure`: deployment files for a Tandem host and a review of anyone's.
//!
//! - `generate` ([`generate`]): from a short [`service::Service`] description, a multi-stage
//!   non-root Dockerfile, a compose file, Kubernetes ConfigMap + Deployment + Service with probes on
//!   `/readyz` and `/healthz`, and a hardened systemd unit; the YAML is parsed back ([`yaml`]) and
//!   checked ([`review`]) before it is returned, and written into `dest` when one is granted.
//! - `review` ([`review`]): Dockerfiles, compose files and Kubernetes manifests against the rules of
//!   hadolint, kube-linter and checkov, and the API server's own schema checks; JSON or SARIF.

pub mod generate;
pub mod quantity;
pub mod review;
pub mod service;
pub mod yaml;

use guest_support::{Format, InlineFile, Summary, Tree, sarif};
use serde::Deserialize;
use serde_json::json;
use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task, to_json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Generate {
    #[serde(flatten)]
    service: service::Service,
    /// A directory granted read-write to write the files into.
    #[serde(default)]
    dest: Option<String>,
    /// Replace files in `dest` that differ from what is generated (otherwise refused).
    #[serde(default)]
    overwrite: bool,
}

fn generate(input: Generate) -> Result<Json, AgentError> {
    input.service.check()?;
    let files = generate::files(&input.service);
    // What we generate passes our own review, schema checks included.
    let mut problems = Vec::new();
    let mut reviewed = 0;
    for file in &files {
        if let Some((_, findings)) = review::file(&file.path, &file.content) {
            problems.extend(findings);
            reviewed += 1;
        }
    }
    if !problems.is_empty() {
        return Err(AgentError::failed(format!(
            "a generated file fails its own review: {}",
            serde_json::to_string(&problems).unwrap_or_default()
        )));
    }
    let mut written = Vec::new();
    if let Some(dest) = &input.dest {
        let dest = dest.trim_end_matches('/');
        let in_the_way: Vec<String> = files
            .iter()
            .map(|f| format!("{dest}/{}", f.path))
            .zip(&files)
            .filter(|(path, f)| std::fs::read(path).is_ok_and(|old| old != f.content.as_bytes()))
            .map(|(path, _)| path)
            .collect();
        if !in_the_way.is_empty() && !input.overwrite {
            return Err(AgentError::invalid(format!(
                "{} already exist(s) with other content: nothing written (`overwrite: true` replaces them)",
                in_the_way.join(", ")
            )));
        }
        for file in &files {
            let path = format!("{dest}/{}", file.path);
            if let Some((dir, _)) = path.rsplit_once('/') {
                std::fs::create_dir_all(dir)
                    .map_err(|e| AgentError::failed(format!("cannot create `{dir}`: {e}")))?;
            }
            std::fs::write(&path, &file.content)
                .map_err(|e| AgentError::failed(format!("cannot write `{path}`: {e}")))?;
            written.push(path);
        }
    }
    let placeholders = files
        .iter()
        .any(|f| f.content.contains(generate::DIGEST_PLACEHOLDER));
    to_json(&json!({
        "files": files,
        "written": written,
        "checks": {"reviewed": reviewed, "findings": 0},
        "todo": if placeholders { vec![format!("replace {} in the Dockerfile with the base images' digests", generate::DIGEST_PLACEHOLDER)] } else { vec![] },
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Review {
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    files: Vec<InlineFile>,
    #[serde(default)]
    format: Format,
}

fn review(input: Review) -> Result<Json, AgentError> {
    if input.paths.is_empty() && input.files.is_empty() {
        return Err(AgentError::invalid(
            "give `paths` (files or directories) or `files` (inline)",
        ));
    }
    let limits = review::limits();
    let mut tree = Tree::read_where(&input.paths, limits, &review::walked)?;
    for file in input.files {
        tree.add_inline(file.path, file.content, &limits);
    }
    let (files, bytes) = (tree.files.len(), tree.bytes);
    let (findings, reviewed, skipped) = review::tree(tree);
    if input.format == Format::Sarif {
        let rules: Vec<sarif::RuleInfo> = review::rules::RULES
            .iter()
            .map(|r| sarif::RuleInfo {
                id: r.id,
                description: r.description,
            })
            .collect();
        return to_json(&sarif::log(
            "tandem-infrastructure",
            env!("CARGO_PKG_VERSION"),
            &rules,
            &findings,
        ));
    }
    let reviewed: Vec<_> = reviewed
        .iter()
        .map(|(path, kind)| json!({"file": path, "kind": format!("{kind:?}").to_lowercase()}))
        .collect();
    to_json(&json!({
        "findings": findings,
        "reviewed": reviewed,
        "skipped": skipped,
        "summary": Summary::of(files, bytes, &findings),
    }))
}

struct Infrastructure;

impl Agent for Infrastructure {
    fn describe() -> AgentInfo {
        AgentInfo::new("infrastructure", "Generates deployment files for a Tandem host (Dockerfile, compose, Kubernetes, systemd) and reviews Dockerfiles, compose files and Kubernetes manifests")
            .operation(Operation::new("generate", "Dockerfile, compose file, Kubernetes ConfigMap + Deployment + Service and a systemd unit from a short service description; checked before returned, written into `dest` when given")
                .deterministic()
                .example(json!({"name": "tandem", "image": "ghcr.io/acme/tandem", "tag": "0.1.0", "port": 7878, "replicas": 2,
                                "resources": {"cpu": "250m", "memory": "128Mi", "cpu-limit": "1", "memory-limit": "512Mi"}})))
            .operation(Operation::new("review", "Finds floating tags, root, privileges, host paths and namespaces, missing limits and probes, secrets in env, ADD of URLs, apt-get without cleanup, and objects the API server would refuse; JSON or SARIF")
                .example(json!({"paths": ["deploy"], "format": "json"})))
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "generate" => generate(task.input()?),
            "review" => review(task.input()?),
            other => Err(AgentError::unsupported(other)),
        }
    }
}

tandem_sdk::export_agent!(Infrastructure);
