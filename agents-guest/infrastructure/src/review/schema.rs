//! The Kubernetes API's own checks on the objects we know, as `kubectl apply --dry-run=server`
//! would report them: `apiVersion` and `kind` served, names valid, a workload's selector matching
//! its pods' labels, containers with a name and an image, ports in range, probes on declared ports,
//! quantities that parse with requests within limits, a Service with ports, a ConfigMap's data all
//! strings.

use guest_support::Finding;

use super::rules::finding;
use crate::quantity;
use crate::service::is_dns_label;
use crate::yaml::{Node, Value};

/// The group/version each kind is served at (the current ones; removed versions are errors).
const SERVED: &[(&str, &str)] = &[
    ("Pod", "v1"),
    ("Service", "v1"),
    ("ConfigMap", "v1"),
    ("Secret", "v1"),
    ("Namespace", "v1"),
    ("ServiceAccount", "v1"),
    ("PersistentVolumeClaim", "v1"),
    ("Deployment", "apps/v1"),
    ("StatefulSet", "apps/v1"),
    ("DaemonSet", "apps/v1"),
    ("ReplicaSet", "apps/v1"),
    ("Job", "batch/v1"),
    ("CronJob", "batch/v1"),
    ("Ingress", "networking.k8s.io/v1"),
    ("NetworkPolicy", "networking.k8s.io/v1"),
    ("HorizontalPodAutoscaler", "autoscaling/v2"),
    ("PodDisruptionBudget", "policy/v1"),
    ("Role", "rbac.authorization.k8s.io/v1"),
    ("RoleBinding", "rbac.authorization.k8s.io/v1"),
    ("ClusterRole", "rbac.authorization.k8s.io/v1"),
    ("ClusterRoleBinding", "rbac.authorization.k8s.io/v1"),
];

/// The pod template of a workload, and whether it runs until stopped (probes apply).
pub fn pod_spec<'a>(kind: &str, doc: &'a Node) -> Option<(&'a Node, bool)> {
    let (path, long_running): (&[&str], bool) = match kind {
        "Pod" => (&["spec"], true),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => {
            (&["spec", "template", "spec"], true)
        }
        "Job" => (&["spec", "template", "spec"], false),
        "CronJob" => (&["spec", "jobTemplate", "spec", "template", "spec"], false),
        _ => return None,
    };
    doc.at(path).map(|spec| (spec, long_running))
}

fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(is_dns_label)
}

struct Check<'f> {
    file: &'f str,
    findings: Vec<Finding>,
}

impl Check<'_> {
    fn fail(&mut self, line: usize, message: String, fix: &str) {
        self.findings
            .push(finding(self.file, line, "schema", message, fix));
    }
}

pub fn check(file: &str, doc: &Node) -> Vec<Finding> {
    let mut c = Check {
        file,
        findings: Vec::new(),
    };
    let api = doc.get("apiVersion").and_then(Node::str);
    let Some(kind) = doc.get("kind").and_then(Node::str) else {
        c.fail(
            doc.line,
            "the object has no `kind`".into(),
            "add `kind:` (and `apiVersion:`)",
        );
        return c.findings;
    };
    let Some(api) = api else {
        c.fail(
            doc.line,
            format!("the {kind} has no `apiVersion`"),
            "add `apiVersion:`",
        );
        return c.findings;
    };
    if let Some((_, served)) = SERVED.iter().find(|(k, _)| *k == kind)
        && api != *served
    {
        let line = doc.get("apiVersion").map_or(doc.line, |n| n.line);
        c.fail(
            line,
            format!("{kind} is not served at `{api}`"),
            &format!("use `apiVersion: {served}`"),
        );
    }
    let name_node = doc.at(&["metadata", "name"]);
    match name_node.and_then(Node::str) {
        None => c.fail(
            doc.line,
            format!("the {kind} has no `metadata.name`"),
            "add `metadata.name`",
        ),
        Some(name) => {
            let ok = if kind == "Service" {
                is_dns_label(name) && name.starts_with(|ch: char| ch.is_ascii_lowercase())
            } else {
                is_dns_subdomain(name)
            };
            if !ok {
                c.fail(
                    name_node.map_or(doc.line, |n| n.line),
                    format!(
                        "`{name}` is not a valid {kind} name (lower-case letters, digits, `-`{})",
                        if kind == "Service" {
                            ", starting with a letter, at most 63"
                        } else {
                            ", `.`"
                        }
                    ),
                    "rename it",
                );
            }
        }
    }
    match kind {
        "Service" => service(&mut c, doc),
        "ConfigMap" => config_map(&mut c, doc),
        _ => {}
    }
    if let Some((spec, _)) = pod_spec(kind, doc) {
        if matches!(
            kind,
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
        ) {
            selector(&mut c, kind, doc);
        }
        pod(&mut c, spec);
    }
    c.findings
}

fn selector(c: &mut Check, kind: &str, doc: &Node) {
    let Some(match_labels) = doc.at(&["spec", "selector", "matchLabels"]) else {
        if doc.at(&["spec", "selector", "matchExpressions"]).is_none() {
            c.fail(
                doc.get("spec").map_or(doc.line, |n| n.line),
                format!("the {kind} has no `spec.selector`"),
                "add `spec.selector.matchLabels` equal to the pod template's labels",
            );
        }
        return;
    };
    let labels = doc.at(&["spec", "template", "metadata", "labels"]);
    for (key, line, value) in match_labels.entries() {
        let label = labels.and_then(|l| l.get(key)).and_then(Node::str);
        if label != value.str() {
            c.fail(
                *line,
                format!(
                    "the selector's `{key}: {}` is not among the pod template's labels",
                    value.str().unwrap_or("")
                ),
                "make `spec.template.metadata.labels` include every `matchLabels` entry",
            );
        }
    }
}

