//! DEBUGGER and OPTIMIZER end to end: the real components through the `tandem` binary with their
//! shipped manifests, on crash texts made by really running failing programs
//! (`tests/data/debug/regenerate.sh`), a trap the host reports in this very test, and the figures
//! of a `tandem serve` this test loads.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tandem_e2e::{
    TestServer, metered_echo, output_json as ok, run_agent, tandem_bin, target_dir, test_agent,
};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/debug")
}

fn logs() -> Vec<String> {
    vec![format!("--dir={}::logs", data().display())]
}

fn debugger(op: &str, input: Value) -> Value {
    ok(run_agent("debugger", op, &logs(), input))
}

fn optimizer(op: &str, input: Value) -> Value {
    ok(run_agent("optimizer", op, &[], input))
}

/// A run that must fail: its stderr.
fn refused(agent: &str, op: &str, input: Value) -> String {
    let out = run_agent(agent, op, &logs(), input);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn one_crash(file: &str) -> Value {
    let out = debugger("parse", json!({"paths": [format!("logs/{file}")]}));
    assert_eq!(out["count"], 1, "{file}: {out:#}");
    out["crashes"][0].clone()
}

/// The in-app frames' functions.
fn app_functions(crash: &Value) -> Vec<String> {
    crash["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["in_app"] == true)
        .map(|f| f["function"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn parse_reads_real_crashes_of_every_runtime() {
    let rust = one_crash("rust-index-full.txt");
    assert_eq!(rust["language"], "rust");
    assert_eq!(
        rust["message"],
        "index out of bounds: the len is 3 but the index is 7"
    );
    // The full backtrace, demangled and cut to the application's frames as RUST_BACKTRACE=1 shows.
    let functions = app_functions(&rust);
    assert!(functions[0].starts_with("crash::pick"), "{functions:?}");
    let culprit = rust["frames"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["in_app"] == true)
        .unwrap();
    assert_eq!(
        (culprit["line"].as_u64(), culprit["column"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(rust["frames"][0]["function"], "core::panicking::panic_fmt");

    let python = one_crash("python-chained.txt");
    assert_eq!(python["type"], "ConfigError");
    assert_eq!(app_functions(&python), ["read_port", "main", "<module>"]);
    assert_eq!(python["causes"][0]["relation"], "context");
    assert_eq!(python["causes"][0]["type"], "KeyError");
    assert_eq!(
        one_crash("python-cause.txt")["causes"][0]["relation"],
        "cause"
    );

    let node = one_crash("node-async.txt");
    assert_eq!(node["type"], "TypeError");
    assert_eq!(app_functions(&node), ["nameOf", "fetchUser", "handler"]);
    assert_eq!(node["frames"][2]["is_async"], true);
    assert_eq!(node["frames"][0]["column"], 23);

    let go = one_crash("go-map.txt");
    assert_eq!(go["message"], "assignment to entry in nil map");
    assert_eq!(go["thread"], "goroutine 1");
    assert_eq!(go["threads"].as_array().unwrap().len(), 2, "{go:#}");

    let java = one_crash("java-cause.txt");
    assert_eq!(java["type"], "java.lang.IllegalStateException");
    assert_eq!(
        java["causes"][0]["type"],
        "java.nio.file.NoSuchFileException"
    );
    assert_eq!(app_functions(&java), ["Crash$Store.load", "Crash.main"]);
}

#[test]
fn a_trap_the_host_reports_now_parses_with_its_wasm_backtrace() {
    let trap = std::process::Command::new(tandem_bin())
        .args(["run", "--op", "panic", "--no-cache"])
        .arg(test_agent("hostile"))
        .args([
            "--data-dir",
            target_dir().join("debugger-test-data").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(trap.status.code(), Some(9), "a trap exits 9");
    let text = String::from_utf8_lossy(&trap.stderr).into_owned();
    let out = debugger("parse", json!({ "text": text }));
    let crash = &out["crashes"][0];
    assert_eq!(crash["language"], "wasm");
    assert_eq!(crash["type"], "trap");
    assert_eq!(crash["site"], "hostile.panic");
    let frames = crash["frames"].as_array().unwrap();
    assert!(frames.len() > 3, "{text}");
    assert!(
        frames.iter().all(|f| f["module"] == "hostile.wasm"),
        "{frames:?}"
    );

    let explained = debugger("explain", json!({ "text": text }));
    let e = &explained["crashes"][0]["explanation"];
    assert_eq!(e["class"], "trap");
    assert!(e["fix"].as_str().unwrap().contains("hostile.toml"), "{e}");
}

#[test]
fn an_http_error_answer_of_a_trap_parses_too() {
    let server = TestServer::start(&target_dir().join("test-agents"), &[], &[]);
    let reply = server.invoke("hostile", "recurse", json!({}));
    assert_eq!(reply.status, 502, "{}", reply.body);
    let log = format!(
        "2026-12-01T10:00:00Z WARN call failed\n{}\n",
        reply.body.trim()
    );
    let out = debugger("explain", json!({ "text": log }));
    let crash = &out["crashes"][0];
    assert_eq!(crash["crash"]["type"], "stack-overflow", "{out:#}");
    assert_eq!(crash["explanation"]["frame"], "`hostile::recurse`");
}

#[test]
fn group_counts_a_mixed_log_exactly() {
    let out = debugger("group", json!({"paths": ["logs/mixed.log"]}));
    assert_eq!(
        (out["crashes"].as_u64(), out["distinct"].as_u64()),
        (Some(9), Some(6))
    );
    let groups = out["groups"].as_array().unwrap();
    let counts: Vec<u64> = groups
        .iter()
        .map(|g| g["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [3, 2, 1, 1, 1, 1]);
    assert_eq!(groups[0]["type"], "KeyError");
    assert_eq!(groups[0]["first_seen"], "2026-12-01T10:00:03Z");
    assert_eq!(groups[0]["last_seen"], "2026-12-01T10:00:07Z");
    // No addresses or line numbers in a signature: the same code on another machine groups alike.
    assert_eq!(groups[1]["frames"][0], "crash::pick (crash.rs)");
    // A clean log has no groups, and that is not an error.
    let clean = debugger(
        "group",
        json!({"text": "2026-12-01T10:00:00Z INFO all is well\n"}),
    );
    assert_eq!(clean["crashes"], 0);
}

#[test]
fn locate_quotes_the_lines_of_each_app_frame() {
    let grants = [
        logs()[0].clone(),
        format!("--dir={}::src", data().join("programs").display()),
    ];
    let out = ok(run_agent(
        "debugger",
        "locate",
        &grants,
        json!({"paths": ["logs/python-cause.txt"], "source": ["src"], "context": 1}),
    ));
    let frames = out["crashes"][0]["frames"].as_array().unwrap();
    let first = &frames[0];
    assert_eq!(first["file"], "src/crash.py");
    assert_eq!(first["line"], 29);
    let current: Vec<&Value> = first["quote"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["current"] == true)
        .collect();
    assert!(
        current[0]["text"]
            .as_str()
            .unwrap()
            .contains("raise ConfigError"),
        "{first:#}"
    );
    // The cause's frames are located too: `load`, where the KeyError was raised.
    assert!(
        frames
            .iter()
            .any(|f| f["function"] == "load" && f["line"] == 11)
    );
}

#[test]
fn explain_names_the_frame_and_for_tandem_the_manifest_setting() {
    let out = debugger("explain", json!({"paths": ["logs/mixed.log"]}));
    let classes: Vec<&str> = out["crashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["explanation"]["class"].as_str().unwrap())
        .collect();
    assert_eq!(
        classes,
        [
            "key-error",
            "key-error",
            "key-error",
            "index-out-of-range",
            "null-access",
            "index-out-of-range",
            "file-not-found",
            "null-access",
            "key-error"
        ]
    );
    let rust = &out["crashes"][3]["explanation"];
    assert!(
        rust["fix"]
            .as_str()
            .unwrap()
            .contains("`crash::pick` at ./crash.rs:5:5"),
        "{rust}"
    );
    let fuel = debugger("explain", json!({"paths": ["logs/tandem-spin.txt"]}));
    let e = &fuel["crashes"][0]["explanation"];
    assert_eq!(e["class"], "fuel-exhausted");
    assert_eq!(e["setting"], "[limits] fuel");
    assert!(e["fix"].as_str().unwrap().contains("hostile.toml"));
    let recursion = debugger("explain", json!({"paths": ["logs/tandem-recurse.txt"]}));
    let e = &recursion["crashes"][0]["explanation"];
    assert_eq!(e["class"], "stack-overflow");
    assert_eq!(
        e["frame"], "`hostile::recurse`",
        "the host's trap report says where it recursed"
    );
    let memory = debugger("explain", json!({"paths": ["logs/tandem-grow.txt"]}));
    assert_eq!(
        memory["crashes"][0]["explanation"]["setting"],
        "[limits] memory"
    );
}

#[test]
fn every_fixture_gets_the_class_of_its_error() {
    let expected = [
        ("go-divide.txt", "division-by-zero"),
        ("go-index.txt", "index-out-of-range"),
        ("go-map.txt", "null-access"),
        ("go-nil.txt", "null-access"),
        ("java-cause.txt", "file-not-found"),
        ("java-index.txt", "index-out-of-range"),
        ("java-npe.txt", "null-access"),
        ("node-async.txt", "null-access"),
        ("node-refused.txt", "connection-refused"),
        ("node-undefined.txt", "null-access"),
        ("python-cause.txt", "key-error"),
        ("python-chained.txt", "key-error"),
        ("python-group.txt", "connection-refused"),
        ("python-index.txt", "index-out-of-range"),
        ("python-key.txt", "key-error"),
        ("python-none.txt", "null-access"),
        ("python-recursion.txt", "recursion-limit"),
        ("python-zero.txt", "division-by-zero"),
        ("rust-divide.txt", "division-by-zero"),
        ("rust-expect.txt", "unwrap-err"),
        ("rust-index-full.txt", "index-out-of-range"),
        ("rust-index.txt", "index-out-of-range"),
        ("rust-unwrap.txt", "unwrap-none"),
        ("tandem-grow.txt", "memory-limit"),
        ("tandem-panic.txt", "trap"),
        ("tandem-recurse.txt", "stack-overflow"),
        ("tandem-spin.txt", "fuel-exhausted"),
    ];
    let paths: Vec<String> = expected.iter().map(|(f, _)| format!("logs/{f}")).collect();
    let out = debugger("explain", json!({ "paths": paths }));
    let got: Vec<(String, String)> = out["crashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let source = c["crash"]["source"]
                .as_str()
                .unwrap()
                .trim_start_matches("logs/");
            (
                source.to_string(),
                c["explanation"]["class"]
                    .as_str()
                    .unwrap_or("none")
                    .to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = expected
        .iter()
        .map(|(f, c)| (f.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want);
    // A Node.js RangeError is not a class it knows: said so, not guessed.
    let range = debugger("explain", json!({"paths": ["logs/node-range.txt"]}));
    assert!(range["crashes"][0]["explanation"].is_null());
    assert_eq!(range["recognised"], 0);
}

/// A sample a minute for six hours, with a deterministic jitter of +-2 %.
fn series(f: impl Fn(f64) -> f64) -> Vec<Value> {
    (0..360)
        .map(|i| {
            let hours = f64::from(i) / 60.0;
            let jitter = 1.0 + 0.02 * (f64::from(i) * 12.9898).sin();
            json!([f64::from(i) * 60.0, (f(hours) * jitter).round()])
        })
        .collect()
}

#[test]
fn leak_check_tells_a_leak_from_a_plateau() {
    // 100 MB growing 5 MB an hour, with one spike of 1 GB that Theil-Sen ignores.
    let mut leak = series(|h| 100e6 + 5e6 * h);
    leak[180] = json!([10800, 1_000_000_000]);
    let out = debugger("leak-check", json!({ "samples": leak }));
    assert_eq!(out["verdict"], "leak", "{out:#}");
    let growth = out["growth_bytes_per_hour"].as_f64().unwrap();
    assert!((growth - 5e6).abs() < 0.5e6, "{out:#}");
    // A warm-up of an hour, then flat: RFC 3339 times work too.
    let plateau: Vec<Value> = series(|h| 100e6 + 60e6 * h.min(1.0))
        .into_iter()
        .map(|s| {
            let minutes = s[0].as_f64().unwrap() as u64 / 60;
            json!({"time": format!("2026-12-01T{:02}:{:02}:00Z", minutes / 60, minutes % 60), "bytes": s[1]})
        })
        .collect();
    let out = debugger("leak-check", json!({ "samples": plateau }));
    assert_eq!(out["verdict"], "plateau", "{out:#}");
}

#[test]
fn bad_input_gets_an_error_that_names_the_problem() {
    let cut = "Traceback (most recent call last):\n  File \"/srv/app.py\", line 3, in <module>\n    main()\n";
    let err = refused("debugger", "parse", json!({ "text": cut }));
    assert!(
        err.contains("error[invalid-input]") && err.contains("cut off"),
        "{err}"
    );
    let err = refused("debugger", "parse", json!({ "text": "all is well\n" }));
    assert!(err.contains("no crash found"), "{err}");
    let err = refused("debugger", "leak-check", json!({ "samples": [] }));
    assert!(err.contains("at least 6"), "{err}");
    let cycle = json!({"plan": {"nodes": [
        {"id": "p", "depends-on": ["r"]}, {"id": "q", "depends-on": ["p"]}, {"id": "r", "depends-on": ["q"]}
    ]}, "durations": {"p": 1, "q": 1, "r": 1}});
    let err = refused("optimizer", "analyse-graph", cycle);
    assert!(
        err.contains("dependency cycle: ") && err.contains(" -> "),
        "{err}"
    );
    let err = refused(
        "optimizer",
        "recommend-limits",
        json!({ "metrics": "# nothing\n" }),
    );
    assert!(err.contains("no series labelled"), "{err}");
}

#[test]
fn analyse_graph_matches_a_hand_computed_plan() {
    // a(3) -> b(2) -> d(4); a -> c(1) -> d; e(2) alone: the makespan is 9 (a, b, d), c has 1 of
    // slack and e 7; one worker needs all 12; two need 9.
    let plan = "[[nodes]]\nid = \"a\"\nagent = \"echo\"\nop = \"echo\"\n\
                [[nodes]]\nid = \"b\"\nagent = \"echo\"\nop = \"echo\"\ndepends-on = [\"a\"]\n\
                [[nodes]]\nid = \"c\"\nagent = \"echo\"\nop = \"echo\"\ndepends-on = [\"a\"]\n\
                [[nodes]]\nid = \"d\"\nagent = \"echo\"\nop = \"echo\"\ndepends-on = [\"b\", \"c\"]\n\
                [[nodes]]\nid = \"e\"\nagent = \"echo\"\nop = \"echo\"\n";
    let out = optimizer(
        "analyse-graph",
        json!({"plan": plan, "durations": {"a": "3s", "b": "2s", "c": "1s", "d": "4s", "e": "2s"}, "concurrency": [1, 2]}),
    );
    assert_eq!(out["makespan_ms"], 9000.0);
    assert_eq!(out["critical_path"], json!(["a", "b", "d"]));
    let slack: Vec<f64> = out["timings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slack_ms"].as_f64().unwrap())
        .collect();
    assert_eq!(slack, [0.0, 0.0, 1000.0, 0.0, 7000.0]);
    assert_eq!(out["bottleneck"]["id"], "d");
    assert_eq!(out["bounds"][0]["makespan_ms"], 12000.0);
    assert_eq!(out["bounds"][1]["makespan_ms"], 9000.0);

    // The same plan's measured durations, from a real `tandem graph run --json`.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.toml");
    std::fs::write(&file, plan).unwrap();
    let run = std::process::Command::new(tandem_bin())
        .args(["graph", "run", "--json"])
        .arg(&file)
        .env("TANDEM_AGENTS", target_dir().join("agents"))
        .env("TANDEM_CACHE_DIR", target_dir().join("test-cache"))
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let run: Value = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&run.stderr)));
    let out = optimizer("analyse-graph", json!({"plan": plan, "run": run}));
    // Measured durations are whatever this machine took (a first call builds an instance), so the
    // path is checked for what makes it critical: a chain of dependencies from a node without any,
    // whose durations add up to the makespan, every node on it without slack.
    let path: Vec<&str> = out["critical_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let timing = |id: &str| {
        out["timings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()
            .clone()
    };
    let deps = |id: &str| -> Vec<&str> {
        match id {
            "b" | "c" => vec!["a"],
            "d" => vec!["b", "c"],
            _ => vec![],
        }
    };
    assert!(deps(path[0]).is_empty(), "{path:?}");
    for pair in path.windows(2) {
        assert!(deps(pair[1]).contains(&pair[0]), "{path:?}");
    }
    let total: f64 = path
        .iter()
        .map(|id| timing(id)["duration_ms"].as_f64().unwrap())
        .sum();
    let makespan = out["makespan_ms"].as_f64().unwrap();
    assert!(
        (total - makespan).abs() <= 1e-6 * makespan.max(1.0),
        "{total} against {makespan}"
    );
    assert!(path.iter().all(|id| timing(id)["slack_ms"] == 0.0));
    for node in ["a", "b", "c", "d", "e"] {
        let us = run["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == node)
            .unwrap()["duration_us"]
            .as_f64()
            .unwrap();
        assert_eq!(timing(node)["duration_ms"].as_f64().unwrap(), us / 1000.0);
    }
}

#[test]
fn recommend_limits_from_a_live_server() {
    let dir = tempfile::tempdir().unwrap();
    metered_echo(dir.path());
    let server = TestServer::start(dir.path(), &[], &[]);
    for i in 0..300 {
        let reply = server.invoke(
            "echo",
            "echo",
            json!({ "n": i, "text": "x".repeat(i * 10) }),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let stats = server.get("/v1/agents").json();
    let echo = stats["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "echo")
        .unwrap()
        .clone();
    let p99_ms = echo["stats"]["p99_us"].as_f64().unwrap() / 1000.0;
    let current_ms = echo["limits"]["timeout_ms"].as_f64().unwrap();
    assert!(echo["stats"]["max_fuel"].as_u64().unwrap() > 0, "{echo:#}");

    let out = optimizer(
        "recommend-limits",
        json!({ "stats": stats, "agents": ["echo"] }),
    );
    let r = &out["agents"][0];
    assert_eq!(r["agent"], "echo");
    assert_eq!(r["calls"], 300);
    let timeout = &r["settings"][0];
    assert_eq!(timeout["setting"], "[limits] timeout");
    let text = timeout["recommended"].as_str().unwrap();
    let recommended_ms: f64 = if let Some(ms) = text.strip_suffix("ms") {
        ms.parse().unwrap()
    } else {
        text.strip_suffix('s').unwrap().parse::<f64>().unwrap() * 1000.0
    };
    assert!(
        recommended_ms > p99_ms,
        "{recommended_ms} ms against p99 {p99_ms} ms"
    );
    assert!(
        recommended_ms < current_ms,
        "the default {current_ms} ms is generous for echo: {r:#}"
    );
    let patch: toml::Table = toml::from_str(r["toml"].as_str().unwrap()).unwrap();
    assert_eq!(patch["limits"]["timeout"].as_str(), Some(text));

    // The same from the /metrics text: the same calls, a p99 from the histogram.
    let metrics = server.get("/metrics").body;
    let out = optimizer(
        "recommend-limits",
        json!({ "metrics": metrics, "agents": ["echo"] }),
    );
    assert_eq!(out["agents"][0]["calls"], 300);
    assert!(
        out["agents"][0]["settings"][1]["reasoning"]
            .as_str()
            .unwrap()
            .contains("largest attempt")
    );

    // And capacity for 1000 calls/s from the same figures.
    let cap = optimizer(
        "capacity",
        json!({ "target-rps": 1000, "stats": stats, "agent": "echo" }),
    );
    assert!(cap["instances"].as_u64().unwrap() >= 1);
    assert!(cap["memory_bytes"].as_u64().unwrap() > 32 << 20);
}

#[test]
fn predict_picks_the_model_that_fits() {
    let samples: Vec<Value> = (1..=20)
        .map(|x| json!([x * 10, 50.0 + 3.0 * f64::from(x * 10).ln() * 10.0]))
        .collect();
    let out = optimizer("predict", json!({ "samples": samples, "at": 400 }));
    assert_eq!(out["chosen"]["model"], "log");
    assert!(out["chosen"]["r_squared"].as_f64().unwrap() > 0.999);
    assert_eq!(out["extrapolated"], true);
    let expected = 50.0 + 30.0 * 400f64.ln();
    assert!(
        (out["predicted"].as_f64().unwrap() - expected).abs() < 1e-6,
        "{out:#}"
    );
}

/// SciPy and pymannkendall from PyPI, in `target/stats-venv` (made once): the references
/// `leak-check` and `predict` are held to.
fn python_stats() -> PathBuf {
    tandem_e2e::python_venv(
        "stats-venv",
        &["scipy>=1.11", "pymannkendall>=1.4"],
        "scipy, pymannkendall",
    )
}

const REFERENCE: &str = r#"
import json, sys
import numpy as np
import pymannkendall as mk
from scipy import stats
samples = json.load(sys.stdin)
t = np.array([s[0] for s in samples], dtype=float)
y = np.array([s[1] for s in samples], dtype=float)
hours = (t - t[0]) / 3600.0
ts = stats.theilslopes(y, hours, method="joint")
ls = stats.linregress(hours, y)
half = len(y) // 2
print(json.dumps({
    "slope": ts.slope, "low": ts.low_slope, "high": ts.high_slope,
    "ls_slope": ls.slope, "r2": ls.rvalue ** 2,
    "p": mk.original_test(y).p, "recent_p": mk.original_test(y[half:]).p,
    "recent_slope": stats.theilslopes(y[half:], hours[half:]).slope,
}))
"#;

#[test]
fn leak_check_agrees_with_scipy_and_pymannkendall() {
    let python = python_stats();
    // A leak, a plateau, and a short noisy series whose trend is weak (p far from 0 and 1).
    let noisy: Vec<Value> = (0..40)
        .map(|i| {
            json!([
                i * 90,
                1000.0 + f64::from(i) * 2.0 + 60.0 * (f64::from(i) * 7.31).sin()
            ])
        })
        .collect();
    for samples in [
        series(|h| 100e6 + 5e6 * h),
        series(|h| 100e6 + 60e6 * h.min(1.0)),
        noisy,
    ] {
        let reference = tandem_e2e::python_json(&python, REFERENCE, &Value::from(samples.clone()));
        let ours = debugger("leak-check", json!({ "samples": samples }));
        let close = |a: &Value, b: &Value, tolerance: f64, what: &str| {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!(
                (a - b).abs() <= tolerance * b.abs().max(1.0),
                "{what}: ours {a}, reference {b}\n{ours:#}\n{reference:#}"
            );
        };
        close(
            &ours["growth_bytes_per_hour"],
            &reference["slope"],
            1e-9,
            "Theil-Sen slope",
        );
        close(
            &ours["growth_interval_bytes_per_hour"][0],
            &reference["low"],
            1e-9,
            "its low bound",
        );
        close(
            &ours["growth_interval_bytes_per_hour"][1],
            &reference["high"],
            1e-9,
            "its high bound",
        );
        close(
            &ours["recent_growth_bytes_per_hour"],
            &reference["recent_slope"],
            1e-9,
            "second half's slope",
        );
        close(
            &ours["least_squares_bytes_per_hour"],
            &reference["ls_slope"],
            1e-9,
            "least squares",
        );
        close(&ours["r_squared"], &reference["r2"], 1e-9, "R²");
        let p = 1.0 - ours["confidence"].as_f64().unwrap();
        assert!(
            (p - reference["p"].as_f64().unwrap()).abs() < 1e-6,
            "Mann-Kendall p {p} against {}",
            reference["p"]
        );
        let recent = 1.0 - ours["recent_confidence"].as_f64().unwrap();
        assert!(
            (recent - reference["recent_p"].as_f64().unwrap()).abs() < 1e-6,
            "second half's p {recent} against {}",
            reference["recent_p"]
        );
    }
}
