//! `[secrets]`: named secrets the host reads when it loads the manifest, from its own environment or
//! a file (never from the manifest itself), each bound to `[[egress.allow]]` rules. A guest never
//! holds a secret: it writes the placeholder `{{secret:NAME}}` in a request header, and the host
//! puts the value in its place only on a request one of the secret's rules allows. Anywhere else the
//! placeholder goes out as written.
//!
//! ```toml
//! [secrets.github-token]
//! from-env = "GITHUB_TOKEN"      # or from-file = "/run/secrets/github-token" (relative: to the manifest)
//! rules = ["github"]             # the [[egress.allow]] rules it may be sent through
//! ```
//!
//! A value is at most [`MAX_SECRET_BYTES`], and holds no control character (no CR or LF that could
//! split a header); a file's one trailing newline is dropped. [`SecretValue`] prints as
//! `[redacted]`, so no `Debug` of a policy shows one.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::egress::Egress;

/// The longest secret value.
pub const MAX_SECRET_BYTES: usize = 8 * 1024;

/// `[secrets]` as written: one table per secret, by name.
pub type SecretsSection = BTreeMap<String, SecretEntry>;

/// One `[secrets.NAME]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SecretEntry {
    /// `from-env`: the host environment variable holding it.
    pub from_env: Option<String>,
    /// `from-file`: the file holding it.
    pub from_file: Option<PathBuf>,
    /// `rules`: the egress rules it may be sent through.
    #[serde(default)]
    pub rules: Vec<String>,
}

/// A secret's value: shown as `[redacted]` by `Debug` and `Display`; only [`Secrets::substitute`]
/// reads it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Arc<str>);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Display for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One secret, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: SecretValue,
    /// The egress rules it may be sent through.
    pub rules: Vec<String>,
}

/// An agent's secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// By name.
    pub secrets: Vec<Secret>,
}

/// The placeholder a guest writes for secret `name`.
pub fn placeholder(name: &str) -> String {
    format!("{{{{secret:{name}}}}}")
}

impl Secrets {
    /// `value` (a header value of a request that rule `rule` allowed) with the placeholder of every
    /// secret bound to `rule` replaced by the secret; other placeholders stay as written.
    pub fn substitute<'a>(&self, rule: &str, value: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(value);
        for secret in self
            .secrets
            .iter()
            .filter(|s| s.rules.iter().any(|r| r == rule))
        {
            let mark = placeholder(&secret.name);
            if out.contains(&mark) {
                out = Cow::Owned(out.replace(&mark, &secret.value.0));
            }
        }
        out
    }

    /// Whether `text` holds any secret's value (for checks that none leaked into what the host
    /// writes: logs, events, the audit log).
    pub fn appear_in(&self, text: &str) -> bool {
        self.secrets.iter().any(|s| text.contains(&*s.value.0))
    }
}

/// Reads a value from a file, bounded, dropping one trailing newline.
fn read_file(path: &Path) -> Result<String, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_BYTES as u64 + 2)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut text =
        String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// Checks `[secrets]` and reads every value: from `env` (the host's environment) or a file
