//! Canary routing against a real `tandem serve`: the split of 10 000 calls by weight, one version per
//! trace, the guard rails aborting a failing canary on their own (error rate, breaker), promote and
//! abort over the admin API and the CLI, and every refusal with its class.
//!
//! The agent is the test guest `twin` (see `tests/guests/twin-v1`): `twin-v1` serves, `twin-v2` or
//! `twin-faulty` (whose `version` operation always fails) is the canary; answers name their version.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tandem_e2e::{Reply, TestServer, tandem_bin, test_agent};

const TOKEN: &str = "canary-test-admin-token-0123456789";

fn start(dir: &Path, args: &[&str]) -> TestServer {
    std::fs::copy(test_agent("twin-v1"), dir.join("twin.wasm")).unwrap();
    TestServer::start(dir, args, &[("TANDEM_ADMIN_TOKEN", TOKEN)])
}

fn admin(server: &TestServer, method: &str, path: &str, body: &[u8]) -> Reply {
    let bearer = format!("Bearer {TOKEN}");
    server.request(method, path, &[("authorization", &bearer)], body)
}

fn start_canary(server: &TestServer, build: &str, query: &str) -> Reply {
    let bytes = std::fs::read(test_agent(build)).unwrap();
    admin(
        server,
        "POST",
        &format!("/v1/agents/twin/canary?{query}"),
        &bytes,
    )
}

/// The version that answered, or the error's class.
fn call(server: &TestServer, n: u64, trace: Option<&str>) -> Result<String, String> {
    let mut body = json!({"op": "version", "input": n});
    if let Some(trace) = trace {
        body["trace_id"] = json!(trace);
    }
    let reply = server.post("/v1/agents/twin/invoke", &body.to_string());
    match reply.status {
        200 => Ok(reply.json()["output"]["version"]
            .as_str()
            .unwrap()
            .to_string()),
        _ => Err(reply.json()["error"]["kind"].as_str().unwrap().to_string()),
    }
}

fn canary_of(server: &TestServer) -> Value {
    server.get("/v1/agents/twin").json()["canary"].clone()
}

