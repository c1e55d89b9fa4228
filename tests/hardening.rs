//! The host against a hostile client and a hostile guest: each test here reproduces one way the
//! promise "a classified error, and the host and its neighbours carry on" used to break (issue 14's
//! numbered items, named in each test's doc), against a real `tandem serve` process or a real host.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tandem_e2e::{Reply, TestServer, agent, tandem_bin, test_agent};

const ADMIN: &str = "hardening-admin-token-0123456789";
const CALLER: &str = "hardening-caller-token-0123456789";

/// A directory with `echo`, and `flaky` as `slow` with `manifest` (its `[agent]` and env grant
/// added).
fn agents_dir(slow_manifest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(agent("echo"), dir.path().join("echo.wasm")).unwrap();
    std::fs::copy(test_agent("flaky"), dir.path().join("slow.wasm")).unwrap();
    std::fs::write(
        dir.path().join("slow.toml"),
        format!(
            "[agent]\nid = \"slow\"\n\n[capabilities]\nenv = [\"AGENT_ID\"]\n\n{slow_manifest}\n"
        ),
    )
    .unwrap();
    dir
}

fn start(dir: &Path, args: &[&str]) -> TestServer {
    TestServer::start(dir, args, &[("AGENT_ID", "slow")])
}

/// The error of an answer: (status, kind, message).
fn error(reply: &Reply) -> (u16, String, String) {
    let body = reply.json();
    (
        reply.status,
        body["error"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// Sends `request` on a new connection and returns what comes back until the server closes it
/// or `wait` passes.
fn raw(server: &TestServer, request: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// The server's stderr once it holds `needle` (a log line reaches the captured stderr a moment
/// after what caused it), or as it is after 10 s.
fn stderr_with(server: &TestServer, needle: &str) -> String {
    let until = Instant::now() + Duration::from_secs(10);
    while !server.stderr().contains(needle) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.stderr()
}

/// The peak resident memory of a process, in bytes (Linux).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Item 1: a graph whose templates repeat a large output is bounded by the callee's `max-input`
/// and by what a run may hold, before the input is built.
#[test]
fn graph_templates_cannot_amplify_memory() {
    let dir = agents_dir("");
    let server = start(dir.path(), &["--no-audit", "--max-body", "4MiB"]);
    let big = "x".repeat(900_000);
    let refs: Vec<&str> = vec!["${a}"; 1000];
    let mut nodes = vec![
        json!({"id": "a", "agent": "echo", "op": "echo", "input": big}),
        json!({"id": "b", "agent": "echo", "op": "echo", "input": refs, "depends-on": ["a"]}),
    ];
    // Twenty nodes of four copies each: every one is within max-input, all together are not
    // within what a run may hold.
    for i in 0..20 {
        nodes.push(json!({"id": format!("c{i}"), "agent": "echo", "op": "echo",
            "input": ["${a}", "${a}", "${a}", "${a}"], "depends-on": ["a"]}));
    }
    let plan = json!({"policy": "continue", "max-concurrency": 4, "nodes": nodes});
    let reply = server.post("/v1/graphs", &plan.to_string());
    assert_eq!(
        reply.status,
        200,
        "{}",
        &reply.body[..reply.body.len().min(500)]
    );
    let report = reply.json();
    let node = |id: &str| {
        report["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(node("a")["status"], "succeeded");
    assert_eq!(node("b")["status"], "failed");
    assert_eq!(node("b")["kind"], "invalid-input");
    let message = node("b")["error"].as_str().unwrap().to_string();
    assert!(message.contains("`limits.max-input`"), "{message}");
    let bounded_by_the_run = (0..20)
        .map(|i| node(&format!("c{i}")))
        .filter(|n| n["status"] == "failed")
        .inspect(|n| assert_eq!(n["kind"], "invalid-input", "{n}"))
        .count();
    assert!(bounded_by_the_run > 0, "the run's budget stopped some");
    assert!(
        peak_rss(server.pid()) < 600 << 20,
        "peak RSS {} MB",
        peak_rss(server.pid()) >> 20
    );
}

/// Item 2: an upload without the admin token is refused before its body is read.
#[test]
fn an_upload_without_the_token_is_refused_before_its_body() {
    let dir = agents_dir("");
    let server = TestServer::start(
        dir.path(),
        &["--no-audit"],
        &[("AGENT_ID", "slow"), ("TANDEM_ADMIN_TOKEN", ADMIN)],
    );
    let answer = raw(
        &server,
        b"PUT /v1/agents/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60000000\r\n\r\n",
        Duration::from_secs(20),
    );
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("\"kind\":\"denied\""), "{answer}");
}

/// Item 3: connections that stall are closed after the header timeout, and a bounded number of
/// them cannot keep a normal request out.
#[test]
fn stalled_connections_are_timed_out_and_bounded() {
    let dir = agents_dir("");
    let server = start(
        dir.path(),
        &[
            "--no-audit",
            "--header-timeout",
            "1s",
            "--max-connections",
            "16",
        ],
    );
    let address = server.url.trim_start_matches("http://").to_string();
    let stalled: Vec<TcpStream> = (0..40)
        .map(|i| {
            let mut s = TcpStream::connect(&address).unwrap();
            match i % 3 {
                0 => {}
                1 => s
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0")
                    .unwrap(),
                _ => s
                    .write_all(b"POST /v1/agents/echo/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    .unwrap(),
            }
            s
        })
        .collect();
    // A normal request gets through once slots free up.
    let reply = server.invoke("echo", "echo", json!(1));
    assert_eq!(reply.status, 200, "{}", reply.body);
    // The stalled ones were closed by the server (EOF), not left open.
    for mut s in stalled {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = [0u8; 1024];
        let mut total = 0;
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(e) => panic!("a stalled connection stayed open: {e} (read {total} bytes)"),
            }
        }
    }
    // Kept-alive connections that sit idle are closed too.
    let mut idle = TcpStream::connect(&address).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = Vec::new();
    assert!(
        idle.read_to_end(&mut answer).is_ok(),
        "the idle connection was closed"
    );
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

/// Item 5: `describe()` or `health()` that waits is bounded by the agent's timeout; a bad component
/// fails alone while the others load.
#[test]
fn a_component_that_hangs_while_loading_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(agent("echo"), dir.path().join("echo.wasm")).unwrap();
    std::fs::copy(test_agent("hostile"), dir.path().join("hostile.wasm")).unwrap();
    std::fs::write(
        dir.path().join("hostile.toml"),
        "[limits]\ntimeout = \"1s\"\n[capabilities]\nenv = [\"HOSTILE_SLOW\"]\n",
    )
    .unwrap();
    let mut server =
        TestServer::start(dir.path(), &["--no-audit"], &[("HOSTILE_SLOW", "describe")]);
    assert_eq!(server.invoke("echo", "echo", json!(1)).status, 200);
    assert_eq!(server.invoke("hostile", "panic", json!({})).status, 404);
    let stderr = stderr_with(&server, "`describe()` did not finish");
    assert!(
        stderr.contains("`describe()` did not finish within the agent's timeout of 1s"),
        "{stderr}"
    );
    server.terminate();

    // The health probe, through the library.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let host = tandem_e2e::host();
    let mut policy = tandem::Policy::default();
    policy.limits.timeout = Duration::from_millis(500);
    policy.grants.env = vec![("HOSTILE_SLOW".into(), "health".into())];
    let error = runtime
        .block_on(host.load(&test_agent("hostile"), policy))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`health()` did not finish within the agent's timeout of 500ms"),
        "{error}"
    );
}

/// Item 6: a call's deadline holds while it waits for a free instance.
#[test]
fn a_call_waiting_for_an_instance_ends_at_its_deadline() {
    let dir = agents_dir("[limits]\nmax-instances = 1\n");
    let server = start(dir.path(), &["--no-audit"]);
    std::thread::scope(|scope| {
        let busy = scope.spawn(|| server.invoke("slow", "sleep-ms", json!({"ms": 2000})));
        std::thread::sleep(Duration::from_millis(300));
        let reply = server.post(
            "/v1/agents/slow/invoke",
            r#"{"op": "sleep-ms", "input": {"ms": 1}, "timeout_ms": 150}"#,
        );
        let (status, kind, message) = error(&reply);
        assert_eq!((status, kind.as_str()), (503, "overloaded"), "{message}");
        assert!(
            message.contains("no instance became free within 150ms"),
            "{message}"
        );
        assert_eq!(reply.header("retry-after"), Some("1"));
        assert_eq!(busy.join().unwrap().status, 200);
    });
}

/// Item 7: queueing for an instance is not the agent's failure: the breaker of a healthy agent
/// stays closed under overload.
#[test]
fn overload_does_not_open_a_healthy_agents_breaker() {
    let dir = agents_dir("[limits]\nmax-instances = 2\ntimeout = \"1s\"\n");
    let server = start(dir.path(), &["--no-audit"]);
    let statuses: Vec<(u16, String)> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..16)
            .map(|_| scope.spawn(|| server.invoke("slow", "sleep-ms", json!({"ms": 400}))))
            .collect();
        calls
            .into_iter()
            .map(|c| {
                let reply = c.join().unwrap();
                let kind = if reply.status == 200 {
                    "ok".to_string()
                } else {
                    error(&reply).1
                };
                (reply.status, kind)
            })
            .collect()
    });
    let ok = statuses.iter().filter(|(s, _)| *s == 200).count();
    let overloaded = statuses.iter().filter(|(_, k)| k == "overloaded").count();
    assert!(ok >= 4, "{statuses:?}");
    assert_eq!(
        ok + overloaded,
        16,
        "only successes and overloads: {statuses:?}"
    );
    let detail = server.get("/v1/agents/slow").json();
    assert_eq!(detail["breaker"], "closed", "{detail}");
    assert_eq!(server.invoke("slow", "echo", json!({})).status, 200);
}

