//! SECURITYAUDITOR and CRYPTOEXPERT end to end: the real components through the `tandem` binary
//! (and `tandem serve` for the key ring across a hot swap and a restart), with their shipped
//! manifests, on the real lockfiles and advisories in `tests/data/audit` and the standards' test
//! vectors.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tandem_e2e::{
    TestServer, agent, output_json as ok, run_agent as run_with, tandem_bin, target_dir,
};

fn data(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/audit")
        .join(dir)
}

fn read_only(host: &Path, guest: &str) -> String {
    format!("--dir={}::{guest}", host.display())
}

fn audit(lockfiles: &str, input: Value) -> Value {
    let grants = [
        read_only(&data(&format!("lockfiles/{lockfiles}")), "src"),
        read_only(&data("advisories"), "advisories"),
    ];
    let mut input = input;
    input["paths"] = json!(["src"]);
    input["advisories"] = json!(["advisories"]);
    ok(run_with("security-auditor", "audit-deps", &grants, input))
}

/// `(id, package, version)` of every finding of a kind.
fn ids(out: &Value, kind: &str) -> Vec<(String, String, String)> {
    let mut ids: Vec<_> = out["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["package"].as_str().unwrap().to_string(),
                f["version"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    ids.sort();
    ids
}

fn triples(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[test]
fn a_real_cargo_lock_gets_what_cargo_audit_reports() {
    // `cargo audit --db <RustSec at the same commit> --no-fetch --file Cargo.lock` on this
    // lockfile: 9 vulnerabilities and 3 `unsound` warnings (the humantime advisory is withdrawn).
    let out = audit("cargo", json!({}));
    assert_eq!(
        ids(&out, "vulnerability"),
        triples(&[
            ("RUSTSEC-2020-0071", "time", "0.1.45"),
            ("RUSTSEC-2020-0159", "chrono", "0.4.19"),
            ("RUSTSEC-2021-0003", "smallvec", "1.6.0"),
            ("RUSTSEC-2021-0072", "tokio", "1.8.0"),
            ("RUSTSEC-2021-0078", "hyper", "0.14.9"),
            ("RUSTSEC-2021-0079", "hyper", "0.14.9"),
            ("RUSTSEC-2021-0124", "tokio", "1.8.0"),
            ("RUSTSEC-2022-0013", "regex", "1.5.4"),
            ("RUSTSEC-2023-0001", "tokio", "1.8.0"),
        ])
    );
    assert_eq!(
        ids(&out, "unsound"),
        triples(&[
            ("RUSTSEC-2022-0022", "hyper", "0.14.9"),
            ("RUSTSEC-2023-0005", "tokio", "1.8.0"),
            ("RUSTSEC-2025-0023", "tokio", "1.8.0"),
        ])
    );
    assert_eq!(out["advisories"]["withdrawn"], 1, "{}", out["advisories"]);
    let time = out["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "RUSTSEC-2020-0071")
        .unwrap();
    assert_eq!(
        time["aliases"],
        json!(["CVE-2020-26235", "GHSA-wcg3-cvx6-7396"])
    );
    assert_eq!(time["fixed"], "0.2.0");
    assert_eq!(time["severity"], "medium");
    assert_eq!(time["cvss"]["score"], 6.2);
    assert_eq!(time["file"], "src/Cargo.lock");
    let line = std::fs::read_to_string(data("lockfiles/cargo/Cargo.lock"))
        .unwrap()
        .lines()
        .position(|l| l == "name = \"time\"")
        .unwrap()
        + 1;
    assert_eq!(time["line"], line);
    // The upgrade that clears tokio's three advisories is the highest of their fixes.
    let tokio = out["upgrades"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["package"] == "tokio")
        .unwrap();
    assert_eq!(tokio["advisories"], 3);
}

#[test]
fn npm_pypi_and_go_lockfiles_match_on_range_edges() {
    let npm = audit("npm", json!({}));
    let mut found: Vec<(String, String, String, String)> = npm["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().into(),
                f["package"].as_str().unwrap().into(),
                f["version"].as_str().unwrap().into(),
                f["fixed"].as_str().unwrap().into(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (
                "GHSA-35jh-r3h4-6jhm".into(),
                "lodash".into(),
                "4.17.20".into(),
                "4.17.21".into()
            ),
            (
                "GHSA-xvch-5gv4-984h".into(),
                "minimist".into(),
                "0.0.8".into(),
                "0.2.4".into()
            ),
            (
                "GHSA-xvch-5gv4-984h".into(),
                "minimist".into(),
                "1.2.5".into(),
                "1.2.6".into()
            ),
        ]
    );
    let python = audit("python", json!({}));
    assert_eq!(
        ids(&python, "vulnerability"),
        triples(&[
            ("GHSA-8q59-q68h-6hv4", "PyYAML", "5.3.1"),
            ("GHSA-j8r2-6x86-q33q", "requests", "2.25.1"),
        ])
    );
    assert_eq!(python["counts"]["critical"], 1, "{}", python["counts"]);
    let go = audit("go", json!({}));
    assert_eq!(
        ids(&go, "vulnerability"),
        triples(&[("GHSA-69ch-w2m2-3vjp", "golang.org/x/text", "v0.3.7")])
    );

    // Edges, inline: the fixed version and the one past an introduced bound are clean; the
    // introduced version and a pre-release of the fix are affected; PEP 440 spellings compare.
    let edges = |file: &str, content: &str| {
        let grants = [read_only(&data("advisories"), "advisories")];
        ok(run_with(
            "security-auditor",
            "audit-deps",
            &grants,
            json!({"files": [{"path": file, "content": content}], "advisories": ["advisories"]}),
        ))
    };
    let out = edges(
        "requirements.txt",
        "requests==2.31.0\nrequests==2.3.0\nrequests==2.2.1\nPyYAML==5.4b2\npyyaml==5.4\nflask>=1\nPyYAML>=5.1,<6\n",
    );
    let lines: Vec<(u64, &str, &str)> = out["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap(),
                f["package"].as_str().unwrap(),
                f["confidence"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (2, "requests", "certain"),
            (4, "PyYAML", "certain"),
            (7, "PyYAML", "possible")
        ]
    );
    // pyproject.toml counts when no Python lockfile is beside it.
    let out = edges(
        "pyproject.toml",
        "[project]\nname = \"app\"\ndependencies = [\"requests==2.25.1\", \"PyYAML>=5.1,<6\"]\n",
    );
    let found: Vec<(&str, &str)> = out["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["package"].as_str().unwrap(),
                f["confidence"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(found, [("PyYAML", "possible"), ("requests", "certain")]);
    let out = edges(
        "package-lock.json",
        r#"{"lockfileVersion": 3, "packages": {"": {}, "node_modules/minimist": {"version": "1.2.6"}, "node_modules/a/node_modules/minimist": {"version": "0.2.4"}, "node_modules/lodash": {"version": "4.17.21-rc.1"}}}"#,
    );
    assert_eq!(
        ids(&out, "vulnerability"),
        triples(&[("GHSA-35jh-r3h4-6jhm", "lodash", "4.17.21-rc.1")])
    );
}

#[test]
fn clean_and_malformed_lockfiles() {
    let clean = audit("yarn", json!({}));
    assert_eq!(clean["findings"], json!([]));
    assert_eq!(clean["packages"], 3);
    // A lockfile that does not parse: a clear error naming the file and the line.
    let grants = [
        read_only(&data("lockfiles/broken"), "src"),
        read_only(&data("advisories"), "advisories"),
    ];
    let output = run_with(
        "security-auditor",
        "audit-deps",
        &grants,
        json!({"paths": ["src"], "advisories": ["advisories"]}),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("src/Cargo.lock:33:"), "{stderr}");
    // With a good lockfile beside it, the run goes on and lists the broken one.
    let both = run_with(
        "security-auditor",
        "audit-deps",
        &grants,
        json!({"paths": ["src"], "files": [{"path": "go.sum", "content": "golang.org/x/text v0.3.8 h1:x=\n"}], "advisories": ["advisories"]}),
    );
    let both = ok(both);
    assert_eq!(both["errors"][0]["line"], 33, "{both}");
    assert_eq!(both["findings"], json!([]));
}

#[test]
fn audit_tree_delegates_secrets_to_security_and_reports_each_check() {
    let tree = tempfile::tempdir().unwrap();
    let root = tree.path();
    std::fs::write(root.join("LICENSE"), "MIT License\n\nCopyright (c) 2026\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\nof this software\n").unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"x\"\nversion = \"0.1.0\"\nlicense = \"MIT OR Apache-2.0\"\n",
    )
    .unwrap();
    std::fs::write(root.join("requirements.txt"), "flask>=2\n").unwrap();
    std::fs::write(root.join("deploy.sh"), "#!/bin/sh\nchmod 777 /srv/data\n").unwrap();
    std::fs::write(
        root.join("settings.py"),
        "AWS_ACCESS_KEY_ID = \"AKIAZ7VRSQ5TJN2XKQ4M\"\n",
    )
    .unwrap();
    let out = ok(run_with(
        "security-auditor",
        "audit-tree",
        &[read_only(root, "src")],
        json!({"paths": ["src"]}),
    ));
    let status = |check: &str| {
        out["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == check)
            .unwrap_or_else(|| panic!("{check} in {out}"))
            .clone()
    };
    assert_eq!(status("license")["status"], "pass", "{out}");
    assert_eq!(status("license")["evidence"][0], "src/LICENSE: MIT");
    assert_eq!(status("dependencies-pinned")["status"], "fail");
    let secrets = status("no-committed-secrets");
    assert_eq!(secrets["status"], "fail", "{secrets}");
    assert!(
        secrets["evidence"][0]
            .as_str()
            .unwrap()
            .starts_with("src/settings.py:1:"),
        "{secrets}"
    );
    assert_eq!(
        status("no-world-writable-files")["evidence"][0],
        "src/deploy.sh:2: chmod 777 /srv/data"
    );
    assert_eq!(status("ci-config")["status"], "fail");
    // `allow` leaves a path out of every check.
    let allowed = ok(run_with(
        "security-auditor",
        "audit-tree",
        &[read_only(root, "src")],
        json!({"paths": ["src"], "allow": ["settings.py", "*.sh"]}),
    ));
    let statuses: Vec<&str> = allowed["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["pass", "fail", "pass", "pass", "fail"],
        "{allowed}"
    );

    // The report: scored, in Markdown.
    let out = ok(run_with(
        "security-auditor",
        "report",
        &[
            read_only(root, "src"),
            read_only(&data("advisories"), "advisories"),
        ],
        json!({"paths": ["src"], "advisories": ["advisories"], "format": "markdown"}),
    ));
    // flask>=2 may resolve to no affected version here: no finding; 4 failed checks x 10.
    assert_eq!(out["score"]["score"], 40.0, "{out}");
    assert!(
        out["markdown"]
            .as_str()
            .unwrap()
            .contains("| no-committed-secrets | fail |")
    );
}

#[test]
fn the_shipped_manifests_grant_least_privilege() {
    let auditor: toml::Value = toml::from_str(
        &std::fs::read_to_string(agent("security-auditor").with_extension("toml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        auditor["capabilities"]["delegate"],
        toml::Value::Array(vec!["security".into()])
    );
    assert!(
        auditor["capabilities"].get("dirs").is_none()
            && auditor["capabilities"].get("env").is_none()
    );
    assert_eq!(auditor["state"]["max-keys"].as_integer(), Some(0));
    let crypto: toml::Value = toml::from_str(
        &std::fs::read_to_string(agent("crypto-expert").with_extension("toml")).unwrap(),
    )
    .unwrap();
    // Nothing but accepting a directory a caller lends it (DIRECTOR's review), which grants it no
    // more than the caller has.
    let mut caps = crypto["capabilities"].as_table().unwrap().clone();
    assert_eq!(
        caps.remove("accept-lent-dirs"),
        Some(toml::Value::Boolean(true))
    );
    assert!(caps.is_empty(), "{caps:?}");
    assert!(crypto["state"]["max-keys"].as_integer().unwrap() > 0);
}

fn crypto(op: &str, input: Value) -> Value {
    ok(run_with("crypto-expert", op, &[], input))
}

#[test]
fn crypto_matches_the_standards_test_vectors_inside_the_sandbox() {
    assert_eq!(
        crypto("hash", json!({"algorithm": "sha256", "data": "abc"}))["digest"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let many = crypto(
        "hash",
        json!({"algorithm": "blake3", "inputs": ["", "AA=="], "encoding": "base64"}),
    );
    assert_eq!(
        many["digests"],
        json!([
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
            "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"
        ])
    );
    assert_eq!(
        crypto("hash", json!({"algorithm": "sha3-256", "data": "abc"}))["digest"],
        "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
    );
    assert_eq!(
        crypto(
            "hmac",
            json!({"key": "4a656665", "data": "what do ya want for nothing?"})
        )["tag"],
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(
        crypto(
            "hkdf",
            json!({"ikm": "0b".repeat(22), "salt": "000102030405060708090a0b0c", "info": "f0f1f2f3f4f5f6f7f8f9", "length": 42})
        )["okm"],
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    );
    let signed = crypto(
        "sign",
        json!({"private-key": "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "data": ""}),
    );
    assert_eq!(
        signed["signature"],
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    );
    assert_eq!(
        signed["public-key"],
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
    assert_eq!(
        crypto(
            "agree",
            json!({"private-key": "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", "peer-public-key": "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"})
        )["shared-secret"],
        "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    );
    // RFC 8439's ciphertext, opened by the agent (the agent never takes a nonce to encrypt with).
    let opened = crypto(
        "decrypt",
        json!({
            "algorithm": "chacha20-poly1305",
            "key": "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
            "nonce": "070000004041424344454647",
            "aad": "50515253c0c1c2c3c4c5c6c7",
            "aad-encoding": "hex",
            "data": "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b61161ae10b594f09e26a7e902ecbd0600691",
        }),
    );
    assert_eq!(
        opened["plaintext"],
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it."
    );
    let refused = run_with(
        "crypto-expert",
        "encrypt",
        &[],
        json!({"algorithm": "aes-256-gcm", "key": "00".repeat(32), "nonce": "00".repeat(12), "data": "x"}),
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("makes its own nonce"));
    // Round trips with raw keys; every encryption gets a fresh nonce.
    for algorithm in ["chacha20-poly1305", "aes-256-gcm"] {
        let key = "11".repeat(32);
        let a = crypto(
            "encrypt",
            json!({"algorithm": algorithm, "key": key, "data": "attack at dawn", "aad": "hdr"}),
        );
        let b = crypto(
            "encrypt",
            json!({"algorithm": algorithm, "key": key, "data": "attack at dawn", "aad": "hdr"}),
        );
        assert_ne!(a["nonce"], b["nonce"]);
        let back = crypto(
            "decrypt",
            json!({"algorithm": algorithm, "key": key, "nonce": a["nonce"], "data": a["ciphertext"], "aad": "hdr"}),
        );
        assert_eq!(back["plaintext"], "attack at dawn");
        let tampered = run_with(
            "crypto-expert",
            "decrypt",
            &[],
            json!({"algorithm": algorithm, "key": key, "nonce": a["nonce"], "data": a["ciphertext"], "aad": "other"}),
        );
        assert!(!tampered.status.success());
    }
    // Argon2id in PHC format, parameters reported.
    let phc = crypto(
        "hash-password",
        json!({"password": "correct horse", "cost": {"memory-kib": 1024, "iterations": 2, "parallelism": 1}}),
    );
    let phc_text = phc["phc"].as_str().unwrap();
    assert!(
        phc_text.starts_with("$argon2id$v=19$m=1024,t=2,p=1$"),
        "{phc}"
    );
    let checked = crypto(
        "verify-password",
        json!({"password": "correct horse", "phc": phc_text}),
    );
    assert_eq!(checked["valid"], true);
    assert_eq!(checked["needs-rehash"], true);
    assert_eq!(
        crypto(
            "verify-password",
            json!({"password": "wrong", "phc": phc_text})
        )["valid"],
        false
    );
}

#[test]
fn weak_crypto_is_found_in_a_planted_tree_and_not_in_a_clean_one() {
    let tree = tempfile::tempdir().unwrap();
    std::fs::write(
        tree.path().join("app.py"),
        "import hashlib\nfrom Crypto.Cipher import AES\n\ndef token_for(user):\n    return hashlib.md5(user.encode()).hexdigest()\n\ncipher = AES.new(key, AES.MODE_ECB)\n",
    )
    .unwrap();
    std::fs::write(
        tree.path().join("server.js"),
        "const https = require('https');\nhttps.get(url, { rejectUnauthorized: false });\n",
    )
    .unwrap();
    std::fs::write(
        tree.path().join("main.go"),
        "cfg := &tls.Config{InsecureSkipVerify: true}\n",
    )
    .unwrap();
    let out = ok(run_with(
        "crypto-expert",
        "audit-crypto",
        &[read_only(tree.path(), "src")],
        json!({"paths": ["src"]}),
    ));
    let found: Vec<(String, u64, String, String)> = out["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().into(),
                f["line"].as_u64().unwrap(),
                f["rule"].as_str().unwrap().into(),
                f["cwe"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("src/app.py".into(), 5, "weak-hash".into(), "CWE-328".into()),
            ("src/app.py".into(), 7, "ecb-mode".into(), "CWE-327".into()),
            (
                "src/main.go".into(),
                1,
                "cert-verification-disabled".into(),
                "CWE-295".into()
            ),
            (
                "src/server.js".into(),
                2,
                "cert-verification-disabled".into(),
                "CWE-295".into()
            ),
        ]
    );
    assert!(
        out["findings"][0]["fix"]
            .as_str()
            .unwrap()
            .contains("SHA-256")
    );
    let clean = tempfile::tempdir().unwrap();
    std::fs::write(
        clean.path().join("ok.py"),
        "import secrets, hashlib\ntoken = secrets.token_urlsafe(32)\ndigest = hashlib.sha256(b'x').hexdigest()\n",
    )
    .unwrap();
    let out = ok(run_with(
        "crypto-expert",
        "audit-crypto",
        &[read_only(clean.path(), "src")],
        json!({"paths": ["src"]}),
    ));
    assert_eq!(out["findings"], json!([]));
}

const TOKEN: &str = "crypto-tests-admin-token-0123456789";

/// The component with a custom section appended: the same code under a new content hash, which
/// the host takes as a new version.
fn rebuilt(component: &[u8], tag: &str) -> Vec<u8> {
    let mut section = Vec::new();
    section.push(tag.len() as u8);
    section.extend_from_slice(tag.as_bytes());
    let mut out = component.to_vec();
    out.push(0); // custom section
    out.push(section.len() as u8);
    out.extend(section);
    out
}

#[test]
fn key_rotation_survives_a_hot_swap_and_a_restart() {
    let agents = tempfile::tempdir().unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        agent("crypto-expert"),
        agents.path().join("crypto-expert.wasm"),
    )
    .unwrap();
    std::fs::copy(
        agent("crypto-expert").with_extension("toml"),
        agents.path().join("crypto-expert.toml"),
    )
    .unwrap();
    let data = data_dir.path().to_str().unwrap();
    let start = || {
        TestServer::start(
            agents.path(),
            &["--no-audit", "--data-dir", data],
            &[("TANDEM_ADMIN_TOKEN", TOKEN)],
        )
    };
    let call = |server: &TestServer, op: &str, input: Value| {
        let reply = server.invoke("crypto-expert", op, input);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(!reply.body.contains("\"secret\""), "{}", reply.body);
        reply.json()["output"].clone()
    };
    let mut server = start();
    call(
        &server,
        "create-key",
        json!({"name": "release", "kind": "ed25519"}),
    );
    call(
        &server,
        "create-key",
        json!({"name": "vault", "kind": "aes-256-gcm"}),
    );
    let v1 = call(
        &server,
        "sign",
        json!({"key-name": "release", "data": "1.0.0"}),
    );
    let sealed = call(
        &server,
        "encrypt",
        json!({"key-name": "vault", "data": "db password", "aad": "prod"}),
    );
    assert_eq!(sealed["version"], 1);
    assert_eq!(&sealed["nonce"].as_str().unwrap()[..16], "0000000000000000");

    // A hot swap to a new version of the agent: the ring is the agent id's, not the version's.
    let component = std::fs::read(agent("crypto-expert")).unwrap();
    let bearer = format!("Bearer {TOKEN}");
    let swapped = server.request(
        "PUT",
        "/v1/agents/crypto-expert",
        &[("authorization", &bearer)],
        &rebuilt(&component, "tandem-test-v2"),
    );
    assert_eq!(swapped.status, 200, "{}", swapped.body);
    let rotated = call(&server, "rotate-key", json!({"name": "release"}));
    assert_eq!(rotated["current"], 2);
    let v2 = call(
        &server,
        "sign",
        json!({"key-name": "release", "data": "2.0.0"}),
    );
    assert_eq!(v2["version"], 2);
    assert_ne!(v1["public-key"], v2["public-key"]);
    let second = call(
        &server,
        "encrypt",
        json!({"key-name": "vault", "data": "x"}),
    );
    assert_eq!(&second["nonce"].as_str().unwrap()[..16], "0000000000000001");

    // A restart: old versions still verify and decrypt, the retired one does not.
    assert!(server.terminate().success(), "{}", server.stderr());
    let server = start();
    let verified = call(
        &server,
        "verify",
        json!({"key-name": "release", "data": "1.0.0", "signature": v1["signature"]}),
    );
    assert_eq!(verified, json!({"valid": true, "version": 1}));
    let opened = call(
        &server,
        "decrypt",
        json!({"key-name": "vault", "version": 1, "nonce": sealed["nonce"], "data": sealed["ciphertext"], "aad": "prod"}),
    );
    assert_eq!(opened["plaintext"], "db password");
    call(
        &server,
        "retire-key",
        json!({"name": "release", "version": 1}),
    );
    let after = call(
        &server,
        "verify",
        json!({"key-name": "release", "data": "1.0.0", "signature": v1["signature"]}),
    );
    assert_eq!(after["valid"], false);
    let refused = server.invoke(
        "crypto-expert",
        "verify",
        json!({"key-name": "release", "version": 1, "data": "1.0.0", "signature": v1["signature"]}),
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    let listed = call(&server, "list-keys", json!({}));
    assert_eq!(listed["keys"][0]["name"], "release");
    assert_eq!(listed["keys"][0]["versions"][0]["status"], "retired");
}

/// Python's `cryptography` from PyPI, in `target/crypto-venv` (made once): the reference the agent
/// is held to byte for byte.
fn python_cryptography() -> PathBuf {
    tandem_e2e::python_venv("crypto-venv", &["cryptography>=43"], "cryptography")
}

const REFERENCE: &str = r#"
import json, sys
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
case = json.load(sys.stdin)
b = bytes.fromhex
message = case["message"].encode()
seed = b(case["seed"])
signature = Ed25519PrivateKey.from_private_bytes(seed).sign(message)
Ed25519PublicKey.from_public_bytes(b(case["ring_public"])).verify(b(case["ring_signature"]), message)
shared = X25519PrivateKey.from_private_bytes(seed).exchange(X25519PublicKey.from_public_bytes(b(case["peer"])))
mac = hmac.HMAC(seed, hashes.SHA512()); mac.update(message)
okm = HKDF(algorithm=hashes.SHA256(), length=42, salt=b(case["salt"]), info=message).derive(seed)
print(json.dumps({
    "signature": signature.hex(),
    "shared": shared.hex(),
    "hmac": mac.finalize().hex(),
    "hkdf": okm.hex(),
    "gcm": AESGCM(seed).encrypt(b(case["gcm_nonce"]), message, b"aad").hex(),
    "chacha": ChaCha20Poly1305(seed).encrypt(b(case["chacha_nonce"]), message, b"aad").hex(),
}))
"#;

#[test]
fn crypto_agrees_with_pythons_cryptography_byte_for_byte() {
    let python = python_cryptography();
    // Fresh keys each run, from the agent's random source.
    let seed = crypto("random", json!({"bytes": 32}))["random"]
        .as_str()
        .unwrap()
        .to_string();
    let peer_secret = crypto("random", json!({"bytes": 32}))["random"]
        .as_str()
        .unwrap()
        .to_string();
    let salt = crypto("random", json!({"bytes": 16}))["random"]
        .as_str()
        .unwrap()
        .to_string();
    let message = "the quick brown fox \u{1f98a} jumps over the lazy dog";
    let peer = crypto(
        "agree",
        json!({"private-key": peer_secret, "peer-public-key": "09".to_string() + &"00".repeat(31)}),
    )["public-key"]
        .clone();
    let signed = crypto("sign", json!({"private-key": seed, "data": message}));
    let shared = crypto(
        "agree",
        json!({"private-key": seed, "peer-public-key": peer}),
    );
    let mac = crypto(
        "hmac",
        json!({"algorithm": "sha512", "key": seed, "data": message}),
    );
    let info: String = message.bytes().map(|b| format!("{b:02x}")).collect();
    let okm = crypto(
        "hkdf",
        json!({"ikm": seed, "salt": salt, "info": info, "length": 42}),
    );
    let gcm = crypto(
        "encrypt",
        json!({"algorithm": "aes-256-gcm", "key": seed, "data": message, "aad": "aad"}),
    );
    let chacha = crypto(
        "encrypt",
        json!({"algorithm": "chacha20-poly1305", "key": seed, "data": message, "aad": "aad"}),
    );
    // A key-ring signature, checked by Python with the public key the agent gives.
    let data = tempfile::tempdir().unwrap();
    let ring = |op: &str, input: Value| {
        let output = std::process::Command::new(tandem_bin())
            .arg("--data-dir")
            .arg(data.path())
            .args([
                "run",
                "crypto-expert",
                "--op",
                op,
                "--input",
                &input.to_string(),
                "--raw",
            ])
            .env("TANDEM_CACHE_DIR", target_dir().join("test-cache"))
            .env("TANDEM_AGENTS", target_dir().join("agents"))
            .output()
            .unwrap();
        ok(output)
    };
    ring("create-key", json!({"name": "py", "kind": "ed25519"}));
    let ring_signed = ring("sign", json!({"key-name": "py", "data": message}));

    let case = json!({
        "message": message,
        "seed": seed,
        "peer": peer,
        "salt": salt,
        "gcm_nonce": gcm["nonce"],
        "chacha_nonce": chacha["nonce"],
        "ring_public": ring_signed["public-key"],
        "ring_signature": ring_signed["signature"],
    });
    let reference = tandem_e2e::python_json(&python, REFERENCE, &case);
    assert_eq!(signed["signature"], reference["signature"]);
    assert_eq!(shared["shared-secret"], reference["shared"]);
    assert_eq!(mac["tag"], reference["hmac"]);
    assert_eq!(okm["okm"], reference["hkdf"]);
    assert_eq!(gcm["ciphertext"], reference["gcm"]);
    assert_eq!(chacha["ciphertext"], reference["chacha"]);
}