fn pod(c: &mut Check, spec: &Node) {
    let containers = spec.get("containers").map(Node::items).unwrap_or_default();
    if containers.is_empty() {
        c.fail(
            spec.line,
            "the pod has no `containers`".into(),
            "add at least one container with a name and an image",
        );
    }
    for container in containers.iter().chain(
        spec.get("initContainers")
            .map(Node::items)
            .unwrap_or_default(),
    ) {
        let name = container.get("name").and_then(Node::str);
        match name {
            None => c.fail(
                container.line,
                "a container has no `name`".into(),
                "add `name:`",
            ),
            Some(n) if !is_dns_label(n) => c.fail(
                container.line,
                format!("the container name `{n}` is not a DNS-1123 label"),
                "rename it",
            ),
            _ => {}
        }
        if container
            .get("image")
            .and_then(Node::str)
            .is_none_or(str::is_empty)
        {
            c.fail(
                container.line,
                format!("the container `{}` has no `image`", name.unwrap_or("?")),
                "add `image: repository:tag`",
            );
        }
        let mut port_names = Vec::new();
        let mut port_numbers = Vec::new();
        for port in container.get("ports").map(Node::items).unwrap_or_default() {
            match port.get("containerPort").and_then(Node::int) {
                Some(p) if (1..=65535).contains(&p) => port_numbers.push(p),
                _ => c.fail(
                    port.line,
                    "a `containerPort` must be a number from 1 to 65535".into(),
                    "set `containerPort` to the port the process listens on",
                ),
            }
            if let Some(n) = port.get("name").and_then(Node::str) {
                if n.len() > 15 || !is_dns_label(n) {
                    c.fail(
                        port.line,
                        format!(
                            "the port name `{n}` must be at most 15 characters of a-z, 0-9 and `-`"
                        ),
                        "shorten it",
                    );
                }
                port_names.push(n.to_string());
            }
        }
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            let Some(port) = container.at(&[probe, "httpGet", "port"]) else {
                continue;
            };
            let ok = match port.int() {
                Some(p) => (1..=65535).contains(&p),
                None => port
                    .str()
                    .is_some_and(|n| port_names.iter().any(|p| p == n)),
            };
            if !ok {
                c.fail(
                    port.line,
                    format!(
                        "the {probe}'s port `{}` is not a declared port name or a number",
                        port.str().unwrap_or("")
                    ),
                    "use a `ports[].name` of the container, or its number",
                );
            }
        }
        resources(c, container);
    }
}

fn resources(c: &mut Check, container: &Node) {
    let mut values = std::collections::BTreeMap::new();
    for group in ["requests", "limits"] {
        for (key, line, value) in container
            .at(&["resources", group])
            .map(Node::entries)
            .unwrap_or_default()
        {
            match value.str().map(quantity::parse) {
                Some(Ok(v)) => {
                    values.insert((group, key.clone()), v);
                }
                Some(Err(e)) => c.fail(
                    *line,
                    format!("resources.{group}.{key}: {e}"),
                    "write a quantity like `500m` or `256Mi`",
                ),
                None => c.fail(
                    *line,
                    format!("resources.{group}.{key} is not a quantity"),
                    "write a quantity like `500m` or `256Mi`",
                ),
            }
        }
    }
    for resource in ["cpu", "memory"] {
        if let (Some(request), Some(limit)) = (
            values.get(&("requests", resource.to_string())),
            values.get(&("limits", resource.to_string())),
        ) && request > limit
        {
            c.fail(
                container.line,
                format!("the {resource} request is more than its limit"),
                "lower the request or raise the limit",
            );
        }
    }
}

fn service(c: &mut Check, doc: &Node) {
    let ports = doc
        .at(&["spec", "ports"])
        .map(Node::items)
        .unwrap_or_default();
    let external_name = doc.at(&["spec", "type"]).and_then(Node::str) == Some("ExternalName");
    if ports.is_empty() && !external_name {
        c.fail(
            doc.get("spec").map_or(doc.line, |n| n.line),
            "the Service has no `spec.ports`".into(),
            "add a port (`port`, `targetPort`)",
        );
    }
    for port in ports {
        if !port
            .get("port")
            .and_then(Node::int)
            .is_some_and(|p| (1..=65535).contains(&p))
        {
            c.fail(
                port.line,
                "a Service `port` must be a number from 1 to 65535".into(),
                "set `port`",
            );
        }
    }
}

fn config_map(c: &mut Check, doc: &Node) {
    for (key, line, value) in doc.get("data").map(Node::entries).unwrap_or_default() {
        let is_string = match &value.value {
            Value::Scalar(text, quoted) => {
                *quoted
                    || (text.parse::<f64>().is_err()
                        && !matches!(
                            text.as_str(),
                            "true"
                                | "false"
                                | "null"
                                | "~"
                                | ""
                                | "True"
                                | "False"
                                | "TRUE"
                                | "FALSE"
                                | "Null"
                                | "NULL"
                        ))
            }
            _ => false,
        };
        if !is_string {
            c.fail(*line, format!("ConfigMap data `{key}` is not a string (YAML reads it as a number, boolean, null or a collection)"), "quote the value");
        }
    }
}
