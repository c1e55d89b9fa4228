//! `tandem serve` as a real process on a loopback port: invoking through HTTP, the error answers,
//! `/metrics` moving by the right amounts, the live event stream, the audit log and its
//! verification, the admin token, graphs, `tandem stats`, and graceful shutdown on SIGTERM.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tandem_e2e::{Reply, TestServer, metered_echo, tandem_bin, test_agent};

/// A directory of agents: `echo`, and the test guest `flaky` as `slow` (its id from $AGENT_ID),
/// which may delegate to `echo`.
fn agents_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    metered_echo(dir.path());
    std::fs::copy(test_agent("flaky"), dir.path().join("slow.wasm")).unwrap();
    std::fs::write(
        dir.path().join("slow.toml"),
        "[agent]\nid = \"slow\"\n\n[capabilities]\nenv = [\"AGENT_ID\"]\ndelegate = [\"echo\"]\n\n[resilience]\nbackoff = \"1ms\"\n",
    )
    .unwrap();
    dir
}

fn start(dir: &Path, args: &[&str]) -> TestServer {
    TestServer::start(dir, args, &[("AGENT_ID", "slow")])
}

/// The samples of `/metrics` as `name{labels}` -> value.
fn scrape(server: &TestServer) -> BTreeMap<String, f64> {
    let reply = server.get("/metrics");
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    reply
        .body
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .map(|(name, value)| (name.to_string(), value.parse().unwrap()))
        .collect()
}

fn sample(samples: &BTreeMap<String, f64>, name: &str) -> f64 {
    samples.get(name).copied().unwrap_or(0.0)
}

