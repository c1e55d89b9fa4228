//! The short description of a Tandem service that `generate` works from: name, image, port,
//! directories, resources, replicas, configuration. Every field is checked before anything is
//! generated, and the error names the field and the rule.

use std::collections::BTreeMap;

use serde::Deserialize;
use tandem_sdk::AgentError;

use crate::quantity;

/// What to generate.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Dockerfile,
    Compose,
    Kubernetes,
    Systemd,
}

impl Target {
    pub const ALL: [Target; 4] = [
        Target::Dockerfile,
        Target::Compose,
        Target::Kubernetes,
        Target::Systemd,
    ];
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Resources {
    pub cpu: String,
    pub memory: String,
    pub cpu_limit: String,
    pub memory_limit: String,
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            cpu: "250m".into(),
            memory: "128Mi".into(),
            cpu_limit: "1".into(),
            memory_limit: "512Mi".into(),
        }
    }
}

/// Base-image digests (`sha256:<64 hex>`); a placeholder is written where one is missing.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digests {
    pub build: Option<String>,
    pub runtime: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Service {
    #[serde(default = "defaults::name")]
    pub name: String,
    /// The image's repository, without a tag.
    #[serde(default = "defaults::name")]
    pub image: String,
    /// The image's tag; never `latest`.
    #[serde(default = "defaults::tag")]
    pub tag: String,
    #[serde(default = "defaults::port")]
    pub port: u16,
    #[serde(default = "defaults::agents_dir")]
    pub agents_dir: String,
    #[serde(default = "defaults::data_dir")]
    pub data_dir: String,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default = "defaults::replicas")]
    pub replicas: u32,
    #[serde(default = "defaults::namespace")]
    pub namespace: String,
    /// Settings for the server's environment (the ConfigMap); secrets do not belong here.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub digests: Digests,
    #[serde(default)]
    pub targets: Option<Vec<Target>>,
    /// The NATS server the hosts share the work over (`tandem serve --nats`): the replicas become
    /// one cluster (each names itself after its pod, the default host id).
    #[serde(default)]
    pub nats: Option<String>,
}

mod defaults {
    pub fn name() -> String {
        "tandem".into()
    }
    pub fn tag() -> String {
        "0.1.0".into()
    }
    pub fn port() -> u16 {
        7878
    }
    pub fn agents_dir() -> String {
        "/srv/tandem/agents".into()
    }
    pub fn data_dir() -> String {
        "/var/lib/tandem".into()
    }
    pub fn replicas() -> u32 {
        2
    }
    pub fn namespace() -> String {
        "default".into()
    }
}

/// A DNS-1123 label: what Kubernetes allows as a name (and compose as a service name).
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// An environment variable's name that says it holds a secret.
pub fn names_a_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let reference = ["_FILE", "_PATH", "_DIR", "_URL", "_REF", "_NAME"]
        .iter()
        .any(|s| upper.ends_with(s));
    !reference
        && [
            "PASSWORD",
            "PASSWD",
            "SECRET",
            "TOKEN",
            "API_KEY",
            "APIKEY",
            "PRIVATE_KEY",
            "ACCESS_KEY",
            "CREDENTIAL",
        ]
        .iter()
        .any(|word| upper.contains(word))
}

fn invalid(field: &str, message: String) -> AgentError {
    AgentError::invalid(format!("`{field}`: {message}"))
}

