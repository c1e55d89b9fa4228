//! LINTER and SECURITY end to end: the real components through the `tandem` binary, with their
//! shipped manifests (`target/agents/<id>.toml`), on the real files in `tests/data/code`, compared
//! with what the established tools (pycodestyle, pyflakes, ESLint, bandit) report on them.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tandem_e2e::{output_json as ok, run_agent as run};

fn data(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/code")
        .join(dir)
}

/// The text rules (ESLint has no equivalent among the three rules compared).
const TEXT_RULES: [&str; 6] = [
    "long-line",
    "trailing-whitespace",
    "tab-indentation",
    "mixed-indentation",
    "todo-marker",
    "missing-final-newline",
];

fn read_only(host: &Path, guest: &str) -> String {
    format!("--dir={}::{guest}", host.display())
}

fn positions(findings: &Value) -> Vec<String> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}:{}:{}: {}",
                f["file"].as_str().unwrap(),
                f["line"],
                f["column"],
                f["rule"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn linter_reports_what_pycodestyle_and_pyflakes_report_on_real_python() {
    let dir = data("python");
    let files = ["csv.py", "btm_utils.py", "imp.py"];
    let output = ok(run(
        "linter",
        "lint",
        &[read_only(&dir, "py")],
        json!({"paths": files.iter().map(|f| format!("py/{f}")).collect::<Vec<_>>()}),
    ));
    let mut ours: Vec<String> = output["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let file = f["file"].as_str().unwrap().trim_start_matches("py/");
            let rule = f["rule"].as_str().unwrap();
            // pyflakes prints no code: compare its findings by message.
            let what = if rule.starts_with('F') {
                format!("pyflakes {}", f["message"].as_str().unwrap())
            } else {
                format!("{rule} {}", f["message"].as_str().unwrap())
            };
            format!("{file}:{}:{}: {what}", f["line"], f["column"])
        })
        .collect();
    let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
    let mut theirs: Vec<String> = expected.lines().map(str::to_string).collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);
    assert_eq!(output["summary"]["files"], 3);
}

#[test]
fn linter_reports_what_eslint_reports_on_real_javascript_and_sarif_carries_it() {
    let dir = data("js");
    let grant = read_only(&dir, "js");
    let output = ok(run(
        "linter",
        "lint",
        std::slice::from_ref(&grant),
        json!({"paths": ["js/storage.js"], "config": {"ignore": TEXT_RULES}}),
    ));
    assert_eq!(
        positions(&output["findings"]),
        ["js/storage.js:1:1546: no-empty"]
    );

    let sarif = ok(run(
        "linter",
        "lint",
        &[grant],
        json!({"paths": ["js/storage.js"], "format": "sarif", "config": {"ignore": TEXT_RULES}}),
    ));
    assert_eq!(sarif["version"], "2.1.0");
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "no-empty");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"],
        json!({"startLine": 1, "startColumn": 1546})
    );
    assert_eq!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "js/storage.js"
    );
}

#[test]
fn linter_gives_one_syntax_error_at_the_parsers_position_per_language() {
    let files = json!([
        {"path": "a.py", "content": "x  =  1   \ny = = 2\n"},
        {"path": "b.rs", "content": "fn main() {\n    let = 1;\n}\n"},
        {"path": "c.ts", "content": "let x: number = ;\n"},
        {"path": "d.toml", "content": "a = 1\nb = \n"},
        {"path": "e.yaml", "content": "a: [1, 2\nb: 3\n"},
        {"path": "f.json", "content": "{\"a\": 1,}\n"},
        {"path": "g.toml", "content": "a = 1\na = 2\n"},
    ]);
    let output = ok(run("linter", "lint", &[], json!({"files": files})));
    let found: Vec<String> = positions(&output["findings"]);
    assert_eq!(
        found,
        [
            "a.py:2:5: syntax-error",
            "b.rs:2:9: syntax-error",
            "c.ts:1:17: syntax-error",
            "d.toml:2:5: syntax-error",
            "e.yaml:2:2: syntax-error",
            "f.json:1:9: syntax-error",
            "g.toml:2:1: toml-duplicate-key",
        ]
    );
}