#[test]
fn invoke_over_http_returns_the_output_and_errors_are_json_that_name_the_problem() {
    let dir = agents_dir();
    let server = start(dir.path(), &["--no-audit", "--max-body", "1KiB"]);

    let reply = server.invoke("echo", "echo", json!({"text": "héllo", "n": [1, 2]}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["output"], json!({"text": "héllo", "n": [1, 2]}));
    assert_eq!(body["trace_id"].as_str().unwrap().len(), 32);
    assert!(body["fuel_used"].as_u64().unwrap() > 0);

    let traced = server.post(
        "/v1/agents/echo/invoke",
        r#"{"op": "echo", "input": 7, "trace_id": "my-trace_1"}"#,
    );
    assert_eq!(traced.json()["trace_id"], "my-trace_1");
    assert_eq!(traced.json()["output"], 7);

    let error = |reply: &Reply| {
        let body = reply.json();
        (
            reply.status,
            body["error"]["kind"].as_str().unwrap().to_string(),
            body["error"]["message"].as_str().unwrap().to_string(),
        )
    };
    let (status, kind, message) = error(&server.invoke("nobody", "echo", json!({})));
    assert_eq!((status, kind.as_str()), (404, "unavailable"));
    assert!(message.contains("no agent `nobody`"), "{message}");
    assert!(
        message.contains("echo, slow"),
        "lists what is loaded: {message}"
    );

    let (status, kind, message) =
        error(&server.post("/v1/agents/echo/invoke", r#"{"op": "echo", "input": "#));
    assert_eq!((status, kind.as_str()), (400, "invalid-input"));
    assert!(message.contains("not a valid invoke request"), "{message}");

    let (status, _, message) = error(&server.post("/v1/agents/echo/invoke", r#"{"input": 1}"#));
    assert_eq!(status, 400);
    assert!(message.contains("missing field `op`"), "{message}");

    let (status, _, message) = error(&server.invoke("echo", "shout", json!({})));
    assert_eq!(status, 400);
    assert!(message.contains("no operation `shout`"), "{message}");

    let big = json!({"op": "echo", "input": "x".repeat(2000)}).to_string();
    let (status, kind, message) = error(&server.post("/v1/agents/echo/invoke", &big));
    assert_eq!((status, kind.as_str()), (413, "invalid-input"));
    assert!(message.contains("over the server's limit"), "{message}");

    let (status, _, message) = error(&server.post(
        "/v1/agents/echo/invoke",
        r#"{"op": "echo", "trace_id": "no spaces"}"#,
    ));
    assert_eq!(status, 400);
    assert!(message.contains("trace_id"), "{message}");

    let (status, _, _) = error(&server.get("/v1/nothing-here"));
    assert_eq!(status, 404);
    let (status, _, _) = error(&server.get("/v1/agents/echo/invoke"));
    assert_eq!(status, 405);

    // A guest failure is a 502 naming the agent's own message.
    let (status, kind, message) = error(&server.invoke("slow", "fail-first", json!({"n": 100})));
    assert_eq!((status, kind.as_str()), (502, "retryable"));
    assert!(message.contains("failing"), "{message}");

    let reply = server.get("/healthz");
    assert_eq!((reply.status, reply.json()), (200, json!({"status": "ok"})));
    let reply = server.get("/readyz");
    assert_eq!(
        (reply.status, reply.json()),
        (200, json!({"ready": true, "agents": 2}))
    );
}

#[test]
fn agents_are_listed_with_their_limits_breaker_instances_and_stats() {
    let dir = agents_dir();
    let server = start(dir.path(), &["--no-audit"]);
    for _ in 0..3 {
        assert_eq!(server.invoke("echo", "echo", json!(1)).status, 200);
    }
    let list = server.get("/v1/agents").json();
    let ids: Vec<&str> = list["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["echo", "slow"]);
    let echo = server.get("/v1/agents/echo").json();
    assert_eq!(echo["version"], "0.1.0");
    assert_eq!(echo["content_hash"].as_str().unwrap().len(), 64);
    assert_eq!(echo["breaker"], "closed");
    assert_eq!(echo["live_instances"], 1);
    assert_eq!(echo["limits"]["timeout_ms"], 5000);
    assert_eq!(echo["operations"][0]["name"], "echo");
    assert_eq!(echo["stats"]["calls"], 3);
    assert_eq!(echo["stats"]["outcomes"], json!({"ok": 3}));
    assert!(echo["stats"]["p99_us"].as_f64().unwrap() >= echo["stats"]["p50_us"].as_f64().unwrap());
    assert_eq!(server.get("/v1/agents/nobody").status, 404);

    let output = std::process::Command::new(tandem_bin())
        .args(["stats", "--server", &server.url])
        .output()
        .unwrap();
    assert!(output.status.success());
    let table = String::from_utf8(output.stdout).unwrap();
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("echo "))
        .unwrap_or_else(|| panic!("no echo row in\n{table}"))
        .split_whitespace()
        .collect();
    assert_eq!(&row[..4], ["echo", "0.1.0", "3", "0"], "{table}");
    assert_eq!(row.last(), Some(&"closed"));
}

#[test]
fn metrics_move_by_exactly_what_the_calls_did() {
    let dir = agents_dir();
    let server = start(dir.path(), &["--no-audit"]);
    let before = scrape(&server);
    let mut fuel = 0;
    for i in 0..7 {
        let reply = server.invoke("echo", "echo", json!({"i": i}));
        assert_eq!(reply.status, 200);
        fuel += reply.json()["fuel_used"].as_u64().unwrap();
    }
    for _ in 0..2 {
        assert_eq!(server.invoke("echo", "nope", json!({})).status, 400);
    }
    // One call that fails on all three attempts (two retries), and one delegation slow -> echo.
    assert_eq!(
        server
            .invoke("slow", "fail-first", json!({"n": 100}))
            .status,
        502
    );
    let delegated = server.invoke("slow", "call", json!({"agent": "echo", "op": "echo"}));
    assert_eq!(delegated.status, 200, "{}", delegated.body);
    let after = scrape(&server);

    let echo =
        |name: &str, extra: &str| format!("{name}{{agent=\"echo\",version=\"0.1.0\"{extra}}}");
    let slow =
        |name: &str, extra: &str| format!("{name}{{agent=\"slow\",version=\"0.1.0\"{extra}}}");
    let moved = |key: String| sample(&after, &key) - sample(&before, &key);
    // 7 direct calls and the delegated one.
    assert_eq!(moved(echo("tandem_calls_total", ",outcome=\"ok\"")), 8.0);
    assert_eq!(
        moved(echo("tandem_calls_total", ",outcome=\"invalid-input\"")),
        2.0
    );
    assert_eq!(moved(echo("tandem_call_duration_seconds_count", "")), 10.0);
    assert_eq!(
        moved(
            "tandem_call_duration_seconds_bucket{le=\"+Inf\",agent=\"echo\",version=\"0.1.0\"}"
                .into()
        ),
        10.0
    );
    assert!(moved(echo("tandem_call_duration_seconds_sum", "")) > 0.0);
    let delegated_fuel = moved(echo("tandem_fuel_consumed_total", "")) - fuel as f64;
    assert!(
        delegated_fuel > 0.0,
        "the 7 calls' fuel plus the delegated call's"
    );
    assert_eq!(
        moved(slow("tandem_calls_total", ",outcome=\"retryable\"")),
        1.0
    );
    assert_eq!(moved(slow("tandem_calls_total", ",outcome=\"ok\"")), 1.0);
    assert_eq!(moved(slow("tandem_retries_total", "")), 2.0);
    assert_eq!(moved(slow("tandem_delegations_made_total", "")), 1.0);
    assert_eq!(moved(echo("tandem_delegations_received_total", "")), 1.0);
    assert_eq!(sample(&after, &echo("tandem_breaker_state", "")), 0.0);
    assert!(sample(&after, &echo("tandem_live_instances", "")) >= 1.0);
    assert!(sample(&after, &echo("tandem_peak_memory_bytes", "")) >= 65536.0);

    // Cumulative buckets never decrease and end at the count.
    let buckets: Vec<f64> = after
        .iter()
        .filter(|(k, _)| {
            k.starts_with("tandem_call_duration_seconds_bucket") && k.contains("agent=\"echo\"")
        })
        .map(|(_, v)| *v)
        .collect();
    assert!(buckets.len() > 20);
    assert_eq!(
        buckets.iter().cloned().fold(0.0, f64::max),
        sample(&after, &echo("tandem_call_duration_seconds_count", ""))
    );
}

/// Reads events until one satisfies `last`, returning those whose trace id is in `traces`.
fn events_until(
    events: &std::sync::mpsc::Receiver<Value>,
    traces: &[&str],
    last: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = events
            .recv_timeout(left)
            .expect("the awaited event arrives");
        let done = last(&event);
        if traces.iter().any(|t| event["trace_id"] == *t) {
            seen.push(event);
        }
        if done {
            return seen;
        }
    }
}

#[test]
fn the_event_stream_reports_calls_retries_failures_and_the_breaker_in_order() {
    let dir = agents_dir();
    let server = start(dir.path(), &["--no-audit"]);
    let events = server.events();
    let ok = server.post(
        "/v1/agents/echo/invoke",
        r#"{"op": "echo", "input": 1, "trace_id": "sse-ok"}"#,
    );
    assert_eq!(ok.status, 200);
    let failed = server.post(
        "/v1/agents/slow/invoke",
        r#"{"op": "fail-first", "input": {"n": 100}, "trace_id": "sse-fail"}"#,
    );
    assert_eq!(failed.status, 502);
    let seen = events_until(&events, &["sse-ok", "sse-fail"], |e| {
        e["type"] == "call-failed" && e["trace_id"] == "sse-fail"
    });
    let summary: Vec<(String, String)> = seen
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["agent"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("call-started", "echo"),
        ("call-finished", "echo"),
        ("call-started", "slow"),
        ("retry", "slow"),
        ("retry", "slow"),
        ("call-failed", "slow"),
    ];
    assert_eq!(
        summary,
        expected.map(|(t, a)| (t.to_string(), a.to_string())),
        "{seen:#?}"
    );
    let seqs: Vec<u64> = seen.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(seen[1]["attempts"], 1);
    assert_eq!(seen[3]["attempt"], 2);
    assert_eq!(seen[4]["attempt"], 3);
    assert_eq!(seen[5]["kind"], "retryable");
    assert_eq!(seen[5]["attempts"], 3);
    assert!(
        seen[5]["error"]
            .as_str()
            .unwrap()
            .contains("call 3 of 100 failing")
    );
    assert!(seen[0]["time"].as_str().unwrap().ends_with('Z'));

    // Two more failed attempts make five in a row: the breaker opens, then after `open-for` (500 ms)
    // a good call probes it half-open and closes it.
    let refused = server.invoke("slow", "fail-first", json!({"n": 100}));
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.json()["error"]["kind"], "circuit-open");
    assert!(refused.header("retry-after").is_some());
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(server.invoke("slow", "echo", json!({})).status, 200);
    let mut states = Vec::new();
    while states.last().map(String::as_str) != Some("closed") {
        let event = events
            .recv_timeout(Duration::from_secs(30))
            .expect("breaker events arrive");
        if event["type"] == "breaker" {
            assert_eq!(event["agent"], "slow");
            states.push(event["state"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(states, ["open", "half-open", "closed"]);
}

#[test]
fn the_audit_log_records_every_call_and_verify_names_an_edited_or_removed_line() {
    let dir = agents_dir();
    let log = dir.path().join("audit").join("audit.jsonl");
    let mut server = start(dir.path(), &["--audit-log", log.to_str().unwrap()]);
    for i in 0..4 {
        assert_eq!(server.invoke("echo", "echo", json!(i)).status, 200);
    }
    assert_eq!(server.invoke("echo", "nope", json!({})).status, 400);
    // slow may delegate to echo only: a hop to itself is refused (not granted) and audited.
    let denied = server.invoke("slow", "call", json!({"agent": "slow", "op": "echo"}));
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert!(server.terminate().success(), "{}", server.stderr());

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcomes: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["event"].as_str().unwrap(),
                l["agent"].as_str().unwrap(),
                l["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("load", "echo", "ok"),
            ("load", "slow", "ok"),
            ("call", "echo", "ok"),
            ("call", "echo", "ok"),
            ("call", "echo", "ok"),
            ("call", "echo", "ok"),
            ("call", "echo", "invalid-input"),
            ("denied-hop", "slow", "denied"),
            ("call", "slow", "denied"),
        ]
    );
    assert_eq!(lines[2]["operation"], "echo");
    assert_eq!(lines[2]["version"], "0.1.0");
    assert_eq!(lines[2]["agent_hash"].as_str().unwrap().len(), 64);
    assert!(lines[2]["fuel"].as_u64().unwrap() > 0);
    assert_eq!(lines[7]["operation"], "slow.echo");
    assert_eq!(lines[7]["trace_id"], lines[8]["trace_id"]);
    assert!(lines[7]["detail"].as_str().unwrap().contains("not granted"));

    let verify = |path: &Path| {
        let output = std::process::Command::new(tandem_bin())
            .args(["audit", "verify"])
            .arg(path)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
        )
    };
    let (code, out) = verify(&log);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("intact, 9 lines"), "{out}");

    let raw: Vec<&str> = text.lines().collect();
    let edited_path = dir.path().join("edited.jsonl");
    let mut edited = raw.clone();
    let changed = edited[2].replacen("\"outcome\":\"ok\"", "\"outcome\":\"trap\"", 1);
    edited[2] = &changed;
    std::fs::write(&edited_path, edited.join("\n") + "\n").unwrap();
    let (code, out) = verify(&edited_path);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("line 3: was edited"), "{out}");
    assert_eq!(
        out.matches("line ").count(),
        1,
        "only the edited line: {out}"
    );

    let mut removed = raw.clone();
    removed.remove(4);
    std::fs::write(&edited_path, removed.join("\n") + "\n").unwrap();
    let (code, out) = verify(&edited_path);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("line 5: does not follow line 4"), "{out}");

    // Restarting on the same log continues its chain.
    let mut server = start(dir.path(), &["--audit-log", log.to_str().unwrap()]);
    assert_eq!(server.invoke("echo", "echo", json!(1)).status, 200);
    assert!(server.terminate().success());
    let (code, out) = verify(&log);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("intact, 12 lines"), "{out}");
}

#[test]
fn admin_endpoints_need_the_bearer_token_which_is_never_logged() {
    let dir = agents_dir();
    let token = "s3cret-admin-token-0123456789";
    let server = TestServer::start(
        dir.path(),
        &["--no-audit"],
        &[
            ("AGENT_ID", "slow"),
            ("TANDEM_ADMIN_TOKEN", token),
            ("TANDEM_LOG", "debug"),
        ],
    );
    // With the token: an empty component is refused as not wasm, echo has no version to roll back
    // to, and removing an unknown agent is a 404.
    for (method, path, authorized) in [
        ("PUT", "/v1/agents/echo", 400),
        ("POST", "/v1/agents/echo/rollback", 409),
        ("DELETE", "/v1/agents/nobody", 404),
    ] {
        let reply = server.request(method, path, &[], b"");
        assert_eq!(reply.status, 401, "{method} {path}");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        assert!(
            reply.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Bearer")
        );
        let wrong = server.request(
            method,
            path,
            &[("authorization", "Bearer guess-guess-guess-1")],
            b"",
        );
        assert_eq!(wrong.status, 401);
        let bearer = format!("Bearer {token}");
        let right = server.request(method, path, &[("authorization", &bearer)], b"");
        assert_eq!(right.status, authorized, "{method} {path}: {}", right.body);
    }
    assert_eq!(server.invoke("echo", "echo", json!(1)).status, 200);
    assert!(!server.stderr().contains(token), "{}", server.stderr());

    let without = start(dir.path(), &["--no-audit"]);
    let reply = without.request(
        "PUT",
        "/v1/agents/echo",
        &[("authorization", "Bearer anything-at-all-1")],
        b"",
    );
    assert_eq!(reply.status, 401);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("disabled")
    );
}

