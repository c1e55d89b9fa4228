//! Compose files: each service checked for floating images, privileges, root, host mounts and
//! namespaces, dangerous capabilities, secrets in its environment, missing limits and health
//! checks; and the file's shape (a `services` mapping; each service with an image or a build).

use guest_support::Finding;

use super::image;
use super::rules::{finding, is_dangerous_capability};
use crate::service::names_a_secret;
use crate::yaml::{Node, Value};

/// Host paths whose mount gives a container the host.
const SENSITIVE: &[&str] = &[
    "/",
    "/etc",
    "/proc",
    "/sys",
    "/root",
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/lib/docker",
    "/dev",
];

pub fn review(file: &str, document: &Node) -> Vec<Finding> {
    let mut findings = Vec::new();
    let Some(services) = document
        .get("services")
        .filter(|s| matches!(s.value, Value::Mapping(_)))
    else {
        findings.push(finding(
            file,
            document.line,
            "schema",
            "a compose file needs a `services` mapping".into(),
            "add `services:` with one entry per container",
        ));
        return findings;
    };
    for (name, line, service) in services.entries() {
        let image_node = service.get("image");
        match (image_node, service.get("build")) {
            (None, None) => findings.push(finding(
                file,
                *line,
                "schema",
                format!("service `{name}` has neither `image` nor `build`"),
                "add `image: repository:tag` or `build: .`",
            )),
            (Some(node), None) => {
                if let Some(reference) = node.str() {
                    findings.extend(image::check(file, node.line, reference));
                }
            }
            _ => {} // built here: the image is named after the build
        }
        if let Some(node) = service.get("privileged").filter(|n| n.is_true()) {
            findings.push(finding(
                file,
                node.line,
                "privileged",
                format!("service `{name}` is privileged"),
                "remove `privileged: true`; add only the capability it needs with `cap_add`",
            ));
        }
        if let Some(node) = service.get("user")
            && let Some(user) = node.str()
            && matches!(user.split(':').next(), Some("root" | "0"))
        {
            findings.push(finding(
                file,
                node.line,
                "runs-as-root",
                format!("service `{name}` runs as `{user}`"),
                "run as an unprivileged user (`user: \"10001:10001\"`)",
            ));
        }
        for key in ["network_mode", "pid", "ipc"] {
            if let Some(node) = service.get(key).filter(|n| n.str() == Some("host")) {
                findings.push(finding(
                    file,
                    node.line,
                    "host-namespace",
                    format!("service `{name}` has `{key}: host`"),
                    "drop it: publish ports instead of sharing the host's namespaces",
                ));
            }
        }
        for cap in service.get("cap_add").map(Node::items).unwrap_or_default() {
            if let Some(c) = cap.str().filter(|c| is_dangerous_capability(c)) {
                findings.push(finding(
                    file,
                    cap.line,
                    "dangerous-capability",
                    format!("service `{name}` adds `{c}`"),
                    "add only the narrow capability needed, or none",
                ));
            }
        }
        for volume in service.get("volumes").map(Node::items).unwrap_or_default() {
            let source = match &volume.value {
                Value::Scalar(text, _) => text.split(':').next().map(str::to_string),
                Value::Mapping(_) if volume.get("type").and_then(Node::str) == Some("bind") => {
                    volume.get("source").and_then(Node::str).map(str::to_string)
                }
                _ => None,
            };
            if let Some(source) = source {
                let path = source.trim_end_matches('/');
                let path = if path.is_empty() { "/" } else { path };
                if SENSITIVE.contains(&path) {
                    findings.push(finding(file, volume.line, "host-path", format!("service `{name}` mounts the host's `{source}`"), "mount a named volume or a narrow directory instead; never the Docker socket"));
                }
            }
        }
        if let Some(env) = service.get("environment") {
            for (key, line, value) in env_entries(env) {
                if names_a_secret(&key) && !value.is_empty() && !value.starts_with('$') {
                    findings.push(finding(file, line, "secret-in-env", format!("service `{name}` has `{key}` in plain text"), "use compose `secrets:` (a file mounted at /run/secrets), or `${VAR}` from an untracked .env"));
                }
            }
        }
        let limited = service.at(&["deploy", "resources", "limits"]).is_some()
            || service.get("mem_limit").is_some()
            || service.get("cpus").is_some();
        if !limited {
            findings.push(finding(
                file,
                *line,
                "no-resource-limits",
                format!("service `{name}` has no CPU or memory limit"),
                "add `deploy.resources.limits` (`cpus`, `memory`)",
            ));
        }
        if service.get("healthcheck").is_none() {
            findings.push(finding(
                file,
                *line,
                "no-healthcheck",
                format!("service `{name}` has no health check"),
                "add `healthcheck:` with a `test` the image can run",
            ));
        }
    }
    findings
}

/// `environment:` as a mapping or as a list of `KEY=VALUE`.
fn env_entries(env: &Node) -> Vec<(String, usize, String)> {
    match &env.value {
        Value::Mapping(entries) => entries
            .iter()
            .map(|(k, line, v)| (k.clone(), *line, v.str().unwrap_or("").to_string()))
            .collect(),
        Value::Sequence(items) => items
            .iter()
            .filter_map(|item| {
                let (k, v) = item.str()?.split_once('=')?;
                Some((k.to_string(), item.line, v.to_string()))
            })
            .collect(),
        _ => Vec::new(),
    }
}
