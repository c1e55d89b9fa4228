//! Python guests: `tandem build` makes a component of `agents-py/complexity` with componentize-py
//! (installed by the test from PyPI into `target/componentize-py-venv`, as `tandem build` tells a
//! user to), and the host runs it like any other agent: its limits and grants enforced, the
//! network denied. Its numbers are compared with radon's (`radon cc`, from PyPI) on real code, the
//! standard library's `email` package.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};
use tandem_e2e::{
    build_agents, output_json, python_json, python_venv, run_built, scaffold_build_and_greet,
    tandem_bin, target_dir,
};

/// componentize-py, installed from PyPI into a venv of its own.
fn componentize_py() -> PathBuf {
    python_venv(
        "componentize-py-venv",
        &["componentize-py==0.25.1"],
        "componentize_py",
    )
    .with_file_name("componentize-py")
}

/// The directory the Python agents are built into, once per test run.
fn built() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = target_dir().join("python-agents");
        let env = vec![("TANDEM_COMPONENTIZE_PY", componentize_py())];
        build_agents(
            &out,
            &[
                ("agents-py/complexity", env.clone()),
                ("agents-py/docstrings", env.clone()),
                ("tests/guests-py/netprobe", env),
            ],
        );
        out
    })
}

/// `tandem run complexity --op <op> <args> --input <input>` on the built agent.
fn run(op: &str, args: &[&str], input: Value) -> std::process::Output {
    run_agent("complexity", op, args, input)
}

/// `tandem run <agent> --op <op> <args> --input @FILE` on a built Python agent.
fn run_agent(agent: &str, op: &str, args: &[&str], input: Value) -> std::process::Output {
    run_built(built(), agent, op, args, &input)
}

/// `[file, fields...]` of each of `items` (a file under the grant `src/`), sorted: the shape the
/// reference tools' findings are put in.
fn rows(items: &Value, fields: &[&str]) -> Vec<Value> {
    let rows = items.as_array().unwrap().iter().map(|item| {
        let file = item["file"].as_str().unwrap().strip_prefix("src/").unwrap();
        let mut row = vec![json!(file)];
        row.extend(fields.iter().map(|field| item[*field].clone()));
        Value::Array(row)
    });
    sorted(Value::Array(rows.collect()))
}

/// The items of a JSON array, sorted by their text.
fn sorted(items: Value) -> Vec<Value> {
    let mut items = items.as_array().unwrap().clone();
    items.sort_by_key(|v| v.to_string());
    items
}

fn stdlib_dir(package: &str) -> PathBuf {
    let out = Command::new("python3")
        .args([
            "-c",
            &format!("import os, {package}; print(os.path.dirname({package}.__file__))"),
        ])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// radon's `cc` of every `.py` file under `dir`: `[file (relative), name, line, complexity]`.
const RADON: &str = r#"
import json, os, sys
from radon.complexity import cc_visit
root = json.load(sys.stdin)["dir"]
found = []
for base, dirs, names in os.walk(root):
    dirs.sort()
    for name in sorted(names):
        if not name.endswith(".py"):
            continue
        path = os.path.join(base, name)
        with open(path, encoding="utf-8", errors="replace") as f:
            blocks = cc_visit(f.read())
        for b in blocks:
            if type(b).__name__ == "Function":
                found.append([os.path.relpath(path, root), b.fullname, b.lineno, b.complexity])
print(json.dumps(sorted(found)))
"#;

#[test]
fn complexity_agrees_with_radon_on_the_standard_library() {
    let email = stdlib_dir("email");
    let grant = format!("{}::src", email.display());
    let out = output_json(run(
        "measure",
        &["--dir", &grant],
        json!({"paths": ["src"]}),
    ));
    let ours = rows(&out["functions"], &["name", "line", "complexity"]);
    let radon = python_venv("radon-venv", &["radon==6.0.1"], "radon");
    let theirs = sorted(python_json(&radon, RADON, &json!({"dir": email})));
    assert!(theirs.len() > 300, "email has hundreds of functions");
    assert_eq!(ours, theirs);
    assert_eq!(out["errors"], json!([]));
    let ranks: Vec<&str> = out["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rank"].as_str().unwrap())
        .collect();
    assert!(
        ranks.contains(&"A") && ranks.iter().any(|r| *r > "B"),
        "{ranks:?}"
    );
}

/// ruff's D1 findings for `packages` of the standard library: `[path, row, column, code]`.
const RUFF: &str = r#"
import json, subprocess, sys
config = json.load(sys.stdin)
out = subprocess.run(
    [config["ruff"], "check", "--isolated", "--select", "D1", "--output-format", "json", *config["packages"]],
    cwd=config["root"], capture_output=True, text=True,
).stdout
found = [
    [f["filename"][len(config["root"]) + 1:], f["location"]["row"], f["location"]["column"], f["code"]]
    for f in json.loads(out) if (f["code"] or "").startswith("D")
]
print(json.dumps(sorted(found)))
"#;