#[test]
fn linter_honours_the_trees_config_noqa_and_custom_rules() {
    let tree = tempfile::tempdir().unwrap();
    std::fs::write(
        tree.path().join("pyproject.toml"),
        "[tool.ruff]\nline-length = 20\n",
    )
    .unwrap();
    std::fs::write(
        tree.path().join("a.py"),
        "import os  # noqa: F401\nx = 'a long line, longer than 20'\ny = 1  # noqa\nprint(os)\n",
    )
    .unwrap();
    std::fs::write(tree.path().join("b.yml"), "on:\n  push: yes\n").unwrap();
    let grant = read_only(tree.path(), "src");
    let custom = json!({"code": "no-print", "pattern": "\\bprint\\(", "message": "use logging", "severity": "info", "extensions": ["py"]});
    let output = ok(run(
        "linter",
        "lint",
        std::slice::from_ref(&grant),
        json!({"paths": ["src/a.py", "src/b.yml"], "config": {"custom": [custom]}}),
    ));
    assert_eq!(
        positions(&output["findings"]),
        [
            // `# noqa: F401` silences F401 only (flake8's reading), so line 1 is still too long.
            "src/a.py:1:21: E501",
            "src/a.py:2:21: E501",
            "src/a.py:4:1: no-print",
            "src/b.yml:1:1: yaml-truthy",
            "src/b.yml:2:9: yaml-truthy"
        ]
    );
    // The run's config wins over the tree's; a tandem-lint.toml wins over pyproject.toml.
    std::fs::write(
        tree.path().join("tandem-lint.toml"),
        "ignore = [\"yaml-\"]\n",
    )
    .unwrap();
    let output = ok(run(
        "linter",
        "lint",
        std::slice::from_ref(&grant),
        json!({"paths": ["src"], "config": {"max-line-length": 79}}),
    ));
    assert_eq!(positions(&output["findings"]), Vec::<String>::new());

    for (config, message) in [
        (
            json!({"ignore": ["Z999"]}),
            "`config.ignore`: no rule is named or starts with \"Z999\"",
        ),
        (
            json!({"custom": [{"code": "x", "pattern": "(", "message": "m"}]}),
            "`config.custom` rule `x`: invalid regex",
        ),
        (
            json!({"max-line-length": 0}),
            "`config.max-line-length` must be at least 1",
        ),
    ] {
        let output = run(
            "linter",
            "lint",
            &[],
            json!({"text": "x\n", "config": config}),
        );
        assert_eq!(output.status.code(), Some(3));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{stderr}");
    }
}

#[test]
fn fix_writes_only_with_a_read_write_grant_and_never_what_would_not_parse() {
    let tree = tempfile::tempdir().unwrap();
    let messy = "import os\ndef f():   \n\treturn os\nx = 1";
    std::fs::write(tree.path().join("a.py"), messy).unwrap();
    std::fs::write(tree.path().join("broken.py"), "def f(:\n  \n").unwrap();

    // Read-only: refused, nothing written.
    let output = run(
        "linter",
        "fix",
        &[read_only(tree.path(), "src")],
        json!({"paths": ["src"]}),
    );
    assert_eq!(
        output.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("needs its directory granted read-write")
    );
    assert_eq!(
        std::fs::read_to_string(tree.path().join("a.py")).unwrap(),
        messy
    );

    let grant = format!("--dir-rw={}::src", tree.path().display());
    let output = ok(run("linter", "fix", &[grant], json!({"paths": ["src"]})));
    let fixed = "import os\n\n\ndef f():\n    return os\n\n\nx = 1\n";
    assert_eq!(
        std::fs::read_to_string(tree.path().join("a.py")).unwrap(),
        fixed
    );
    assert_eq!(output["files"][0]["status"], "changed");
    let diff = output["files"][0]["diff"].as_str().unwrap();
    assert!(
        diff.starts_with("--- a/src/a.py\n+++ b/src/a.py\n"),
        "{diff}"
    );
    assert!(
        diff.contains("-\treturn os\n") && diff.contains("+    return os\n"),
        "{diff}"
    );
    assert_eq!(output["files"][1]["status"], "refused");
    assert_eq!(
        std::fs::read_to_string(tree.path().join("broken.py")).unwrap(),
        "def f(:\n  \n"
    );
    assert_eq!(
        output["summary"],
        json!({"files": 2, "changed": 1, "written": 1, "refused": 1})
    );
}

