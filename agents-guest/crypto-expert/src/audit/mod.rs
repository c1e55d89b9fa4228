//! `audit-crypto`: weak cryptography in source trees, on the parse tree where a parser exists:
//! Python ([`python`], `rustpython-parser`), JavaScript/TypeScript ([`javascript`], `oxc`), Rust
//! ([`rust`], `syn`); Go and Java by line patterns ([`text`]). Each finding names the rule, the
//! CWE and the fix.

pub mod javascript;
pub mod python;
pub mod rust;
pub mod text;

use guest_support::sarif::{self, RuleInfo};
use guest_support::{
    Finding, Format, InlineFile, LineIndex, Severity, Skipped, Summary, Tree, TreeLimits,
};
use serde::{Deserialize, Serialize};
use tandem_sdk::{AgentError, Json};

/// A rule of the audit.
pub struct Rule {
    pub id: &'static str,
    pub cwe: &'static str,
    pub severity: Severity,
    pub what: &'static str,
    pub fix: &'static str,
}

pub const WEAK_HASH: Rule = Rule {
    id: "weak-hash",
    cwe: "CWE-328",
    severity: Severity::Error,
    what: "MD5 or SHA-1 used where collisions matter",
    fix: "use SHA-256 or BLAKE3 (for passwords: Argon2id); if it is not a security use, say so (Python: usedforsecurity=False)",
};
pub const ECB_MODE: Rule = Rule {
    id: "ecb-mode",
    cwe: "CWE-327",
    severity: Severity::Error,
    what: "a block cipher in ECB mode: equal blocks encrypt to equal blocks",
    fix: "use an AEAD: AES-256-GCM or ChaCha20-Poly1305 with a fresh nonce per message",
};
pub const WEAK_CIPHER: Rule = Rule {
    id: "weak-cipher",
    cwe: "CWE-327",
    severity: Severity::Error,
    what: "a broken or legacy cipher (DES, 3DES, RC4, Blowfish)",
    fix: "use AES-256-GCM or ChaCha20-Poly1305",
};
pub const STATIC_IV: Rule = Rule {
    id: "static-iv",
    cwe: "CWE-1204",
    severity: Severity::Error,
    what: "a constant IV or nonce: reusing one breaks CBC's secrecy and GCM/ChaCha20's entirely",
    fix: "make a random IV/nonce for every message (os.urandom(12), crypto.randomBytes(12)) and send it with the ciphertext",
};
pub const HARDCODED_KEY: Rule = Rule {
    id: "hardcoded-key",
    cwe: "CWE-321",
    severity: Severity::Error,
    what: "a cryptographic key written in the source",
    fix: "load keys from a secret store or the environment (or keep them in CRYPTOEXPERT's key ring)",
};
pub const WEAK_RSA: Rule = Rule {
    id: "weak-rsa",
    cwe: "CWE-326",
    severity: Severity::Error,
    what: "an RSA (or DSA) key shorter than 2048 bits",
    fix: "use at least 2048 bits (3072 for use past 2030), or Ed25519",
};
pub const INSECURE_RANDOM: Rule = Rule {
    id: "insecure-random",
    cwe: "CWE-338",
    severity: Severity::Error,
    what: "a predictable random generator used for a token, key, password or nonce",
    fix: "use a CSPRNG: Python `secrets` (token_bytes, token_urlsafe), JavaScript crypto.randomBytes / crypto.getRandomValues",
};
pub const NO_CERT_CHECK: Rule = Rule {
    id: "cert-verification-disabled",
    cwe: "CWE-295",
    severity: Severity::Error,
    what: "TLS certificate verification turned off",
    fix: "keep verification on; to trust a private CA, pass its bundle (verify=/path/ca.pem, ca: [...])",
};

pub const RULES: [&Rule; 8] = [
    &WEAK_HASH,
    &ECB_MODE,
    &WEAK_CIPHER,
    &STATIC_IV,
    &HARDCODED_KEY,
    &WEAK_RSA,
    &INSECURE_RANDOM,
    &NO_CERT_CHECK,
];

/// Names that say a value is secret (a word of it, snake_case or camelCase, is one of these): a
/// predictable generator feeding one is a finding.
pub fn secret_name(name: &str) -> bool {
    const WORDS: [&str; 16] = [
        "token",
        "secret",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "key",
        "apikey",
        "nonce",
        "salt",
        "otp",
        "session",
        "csrf",
        "auth",
        "iv",
        "pin",
    ];
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        let boundary = !c.is_ascii_alphanumeric() || (c.is_ascii_uppercase() && previous_lower);
        if boundary && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        if c.is_ascii_alphanumeric() {
            word.push(c.to_ascii_lowercase());
        }
    }
    words.push(word);
    words.iter().any(|w| WORDS.contains(&w.as_str()))
}