#[test]
fn graphs_run_over_http_and_bad_plans_are_refused() {
    let dir = agents_dir();
    let server = start(dir.path(), &["--no-audit"]);
    let plan = json!({"nodes": [
        {"id": "a", "agent": "echo", "op": "echo", "input": {"x": 1}},
        {"id": "b", "agent": "echo", "op": "echo", "input": {"from-a": "${a/x}"}, "depends-on": ["a"]},
    ]});
    let reply = server.post("/v1/graphs", &plan.to_string());
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["ok"], true);
    assert_eq!(body["nodes"][1]["status"], "succeeded");
    assert_eq!(body["nodes"][1]["output"], json!({"from-a": 1}));

    let failing = json!({"policy": "continue", "nodes": [
        {"id": "a", "agent": "slow", "op": "fail-first", "input": {"n": 100}, "max-attempts": 1},
        {"id": "b", "agent": "echo", "op": "echo"},
    ]});
    let body = server.post("/v1/graphs", &failing.to_string()).json();
    assert_eq!(body["ok"], false);
    assert_eq!(body["nodes"][0]["status"], "failed");
    assert_eq!(body["nodes"][1]["status"], "succeeded");

    let unknown = json!({"nodes": [{"id": "a", "agent": "ghost", "op": "echo"}]});
    let reply = server.post("/v1/graphs", &unknown.to_string());
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ghost")
    );
}

