//! Hot swap against a real `tandem serve`: swapping versions under continuous load with no failed
//! call, broken versions rejected while the current one keeps serving, rollback and the version
//! history, the `tandem agent` commands, and watch mode picking up files copied into the directory.
//!
//! The agent is the test guest `twin`, built as `twin-v1` (1.0.0), `twin-v2` (2.0.0) and
//! `twin-sick` (3.0.0, failing its health probe); every answer names the version that gave it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tandem_e2e::{
    Reply, TestServer, agent, component_of_world, metered_echo, tandem_bin, test_agent,
};

const TOKEN: &str = "hot-swap-admin-token-0123456789";

/// A directory with `echo` (metered) and `twin` (version 1.0.0).
fn agents_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    metered_echo(dir.path());
    std::fs::copy(test_agent("twin-v1"), dir.path().join("twin.wasm")).unwrap();
    dir
}

fn start(dir: &Path, args: &[&str]) -> TestServer {
    TestServer::start(dir, args, &[("TANDEM_ADMIN_TOKEN", TOKEN)])
}

fn admin(server: &TestServer, method: &str, path: &str, body: &[u8]) -> Reply {
    let bearer = format!("Bearer {TOKEN}");
    server.request(method, path, &[("authorization", &bearer)], body)
}

fn put(server: &TestServer, id: &str, component: &[u8]) -> Reply {
    admin(server, "PUT", &format!("/v1/agents/{id}"), component)
}

fn bytes_of(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// The version that answered a `twin` call, checking the answer carries the input back.
fn answered_by(reply: &Reply, input: u64) -> String {
    assert_eq!(reply.status, 200, "{}", reply.body);
    let output = &reply.json()["output"];
    assert_eq!(output["input"], input, "{}", reply.body);
    output["version"].as_str().unwrap().to_string()
}

#[test]
fn swapping_under_load_fails_no_call_and_every_answer_comes_from_one_version() {
    let dir = agents_dir();
    let server = Arc::new(start(dir.path(), &["--no-audit"]));
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..4u64)
        .map(|caller| {
            let (server, stop) = (server.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                let mut n = caller * 1_000_000;
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let reply = server.invoke("twin", "version", json!(n));
                    answers.push((started, answered_by(&reply, n)));
                    n += 1;
                }
                answers
            })
        })
        .collect();
    let (v1, v2) = (
        bytes_of(&test_agent("twin-v1")),
        bytes_of(&test_agent("twin-v2")),
    );
    std::thread::sleep(Duration::from_millis(100));
    for swap in 0..20 {
        let (bytes, version) = if swap % 2 == 0 {
            (&v2, "2.0.0")
        } else {
            (&v1, "1.0.0")
        };
        let reply = put(&server, "twin", bytes);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["version"], version);
        std::thread::sleep(Duration::from_millis(30));
    }
    let last_swap = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let answers: Vec<(Instant, String)> = callers
        .into_iter()
        .flat_map(|caller| caller.join().expect("no caller saw a failed call"))
        .collect();
    let during = answers.iter().filter(|(at, _)| *at < last_swap);
    assert!(
        during.clone().any(|(_, v)| v == "2.0.0") && during.clone().any(|(_, v)| v == "1.0.0"),
        "both versions served during the swaps"
    );
    let after: Vec<&String> = answers
        .iter()
        .filter(|(at, _)| *at > last_swap)
        .map(|(_, v)| v)
        .collect();
    assert!(after.len() >= 4, "calls were made after the last swap");
    assert!(
        after.iter().all(|v| *v == "1.0.0"),
        "after the last swap (to 1.0.0) only 1.0.0 answers: {after:?}"
    );
    assert!(answers.len() > 200, "{} calls under load", answers.len());
}

