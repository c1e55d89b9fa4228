//! The review's rules: each with its severity, one line about it, and the established linters'
//! codes for the same check (hadolint `DL...`, kube-linter check names, checkov `CKV_...`).

use guest_support::{Finding, Severity};

pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub description: &'static str,
    pub see: &'static str,
}

pub const RULES: &[Rule] = &[
    Rule {
        id: "image-latest",
        severity: Severity::Warning,
        description: "An image is pinned to `latest`, which moves under you",
        see: "hadolint DL3007; kube-linter latest-tag",
    },
    Rule {
        id: "image-untagged",
        severity: Severity::Warning,
        description: "An image has no tag or digest (so it is `latest`)",
        see: "hadolint DL3006; kube-linter latest-tag",
    },
    Rule {
        id: "runs-as-root",
        severity: Severity::Error,
        description: "The container runs as root",
        see: "hadolint DL3002; kube-linter run-as-non-root; checkov CKV_DOCKER_3, CKV_K8S_23",
    },
    Rule {
        id: "privileged",
        severity: Severity::Error,
        description: "A privileged container has the host's devices and capabilities",
        see: "kube-linter privileged-container; checkov CKV_K8S_16",
    },
    Rule {
        id: "privilege-escalation",
        severity: Severity::Error,
        description: "A process may gain more privileges than its parent (setuid binaries)",
        see: "kube-linter privilege-escalation-container; checkov CKV_K8S_20",
    },
    Rule {
        id: "dangerous-capability",
        severity: Severity::Error,
        description: "A container adds SYS_ADMIN, NET_ADMIN or ALL capabilities",
        see: "kube-linter dangerous-capabilities; checkov CKV_K8S_39",
    },
    Rule {
        id: "no-resource-limits",
        severity: Severity::Warning,
        description: "A container has no CPU or memory limits (or requests)",
        see: "kube-linter unset-cpu-requirements, unset-memory-requirements; checkov CKV_K8S_10-13",
    },
    Rule {
        id: "no-readiness-probe",
        severity: Severity::Warning,
        description: "A container has no readiness probe: traffic reaches it before it is ready",
        see: "kube-linter no-readiness-probe; checkov CKV_K8S_9",
    },
    Rule {
        id: "no-liveness-probe",
        severity: Severity::Warning,
        description: "A container has no liveness probe: a hung process is never restarted",
        see: "kube-linter no-liveness-probe; checkov CKV_K8S_8",
    },
    Rule {
        id: "no-healthcheck",
        severity: Severity::Warning,
        description: "A compose service has no health check",
        see: "checkov CKV_DOCKER_2",
    },
    Rule {
        id: "host-path",
        severity: Severity::Error,
        description: "A host path (or the Docker socket) is mounted into the container",
        see: "kube-linter host-mounts, sensitive-host-mounts; checkov CKV_K8S_27",
    },
    Rule {
        id: "host-namespace",
        severity: Severity::Error,
        description: "The container shares the host's network, PID or IPC namespace",
        see: "kube-linter host-network, host-pid, host-ipc; checkov CKV_K8S_17-19",
    },
    Rule {
        id: "secret-in-env",
        severity: Severity::Error,
        description: "A secret is written in plain text in an environment variable",
        see: "hadolint DL3064; kube-linter env-var-secret; checkov CKV_K8S_35",
    },
    Rule {
        id: "add-url",
        severity: Severity::Warning,
        description: "`ADD` downloads a URL without checking what it got",
        see: "checkov CKV_DOCKER_4 (hadolint has no rule for a URL)",
    },
    Rule {
        id: "apt-no-cleanup",
        severity: Severity::Warning,
        description: "`apt-get install` leaves the package lists in the image",
        see: "hadolint DL3009",
    },
    Rule {
        id: "apt-no-recommends",
        severity: Severity::Info,
        description: "`apt-get install` without `--no-install-recommends` installs more than asked",
        see: "hadolint DL3015",
    },
    Rule {
        id: "schema",
        severity: Severity::Error,
        description: "An object the API server (or compose) would refuse",
        see: "kubectl apply --dry-run=server; kubeconform",
    },
    Rule {
        id: "syntax-error",
        severity: Severity::Error,
        description: "The file does not parse",
        see: "",
    },
];

fn rule(id: &str) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.id == id)
        .unwrap_or(&RULES[RULES.len() - 1])
}

/// A capability that gives a container the host (`dangerous-capability`), `CAP_` prefix or not.
pub fn is_dangerous_capability(name: &str) -> bool {
    matches!(
        name.trim_start_matches("CAP_"),
        "SYS_ADMIN" | "NET_ADMIN" | "ALL"
    )
}

/// A finding of rule `id` at `line` of `file`, with the fix.
pub fn finding(file: &str, line: usize, id: &str, message: String, fix: &str) -> Finding {
    let rule = rule(id);
    let mut finding =
        Finding::new(file, line.max(1), 1, id, rule.severity, message).with("fix", fix);
    if !rule.see.is_empty() {
        finding = finding.with("see", rule.see);
    }
    finding
}