/// (relative to `base`). Each names egress rules that `egress` has. An error is the key and what is
/// wrong with it; it never shows a value.
pub fn resolve_secrets(
    section: &SecretsSection,
    egress: Option<&Egress>,
    base: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Secrets, (String, String)> {
    let mut secrets = Vec::new();
    for (name, entry) in section {
        let key = |field: &str| format!("secrets.{name}{field}");
        crate::names::check_name("secret name", name).map_err(|m| (key(""), m))?;
        let value = match (&entry.from_env, &entry.from_file) {
            (Some(variable), None) => env(variable).ok_or_else(|| {
                (
                    key(".from-env"),
                    format!("the host has no environment variable `{variable}`"),
                )
            })?,
            (None, Some(file)) => {
                read_file(&base.join(file)).map_err(|m| (key(".from-file"), m))?
            }
            _ => {
                return Err((
                    key(""),
                    "give exactly one of `from-env` and `from-file`".into(),
                ));
            }
        };
        let source = if entry.from_env.is_some() {
            ".from-env"
        } else {
            ".from-file"
        };
        if value.is_empty() {
            return Err((key(source), "the secret is empty".into()));
        }
        if value.len() > MAX_SECRET_BYTES {
            return Err((
                key(source),
                format!("the secret is over {MAX_SECRET_BYTES} bytes"),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err((
                key(source),
                "the secret holds a control character (a header value cannot)".into(),
            ));
        }
        if entry.rules.is_empty() {
            return Err((
                key(".rules"),
                "name the [[egress.allow]] rules it may be sent through".into(),
            ));
        }
        for rule in &entry.rules {
            if !egress.is_some_and(|e| e.rules.iter().any(|r| &r.name == rule)) {
                return Err((
                    key(".rules"),
                    format!("there is no [[egress.allow]] rule `{rule}`"),
                ));
            }
        }
        secrets.push(Secret {
            name: name.clone(),
            value: SecretValue(value.into()),
            rules: entry.rules.clone(),
        });
    }
    Ok(Secrets { secrets })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::{EgressSection, resolve_egress};

    fn resolve(text: &str, env: &[(&str, &str)]) -> Result<Secrets, (String, String)> {
        #[derive(Deserialize)]
        struct Wrapper {
            egress: EgressSection,
            secrets: SecretsSection,
        }
        let wrapper: Wrapper = toml::from_str(text).unwrap();
        let egress = resolve_egress(&wrapper.egress).unwrap();
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        resolve_secrets(
            &wrapper.secrets,
            egress.as_ref(),
            Path::new("/nonexistent"),
            lookup,
        )
    }

    const EGRESS: &str = r#"
        [egress]
        [[egress.allow]]
        name = "github"
        host = "api.github.com"
        [[egress.allow]]
        name = "other"
        host = "example.com"
    "#;

    #[test]
    fn a_secret_goes_only_through_its_rules_and_never_shows() {
        let secrets = resolve(
            &format!("{EGRESS}\n[secrets.gh]\nfrom-env = \"GH\"\nrules = [\"github\"]\n"),
            &[("GH", "s3cr3t-value")],
        )
        .unwrap();
        let header = "Bearer {{secret:gh}}";
        assert_eq!(secrets.substitute("github", header), "Bearer s3cr3t-value");
        assert_eq!(secrets.substitute("other", header), header);
        assert_eq!(
            secrets.substitute("github", "Bearer {{secret:nope}}"),
            "Bearer {{secret:nope}}"
        );
        assert!(!format!("{secrets:?}").contains("s3cr3t"));
        assert!(secrets.appear_in("log: s3cr3t-value"));
        assert!(!secrets.appear_in("log: {{secret:gh}}"));
    }

    #[test]
    fn bad_secrets_are_refused_without_showing_the_value() {
        let refused = |secret: &str, env: &[(&str, &str)]| {
            resolve(&format!("{EGRESS}\n{secret}\n"), env).unwrap_err()
        };
        let (key, message) = refused("[secrets.gh]\nfrom-env = \"GH\"\nrules = [\"github\"]", &[]);
        assert_eq!(key, "secrets.gh.from-env");
        assert!(message.contains("`GH`"), "{message}");
        let (key, _) = refused("[secrets.gh]\nrules = [\"github\"]", &[]);
        assert_eq!(key, "secrets.gh");
        let (key, message) = refused(
            "[secrets.gh]\nfrom-env = \"GH\"\nrules = [\"gitlab\"]",
            &[("GH", "x")],
        );
        assert_eq!(key, "secrets.gh.rules");
        assert!(message.contains("`gitlab`"), "{message}");
        let (key, _) = refused("[secrets.gh]\nfrom-env = \"GH\"", &[("GH", "x")]);
        assert_eq!(key, "secrets.gh.rules");
        let (key, message) = refused(
            "[secrets.gh]\nfrom-env = \"GH\"\nrules = [\"github\"]",
            &[("GH", "ab\r\nX-Evil: 1")],
        );
        assert_eq!(key, "secrets.gh.from-env");
        assert!(
            message.contains("control character") && !message.contains("Evil"),
            "{message}"
        );
        let (key, _) = refused(
            "[secrets.Bad]\nfrom-env = \"GH\"\nrules = [\"github\"]",
            &[("GH", "x")],
        );
        assert_eq!(key, "secrets.Bad");
        let (key, message) = refused(
            "[secrets.gh]\nfrom-file = \"missing\"\nrules = [\"github\"]",
            &[],
        );
        assert_eq!(key, "secrets.gh.from-file");
        assert!(message.contains("cannot read"), "{message}");
    }

    #[test]
    fn a_file_secret_loses_its_trailing_newline_and_is_bounded() {
        let dir = std::env::temp_dir().join(format!("tandem-secret-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), "abc\n").unwrap();
        std::fs::write(dir.join("big"), "x".repeat(MAX_SECRET_BYTES + 1)).unwrap();
        assert_eq!(read_file(&dir.join("token")).unwrap(), "abc");
        #[derive(Deserialize)]
        struct Wrapper {
            egress: EgressSection,
            secrets: SecretsSection,
        }
        let text = format!("{EGRESS}\n[secrets.big]\nfrom-file = \"big\"\nrules = [\"github\"]\n");
        let wrapper: Wrapper = toml::from_str(&text).unwrap();
        let egress = resolve_egress(&wrapper.egress).unwrap();
        let (key, message) =
            resolve_secrets(&wrapper.secrets, egress.as_ref(), &dir, |_| None).unwrap_err();
        assert_eq!(key, "secrets.big.from-file");
        assert!(message.contains("over 8192 bytes"), "{message}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