/// Item 8: a half-open probe cancelled by its caller (here: a fail-fast graph) does not wedge the
/// breaker.
#[test]
fn a_cancelled_probe_does_not_wedge_the_breaker() {
    let dir = agents_dir(
        "[resilience]\nconsecutive-failures = 1\nopen-for = \"200ms\"\nmax-attempts = 1\n",
    );
    let server = start(dir.path(), &["--no-audit"]);
    // Open the breaker, wait until it may probe.
    let reply = server.invoke("slow", "fail-first", json!({"n": 1}));
    assert_eq!(reply.status, 502, "{}", reply.body);
    std::thread::sleep(Duration::from_millis(300));
    // The probe sleeps; the graph fails fast on `bad` and cancels it.
    let plan = json!({"policy": "fail-fast", "nodes": [
        {"id": "probe", "agent": "slow", "op": "sleep-ms", "input": {"ms": 3000}},
        {"id": "first", "agent": "echo", "op": "echo", "input": 1},
        {"id": "bad", "agent": "echo", "op": "echo", "input": {"x": "${first/missing}"}, "depends-on": ["first"]},
    ]});
    let report = server.post("/v1/graphs", &plan.to_string()).json();
    let probe = &report["nodes"][0];
    assert_eq!(probe["status"], "cancelled", "{report}");
    // The next call probes, succeeds, and closes the breaker.
    let reply = server.invoke("slow", "echo", json!({}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(server.get("/v1/agents/slow").json()["breaker"], "closed");
}

/// Item 9: the event stream's subscribers are bounded.
#[test]
fn event_subscribers_are_bounded() {
    let dir = agents_dir("");
    let server = start(dir.path(), &["--no-audit", "--max-subscribers", "2"]);
    let first = server.events();
    let _second = server.events();
    let (status, kind, message) = error(&server.get("/events"));
    assert_eq!((status, kind.as_str()), (503, "overloaded"), "{message}");
    assert!(message.contains("--max-subscribers"), "{message}");
    // Calls go on, and the subscribers see them, batched.
    for i in 0..50 {
        assert_eq!(server.invoke("echo", "echo", json!(i)).status, 200);
    }
    let finished = (0..50)
        .filter_map(|_| {
            std::iter::from_fn(|| first.recv_timeout(Duration::from_secs(10)).ok())
                .find(|e| e["type"] == "call-finished")
        })
        .count();
    assert_eq!(finished, 50);
}

/// Item 10: a duration no clock can hold is refused with its name, not panicked on.
#[test]
fn durations_out_of_range_are_refused() {
    let dir = agents_dir("");
    let server = start(dir.path(), &["--no-audit"]);
    for plan in [
        json!({"timeout": "300000000000y", "nodes": [{"id": "a", "agent": "echo", "op": "echo"}]}),
        json!({"nodes": [{"id": "a", "agent": "echo", "op": "echo", "timeout": "300000000000y"}]}),
        json!({"nodes": [{"id": "a", "agent": "echo", "op": "echo", "timeout": "0s"}]}),
    ] {
        let (status, _, message) = error(&server.post("/v1/graphs", &plan.to_string()));
        assert_eq!(status, 400, "{message}");
        assert!(message.contains("out of range"), "{message}");
    }
    let (status, _, message) = error(&server.post(
        "/v1/agents/echo/invoke",
        &format!(r#"{{"op": "echo", "timeout_ms": {}}}"#, u64::MAX),
    ));
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("`timeout_ms`"), "{message}");
    assert_eq!(server.get("/healthz").status, 200, "still serving");

    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        "timeout = \"300000000000y\"\n[[nodes]]\nid = \"a\"\nagent = \"echo\"\nop = \"echo\"\n",
    )
    .unwrap();
    for command in ["check", "run"] {
        let output = std::process::Command::new(tandem_bin())
            .args(["graph", command])
            .arg(&plan)
            .arg("--agents")
            .arg(dir.path())
            .env("AGENT_ID", "slow")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{command}: {stderr}");
        assert!(stderr.contains("out of range"), "{stderr}");
    }
}

/// Items 11 and 27: a call whose output is not JSON (or nests too deep) fails, keeps none of its
/// state writes, and is counted and audited as failed.
#[test]
fn one_verdict_per_call_before_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(test_agent("hostile"), dir.path().join("hostile.wasm")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let server = TestServer::start(dir.path(), &["--data-dir", data_dir], &[]);
    let (status, kind, message) =
        error(&server.invoke("hostile", "bad-output", json!({"name": "k"})));
    assert_eq!((status, kind.as_str()), (502, "failed"), "{message}");
    assert!(message.contains("not usable JSON"), "{message}");
    let peek = server.invoke("hostile", "state-peek", json!({"name": "k"}));
    assert_eq!(peek.json()["output"]["value"], Value::Null, "no write kept");
    let (status, _, message) =
        error(&server.invoke("hostile", "deep-output", json!({"count": 200})));
    assert_eq!(status, 502);
    assert!(message.contains("200 levels deep"), "{message}");
    let plan = json!({"nodes": [{"id": "d", "agent": "hostile", "op": "deep-output", "input": {"count": 200}}]});
    let report = server.post("/v1/graphs", &plan.to_string()).json();
    assert_eq!(report["nodes"][0]["status"], "failed", "{report}");
    let metrics = server.get("/metrics").body;
    assert!(
        metrics.contains(
            "tandem_calls_total{agent=\"hostile\",version=\"0.1.0\",outcome=\"failed\"} 3"
        ),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("tandem_calls_total{agent=\"hostile\",version=\"0.1.0\",outcome=\"ok\"} 1")
    );
    let audit = std::fs::read_to_string(data.path().join("audit.jsonl")).unwrap();
    let bad: Value =
        serde_json::from_str(audit.lines().find(|l| l.contains("bad-output")).unwrap()).unwrap();
    assert_eq!(bad["outcome"], "failed");
}

/// Item 12: a second server on the same data directory is refused.
#[test]
fn a_second_server_on_one_data_directory_is_refused() {
    let dir = agents_dir("");
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let _first = start(dir.path(), &["--data-dir", data_dir]);
    let output = std::process::Command::new(tandem_bin())
        .args([
            "--data-dir",
            data_dir,
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--agents",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("another `tandem serve`"), "{stderr}");
    // And a second writer of one audit log is refused by the log itself.
    let other = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(tandem_bin())
        .arg("--data-dir")
        .arg(other.path())
        .args(["serve", "--addr", "127.0.0.1:0", "--audit-log"])
        .arg(data.path().join("audit.jsonl"))
        .arg("--agents")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("in use by another process"), "{stderr}");
}

/// Item 13: every call answered before a `kill -9` is in the audit log.
#[test]
fn every_answered_call_is_in_the_audit_log_after_kill_9() {
    let dir = agents_dir("");
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let mut server = start(dir.path(), &["--data-dir", data_dir]);
    let stop = Instant::now() + Duration::from_millis(1500);
    let answered: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..12)
            .map(|_| {
                scope.spawn(|| {
                    let mut traces = Vec::new();
                    while Instant::now() < stop {
                        let reply = server.invoke("echo", "echo", json!(1));
                        if reply.status == 200 {
                            traces.push(reply.json()["trace_id"].as_str().unwrap().to_string());
                        }
                    }
                    traces
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    server.kill_hard();
    assert!(answered.len() > 50, "{} calls", answered.len());
    let audit = std::fs::read_to_string(data.path().join("audit.jsonl")).unwrap();
    let logged: std::collections::HashSet<String> = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["trace_id"].as_str().map(String::from))
        .collect();
    let lost: Vec<&String> = answered.iter().filter(|t| !logged.contains(*t)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered calls not in the log",
        lost.len(),
        answered.len()
    );
}

/// Items 16 and 24: names that are not valid names are refused before anything is logged, and a
/// guest's error message is bounded.
#[test]
fn unbounded_names_and_messages_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(test_agent("hostile"), dir.path().join("hostile.wasm")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let server = TestServer::start(
        dir.path(),
        &["--data-dir", data_dir, "--max-body", "2MiB"],
        &[],
    );
    let op = "x".repeat(900_000);
    let (status, kind, message) = error(&server.invoke("hostile", &op, json!({})));
    assert_eq!((status, kind.as_str()), (400, "invalid-input"));
    assert!(message.contains("operation name of 900000 bytes is not a valid name"));
    assert!(message.len() < 400, "{}", message.len());
    let reply = server.invoke("hostile", "big-error", json!({"count": 8_000_000}));
    let (status, kind, message) = error(&reply);
    assert_eq!((status, kind.as_str()), (502, "failed"));
    assert!(reply.body.len() < 100_000, "{} bytes", reply.body.len());
    assert!(
        message.ends_with("…[truncated]"),
        "{}",
        &message[message.len() - 40..]
    );
    let audit = std::fs::read_to_string(data.path().join("audit.jsonl")).unwrap();
    let longest = audit.lines().map(str::len).max().unwrap();
    assert!(longest < 8_192, "an audit line of {longest} bytes");
}

/// Items 19 and 20: cross-site requests are refused, and the caller token guards every endpoint
/// but the health checks.
#[test]
fn cross_site_requests_and_missing_tokens_are_refused() {
    let dir = agents_dir("");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, CALLER).unwrap();
    let server = TestServer::start(
        dir.path(),
        &[
            "--no-audit",
            "--token-file",
            token_file.to_str().unwrap(),
            "--allow-origin",
            "https://ui.example",
        ],
        &[("AGENT_ID", "slow"), ("TANDEM_ADMIN_TOKEN", ADMIN)],
    );
    let bearer = format!("Bearer {CALLER}");
    let body = br#"{"op": "echo", "input": 1}"#;
    let invoke =
        |headers: &[(&str, &str)]| server.request("POST", "/v1/agents/echo/invoke", headers, body);
    let json_type = ("content-type", "application/json");
    let auth = ("authorization", bearer.as_str());
    assert_eq!(invoke(&[json_type, auth]).status, 200);
    let admin_bearer = format!("Bearer {ADMIN}");
    assert_eq!(
        invoke(&[json_type, ("authorization", admin_bearer.as_str())]).status,
        200,
        "the admin token is a caller token too"
    );
    let (status, kind, _) = error(&invoke(&[json_type]));
    assert_eq!((status, kind.as_str()), (401, "denied"));
    // A refused request whose body comes after its headers, in two writes, still gets its answer:
    // the server reads the body before it answers. (It used to answer and close at once, so the
    // client's second write failed, and a client that stops at a failed write, as ureq does, never
    // read the answer.)
    let mut stream = TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /v1/agents/echo/invoke HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let (first, rest) = body.split_at(4);
    for part in [first, rest] {
        std::thread::sleep(Duration::from_millis(200));
        stream
            .write_all(part)
            .expect("the server reads a refused request's body");
    }
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer:?}");
    let (status, _, message) = error(&invoke(&[("content-type", "text/plain"), auth]));
    assert_eq!(status, 415, "{message}");
    let (status, _, message) = error(&invoke(&[json_type, auth, ("host", "evil.example:7878")]));
    assert_eq!(status, 421, "{message}");
    let (status, _, message) = error(&invoke(&[
        json_type,
        auth,
        ("origin", "http://evil.example"),
    ]));
    assert_eq!(status, 403, "{message}");
    assert_eq!(
        invoke(&[json_type, auth, ("origin", "https://ui.example")]).status,
        200
    );
    for path in ["/metrics", "/events", "/v1/agents"] {
        assert_eq!(server.get(path).status, 401, "{path}");
    }
    assert_eq!(server.get("/healthz").status, 200);
    assert_eq!(server.get("/readyz").status, 200);
}

/// Item 21: a refused admin token leaves a trace (log and event), never the token.
#[test]
fn failed_admin_authentication_is_logged_and_published() {
    let dir = agents_dir("");
    let server = TestServer::start(
        dir.path(),
        &["--no-audit"],
        &[("AGENT_ID", "slow"), ("TANDEM_ADMIN_TOKEN", ADMIN)],
    );
    let events = server.events();
    let wrong = "wrong-token-but-long-enough-0123";
    let reply = server.request(
        "DELETE",
        "/v1/agents/echo",
        &[("authorization", &format!("Bearer {wrong}"))],
        b"",
    );
    assert_eq!(reply.status, 401);
    let event = std::iter::from_fn(|| events.recv_timeout(Duration::from_secs(10)).ok())
        .find(|e| e["type"] == "auth-failed")
        .expect("an auth-failed event");
    assert_eq!(event["endpoint"], "DELETE /v1/agents/echo");
    assert!(event["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(!event.to_string().contains(wrong));
    let stderr = stderr_with(&server, "authentication failed");
    assert!(stderr.contains("authentication failed"), "{stderr}");
    assert!(!stderr.contains(wrong) && !stderr.contains(ADMIN));
}

/// Item 23: `/metrics` is Prometheus text 0.0.4 unless OpenMetrics is asked for; every sample's
/// family has its HELP and TYPE under its own name (what `promtool check metrics` wants).
#[test]
fn metrics_are_negotiated() {
    let dir = agents_dir("");
    let server = start(dir.path(), &["--no-audit"]);
    assert_eq!(server.invoke("echo", "echo", json!(1)).status, 200);
    let reply = server.get("/metrics");
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = &reply.body;
    assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
    let mut described: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            described.push((name.to_string(), kind.to_string()));
        } else if !line.starts_with('#') && !line.is_empty() {
            let sample = line.split(['{', ' ']).next().unwrap();
            let family = described
                .iter()
                .rev()
                .find(|(name, kind)| {
                    sample == name
                        || (kind == "histogram"
                            && ["_bucket", "_sum", "_count"]
                                .iter()
                                .any(|s| sample == format!("{name}{s}")))
                })
                .unwrap_or_else(|| panic!("no TYPE for {sample}"));
            assert!(
                text.contains(&format!("# HELP {} ", family.0)),
                "no HELP for {}",
                family.0
            );
        }
    }
    assert!(text.contains("# TYPE tandem_calls_total counter"));
    let open = server.request(
        "GET",
        "/metrics",
        &[("accept", "application/openmetrics-text; version=1.0.0")],
        b"",
    );
    assert!(
        open.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(open.body.ends_with("# EOF\n"));
}

/// Item 25: a body over `--max-body` is answered 413 at once, whatever the client does next.
#[test]
fn an_oversized_body_is_answered_413_at_once() {
    let dir = agents_dir("");
    let server = start(dir.path(), &["--no-audit"]);
    for expect in ["", "Expect: 100-continue\r\n"] {
        let request = format!(
            "POST /v1/agents/echo/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n{expect}\r\n"
        );
        let answer = raw(&server, request.as_bytes(), Duration::from_secs(20));
        assert!(answer.starts_with("HTTP/1.1 413"), "{expect:?}: {answer}");
        assert!(answer.contains("--max-body"), "{answer}");
    }
}

/// Item 26: the CLI ends quietly when its stdout is closed.
#[test]
fn a_closed_stdout_ends_the_cli_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    std::fs::write(&input, json!({"text": "y".repeat(300_000)}).to_string()).unwrap();
    let mut child = std::process::Command::new(tandem_bin())
        .arg("run")
        .arg(agent("echo"))
        .args(["--op", "echo", "--input"])
        .arg(format!("@{}", input.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

/// Item 27: plans with counts of zero, and an agent id that would name another endpoint, are
/// refused.
#[test]
fn validation_holes_are_closed() {
    let dir = agents_dir("");
    let server = start(dir.path(), &["--no-audit"]);
    for (plan, expected) in [
        (
            json!({"max-concurrency": 0, "nodes": []}),
            "max-concurrency: 0 is out of range",
        ),
        (
            json!({"max-per-agent": 0, "nodes": []}),
            "max-per-agent: 0 is out of range",
        ),
        (
            json!({"nodes": [{"id": "a", "agent": "echo", "op": "echo", "max-attempts": 0}]}),
            "node `a`: max-attempts: 0 is out of range",
        ),
    ] {
        let (status, _, message) = error(&server.post("/v1/graphs", &plan.to_string()));
        assert_eq!(status, 400, "{message}");
        assert!(message.contains(expected), "{message}");
    }
    let output = std::process::Command::new(tandem_bin())
        .args([
            "agent",
            "swap",
            "../metrics",
            "f.wasm",
            "--server",
            &server.url,
        ])
        .env("TANDEM_ADMIN_TOKEN", ADMIN)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("agent id `../metrics`"), "{stderr}");
}

/// Item 28: every error answer is JSON, an undecodable path's included; `--log-format json`
/// writes only JSON.
#[test]
fn every_error_is_json() {
    let dir = agents_dir("");
    std::fs::write(dir.path().join("broken.wasm"), b"not wasm").unwrap();
    let mut server = start(dir.path(), &["--no-audit", "--log-format", "json"]);
    for path in ["/v1/agents/%FF%FE/invoke", "/v1/agents/Not_An_Id"] {
        let reply = server.request("POST", path, &[("content-type", "application/json")], b"{}");
        let (status, kind, _) = error(&reply);
        assert!(status == 400 || status == 405, "{path}: {}", reply.body);
        assert!(!kind.is_empty(), "{path}: {}", reply.body);
    }
    let (status, kind, _) = error(&server.get("/v1/agents/%FF"));
    assert_eq!((status, kind.as_str()), (400, "invalid-input"));
    // What hyper answers by itself: a malformed request, too many headers.
    let many: String = (0..120).map(|i| format!("X-H{i}: v\r\n")).collect();
    for (request, status) in [
        ("GARBAGE\r\n\r\n".to_string(), "400"),
        (
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n"),
            "431",
        ),
    ] {
        let answer = raw(&server, request.as_bytes(), Duration::from_secs(10));
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{answer}"
        );
        let body = answer.split_once("\r\n\r\n").unwrap().1;
        let json: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
        assert_eq!(json["error"]["kind"], "invalid-input");
    }
    server.terminate();
    let stderr = stderr_with(&server, "broken.wasm");
    assert!(stderr.contains("broken.wasm"), "{stderr}");
    for line in stderr.lines().filter(|l| !l.is_empty()) {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
}

/// Item 18: concurrent swaps are audited in the order in which they took effect: each swap's
/// audit line replaces the version the line before it put in place.
#[test]
fn concurrent_swaps_are_audited_in_the_order_they_took_effect() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(test_agent("twin-v1"), dir.path().join("twin.wasm")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let server = TestServer::start(
        dir.path(),
        &["--data-dir", data_dir],
        &[("TANDEM_ADMIN_TOKEN", ADMIN)],
    );
    let versions = [
        std::fs::read(test_agent("twin-v1")).unwrap(),
        std::fs::read(test_agent("twin-v2")).unwrap(),
    ];
    let bearer = format!("Bearer {ADMIN}");
    let changed: usize = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let (server, versions, bearer) = (&server, &versions, &bearer);
                scope.spawn(move || {
                    let mut changed = 0;
                    for i in 0..4 {
                        let reply = server.request(
                            "PUT",
                            "/v1/agents/twin",
                            &[("authorization", bearer)],
                            &versions[(t + i) % 2],
                        );
                        assert_eq!(reply.status, 200, "{}", reply.body);
                        // An upload of the version serving already changes nothing.
                        changed += usize::from(reply.json()["unchanged"] == false);
                    }
                    changed
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).sum()
    });
    let audit = std::fs::read_to_string(data.path().join("audit.jsonl")).unwrap();
    let swaps: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["event"] == "swap")
        .collect();
    assert_eq!(swaps.len(), changed);
    assert!(changed > 1, "{changed} swaps");
    for pair in swaps.windows(2) {
        let replaced = pair[1]["detail"].as_str().unwrap();
        let hash = pair[0]["agent_hash"].as_str().unwrap();
        assert!(
            replaced.contains(hash),
            "line {} replaced {replaced}, but line {} put {hash} in place",
            pair[1]["seq"],
            pair[0]["seq"]
        );
    }
}

/// Item 22: watch mode reads a file again only when it changed: an invalid file is rejected once,
/// not every debounce period.
#[test]
fn watch_mode_rejects_an_unchanged_invalid_file_once() {
    let dir = agents_dir("");
    let server = start(
        dir.path(),
        &["--no-audit", "--watch", "--debounce", "100ms"],
    );
    let events = server.events();
    std::fs::write(dir.path().join("bad.wasm"), b"not a component").unwrap();
    let until = Instant::now() + Duration::from_secs(3);
    let mut rejected = 0;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left) {
            Ok(event) if event["type"] == "agent-rejected" => rejected += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(rejected, 1, "rejected {rejected} times in 3 s");
    // A real change is read again.
    std::fs::write(dir.path().join("bad.wasm"), b"still not a component").unwrap();
    let again = std::iter::from_fn(|| events.recv_timeout(Duration::from_secs(10)).ok())
        .find(|e| e["type"] == "agent-rejected");
    assert!(again.is_some(), "the changed file was read again");
}

/// Item 4: a guest that leaks open files is bounded per instance (a classified error) and its
/// instance is retired, so the host's descriptors are not held by warm instances.
#[test]
fn leaked_files_are_bounded_and_their_instance_retired() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("f"), "data").unwrap();
    std::fs::copy(test_agent("hostile"), dir.path().join("hostile.wasm")).unwrap();
    std::fs::write(
        dir.path().join("hostile.toml"),
        format!(
            "[limits]\nmax-open-files = 16\n[capabilities]\ndirs = [{{ host = \"{}\", guest = \"/d\", mode = \"read-only\" }}]\n",
            files.path().display()
        ),
    )
    .unwrap();
    let server = TestServer::start(dir.path(), &["--no-audit"], &[]);
    let descriptors = || {
        std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
            .unwrap()
            .count()
    };
    let before = descriptors();
    for _ in 0..40 {
        let reply = server.invoke(
            "hostile",
            "open-files",
            json!({"path": "/d/f", "count": 10}),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    // Each leaking instance was retired: the 400 leaked descriptors are closed.
    assert!(
        descriptors() < before + 20,
        "{} descriptors before, {} after",
        before,
        descriptors()
    );
    let (status, kind, message) = error(&server.invoke(
        "hostile",
        "open-files",
        json!({"path": "/d/f", "count": 17}),
    ));
    assert_eq!((status, kind.as_str()), (502, "memory-limit"), "{message}");
    assert!(message.contains("`limits.max-open-files`"), "{message}");
    assert_eq!(
        server
            .invoke("hostile", "open-files", json!({"path": "/d/f", "count": 1}))
            .status,
        200
    );
}

/// Item 29: a guest cannot leave a symbolic link in its read-write directory that points outside
/// it; links inside it still work.
#[test]
fn symlinks_out_of_a_grant_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::create_dir(out.path().join("sub")).unwrap();
    std::fs::copy(test_agent("hostile"), dir.path().join("hostile.wasm")).unwrap();
    std::fs::write(
        dir.path().join("hostile.toml"),
        format!(
            "[capabilities]\ndirs = [{{ host = \"{}\", guest = \"/out\", mode = \"read-write\" }}]\n",
            out.path().display()
        ),
    )
    .unwrap();
    let server = TestServer::start(dir.path(), &["--no-audit"], &[]);
    for (path, target) in [
        ("/out/escape", "/etc/passwd"),
        ("/out/up", "../../../../etc/passwd"),
        ("/out/sub/up", "../../x"),
    ] {
        let (status, kind, message) =
            error(&server.invoke("hostile", "symlink", json!({"path": path, "name": target})));
        assert_eq!(
            (status, kind.as_str()),
            (403, "denied"),
            "{path} -> {target}: {message}"
        );
    }
    for (path, target) in [("/out/in", "sub"), ("/out/sub/back", "../in")] {
        let reply = server.invoke("hostile", "symlink", json!({"path": path, "name": target}));
        assert_eq!(reply.status, 200, "{path} -> {target}: {}", reply.body);
    }
    let links: Vec<String> = walk(out.path());
    assert_eq!(links, ["in -> sub", "sub/back -> ../in"]);
}

/// The symbolic links under `root`, as `path -> target`, sorted.
fn walk(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                found.push(format!("{rel} -> {}", target.display()));
            } else if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Item 17: swaps and removals made over the API survive a restart, identical re-uploads leave the
/// history alone, and what changed in the agents directory while the server was down is taken in.
#[test]
fn the_agent_set_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(test_agent("twin-v1"), dir.path().join("twin.wasm")).unwrap();
    std::fs::copy(agent("echo"), dir.path().join("echo.wasm")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let env = [("TANDEM_ADMIN_TOKEN", ADMIN)];
    let bearer = format!("Bearer {ADMIN}");
    let v2 = std::fs::read(test_agent("twin-v2")).unwrap();
    let mut server = TestServer::start(dir.path(), &["--data-dir", data_dir], &env);
    let v1_hash = server.get("/v1/agents/twin").json()["content_hash"].clone();
    let put = |server: &TestServer| {
        server.request("PUT", "/v1/agents/twin", &[("authorization", &bearer)], &v2)
    };
    let swapped = put(&server);
    assert_eq!(swapped.status, 200, "{}", swapped.body);
    let v2_hash = swapped.json()["content_hash"].clone();
    assert_ne!(v1_hash, v2_hash);
    let again = put(&server);
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["unchanged"], true, "{}", again.body);
    let removed = server.request(
        "DELETE",
        "/v1/agents/echo",
        &[("authorization", &bearer)],
        b"",
    );
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert!(server.terminate().success());

    // While it is down, a new file appears in the directory.
    std::fs::copy(agent("linter"), dir.path().join("linter.wasm")).unwrap();
    let mut server = TestServer::start(dir.path(), &["--data-dir", data_dir], &env);
    let twin = server.get("/v1/agents/twin").json();
    assert_eq!(twin["content_hash"], v2_hash, "the swapped version serves");
    let history: Vec<&str> = twin["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["by"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["startup", "api"], "{}", server.stderr());
    assert_eq!(
        server.invoke("echo", "echo", json!(1)).status,
        404,
        "removed stays removed"
    );
    assert_eq!(
        server.get("/v1/agents/linter").status,
        200,
        "the new file is loaded"
    );
    let rolled = server.request(
        "POST",
        "/v1/agents/twin/rollback",
        &[("authorization", &bearer)],
        b"",
    );
    assert_eq!(rolled.status, 200, "{}", rolled.body);
    assert_eq!(rolled.json()["content_hash"], v1_hash);
    assert!(server.terminate().success());
    let server = TestServer::start(dir.path(), &["--data-dir", data_dir], &env);
    assert_eq!(
        server.get("/v1/agents/twin").json()["content_hash"],
        v1_hash,
        "the rollback survives too"
    );
}

/// Item 15: the audit log rotates by size, keeps `--audit-keep` rotated files, verifies as a set
/// with the chain running across files, and a restart continues the chain from its checkpoint.
#[test]
fn the_audit_log_rotates_and_its_chain_runs_across_files() {
    let dir = agents_dir("");
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let args = [
        "--data-dir",
        data_dir,
        "--audit-max-size",
        "4KiB",
        "--audit-keep",
        "3",
    ];
    let mut server = start(dir.path(), &args);
    for i in 0..60 {
        assert_eq!(server.invoke("echo", "echo", json!(i)).status, 200);
    }
    assert!(server.terminate().success());
    let log = data.path().join("audit.jsonl");
    let rotated = || {
        let mut names: Vec<String> = std::fs::read_dir(data.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.len() == "audit.jsonl.".len() + 12 && n.starts_with("audit.jsonl."))
            .collect();
        names.sort();
        names
    };
    assert_eq!(rotated().len(), 3, "{:?}", rotated());
    let verify = || {
        let output = std::process::Command::new(tandem_bin())
            .args(["audit", "verify"])
            .arg(&log)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, out) = verify();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("in 4 files from seq"), "{out}");
    // A restart reads only the tail (from the checkpoint) and goes on with the chain.
    let mut server = start(dir.path(), &args);
    assert_eq!(server.invoke("echo", "echo", json!("again")).status, 200);
    assert!(server.terminate().success());
    let (code, out) = verify();
    assert_eq!(code, Some(0), "{out}");
    // An edit in a rotated file is found and its file named.
    let oldest = data.path().join(&rotated()[0]);
    let text = std::fs::read_to_string(&oldest).unwrap();
    std::fs::write(
        &oldest,
        text.replacen("\"attempts\":1", "\"attempts\":2", 1),
    )
    .unwrap();
    let (code, out) = verify();
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&rotated()[0]) && out.contains("was edited"),
        "{out}"
    );
}