/// Collects findings for one file.
pub struct Report<'a> {
    pub file: &'a str,
    pub index: LineIndex<'a>,
    pub out: Vec<Finding>,
}

impl<'a> Report<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Self {
        Report {
            file,
            index: LineIndex::new(text),
            out: Vec::new(),
        }
    }

    pub fn at_offset(&mut self, offset: usize, rule: &Rule, detail: &str) {
        let (line, column) = self.index.position(offset);
        self.at(line, column, rule, detail);
    }

    pub fn at(&mut self, line: usize, column: usize, rule: &Rule, detail: &str) {
        let message = if detail.is_empty() {
            rule.what.to_string()
        } else {
            format!("{}: {detail}", rule.what)
        };
        if self
            .out
            .iter()
            .any(|f| f.line == line && f.column == column && f.rule == rule.id)
        {
            return;
        }
        self.out.push(
            Finding::new(self.file, line, column, rule.id, rule.severity, message)
                .with("cwe", rule.cwe)
                .with("fix", rule.fix),
        );
    }
}

/// Findings of one file, or why it was not read (`None`: not a language the audit reads).
pub fn scan(file: &str, text: &str) -> Option<Result<Vec<Finding>, String>> {
    let ext = file.rsplit('.').next().unwrap_or("");
    match ext {
        "py" | "pyi" => Some(python::scan(file, text)),
        "js" | "mjs" | "cjs" | "jsx" | "ts" | "mts" | "cts" | "tsx" => {
            Some(javascript::scan(file, text))
        }
        "rs" => Some(rust::scan(file, text)),
        "go" | "java" | "kt" | "cs" => Some(Ok(text::scan(file, text))),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuditInput {
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    files: Vec<InlineFile>,
    #[serde(default)]
    format: Format,
}

#[derive(Serialize)]
struct AuditOutput {
    findings: Vec<Finding>,
    skipped: Vec<Skipped>,
    summary: Summary,
}

pub fn run(input: AuditInput) -> Result<Json, AgentError> {
    if input.paths.is_empty() && input.files.is_empty() {
        return Err(AgentError::invalid(
            "give `paths` (in granted directories) or `files` (inline)",
        ));
    }
    let limits = TreeLimits::default();
    let keep = |path: &str, is_dir: bool| {
        let name = path.rsplit('/').next().unwrap_or(path);
        if is_dir {
            !matches!(
                name,
                ".git" | "node_modules" | "target" | "__pycache__" | ".venv"
            )
        } else {
            scan(path, "").is_some()
        }
    };
    let mut tree = Tree::read_where(&input.paths, limits, &keep)?;
    for file in input.files {
        tree.add_inline(file.path, file.content, &limits);
    }
    let mut findings = Vec::new();
    let mut skipped = tree.skipped;
    let mut files = 0;
    for file in &tree.files {
        match scan(&file.path, &file.text) {
            Some(Ok(found)) => {
                files += 1;
                findings.extend(found);
            }
            Some(Err(reason)) => skipped.push(Skipped {
                file: file.path.clone(),
                reason,
            }),
            None => skipped.push(Skipped {
                file: file.path.clone(),
                reason: "not a language the audit reads".into(),
            }),
        }
    }
    findings.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    let summary = Summary::of(files, tree.bytes, &findings);
    match input.format {
        Format::Json => tandem_sdk::to_json(&AuditOutput {
            findings,
            skipped,
            summary,
        }),
        Format::Sarif => {
            let rules: Vec<RuleInfo> = RULES
                .iter()
                .map(|r| RuleInfo {
                    id: r.id,
                    description: r.what,
                })
                .collect();
            tandem_sdk::to_json(&sarif::log(
                "crypto-expert",
                env!("CARGO_PKG_VERSION"),
                &rules,
                &findings,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for yes in [
            "token",
            "api_key",
            "reset_token",
            "session_id",
            "SECRET",
            "password",
            "nonce",
            "salt",
            "otp_code",
            "csrfToken",
        ] {
            assert!(secret_name(yes), "{yes}");
        }
        for no in [
            "monkey",
            "keyboard_layout",
            "choice",
            "index",
            "dice",
            "sample",
            "turnkey_x",
        ] {
            assert!(!secret_name(no), "{no}");
        }
    }
}