#[test]
fn bad_inputs_are_skipped_or_named_never_a_trap() {
    let tree = tempfile::tempdir().unwrap();
    std::fs::write(tree.path().join("bin.py"), [0u8, 159, 146, 150]).unwrap();
    std::fs::write(tree.path().join("latin1.py"), [b'#', b' ', 0xe9, b'\n']).unwrap();
    // 100 MB, sparse: the size is checked before a byte is read.
    std::fs::File::create(tree.path().join("huge.py"))
        .unwrap()
        .set_len(100 << 20)
        .unwrap();
    std::fs::create_dir(tree.path().join("sub")).unwrap();
    std::os::unix::fs::symlink("..", tree.path().join("sub/loop")).unwrap();
    for agent in ["linter", "security"] {
        let op = if agent == "linter" {
            "lint"
        } else {
            "scan-secrets"
        };
        let output = ok(run(
            agent,
            op,
            &[read_only(tree.path(), "t")],
            json!({"paths": ["t"]}),
        ));
        let skipped: Vec<(String, String)> = output["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["file"].as_str().unwrap().to_string(),
                    s["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let files: Vec<&str> = skipped.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            files,
            ["t/bin.py", "t/huge.py", "t/latin1.py", "t/sub/loop"],
            "{agent}: {skipped:?}"
        );
        assert!(
            skipped[1].1.contains("104857600 bytes: larger than"),
            "{skipped:?}"
        );
        assert!(skipped[3].1.contains("not followed"), "{skipped:?}");
    }
    let output = run("linter", "lint", &[], json!({"txet": "typo"}));
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown field `txet`"));
}

#[test]
fn security_finds_planted_secrets_never_prints_them_and_leaves_clean_files_alone() {
    let dir = data("secrets");
    let output = run(
        "security",
        "scan-secrets",
        &[read_only(&dir, "repo")],
        json!({"paths": ["repo"]}),
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    for secret in [
        "Vx9-pq2Lm7zR",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc9zQ",
        "ghp_R7kLm2Qx9VbN4tYz8WcP1sDf6GhJ3aE5uI0o",
        "T3BlbkFJe4Rt7Yu1Io9Pa2Sd5Fg8Hj",
        "AKIAIOSFODNN7EXAMPLE",
    ] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked"
        );
    }
    let value = ok(output);
    assert_eq!(
        positions(&value["findings"]),
        [
            "repo/app/.env:2:14: github-token",
            "repo/app/analysis.ipynb:10:39: openai-key",
            "repo/app/deploy_key.pem:1:1: private-key",
            "repo/app/settings.py:10:36: connection-string-password",
            "repo/app/settings.py:15:19: stripe-key",
        ]
    );
    let ignored: Vec<&str> = value["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["rule"].as_str().unwrap())
        .collect();
    assert_eq!(ignored, ["aws-access-key-id"]);

    // A baseline of accepted fingerprints, and `allow` globs.
    let fingerprints: Vec<Value> = value["findings"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .map(|f| f["fingerprint"].clone())
        .collect();
    let value = ok(run(
        "security",
        "scan-secrets",
        &[read_only(&dir, "repo")],
        json!({"paths": ["repo"], "baseline": fingerprints, "allow": ["*.pem"]}),
    ));
    assert_eq!(
        positions(&value["findings"]),
        [
            "repo/app/settings.py:10:36: connection-string-password",
            "repo/app/settings.py:15:19: stripe-key"
        ]
    );
    assert_eq!(value["baselined"], 2);
}

#[test]
fn security_scan_code_matches_bandit_on_real_python_and_knows_js_shell_and_rust() {
    let dir = data("python");
    let value = ok(run(
        "security",
        "scan-code",
        &[read_only(&dir, "py")],
        json!({"paths": ["py/logging_config.py"]}),
    ));
    // bandit -t B102,B307,B602,B605,B301,B506,B501,B108,B608,B324: B307 at 149, 153, 155.
    let found: Vec<(u64, &str)> = value["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["line"].as_u64().unwrap(), f["bandit"].as_str().unwrap()))
        .collect();
    assert_eq!(found, [(149, "B307"), (153, "B307"), (155, "B307")]);
    assert_eq!(value["findings"][0]["cwe"], "CWE-95");

    let files = json!([
        {"path": "run.js", "content": "const cp = require('child_process');\ncp.exec(`git log ${ref}`);\nel.innerHTML = location.hash;\n"},
        {"path": "install.sh", "content": "#!/bin/sh\ncurl -fsSL https://get.example.org | sh\n"},
        {"path": "lib.rs", "content": "pub fn f(p: *const u8) -> u8 {\n    unsafe { *p }\n}\n"},
    ]);
    let value = ok(run("security", "scan-code", &[], json!({"files": files})));
    assert_eq!(
        positions(&value["findings"]),
        [
            "run.js:2:1: js-child-process-exec",
            "run.js:3:1: js-inner-html",
            "install.sh:2:1: sh-curl-pipe-shell",
            "lib.rs:2:5: rust-unsafe-without-safety"
        ]
    );
}

#[test]
fn security_correlates_brute_force_spraying_scanning_and_the_login_after() {
    let dir = data("logs");
    let value = ok(run(
        "security",
        "correlate-logs",
        &[read_only(&dir, "logs")],
        json!({"paths": ["logs"], "thresholds": {"window-seconds": 120}}),
    ));
    let incidents: Vec<(&str, &str, u64)> = value["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap(),
                i["source"].as_str().unwrap(),
                i["events"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        incidents,
        [
            ("path-scanning", "192.0.2.200", 22),
            ("brute-force", "203.0.113.77", 7),
            ("password-spraying", "203.0.113.77", 7),
            ("login-after-failures", "203.0.113.77", 1),
        ]
    );
    assert_eq!(
        value["incidents"][1]["evidence"][0],
        json!({"file": "logs/auth.log", "line": 1, "text": "Mar  5 03:12:10 bastion sshd[4120]: Failed password for root from 203.0.113.77 port 51000 ssh2"})
    );
    assert_eq!(value["summary"]["auth_events"], 10);
}

#[test]
fn shipped_manifests_grant_nothing_but_limits_and_lent_trees() {
    for id in ["linter", "security"] {
        let path = tandem_e2e::agent(id).with_extension("toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let manifest: toml::Table = text.parse().unwrap();
        let mut capabilities = manifest
            .get("capabilities")
            .and_then(|c| c.as_table())
            .cloned()
            .unwrap_or_default();
        // Accepting a lent directory grants nothing the lending caller does not have.
        assert_eq!(
            capabilities.remove("accept-lent-dirs"),
            Some(toml::Value::Boolean(true)),
            "{id}"
        );
        assert!(capabilities.is_empty(), "{id} grants {capabilities:?}");
        assert!(manifest["limits"].get("fuel").is_some());
    }
}

/// A file-reading operation is not deterministic: after a file changes, `tandem serve` (whose
/// result cache is on) answers from the file, never from the cache.
#[test]
fn a_changed_file_is_linted_and_scanned_again_not_served_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents");
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(&agents).unwrap();
    std::fs::create_dir_all(&tree).unwrap();
    for id in ["linter", "security"] {
        std::fs::copy(tandem_e2e::agent(id), agents.join(format!("{id}.wasm"))).unwrap();
        let manifest = format!(
            "[capabilities]\ndirs = [{{ host = \"{}\", guest = \"tree\", mode = \"read-only\" }}]\n",
            tree.display()
        );
        std::fs::write(agents.join(format!("{id}.toml")), manifest).unwrap();
    }
    std::fs::write(tree.join("a.py"), "import os\n").unwrap();
    let server = tandem_e2e::TestServer::start(&agents, &[], &[]);
    let lint = || {
        server
            .invoke("linter", "lint", json!({"paths": ["tree"]}))
            .json()["output"]
            .clone()
    };
    let codes = |out: &Value| -> Vec<String> {
        out["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(codes(&lint()), ["F401"]);
    std::fs::write(tree.join("a.py"), "import os\nprint(os.sep)\n").unwrap();
    assert_eq!(
        codes(&lint()),
        Vec::<String>::new(),
        "a stale answer from the result cache"
    );

    let scan = || {
        server
            .invoke("security", "scan-secrets", json!({"paths": ["tree"]}))
            .json()["output"]
            .clone()
    };
    assert_eq!(scan()["findings"].as_array().unwrap().len(), 0);
    std::fs::write(
        tree.join("b.env"),
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLF\n",
    )
    .unwrap();
    assert!(
        !scan()["findings"].as_array().unwrap().is_empty(),
        "a stale answer from the result cache"
    );
}
