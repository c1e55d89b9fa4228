//! Go and Java (and Kotlin, C#) by line patterns, for want of a parser in the sandbox: the
//! standard libraries' weak hashes, ECB (Java's bare `"AES"` is ECB), DES/RC4, short RSA keys,
//! and `InsecureSkipVerify`. Comment lines are skipped.

use std::sync::OnceLock;

use regex::Regex;

use super::{ECB_MODE, NO_CERT_CHECK, Report, Rule, WEAK_CIPHER, WEAK_HASH, WEAK_RSA};
use guest_support::Finding;

fn patterns() -> &'static Vec<(Regex, &'static Rule)> {
    static PATTERNS: OnceLock<Vec<(Regex, &'static Rule)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let p = |re: &str, rule| (Regex::new(re).expect("a valid pattern"), rule);
        vec![
            p(r"\b(?:md5|sha1)\.(?:New|Sum)\s*\(", &WEAK_HASH),
            p(r#"MessageDigest\.getInstance\(\s*"(?i:MD5|SHA-?1)"\s*\)"#, &WEAK_HASH),
            p(r#"(?:HashAlgorithmName\.(?:MD5|SHA1)|\b(?:MD5|SHA1)\.Create\s*\()"#, &WEAK_HASH),
            p(r#"Cipher\.getInstance\(\s*"(?:AES|DES|DESede)(?:/ECB/[^"]*)?"\s*\)"#, &ECB_MODE),
            p(r"\bCipherMode\.ECB\b", &ECB_MODE),
            p(r#"\b(?:des\.NewCipher|des\.NewTripleDESCipher|rc4\.NewCipher)\s*\(|Cipher\.getInstance\(\s*"(?:DES|DESede|RC4|ARCFOUR|Blowfish)"#, &WEAK_CIPHER),
            p(r"\brsa\.GenerateKey\([^,]+,\s*(?:512|768|1000|1024|1536)\s*\)", &WEAK_RSA),
            p(r"\.initialize\(\s*(?:512|768|1024|1536)\s*[,)]", &WEAK_RSA),
            p(r"\bInsecureSkipVerify\s*:\s*true\b", &NO_CERT_CHECK),
        ]
    })
}

pub fn scan(file: &str, text: &str) -> Vec<Finding> {
    let mut report = Report::new(file, text);
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") || trimmed.starts_with('*') || trimmed.starts_with("/*") {
            continue;
        }
        for (re, rule) in patterns() {
            if let Some(m) = re.find(line) {
                let column = line[..m.start()].chars().count() + 1;
                report.at(index + 1, column, rule, m.as_str());
            }
        }
    }
    report.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_and_java() {
        let go = "h := md5.New()\n// md5.New() in a comment\nk, _ := rsa.GenerateKey(rand.Reader, 1024)\ncfg := &tls.Config{InsecureSkipVerify: true}\nok := sha256.New()\n";
        let got: Vec<(usize, String)> = scan("x.go", go)
            .into_iter()
            .map(|f| (f.line, f.rule))
            .collect();
        assert_eq!(
            got,
            [
                (1, "weak-hash".to_string()),
                (3, "weak-rsa".into()),
                (4, "cert-verification-disabled".into())
            ]
        );
        let java = "Cipher c = Cipher.getInstance(\"AES\");\nCipher g = Cipher.getInstance(\"AES/GCM/NoPadding\");\nMessageDigest m = MessageDigest.getInstance(\"SHA-1\");\n";
        let got: Vec<(usize, String)> = scan("X.java", java)
            .into_iter()
            .map(|f| (f.line, f.rule))
            .collect();
        assert_eq!(got, [(1, "ecb-mode".to_string()), (3, "weak-hash".into())]);
    }
}
