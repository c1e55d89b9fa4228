//! `generate`: deployment files for a Tandem host from a short [`Service`] description: a
//! Dockerfile, a compose file, Kubernetes objects and a systemd unit, each hardened the way the
//! review rules ask (non-root, limits, probes, no privileges) and checked before it is returned:
//! the YAML is parsed back and put through the same schema checks and review as a user's files.

mod compose;
mod dockerfile;
mod kubernetes;
mod systemd;

use serde::Serialize;

use crate::service::{Service, Target};

/// A generated file: where it goes (relative) and its text.
#[derive(Debug, Serialize)]
pub struct File {
    pub path: String,
    pub kind: &'static str,
    pub content: String,
}

/// The placeholder written where a base image's digest was not given.
pub const DIGEST_PLACEHOLDER: &str = "sha256:REPLACE_WITH_DIGEST";

/// A shell test the image can run on its own (no curl in it): `/healthz` answers 200.
pub fn health_command(port: u16) -> String {
    format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"
    )
}

/// The files for the targets asked for (all four by default), in that order.
pub fn files(service: &Service) -> Vec<File> {
    let targets = service
        .targets
        .clone()
        .unwrap_or_else(|| Target::ALL.to_vec());
    let mut out = Vec::new();
    for target in Target::ALL {
        if !targets.contains(&target) {
            continue;
        }
        out.push(match target {
            Target::Dockerfile => File {
                path: "Dockerfile".into(),
                kind: "dockerfile",
                content: dockerfile::render(service),
            },
            Target::Compose => File {
                path: "compose.yaml".into(),
                kind: "compose",
                content: compose::render(service),
            },
            Target::Kubernetes => File {
                path: format!("k8s/{}.yaml", service.name),
                kind: "kubernetes",
                content: kubernetes::render(service),
            },
            Target::Systemd => File {
                path: format!("systemd/{}.service", service.name),
                kind: "systemd",
                content: systemd::render(service),
            },
        });
    }
    out
}
