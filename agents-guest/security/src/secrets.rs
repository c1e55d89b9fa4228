//! `scan-secrets`: credentials committed to a tree. Provider rules are regexes for token formats
//! that identify themselves (AWS key ids, GitHub/GitLab/Slack/Stripe/Google/OpenAI/Anthropic keys,
//! JWTs, private key blocks, passwords in connection strings); assignment rules catch what has no
//! format: a value assigned to a name that says secret (`password`, `token`, `api_key`, ...) and
//! quoted strings whose Shannon entropy is high for their alphabet (hex above 3.0 bits per
//! character, base64 above 4.5, at 20 characters or more: detect-secrets' defaults). Values that
//! are placeholders (`changeme`, `${VAR}`, `<token>`, `xxxx`, ...), documented examples
//! (`AKIAIOSFODNN7EXAMPLE`), UUIDs, and hashes in lockfiles or under names like `sha256` are not
//! findings; examples are listed as `ignored`. The secret itself never leaves this module:
//! findings carry a redacted excerpt and a fingerprint (SHA-256 of rule, file and secret).

use std::sync::OnceLock;

use guest_support::{Finding, Severity, fingerprint};
use regex::Regex;

struct Rule {
    id: &'static str,
    description: &'static str,
    pattern: &'static str,
    /// The capture group holding the secret (0: the whole match).
    group: usize,
    severity: Severity,
}

const RULES: &[Rule] = &[
    Rule {
        id: "aws-access-key-id",
        description: "AWS access key id",
        pattern: r"(?-u:\b)((?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16})(?-u:\b)",
        group: 1,
        severity: Severity::Error,
    },
    Rule {
        id: "aws-secret-access-key",
        description: "AWS secret access key",
        pattern: r#"(?i)aws.{0,20}?(?:secret|sk).{0,20}?['"]?[ \t]*[:=][ \t]*['"]?([A-Za-z0-9/+=]{40})(?:[^A-Za-z0-9/+=]|$)"#,
        group: 1,
        severity: Severity::Error,
    },
    Rule {
        id: "github-token",
        description: "GitHub token",
        pattern: r"(?-u:\b)((?:gh[pousr]_[A-Za-z0-9]{36,255})|github_pat_[A-Za-z0-9_]{82})(?-u:\b)",
        group: 1,
        severity: Severity::Error,
    },
    Rule {
        id: "gitlab-token",
        description: "GitLab personal access token",
        pattern: r"(?-u:\b)(glpat-[A-Za-z0-9_\-]{20,})",
        group: 1,
        severity: Severity::Error,
    },
    Rule {
        id: "slack-token",
        description: "Slack token",
        pattern: r"(?-u:\b)(xox[baprs]-[0-9A-Za-z]{10,48}(?:-[0-9A-Za-z]{10,48})*)",
        group: 1,
        severity: Severity::Error,
    },
    Rule {
        id: "slack-webhook",
        description: "Slack incoming webhook",
        pattern: r"(https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{20,})",
        group: 1,
        severity: Severity::Error,
    },
    Rule {
        id: "stripe-key",
        description: "Stripe secret or restricted key",
        pattern: r"(?-u:\b)((?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,})(?-u:\b)",
        group: 1,
        severity: Severity::Error,
    },
    Rule {
        id: "google-api-key",
        description: "Google API key",
        pattern: r"(?-u:\b)(AIza[0-9A-Za-z\-_]{35})(?:[^0-9A-Za-z\-_]|$)",
        group: 1,
        severity: Severity::Error,
    },
    Rule {
        id: "openai-key",
        description: "OpenAI API key",
        pattern: r"(?-u:\b)(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,})",
        group: 1,
        severity: Severity::Error,
    },
    Rule {
        id: "anthropic-key",
        description: "Anthropic API key",
        pattern: r"(?-u:\b)(sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_\-]{80,})",
        group: 1,
        severity: Severity::Error,
    },
    Rule {
        id: "jwt",
        description: "JSON Web Token",
        pattern: r"(?-u:\b)(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,})",
        group: 1,
        severity: Severity::Warning,
    },
    Rule {
        id: "private-key",
        description: "private key block",
        pattern: r"-----BEGIN ((?:RSA |DSA |EC |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?)-----",
        group: 0,
        severity: Severity::Error,
    },
    Rule {
        id: "connection-string-password",
        description: "password in a connection string",
        pattern: r"(?-u:\b)[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://[^:/\s@'\x22]+:([^@/\s'\x22]{3,})@[^\s/'\x22]+",
        group: 1,
        severity: Severity::Error,
    },
];