#[test]
fn a_broken_version_is_rejected_with_the_reason_while_the_current_one_keeps_serving() {
    let dir = agents_dir();
    let server = Arc::new(start(dir.path(), &["--no-audit"]));
    let events = server.events();
    let stop = Arc::new(AtomicBool::new(false));
    let caller = {
        let (server, stop) = (server.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let reply = server.invoke("twin", "version", json!(n));
                assert_eq!(answered_by(&reply, n), "1.0.0");
                n += 1;
            }
            n
        })
    };
    let other_world = component_of_world(
        "package acme:tool;
        interface run { run: func() -> u32; }
        world tool { export run; }",
        "tool",
    );
    let broken: [(&str, Vec<u8>, &str); 4] = [
        (
            "not wasm",
            b"#!/bin/sh\necho hi\n".to_vec(),
            "not a WebAssembly",
        ),
        ("another world", other_world, "acme:tool/run"),
        (
            "another agent",
            bytes_of(&agent("echo")),
            "describes itself as `echo`, not `twin`",
        ),
        (
            "failing health probe",
            bytes_of(&test_agent("twin-sick")),
            "this build is broken on purpose",
        ),
    ];
    for (what, bytes, reason) in &broken {
        let reply = put(&server, "twin", bytes);
        assert_eq!(reply.status, 400, "{what}: {}", reply.body);
        let error = reply.json();
        assert_eq!(error["error"]["kind"], "invalid-input", "{what}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(reason), "{what}: {message}");
    }
    stop.store(true, Ordering::Relaxed);
    let calls = caller.join().expect("every call succeeded on 1.0.0");
    assert!(calls > 0);
    let twin = server.get("/v1/agents/twin").json();
    assert_eq!(twin["version"], "1.0.0");
    assert_eq!(twin["history"].as_array().unwrap().len(), 1);
    let mut rejected = 0;
    while rejected < broken.len() {
        let event = events
            .recv_timeout(Duration::from_secs(30))
            .expect("a rejection event per broken version");
        if event["type"] == "agent-rejected" {
            assert_eq!(event["agent"], "twin");
            assert_eq!(event["by"], "api");
            rejected += 1;
        }
    }
}