impl Service {
    /// Checks every field; the error names the first one wrong.
    pub fn check(&self) -> Result<(), AgentError> {
        if !is_dns_label(&self.name) {
            return Err(invalid(
                "name",
                format!(
                    "`{}` must be a DNS-1123 label: 1-63 characters of a-z, 0-9 and `-`, not starting or ending with `-`",
                    self.name
                ),
            ));
        }
        let image_ok = !self.image.is_empty()
            && self.image.len() <= 255
            && self.image.bytes().all(|c| {
                c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || matches!(c, b'.' | b'_' | b'-' | b'/' | b':')
            })
            && !self.image.contains('@')
            && !self.image.rsplit('/').next().unwrap_or("").contains(':');
        if !image_ok {
            return Err(invalid(
                "image",
                format!(
                    "`{}` must be an image repository without a tag (lower case; the tag goes in `tag`)",
                    self.image
                ),
            ));
        }
        let tag_ok = !self.tag.is_empty()
            && self.tag.len() <= 128
            && self
                .tag
                .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && self
                .tag
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
        if !tag_ok {
            return Err(invalid(
                "tag",
                format!(
                    "`{}` is not an image tag (letters, digits, `.`, `_`, `-`, at most 128)",
                    self.tag
                ),
            ));
        }
        if self.tag == "latest" {
            return Err(invalid(
                "tag",
                "`latest` moves under you: name the version".into(),
            ));
        }
        if self.port == 0 {
            return Err(invalid("port", "must be 1-65535".into()));
        }
        for (field, path) in [
            ("agents-dir", &self.agents_dir),
            ("data-dir", &self.data_dir),
        ] {
            let ok = path.starts_with('/')
                && path.len() > 1
                && !path.split('/').any(|p| p == "..")
                && !path.contains(|c: char| {
                    c.is_whitespace()
                        || c.is_control()
                        || matches!(c, '"' | '\'' | '\\' | '$' | '`')
                });
            if !ok {
                return Err(invalid(
                    field,
                    format!(
                        "`{path}` must be an absolute path without `..`, spaces, quotes or `$`"
                    ),
                ));
            }
        }
        if self.agents_dir == self.data_dir {
            return Err(invalid(
                "data-dir",
                "must differ from `agents-dir` (the agents are read-only, the data is not)".into(),
            ));
        }
        let r = &self.resources;
        let mut values = Vec::new();
        for (field, text) in [
            ("resources.cpu", &r.cpu),
            ("resources.memory", &r.memory),
            ("resources.cpu-limit", &r.cpu_limit),
            ("resources.memory-limit", &r.memory_limit),
        ] {
            let value = quantity::parse(text).map_err(|e| invalid(field, e))?;
            if value <= 0.0 {
                return Err(invalid(field, format!("`{text}` must be more than zero")));
            }
            values.push(value);
        }
        if values[0] > values[2] {
            return Err(invalid(
                "resources.cpu",
                format!(
                    "the request `{}` is more than the limit `{}`",
                    r.cpu, r.cpu_limit
                ),
            ));
        }
        if values[1] > values[3] {
            return Err(invalid(
                "resources.memory",
                format!(
                    "the request `{}` is more than the limit `{}`",
                    r.memory, r.memory_limit
                ),
            ));
        }
        if values[3] < 16.0 * 1024.0 * 1024.0 {
            return Err(invalid(
                "resources.memory-limit",
                format!(
                    "`{}` is below 16Mi, too little for the host",
                    r.memory_limit
                ),
            ));
        }
        if let Some(url) = &self.nats {
            let scheme = ["nats://", "tls://"].iter().find(|s| url.starts_with(**s));
            let ok = scheme.is_some_and(|s| url.len() > s.len())
                && url.len() <= 256
                && url.bytes().all(|c| c.is_ascii_graphic());
            if !ok {
                return Err(invalid(
                    "nats",
                    format!("`{url}` is not a NATS URL (nats://HOST:PORT or tls://HOST:PORT)"),
                ));
            }
        }
        if !(1..=100).contains(&self.replicas) {
            return Err(invalid(
                "replicas",
                format!("{} must be 1-100", self.replicas),
            ));
        }
        if !is_dns_label(&self.namespace) {
            return Err(invalid(
                "namespace",
                format!("`{}` must be a DNS-1123 label", self.namespace),
            ));
        }
        for (name, value) in &self.env {
            let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
            if !ok {
                return Err(invalid(
                    "env",
                    format!("`{name}` is not an environment variable name"),
                ));
            }
            if names_a_secret(name) {
                return Err(invalid(
                    "env",
                    format!(
                        "`{name}` looks like a secret: it would sit in plain text in the ConfigMap and compose file; give it to the server from a Secret (the generated Deployment reads TANDEM_ADMIN_TOKEN from one)"
                    ),
                ));
            }
            if value.contains(|c: char| c.is_control()) {
                return Err(invalid(
                    "env",
                    format!("the value of `{name}` has a control character"),
                ));
            }
        }
        for (field, digest) in [
            ("digests.build", &self.digests.build),
            ("digests.runtime", &self.digests.runtime),
        ] {
            if let Some(d) = digest {
                let ok = d.strip_prefix("sha256:").is_some_and(|h| {
                    h.len() == 64
                        && h.bytes()
                            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
                });
                if !ok {
                    return Err(invalid(
                        field,
                        format!("`{d}` must be `sha256:` and 64 lower-case hex digits"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The image reference with its tag.
    pub fn image_ref(&self) -> String {
        format!("{}:{}", self.image, self.tag)
    }

    /// Where the compiled-code cache goes: inside the data directory (the root file system is
    /// read-only).
    pub fn cache_dir(&self) -> String {
        format!("{}/cache", self.data_dir.trim_end_matches('/'))
    }

    /// The server's environment in a container: listening on every interface of its own network
    /// namespace, the directories, and the caller's settings.
    pub fn environment(&self) -> Vec<(String, String)> {
        self.environment_listening_on("0.0.0.0")
    }

    /// The server's environment listening on `address` (a host's own unit: loopback).
    pub fn environment_listening_on(&self, address: &str) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "TANDEM_ADDR".to_string(),
                format!("{address}:{}", self.port),
            ),
            ("TANDEM_AGENTS".to_string(), self.agents_dir.clone()),
            ("TANDEM_DATA_DIR".to_string(), self.data_dir.clone()),
            ("TANDEM_CACHE_DIR".to_string(), self.cache_dir()),
        ];
        if let Some(url) = &self.nats {
            env.push(("TANDEM_NATS".to_string(), url.clone()));
        }
        for (name, value) in &self.env {
            env.retain(|(n, _)| n != name);
            env.push((name.clone(), value.clone()));
        }
        env
    }
}