/// The rule ids and descriptions, for `rules`.
pub fn rules() -> Vec<(&'static str, &'static str)> {
    let mut list: Vec<_> = RULES.iter().map(|r| (r.id, r.description)).collect();
    list.push((
        "secret-assignment",
        "a literal assigned to a name that says secret (password, token, api_key, ...)",
    ));
    list.push((
        "high-entropy-string",
        "a quoted string with high Shannon entropy (hex > 3.0, base64 > 4.5 bits/char, 20+ chars)",
    ));
    list
}

fn compiled() -> &'static [(Regex, &'static Rule)] {
    static CELL: OnceLock<Vec<(Regex, &'static Rule)>> = OnceLock::new();
    CELL.get_or_init(|| {
        RULES
            .iter()
            .map(|r| (Regex::new(r.pattern).expect("a valid rule"), r))
            .collect()
    })
}

fn assignment() -> &'static Regex {
    static CELL: OnceLock<Regex> = OnceLock::new();
    CELL.get_or_init(|| {
        Regex::new(r#"(?i)([A-Za-z_][A-Za-z0-9_.\-]*)['"]?[ \t]*(?::=|==|=|:|=>)[ \t]*(?:[rbuf]{0,2})(['"`])([^'"`\s]{6,}?)['"`]"#).expect("valid")
    })
}

fn env_assignment() -> &'static Regex {
    static CELL: OnceLock<Regex> = OnceLock::new();
    CELL.get_or_init(|| {
        Regex::new(r#"(?m)^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*['"]?([^'"\s#]{6,})"#)
            .expect("valid")
    })
}

/// Names that say a value is a secret.
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "api-key",
        "access_key",
        "private_key",
        "client_secret",
        "auth_key",
        "credential",
    ]
    .iter()
    .any(|k| n.contains(k))
        && ![
            "_file", "_path", "_url", "_env", "_name", "_id", "length", "_field", "_type",
            "_header", "_prompt",
        ]
        .iter()
        .any(|k| n.ends_with(k))
}

/// Names whose values are digests, not secrets.
fn digest_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "sha",
        "md5",
        "hash",
        "digest",
        "checksum",
        "integrity",
        "etag",
        "commit",
        "revision",
        "rev",
        "uuid",
        "guid",
        "nonce_length",
    ]
    .iter()
    .any(|k| n.contains(k))
}

/// Values that are placeholders, not secrets.
pub fn placeholder(value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    let chars: Vec<char> = v.chars().collect();
    v.starts_with("${")
        || v.starts_with("{{")
        || v.starts_with('<')
        || v.starts_with("%(")
        || v.starts_with('$')
        || v.contains("changeme")
        || v.contains("change_me")
        || v.contains("placeholder")
        || v.contains("your_")
        || v.contains("your-")
        || v.contains("dummy")
        || v.contains("redacted")
        || v.contains("xxxx")
        || v.contains("****")
        || v.contains("...")
        || v.starts_with("env(")
        || v.starts_with("os.environ")
        || v.starts_with("process.env")
        || [
            "password",
            "secret",
            "token",
            "none",
            "null",
            "true",
            "false",
            "undefined",
            "required",
            "optional",
        ]
        .contains(&v.as_str())
        || chars.windows(2).all(|w| w[0] == w[1])
}

/// Documented example credentials (AWS's own, and values that say EXAMPLE).
fn example(value: &str) -> bool {
    value.contains("EXAMPLE") || value.to_ascii_lowercase().contains("example")
}