/// Posts an invoke request from another thread; the answer (status, body) comes from the handle.
fn invoke_in_background(
    server: &TestServer,
    agent: &str,
    body: &'static str,
) -> std::thread::JoinHandle<(u16, String)> {
    let url = format!("{}/v1/agents/{agent}/invoke", server.url);
    std::thread::spawn(move || {
        let mut response = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .post(url)
            .header("content-type", "application/json")
            .send(body)
            .expect("the call is answered");
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    })
}

#[test]
fn sigterm_lets_a_slow_call_finish_then_exits_0() {
    let dir = agents_dir();
    let mut server = start(dir.path(), &["--no-audit", "--grace", "20s"]);
    let events = server.events();
    let call = invoke_in_background(
        &server,
        "slow",
        r#"{"op": "sleep-ms", "input": {"ms": 1500}, "trace_id": "slow-1"}"#,
    );
    events_until(&events, &["slow-1"], |e| e["type"] == "call-started");
    let signalled = Instant::now();
    server.signal_term();
    let shutdown = events_until(&events, &[], |e| e["type"] == "shutdown");
    assert!(shutdown.is_empty());
    // The listener is closed at once; the call in flight carries on.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        ureq::get(format!("{}/healthz", server.url)).call().is_err(),
        "no new connection is accepted during shutdown"
    );
    let (status, body) = call.join().unwrap();
    assert_eq!(status, 200, "{body}");
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["output"], 1500, "{body}");
    let status = server.wait(Duration::from_secs(30));
    assert!(
        status.success(),
        "exit status {status}: {}",
        server.stderr()
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(15),
        "did not wait for the grace period"
    );
}

#[test]
fn a_call_still_running_after_the_grace_period_is_stopped_with_a_clear_error() {
    let dir = agents_dir();
    let log = dir.path().join("audit.jsonl");
    let mut server = start(
        dir.path(),
        &["--grace", "300ms", "--audit-log", log.to_str().unwrap()],
    );
    let events = server.events();
    let call = invoke_in_background(
        &server,
        "slow",
        r#"{"op": "sleep-ms", "input": {"ms": 4000}, "trace_id": "too-slow"}"#,
    );
    events_until(&events, &["too-slow"], |e| e["type"] == "call-started");
    let signalled = Instant::now();
    server.signal_term();
    let (status, body) = call.join().unwrap();
    assert_eq!(status, 503, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["kind"], "unavailable");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shut down before the call finished")
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(3),
        "{:?}",
        signalled.elapsed()
    );
    assert!(
        server.wait(Duration::from_secs(30)).success(),
        "{}",
        server.stderr()
    );
    // The stopped call is in the audit log, flushed before the exit.
    let text = std::fs::read_to_string(&log).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["trace_id"], "too-slow");
    assert_eq!(last["outcome"], "unavailable");
    assert!(last["detail"].as_str().unwrap().contains("cancelled"));
}