fn audit_lines(data: &Path, event: &str, at_least: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(data.join("audit.jsonl")).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l["event"] == event)
            .collect();
        if lines.len() >= at_least || started.elapsed() > Duration::from_secs(10) {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_canary_at_20_percent_takes_its_share_of_traces_and_each_trace_sees_one_version() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--no-audit"]);
    let started = start_canary(&server, "twin-v2", "weight=20");
    assert_eq!(started.status, 201, "{}", started.body);
    assert_eq!(started.json()["version"], "2.0.0");
    assert_eq!(started.json()["weight"], 20);
    assert_eq!(canary_of(&server)["version"], "2.0.0");

    // 10 000 calls, each a new trace, from 4 clients.
    let server = std::sync::Arc::new(server);
    let counts: Vec<(u64, u64)> = (0..4u64)
        .map(|client| {
            let server = server.clone();
            std::thread::spawn(move || {
                let (mut v1, mut v2) = (0, 0);
                for n in 0..2_500 {
                    match call(&server, client * 10_000 + n, None).as_deref() {
                        Ok("1.0.0") => v1 += 1,
                        Ok("2.0.0") => v2 += 1,
                        other => panic!("{other:?}"),
                    }
                }
                (v1, v2)
            })
        })
        .map(|t| t.join().unwrap())
        .collect();
    let v2: u64 = counts.iter().map(|c| c.1).sum();
    let v1: u64 = counts.iter().map(|c| c.0).sum();
    assert_eq!(v1 + v2, 10_000);
    // Binomial(10 000, 0.2): mean 2 000, sd 40; 4 sd either side.
    assert!(
        (1_840..=2_160).contains(&v2),
        "the canary took {v2} of 10 000"
    );
    println!("canary split at 20 %: {v2} of 10 000 calls to the canary");

    // A trace keeps its version: every call of 200 traces, 5 each, meets one version.
    let mut canary_traces = 0;
    for t in 0..200 {
        let trace = format!("pinned-trace-{t}");
        let first = call(&server, t, Some(&trace)).unwrap();
        for n in 0..4 {
            assert_eq!(call(&server, n, Some(&trace)).unwrap(), first, "{trace}");
        }
        canary_traces += usize::from(first == "2.0.0");
    }
    assert!((10..=75).contains(&canary_traces), "{canary_traces} of 200");

    // Both sides have their own figures.
    let metrics = server.get("/metrics").body;
    let calls = |version: &str| -> f64 {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("tandem_calls_total{")
                    && l.contains("agent=\"twin\"")
                    && l.contains(&format!("version=\"{version}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .map(|v| v.parse().unwrap())
            .unwrap_or(0.0)
    };
    assert_eq!(calls("1.0.0") + calls("2.0.0"), 11_000.0, "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l == "tandem_canary_weight{agent=\"twin\",version=\"2.0.0\"} 20"),
        "{metrics}"
    );
    assert_eq!(
        canary_of(&server)["stats"]["calls"].as_f64().unwrap(),
        calls("2.0.0")
    );
}

#[test]
fn a_failing_canary_is_aborted_by_the_guard_rails_without_anyone_asking() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(dir.path().join("agents")).unwrap();
    let server = start(
        &dir.path().join("agents"),
        &["--data-dir", data.to_str().unwrap()],
    );
    let events = server.events();

    // The error rate: bound 50 % over 4 calls; every canary call fails, so the 4th ends it.
    let started = start_canary(
        &server,
        "twin-faulty",
        "weight=20&max-error-rate=0.5&min-calls=4&window-ms=60000",
    );
    assert_eq!(started.status, 201, "{}", started.body);
    let (mut calls, mut failed, mut first_failure) = (0u64, 0u64, None);
    while canary_of(&server).is_object() {
        assert!(calls < 1_000, "not aborted after {calls} calls");
        calls += 1;
        match call(&server, calls, None) {
            Ok(version) => assert_eq!(version, "1.0.0"),
            Err(kind) => {
                assert_eq!(kind, "failed");
                failed += 1;
                first_failure.get_or_insert_with(Instant::now);
            }
        }
    }
    let abort_after = first_failure.unwrap().elapsed();
    assert_eq!(failed, 4, "one failure per canary call until the bound");
    assert!(
        failed as f64 <= 0.2 * calls as f64 + 12.0,
        "{failed} failed of {calls}"
    );
    println!(
        "guard rails: aborted {abort_after:?} after the first failure ({failed} of {calls} calls failed)"
    );
    // Afterwards every call is served by the current version.
    for n in 0..50 {
        assert_eq!(call(&server, n, None).unwrap(), "1.0.0");
    }
    let event = loop {
        let event = events.recv_timeout(Duration::from_secs(30)).unwrap();
        if event["type"] == "canary" && event["action"] == "abort" {
            break event;
        }
    };
    assert_eq!(event["by"], "guard-rails");
    assert_eq!(event["version"], "4.0.0");
    let reason = event["reason"].as_str().unwrap();
    assert!(reason.contains("error rate 100.0 %"), "{reason}");

    // The breaker: the error-rate bound needs 100 calls, the canary's breaker opens after 5
    // consecutive failures, and that ends the canary too.
    let started = start_canary(&server, "twin-faulty", "weight=50&min-calls=100");
    assert_eq!(started.status, 201, "{}", started.body);
    let mut failed = 0;
    for n in 0..1_000 {
        if call(&server, n, None).is_err() {
            failed += 1;
        }
        if canary_of(&server).is_null() {
            break;
        }
    }
    assert!(canary_of(&server).is_null(), "not aborted");
    assert_eq!(failed, 5);
    let event = loop {
        let event = events.recv_timeout(Duration::from_secs(30)).unwrap();
        if event["type"] == "canary" && event["action"] == "abort" {
            break event;
        }
    };
    assert_eq!(event["reason"], "its circuit breaker opened");

    let aborts = audit_lines(&data, "canary-abort", 2);
    assert_eq!(aborts.len(), 2, "{aborts:?}");
    assert!(
        aborts[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("by guard-rails: its error rate"),
        "{}",
        aborts[0]
    );
    assert_eq!(aborts[0]["version"], "4.0.0");
    assert_eq!(audit_lines(&data, "canary-start", 2).len(), 2);
}

#[test]
fn canaries_are_reweighted_promoted_and_aborted_over_the_cli_and_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--no-audit"]);
    let cli = |args: &[&str]| {
        let output = std::process::Command::new(tandem_bin())
            .arg("agent")
            .args(args)
            .args(["--server", &server.url])
            .env("TANDEM_ADMIN_TOKEN", TOKEN)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let v2 = test_agent("twin-v2");
    let (code, out, err) = cli(&["canary", "twin", v2.to_str().unwrap(), "--weight", "0"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (shown["version"].as_str(), shown["weight"].as_u64()),
        (Some("2.0.0"), Some(0))
    );
    for n in 0..20 {
        assert_eq!(
            call(&server, n, None).unwrap(),
            "1.0.0",
            "weight 0 takes nothing"
        );
    }
    let (code, out, err) = cli(&["canary", "twin", "--weight", "100"]);
    assert_eq!(code, Some(0), "{out}{err}");
    for n in 0..20 {
        assert_eq!(
            call(&server, n, None).unwrap(),
            "2.0.0",
            "weight 100 takes all"
        );
    }
    // A second canary while one runs is a conflict; so is the same version as the current one.
    let again = start_canary(&server, "twin-v2", "weight=5");
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(
        again.body.contains("promote or abort it first"),
        "{}",
        again.body
    );

    let (code, out, err) = cli(&["promote", "twin"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let detail = server.get("/v1/agents/twin").json();
    assert_eq!(detail["version"], "2.0.0");
    assert!(detail["canary"].is_null(), "{detail}");
    let history: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["1.0.0", "2.0.0"]);
    assert_eq!(detail["history"][1]["by"], "api");

    // Over the API: v1 as a canary of v2, then aborted.
    let same = start_canary(&server, "twin-v2", "weight=5");
    assert_eq!(same.status, 400, "{}", same.body);
    assert!(same.body.contains("version 2.0.0"), "{}", same.body);
    let started = start_canary(&server, "twin-v1", "weight=100");
    assert_eq!(started.status, 201, "{}", started.body);
    assert_eq!(call(&server, 1, None).unwrap(), "1.0.0");
    let patched = admin(&server, "PATCH", "/v1/agents/twin/canary?weight=50", b"");
    assert_eq!(
        (patched.status, patched.json()["weight"].as_u64()),
        (200, Some(50))
    );
    let aborted = admin(&server, "POST", "/v1/agents/twin/canary/abort", b"");
    assert_eq!(aborted.status, 200, "{}", aborted.body);
    for n in 0..20 {
        assert_eq!(call(&server, n, None).unwrap(), "2.0.0");
    }
    let (code, _, err) = cli(&["abort", "twin"]);
    assert_eq!(code, Some(5), "a conflict: {err}");
    assert!(err.contains("has no canary"), "{err}");

    // Refusals, each with its class.
    for (method, path, body, status, kind) in [
        (
            "POST",
            "/v1/agents/twin/canary?weight=101",
            &b"x"[..],
            400,
            "invalid-input",
        ),
        (
            "POST",
            "/v1/agents/twin/canary",
            &b"x"[..],
            400,
            "invalid-input",
        ),
        (
            "POST",
            "/v1/agents/twin/canary?weight=5&max-error-rate=2",
            &b"x"[..],
            400,
            "invalid-input",
        ),
        (
            "POST",
            "/v1/agents/twin/canary?weight=5&colour=red",
            &b"x"[..],
            400,
            "invalid-input",
        ),
        (
            "POST",
            "/v1/agents/nobody/canary?weight=5",
            &b"x"[..],
            404,
            "unavailable",
        ),
        (
            "PATCH",
            "/v1/agents/twin/canary?weight=5",
            &b""[..],
            409,
            "conflict",
        ),
        (
            "POST",
            "/v1/agents/twin/canary/promote",
            &b""[..],
            409,
            "conflict",
        ),
    ] {
        let reply = admin(&server, method, path, body);
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.body);
        assert_eq!(reply.json()["error"]["kind"], kind, "{method} {path}");
    }
    let no_token = server.request("POST", "/v1/agents/twin/canary/abort", &[], b"");
    assert_eq!(no_token.status, 401, "{}", no_token.body);
    let rejected = admin(
        &server,
        "POST",
        "/v1/agents/twin/canary?weight=5",
        b"\0asm not really",
    );
    assert_eq!(rejected.status, 400, "{}", rejected.body);
    assert!(canary_of(&server).is_null());
}