fn uuid(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Shannon entropy in bits per character.
pub fn entropy(value: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in value.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = value.chars().count() as f64;
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Whether a string is high-entropy for its alphabet (None: not a hex or base64 string).
pub fn high_entropy(value: &str) -> Option<(f64, &'static str)> {
    if value.len() < 20 {
        return None;
    }
    let e = entropy(value);
    if value.chars().all(|c| c.is_ascii_hexdigit()) {
        return (e > 3.0).then_some((e, "hex"));
    }
    if value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(c))
    {
        // Words and identifiers are not keys: require digits and both cases.
        let digits = value.chars().any(|c| c.is_ascii_digit());
        let upper = value.chars().any(|c| c.is_ascii_uppercase());
        let lower = value.chars().any(|c| c.is_ascii_lowercase());
        return (e > 4.5 && digits && upper && lower).then_some((e, "base64"));
    }
    None
}

fn lockfile(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".lock")
        || matches!(
            name,
            "package-lock.json"
                | "npm-shrinkwrap.json"
                | "go.sum"
                | "pnpm-lock.yaml"
                | "yarn.lock"
                | "Pipfile.lock"
                | "composer.lock"
                | "Gemfile.lock"
                | "flake.lock"
        )
}

fn env_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name == ".env"
        || name.starts_with(".env.")
        || name.ends_with(".env")
        || name.ends_with(".properties")
        || name.ends_with(".ini")
        || name.ends_with(".cfg")
        || name.ends_with(".conf")
}

/// The secret shown safely: its first four characters, then how long it is.
pub fn redact(secret: &str) -> String {
    let head: String = secret.chars().take(4).collect();
    format!(
        "{head}…[{} chars redacted]",
        secret.chars().count().saturating_sub(4)
    )
}

/// A finding not reported, and why (the value redacted).
#[derive(serde::Serialize, Debug)]
pub struct Ignored {
    pub file: String,
    pub line: usize,
    pub rule: String,
    pub excerpt: String,
    pub reason: &'static str,
}

/// Scans one file: findings, and example values ignored. Each rule runs over the whole text (one
/// pass per rule, not per line); matches are then placed on their lines.
pub fn scan(file: &str, text: &str) -> (Vec<Finding>, Vec<Ignored>) {
    let index = guest_support::LineIndex::new(text);
    let mut scan = Scan {
        file,
        index: &index,
        spans: Vec::new(),
        findings: Vec::new(),
        ignored: Vec::new(),
    };
    for (regex, rule) in compiled() {
        for caps in regex.captures_iter(text) {
            let m = caps.get(rule.group).unwrap_or_else(|| caps.get(0).unwrap());
            let secret = m.as_str();
            if rule.id == "connection-string-password" && placeholder(secret) {
                continue;
            }
            if rule.id == "jwt" && !jwt_header(secret) {
                continue;
            }
            let message = format!("{} found", rule.description);
            scan.report(rule.id, rule.severity, message, m.start(), secret, "high");
        }
    }
    if !lockfile(file) {
        let mut candidates: Vec<(String, usize, String)> = Vec::new();
        for caps in assignment().captures_iter(text) {
            let (name, value) = (caps.get(1).unwrap(), caps.get(3).unwrap());
            candidates.push((
                name.as_str().to_string(),
                value.start(),
                value.as_str().to_string(),
            ));
        }
        if env_file(file) {
            for caps in env_assignment().captures_iter(text) {
                let (name, value) = (caps.get(1).unwrap(), caps.get(2).unwrap());
                candidates.push((
                    name.as_str().to_string(),
                    value.start(),
                    value.as_str().to_string(),
                ));
            }
        }
        for (name, start, value) in candidates {
            if placeholder(&value) || uuid(&value) || digest_name(&name) {
                continue;
            }
            if secret_name(&name) {
                let message = format!("a literal secret assigned to `{name}`");
                scan.report(
                    "secret-assignment",
                    Severity::Error,
                    message,
                    start,
                    &value,
                    "medium",
                );
            } else if let Some((e, alphabet)) = high_entropy(&value) {
                let message = format!(
                    "high-entropy {alphabet} string ({e:.2} bits/char) assigned to `{name}`"
                );
                scan.report(
                    "high-entropy-string",
                    Severity::Warning,
                    message,
                    start,
                    &value,
                    "low",
                );
            }
        }
    }
    scan.findings.sort_by_key(|f| (f.line, f.column));
    (scan.findings, scan.ignored)
}

struct Scan<'x> {
    file: &'x str,
    index: &'x guest_support::LineIndex<'x>,
    /// Byte ranges already reported: a more specific rule ran first.
    spans: Vec<(usize, usize)>,
    findings: Vec<Finding>,
    ignored: Vec<Ignored>,
}