#[test]
fn docstrings_agrees_with_ruff_on_the_standard_library() {
    let root = stdlib_dir("json").parent().unwrap().to_path_buf();
    let packages = ["email", "multiprocessing", "concurrent", "json"];
    let grant = format!("{}::src", root.display());
    let paths: Vec<String> = packages.iter().map(|p| format!("src/{p}")).collect();
    let out = output_json(run_agent(
        "docstrings",
        "check",
        &["--dir", &grant],
        json!({"paths": paths}),
    ));
    let ours = rows(&out["findings"], &["line", "column", "rule"]);
    let ruff_python = python_venv("ruff-venv", &["ruff==0.17.6"], "ruff");
    let ruff = ruff_python.with_file_name("ruff");
    let theirs = sorted(python_json(
        &ruff_python,
        RUFF,
        &json!({"ruff": ruff, "root": root, "packages": packages}),
    ));
    assert!(theirs.len() > 200, "{}", theirs.len());
    assert_eq!(ours, theirs);
    let codes: std::collections::BTreeSet<&str> = out["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 7, "every rule but D106 fires here: {codes:?}");
}

#[test]
fn inline_text_schemas_and_classified_errors() {
    let out = output_json(run(
        "measure",
        &[],
        json!({"text": "def f(x):\n    if x and x > 1:\n        return [y for y in x if y]\n    return 0\n", "name": "f.py"}),
    ));
    let f = &out["functions"][0];
    // 1 + if + `and` + the comprehension and its `if`.
    assert_eq!(
        (
            f["name"].as_str(),
            f["complexity"].as_u64(),
            f["rank"].as_str()
        ),
        (Some("f"), Some(5), Some("A"))
    );
    let broken = output_json(run(
        "measure",
        &[],
        json!({"text": "def f(:\n", "name": "b.py"}),
    ));
    assert_eq!(broken["errors"][0]["file"], "b.py");

    let bad = run("measure", &[], json!({"txt": "x"}));
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("invalid-input") && stderr.contains("txt"),
        "{stderr}"
    );

    // The declared schema reaches the host through the `schemas` export.
    let inspect = Command::new(tandem_bin())
        .args(["inspect", "--json"])
        .arg(built().join("complexity.wasm"))
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let schema = &info["agent"]["operations"][0]["input_schema"];
    assert_eq!(schema["properties"]["min"]["minimum"], 1, "{info:#}");
}

#[test]
fn grants_and_limits_hold_for_a_python_guest() {
    // No directory granted: a path is denied.
    let denied = run("measure", &[], json!({"paths": ["/etc"]}));
    assert!(!denied.status.success());
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(stderr.contains("denied"), "{stderr}");
    // A huge input within the manifest's bounds but past a short deadline is stopped, classified.
    let text = "def f(x):\n    return x\n".repeat(200_000);
    let slow = run("measure", &["--timeout", "200ms"], json!({"text": text}));
    assert!(!slow.status.success());
    let stderr = String::from_utf8_lossy(&slow.stderr);
    assert!(stderr.contains("error[timeout]"), "{stderr}");
    // The network is linked (CPython imports it) but every use is refused.
    let probe = run_agent(
        "netprobe",
        "connect",
        &[],
        json!({"host": "127.0.0.1", "port": 9}),
    );
    assert!(!probe.status.success());
    let stderr = String::from_utf8_lossy(&probe.stderr);
    assert!(
        stderr.contains("denied") && stderr.contains("PermissionError"),
        "{stderr}"
    );
    // Fuel too: enough to load (describe, health), not for 5000 functions.
    let text = "def f(x):\n    return x\n".repeat(5000);
    let fueled = run("measure", &["--fuel", "2000000"], json!({"text": text}));
    assert!(!fueled.status.success());
    let stderr = String::from_utf8_lossy(&fueled.stderr);
    assert!(stderr.contains("error[fuel-exhausted]"), "{stderr}");
}

#[test]
fn a_python_guest_fetches_within_its_rules_with_a_secret_it_never_sees() {
    tandem_e2e::loopback::assert_fetch_through_the_host(&built().join("netprobe.wasm"), "netprobe");
}

#[test]
fn a_scaffolded_python_agent_builds_answers_and_passes_its_tests() {
    let scaffold = scaffold_build_and_greet(
        "python",
        "hello-py",
        "app.py, greeting.py, hello-py.toml",
        &[("TANDEM_COMPONENTIZE_PY", componentize_py())],
    );
    let (root, project) = (scaffold.dir.path().to_str().unwrap(), &scaffold.project);
    let tests = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s"])
        .arg(project)
        .output()
        .unwrap();
    assert!(
        tests.status.success(),
        "{}",
        String::from_utf8_lossy(&tests.stderr)
    );
    assert!(String::from_utf8_lossy(&tests.stderr).contains("Ran 2 tests"));
    // `--lang` is for agents only.
    let refused = Command::new(tandem_bin())
        .args(["new", "rust-lib", "x", "--lang", "python", "--into", root])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--lang applies to `agent` only"));
}