#[test]
fn rollback_is_instant_the_history_shows_every_version_and_the_cli_does_both() {
    let dir = agents_dir();
    let log = dir.path().join("audit.jsonl");
    let mut server = start(dir.path(), &["--audit-log", log.to_str().unwrap()]);
    let version = |n: u64| answered_by(&server.invoke("twin", "version", json!(n)), n);
    assert_eq!(version(1), "1.0.0");

    let reply = put(&server, "twin", &bytes_of(&test_agent("twin-v2")));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let swapped = reply.json();
    assert_eq!(swapped["version"], "2.0.0");
    assert_eq!(swapped["previous"]["version"], "1.0.0");
    assert!(swapped["prepared_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(version(2), "2.0.0");

    let history = server.get("/v1/agents/twin").json()["history"].clone();
    let summary: Vec<(&str, &str)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_str().unwrap(), v["by"].as_str().unwrap()))
        .collect();
    assert_eq!(summary, [("1.0.0", "startup"), ("2.0.0", "api")]);
    assert_ne!(history[0]["content_hash"], history[1]["content_hash"]);

    let reply = admin(&server, "POST", "/v1/agents/twin/rollback", b"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["version"], "1.0.0");
    assert_eq!(reply.json()["prepared_ms"], 0.0);
    assert_eq!(version(3), "1.0.0");
    let reply = admin(&server, "POST", "/v1/agents/twin/rollback", b"");
    assert_eq!(reply.status, 409, "nothing before 1.0.0: {}", reply.body);

    // The same through the CLI.
    let cli = |args: &[&str]| {
        let output = std::process::Command::new(tandem_bin())
            .args(["agent", "--server", &server.url])
            .args(args)
            .env("TANDEM_ADMIN_TOKEN", TOKEN)
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        (output.status.code(), stdout, stderr)
    };
    let v2 = test_agent("twin-v2");
    let (code, out, err) = cli(&["swap", "twin", v2.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["version"],
        "2.0.0"
    );
    assert_eq!(version(4), "2.0.0");
    let (code, out, err) = cli(&["rollback", "twin"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(version(5), "1.0.0");
    let sick = test_agent("twin-sick");
    let (code, _, err) = cli(&["swap", "twin", sick.to_str().unwrap()]);
    assert_eq!(code, Some(3), "invalid-input: {err}");
    assert!(err.contains("health probe"), "{err}");

    // Metrics are labelled by version.
    let metrics = server.get("/metrics").body;
    for version in ["1.0.0", "2.0.0"] {
        let line =
            format!("tandem_calls_total{{agent=\"twin\",version=\"{version}\",outcome=\"ok\"}}");
        let count: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .unwrap_or_else(|| panic!("no {line}"))
            .trim()
            .parse()
            .unwrap();
        assert!(count >= 2.0, "{line} {count}");
    }

    let reply = admin(&server, "DELETE", "/v1/agents/twin", b"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(server.invoke("twin", "version", json!(6)).status, 404);
    assert!(server.terminate().success());

    let audit = std::fs::read_to_string(&log).unwrap();
    let events: Vec<String> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["event"] != "call")
        .map(|l| {
            format!(
                "{} {} {}",
                l["event"].as_str().unwrap(),
                l["agent"].as_str().unwrap(),
                l["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            "load echo 0.1.0",
            "load twin 1.0.0",
            "swap twin 2.0.0",
            "rollback twin 1.0.0",
            "swap twin 2.0.0",
            "rollback twin 1.0.0",
            "rejected twin ",
            "remove twin 1.0.0",
        ]
    );
}

/// Polls `twin` until `done` accepts an answer, failing on any answer that is neither the old
/// state (`before`) nor the new one.
fn poll_until(server: &TestServer, before: impl Fn(&Reply) -> bool, done: impl Fn(&Reply) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = server.invoke("twin", "version", json!(7));
        if done(&reply) {
            return;
        }
        assert!(
            before(&reply),
            "an answer that is neither before nor after: {reply:?}"
        );
        assert!(
            Instant::now() < deadline,
            "watch mode never caught up: {}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn watch_mode_loads_swaps_and_removes_what_is_copied_into_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(agent("echo"), dir.path().join("echo.wasm")).unwrap();
    let server = start(
        dir.path(),
        &["--no-audit", "--watch", "--debounce", "100ms"],
    );
    let version_is =
        |v: &'static str| move |r: &Reply| r.status == 200 && r.json()["output"]["version"] == v;
    let absent = |r: &Reply| r.status == 404;
    let twin = dir.path().join("twin.wasm");

    std::fs::copy(test_agent("twin-v1"), &twin).unwrap();
    poll_until(&server, absent, version_is("1.0.0"));
    std::fs::copy(test_agent("twin-v2"), &twin).unwrap();
    poll_until(&server, version_is("1.0.0"), version_is("2.0.0"));
    // A broken file next to it changes nothing.
    std::fs::write(dir.path().join("junk.wasm"), b"junk").unwrap();
    std::fs::copy(test_agent("twin-sick"), &twin).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    poll_until(&server, |_| false, version_is("2.0.0"));
    std::fs::remove_file(&twin).unwrap();
    poll_until(&server, version_is("2.0.0"), absent);
    assert_eq!(server.invoke("echo", "echo", json!(1)).status, 200);
    let history = server.get("/v1/agents/echo").json()["history"].clone();
    assert_eq!(history.as_array().unwrap().len(), 1);
}

#[test]
fn deterministic_results_are_cached_per_version_and_a_swap_never_serves_the_old_ones() {
    let dir = agents_dir();
    let server = start(dir.path(), &["--no-audit"]);
    let fuel = |server: &TestServer| -> f64 {
        let metrics = server.get("/metrics").body;
        let line = "tandem_fuel_consumed_total{agent=\"echo\",version=\"0.1.0\"} ";
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line))
            .unwrap()
            .parse()
            .unwrap()
    };
    let first = server.invoke("echo", "echo", json!({"k": [1, 2]})).json();
    assert_eq!(first["cached"], false);
    assert!(first["fuel_used"].as_u64().unwrap() > 0);
    let fuel_before = fuel(&server);
    let hit = server.invoke("echo", "echo", json!({"k": [1, 2]})).json();
    assert_eq!(hit["cached"], true);
    assert_eq!(hit["output"], first["output"]);
    assert_eq!(hit["fuel_used"], 0);
    assert_eq!(fuel(&server), fuel_before, "the guest did not run");
    let bypass = server
        .post(
            "/v1/agents/echo/invoke",
            r#"{"op": "echo", "input": {"k": [1, 2]}, "cache": false}"#,
        )
        .json();
    assert_eq!(bypass["cached"], false);
    assert!(fuel(&server) > fuel_before);

    let twin = |n: u64| {
        let reply = server.invoke("twin", "version", json!(n));
        (
            answered_by(&reply, n),
            reply.json()["cached"].as_bool().unwrap(),
        )
    };
    assert_eq!(twin(7), ("1.0.0".to_string(), false));
    assert_eq!(twin(7), ("1.0.0".to_string(), true));
    assert_eq!(
        put(&server, "twin", &bytes_of(&test_agent("twin-v2"))).status,
        200
    );
    assert_eq!(
        twin(7),
        ("2.0.0".to_string(), false),
        "a new version never sees old entries"
    );
    assert_eq!(twin(7), ("2.0.0".to_string(), true));
    assert_eq!(
        admin(&server, "POST", "/v1/agents/twin/rollback", b"").status,
        200
    );
    assert_eq!(twin(7), ("1.0.0".to_string(), true), "1.0.0's own entry");

    let metrics = server.get("/metrics").body;
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("tandem_result_cache_hits_total"), 4.0);
    assert_eq!(value("tandem_result_cache_misses_total"), 3.0);
    assert!((value("tandem_result_cache_hit_ratio") - 4.0 / 7.0).abs() < 1e-6);
}

#[test]
fn the_result_cache_stays_within_its_size() {
    let dir = agents_dir();
    let server = start(dir.path(), &["--no-audit", "--result-cache", "1KiB"]);
    for i in 0..20 {
        let input = json!({"i": i, "pad": "x".repeat(200)});
        assert_eq!(server.invoke("echo", "echo", input).status, 200);
    }
    let metrics = server.get("/metrics").body;
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(value("tandem_result_cache_evictions_total") >= 15.0);
    assert!(value("tandem_result_cache_bytes") <= 1024.0);
    assert!(value("tandem_result_cache_entries") >= 1.0);
}

/// `component` with a custom section added: the same agent, other bytes (a content hash no code
/// cache has seen).
fn never_compiled(mut component: Vec<u8>) -> Vec<u8> {
    let name = b"tandem-test";
    let payload = format!("{:?}-{}", Instant::now(), std::process::id());
    let size = 1 + name.len() + payload.len();
    assert!(size < 128, "one LEB128 byte");
    component.extend([0u8, size as u8, name.len() as u8]);
    component.extend_from_slice(name);
    component.extend_from_slice(payload.as_bytes());
    component
}

#[test]
fn a_version_never_compiled_serves_from_baseline_code_at_once_then_from_optimised_code() {
    let dir = agents_dir();
    let server = Arc::new(start(dir.path(), &["--no-audit"]));
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..2u64)
        .map(|caller| {
            let (server, stop) = (server.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut versions = Vec::new();
                let mut n = caller * 1_000_000;
                while !stop.load(Ordering::Relaxed) {
                    let reply = server.invoke("twin", "version", json!(n));
                    versions.push(answered_by(&reply, n));
                    n += 1;
                }
                versions
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let fresh = never_compiled(bytes_of(&test_agent("twin-v2")));
    let reply = put(&server, "twin", &fresh);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["version"], "2.0.0");
    assert_eq!(reply.json()["code"], "baseline", "{}", reply.body);
    let served_from_baseline = server.invoke("twin", "version", json!(7));
    assert_eq!(answered_by(&served_from_baseline, 7), "2.0.0");

    // Cranelift's code takes over in the background: the same version, its history unchanged.
    let deadline = Instant::now() + Duration::from_secs(60);
    let view = loop {
        let view = admin(&server, "GET", "/v1/agents/twin", b"").json();
        if view["code"] == "optimized" {
            break view;
        }
        assert_eq!(view["code"], "baseline", "{view}");
        assert!(
            Instant::now() < deadline,
            "still on baseline code after 60s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(view["version"], "2.0.0");
    assert_eq!(view["content_hash"], reply.json()["content_hash"]);
    let history: Vec<&str> = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["1.0.0", "2.0.0"], "{view}");
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let answers: Vec<String> = callers
        .into_iter()
        .flat_map(|caller| caller.join().expect("no caller saw a failed call"))
        .collect();
    let on_v2 = answers.iter().filter(|v| *v == "2.0.0").count() as u64;
    assert!(on_v2 > 0, "the callers reached 2.0.0");
    // The version's figures span both codes: every call to 2.0.0 is counted once.
    let view = admin(&server, "GET", "/v1/agents/twin", b"").json();
    assert_eq!(view["stats"]["calls"], on_v2 + 1, "{}", view["stats"]);

    // Swapped away and back, the version is compiled already: optimised code at once.
    assert_eq!(
        put(&server, "twin", &bytes_of(&test_agent("twin-v1"))).json()["code"],
        "optimized"
    );
    let back = put(&server, "twin", &fresh);
    assert_eq!(back.json()["code"], "optimized", "{}", back.body);
}