impl Scan<'_> {
    fn report(
        &mut self,
        rule: &str,
        severity: Severity,
        message: String,
        start: usize,
        secret: &str,
        confidence: &str,
    ) {
        let end = start + secret.len();
        if self.spans.iter().any(|&(s, e)| start < e && s < end) {
            return;
        }
        self.spans.push((start, end));
        let (line, column) = self.index.position(start);
        let line_start = self.index.line_start(line);
        let line_text = self.index.line_text(line);
        if line_text.len() > 10_000 {
            return; // minified or generated text: not a place people paste credentials by hand
        }
        let excerpt = excerpt(line_text, start - line_start, end - line_start);
        if example(secret) {
            self.ignored.push(Ignored {
                file: self.file.into(),
                line,
                rule: rule.into(),
                excerpt,
                reason: "a documented example value",
            });
            return;
        }
        self.findings.push(
            Finding::new(self.file, line, column, rule, severity, message)
                .with("confidence", confidence)
                .with("cwe", "CWE-798")
                .with("excerpt", excerpt)
                .with("fingerprint", fingerprint(&[rule, self.file, secret])),
        );
    }
}

/// A JWT's first part decodes to a JSON header naming an algorithm.
fn jwt_header(token: &str) -> bool {
    let header = token.split('.').next().unwrap_or("");
    decode_base64url(header).is_some_and(|bytes| {
        serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|v| v.get("alg").is_some())
    })
}

fn decode_base64url(s: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        bits = (bits << 6) | v as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

/// The line around the secret, with the secret redacted, at most 160 characters.
fn excerpt(line: &str, start: usize, end: usize) -> String {
    let redacted = format!(
        "{}{}{}",
        &line[..start],
        redact(&line[start..end]),
        &line[end..]
    );
    let trimmed = redacted.trim();
    if trimmed.chars().count() > 160 {
        format!("{}…", trimmed.chars().take(160).collect::<String>())
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_at(file: &str, text: &str) -> Vec<(usize, String)> {
        scan(file, text)
            .0
            .into_iter()
            .map(|f| (f.line, f.rule))
            .collect()
    }

    #[test]
    fn providers_assignments_and_entropy() {
        let text = "aws_access_key_id = AKIAZ7VRSQ5TJN2KXW4B\ngh = 'ghp_9aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789a'\nDATABASE_URL = \"postgres://app:s3cr3t-Pa55@db.internal:5432/app\"\npassword = \"hunter2hunter2\"\nkey = \"8f14e45fceea167a5a36dedd4bea2543f9c2e8a1b7d3\"\n";
        assert_eq!(
            rules_at("settings.py", text),
            [
                (1, "aws-access-key-id".to_string()),
                (2, "github-token".to_string()),
                (3, "connection-string-password".to_string()),
                (4, "secret-assignment".to_string()),
                (5, "high-entropy-string".to_string()),
            ]
        );
    }

    #[test]
    fn clean_values_are_not_findings() {
        let text = "id = \"123e4567-e89b-12d3-a456-426614174000\"\nsha256 = \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"\npassword = os.environ['PASSWORD']\npassword = \"changeme\"\nurl = \"postgres://user:${DB_PASSWORD}@db/app\"\nname = \"ThisIsJustAnOrdinaryIdentifierName\"\n";
        assert!(
            rules_at("app.py", text).is_empty(),
            "{:?}",
            rules_at("app.py", text)
        );
        let (findings, ignored) = scan("docs.md", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n");
        assert!(findings.is_empty());
        assert_eq!(ignored[0].rule, "aws-access-key-id");
        assert!(!ignored[0].excerpt.contains("AKIAIOSFODNN7EXAMPLE"));
        let lock = "\"integrity\": \"sha512-Kq5sNDMPnZ4K3r4pQ0W0p3x1fvhcU0S7JwV3nEjnIYnHRb1hKpB7D1WkWOFY8+HkW/CzM3QZJ0Ixtjx5v4Pnzw==\"\n";
        assert!(rules_at("package-lock.json", lock).is_empty());
    }

    #[test]
    fn output_never_holds_the_secret() {
        let secret = "ghp_9aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789a";
        let (findings, _) = scan("a.env", &format!("GITHUB_TOKEN={secret}\n"));
        let json = serde_json::to_string(&findings).unwrap();
        assert!(!json.contains(secret) && json.contains("ghp_"), "{json}");
    }
}
