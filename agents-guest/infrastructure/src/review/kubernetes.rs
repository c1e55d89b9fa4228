//! Kubernetes manifests: every document through the API's checks ([`super::schema`]), then each
//! workload's pods checked for floating images, root, privileges and escalation, dangerous
//! capabilities, host paths and namespaces, missing limits and probes, and secrets in `env`.

use guest_support::Finding;

use super::image;
use super::rules::{finding, is_dangerous_capability};
use super::schema;
use crate::service::names_a_secret;
use crate::yaml::Node;

fn flag(node: Option<&Node>) -> Option<bool> {
    node.map(Node::is_true)
}

pub fn review(file: &str, doc: &Node) -> Vec<Finding> {
    let mut findings = schema::check(file, doc);
    let Some(kind) = doc.get("kind").and_then(Node::str) else {
        return findings;
    };
    let Some((pod, long_running)) = schema::pod_spec(kind, doc) else {
        return findings;
    };
    let object = doc
        .at(&["metadata", "name"])
        .and_then(Node::str)
        .unwrap_or("?");
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        if let Some(node) = pod.get(key).filter(|n| n.is_true()) {
            findings.push(finding(
                file,
                node.line,
                "host-namespace",
                format!("{kind} `{object}` sets `{key}: true`"),
                "remove it; expose ports through a Service instead",
            ));
        }
    }
    for volume in pod.get("volumes").map(Node::items).unwrap_or_default() {
        if let Some(path) = volume.get("hostPath") {
            let on = path.get("path").and_then(Node::str).unwrap_or("?");
            findings.push(finding(
                file,
                volume.line,
                "host-path",
                format!("{kind} `{object}` mounts the host's `{on}`"),
                "use an emptyDir, a ConfigMap or a PersistentVolumeClaim",
            ));
        }
    }
    let pod_context = pod.get("securityContext");
    let containers = pod.get("containers").map(Node::items).unwrap_or_default();
    let init = pod
        .get("initContainers")
        .map(Node::items)
        .unwrap_or_default();
    for (container, is_init) in containers
        .iter()
        .map(|c| (c, false))
        .chain(init.iter().map(|c| (c, true)))
    {
        let name = container.get("name").and_then(Node::str).unwrap_or("?");
        let at = container.line;
        if let Some(node) = container.get("image")
            && let Some(reference) = node.str()
        {
            findings.extend(image::check(file, node.line, reference));
        }
        let context = container.get("securityContext");
        if let Some(node) = context
            .and_then(|c| c.get("privileged"))
            .filter(|n| n.is_true())
        {
            findings.push(finding(
                file,
                node.line,
                "privileged",
                format!("container `{name}` is privileged"),
                "remove `privileged: true`; add the one capability it needs",
            ));
        }
        if let Some(node) = context
            .and_then(|c| c.get("allowPrivilegeEscalation"))
            .filter(|n| n.is_true())
        {
            findings.push(finding(
                file,
                node.line,
                "privilege-escalation",
                format!("container `{name}` allows privilege escalation"),
                "set `allowPrivilegeEscalation: false`",
            ));
        }
        for cap in context
            .and_then(|c| c.at(&["capabilities", "add"]))
            .map(Node::items)
            .unwrap_or_default()
        {
            if let Some(c) = cap.str().filter(|c| is_dangerous_capability(c)) {
                findings.push(finding(
                    file,
                    cap.line,
                    "dangerous-capability",
                    format!("container `{name}` adds `{c}`"),
                    "drop ALL and add only the narrow capability needed",
                ));
            }
        }
        let non_root = flag(context.and_then(|c| c.get("runAsNonRoot")))
            .or(flag(pod_context.and_then(|c| c.get("runAsNonRoot"))));
        let user = context
            .and_then(|c| c.get("runAsUser"))
            .or(pod_context.and_then(|c| c.get("runAsUser")))
            .and_then(Node::int);
        if user == Some(0) || (non_root != Some(true) && user.is_none()) {
            let why = if user == Some(0) {
                "runs as user 0".to_string()
            } else {
                "may run as root (no `runAsNonRoot: true`, no `runAsUser`)".to_string()
            };
            findings.push(finding(
                file,
                at,
                "runs-as-root",
                format!("container `{name}` {why}"),
                "set `securityContext.runAsNonRoot: true` and `runAsUser: 10001`",
            ));
        }
        let missing: Vec<String> = [
            ("requests", "cpu"),
            ("requests", "memory"),
            ("limits", "cpu"),
            ("limits", "memory"),
        ]
        .iter()
        .filter(|(group, resource)| container.at(&["resources", group, resource]).is_none())
        .map(|(group, resource)| format!("{group}.{resource}"))
        .collect();
        if !missing.is_empty() {
            findings.push(finding(
                file,
                at,
                "no-resource-limits",
                format!("container `{name}` sets no {}", missing.join(", ")),
                "set `resources.requests` and `resources.limits` for cpu and memory",
            ));
        }
        if long_running && !is_init {
            if container.get("readinessProbe").is_none() {
                findings.push(finding(file, at, "no-readiness-probe", format!("container `{name}` has no readinessProbe"), "add `readinessProbe.httpGet` on the server's ready endpoint (Tandem: `/readyz`)"));
            }
            if container.get("livenessProbe").is_none() {
                findings.push(finding(file, at, "no-liveness-probe", format!("container `{name}` has no livenessProbe"), "add `livenessProbe.httpGet` on the server's health endpoint (Tandem: `/healthz`)"));
            }
        }
        for var in container.get("env").map(Node::items).unwrap_or_default() {
            let Some(key) = var.get("name").and_then(Node::str) else {
                continue;
            };
            let literal = var
                .get("value")
                .and_then(Node::str)
                .is_some_and(|v| !v.is_empty());
            if names_a_secret(key) && literal {
                findings.push(finding(
                    file,
                    var.line,
                    "secret-in-env",
                    format!("container `{name}` has `{key}` in plain text"),
                    "use `valueFrom.secretKeyRef` with a Secret",
                ));
            }
        }
    }
    findings
}
