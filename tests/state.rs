//! Agents' durable state against real `tandem serve` processes: state survives a restart and a hot
//! swap, agents cannot see each other's, quotas refuse growth and change nothing, a failed call keeps
//! none of its writes, concurrent read-modify-writes lose no update, a `kill -9` during writes loses
//! nothing that was acknowledged, and `tandem state` reads, exports and imports it.
//!
//! The agent is the test guest `twin` (its `state-*` operations); `hostile` peeks.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tandem_e2e::{Reply, TestServer, tandem_bin, test_agent};

const TOKEN: &str = "state-tests-admin-token-0123456789";

/// A directory with `twin` 1.0.0 (and `twin.toml` when `manifest` is given) and `hostile`.
fn agents_dir(manifest: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(test_agent("twin-v1"), dir.path().join("twin.wasm")).unwrap();
    std::fs::copy(test_agent("hostile"), dir.path().join("hostile.wasm")).unwrap();
    if let Some(manifest) = manifest {
        std::fs::write(dir.path().join("twin.toml"), manifest).unwrap();
    }
    dir
}

fn start(agents: &Path, data: &Path) -> TestServer {
    let data = data.to_str().unwrap();
    TestServer::start(
        agents,
        &["--no-audit", "--data-dir", data],
        &[("TANDEM_ADMIN_TOKEN", TOKEN)],
    )
}

/// A successful call's output.
fn ok(reply: Reply) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["output"].clone()
}

fn get(server: &TestServer, key: &str) -> Value {
    ok(server.invoke("twin", "state-get", json!({"key": key})))["value"].clone()
}

fn keys(server: &TestServer, prefix: &str) -> Value {
    ok(server.invoke("twin", "state-keys", json!({"prefix": prefix})))["keys"].clone()
}

fn state_cli(data: &Path, args: &[&str]) -> Output {
    std::process::Command::new(tandem_bin())
        .arg("--data-dir")
        .arg(data)
        .arg("state")
        .args(args)
        .output()
        .expect("tandem runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn state_survives_a_hot_swap_and_a_restart_and_belongs_to_the_agent_id() {
    let (agents, data) = (agents_dir(None), tempfile::tempdir().unwrap());
    let mut server = start(agents.path(), data.path());
    for expected in 1..=3 {
        let output = ok(server.invoke("twin", "state-incr", json!({"key": "count"})));
        assert_eq!(output["count"], expected);
    }
    ok(server.invoke(
        "twin",
        "state-set",
        json!({"key": "greeting", "value": "hi"}),
    ));

    // Swap in 2.0.0: it sees 1.0.0's state and goes on counting.
    let v2 = std::fs::read(test_agent("twin-v2")).unwrap();
    let bearer = format!("Bearer {TOKEN}");
    let swapped = server.request("PUT", "/v1/agents/twin", &[("authorization", &bearer)], &v2);
    assert_eq!(swapped.status, 200, "{}", swapped.body);
    let version = ok(server.invoke("twin", "version", json!(0)));
    assert_eq!(version["version"], "2.0.0");
    assert_eq!(
        ok(server.invoke("twin", "state-incr", json!({"key": "count"})))["count"],
        4
    );
    assert_eq!(get(&server, "greeting"), "hi");

    // The CLI reads the same store while the server runs.
    assert_eq!(
        stdout(&state_cli(data.path(), &["get", "twin", "count"])),
        "4"
    );

    // Restart (a clean stop); the new process sees everything.
    assert!(server.terminate().success(), "{}", server.stderr());
    let server = start(agents.path(), data.path());
    assert_eq!(keys(&server, ""), json!(["count", "greeting"]));
    assert_eq!(
        ok(server.invoke("twin", "state-incr", json!({"key": "count"})))["count"],
        5
    );
    assert_eq!(get(&server, "greeting"), "hi");
}

#[test]
fn an_agent_sees_only_its_own_namespace() {
    let (agents, data) = (agents_dir(None), tempfile::tempdir().unwrap());
    let server = start(agents.path(), data.path());
    ok(server.invoke(
        "twin",
        "state-set",
        json!({"key": "secret", "value": "twin's"}),
    ));
    let peek = ok(server.invoke("hostile", "state-peek", json!({"name": "secret"})));
    assert_eq!(peek, json!({"keys": [], "value": null}));
    // Writes of its own stay its own.
    ok(server.invoke("hostile", "state-peek", json!({"name": "x"})));
    assert_eq!(get(&server, "secret"), "twin's");
    let ls = stdout(&state_cli(data.path(), &["ls"]));
    let agents_listed: Vec<&str> = ls
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(agents_listed, ["twin"], "{ls}");
    // Keys are checked.
    let reply = server.invoke("twin", "state-set", json!({"key": "", "value": "v"}));
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("the key is empty"), "{}", reply.body);
}

#[test]
fn writes_past_the_quota_are_refused_as_quota_exceeded_and_change_nothing() {
    let manifest = "[state]\nmax-keys = 3\nmax-bytes = \"1KiB\"\n";
    let (agents, data) = (agents_dir(Some(manifest)), tempfile::tempdir().unwrap());
    let server = start(agents.path(), data.path());

    // Five keys where three are allowed: the call fails, and none of its writes are kept.
    let reply = server.invoke(
        "twin",
        "state-fill",
        json!({"prefix": "k", "count": 5, "size": 10}),
    );
    assert_eq!(reply.status, 507, "{}", reply.body);
    let error = &reply.json()["error"];
    assert_eq!(error["kind"], "quota-exceeded", "{}", reply.body);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("keys would be 4, the limit is 3"),
        "{}",
        reply.body
    );
    assert_eq!(keys(&server, ""), json!([]));

    // Three fit.
    ok(server.invoke(
        "twin",
        "state-fill",
        json!({"prefix": "k", "count": 3, "size": 10}),
    ));
    assert_eq!(keys(&server, ""), json!(["k0", "k1", "k2"]));

    // Bytes: 3 x (2 + 10) = 36 used; a 1000-byte value for k0 would make 1026.
    let big = "y".repeat(1000);
    let reply = server.invoke("twin", "state-set", json!({"key": "k0", "value": big}));
    assert_eq!(reply.status, 507, "{}", reply.body);
    assert!(reply.body.contains("bytes would be 1026"), "{}", reply.body);
    assert_eq!(get(&server, "k0"), "x".repeat(10));

    // Replacing and removing within the quota still work.
    ok(server.invoke("twin", "state-set", json!({"key": "k0", "value": "small"})));
    assert_eq!(
        ok(server.invoke("twin", "state-delete", json!({"key": "k1"})))["existed"],
        true
    );
    ok(server.invoke("twin", "state-set", json!({"key": "k3", "value": "v"})));
    assert_eq!(keys(&server, ""), json!(["k0", "k2", "k3"]));
    let ls = stdout(&state_cli(data.path(), &["ls"]));
    assert!(
        ls.lines()
            .any(|line| line.split_whitespace().collect::<Vec<_>>() == ["twin", "3", "22"]),
        "{ls}"
    );
}

#[test]
fn a_call_that_fails_keeps_none_of_its_writes() {
    let manifest =
        "[limits]\ntimeout = \"300ms\"\nfuel = 1_000_000_000_000\n[resilience]\nmax-attempts = 1\n";
    let (agents, data) = (agents_dir(Some(manifest)), tempfile::tempdir().unwrap());
    let server = start(agents.path(), data.path());
    ok(server.invoke("twin", "state-set", json!({"key": "k", "value": "before"})));
    for (how, status, kind) in [
        ("trap", 502, "trap"),
        ("error", 502, "failed"),
        ("spin", 504, "timeout"),
    ] {
        let reply = server.invoke(
            "twin",
            "state-set-then-fail",
            json!({"key": "k", "value": how, "how": how}),
        );
        assert_eq!(reply.status, status, "{how}: {}", reply.body);
        assert_eq!(reply.json()["error"]["kind"], kind, "{}", reply.body);
        assert_eq!(get(&server, "k"), "before", "after a failed call ({how})");
    }
    assert_eq!(keys(&server, ""), json!(["k"]));
}

#[test]
fn concurrent_read_modify_writes_lose_no_update() {
    let manifest = "[resilience]\nmax-attempts = 10\nbackoff = \"1ms\"\n";
    let (agents, data) = (agents_dir(Some(manifest)), tempfile::tempdir().unwrap());
    let server = Arc::new(start(agents.path(), data.path()));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let server = server.clone();
            std::thread::spawn(move || {
                let mut succeeded = 0;
                for _ in 0..25 {
                    let reply = server.invoke("twin", "state-incr", json!({"key": "n"}));
                    match reply.status {
                        200 => succeeded += 1,
                        // A compare-and-swap that lost every retry: a conflict, nothing kept.
                        _ => {
                            assert_eq!(reply.json()["error"]["kind"], "conflict", "{}", reply.body)
                        }
                    }
                }
                succeeded
            })
        })
        .collect();
    let succeeded: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(
        succeeded >= 90,
        "only {succeeded} of 100 increments succeeded"
    );
    // Every increment that succeeded counted exactly once.
    let count = ok(server.invoke("twin", "state-incr", json!({"key": "n"})))["count"].clone();
    assert_eq!(count, succeeded + 1);
}

#[test]
fn kill_dash_nine_during_writes_loses_nothing_that_was_acknowledged() {
    let (agents, data) = (agents_dir(None), tempfile::tempdir().unwrap());
    let mut server = start(agents.path(), data.path());
    let stop = Arc::new(AtomicBool::new(false));
    let url = server.url.clone();
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (stop, url) = (stop.clone(), url.clone());
            std::thread::spawn(move || {
                let http = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build()
                    .new_agent();
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("w{writer}-{i}");
                    let body =
                        json!({"op": "state-set", "input": {"key": key, "value": format!("v{i}")}});
                    let sent = http
                        .post(format!("{url}/v1/agents/twin/invoke"))
                        .header("content-type", "application/json")
                        .send(body.to_string());
                    match sent {
                        Ok(response) if response.status() == 200 => acknowledged.push((key, i)),
                        // Not acknowledged: the server died with the request in flight.
                        _ => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    // Let the writers get going, then kill the server without warning.
    std::thread::sleep(Duration::from_millis(1500));
    server.kill_hard();
    stop.store(true, Ordering::Relaxed);
    let acknowledged: Vec<(String, u64)> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    eprintln!("{} writes acknowledged before the kill", acknowledged.len());
    assert!(
        acknowledged.len() >= 20,
        "only {} writes were acknowledged before the kill",
        acknowledged.len()
    );

    // Everything acknowledged is in the store, as read by a new process.
    let export: Value =
        serde_json::from_str(&stdout(&state_cli(data.path(), &["export", "twin"]))).unwrap();
    let stored: std::collections::HashMap<&str, &str> = export["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["key"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect();
    for (key, i) in &acknowledged {
        assert_eq!(
            stored.get(key.as_str()).copied(),
            Some(format!("v{i}").as_str()),
            "acknowledged write {key} was lost"
        );
    }
    // And a server starts on it again.
    let server = start(agents.path(), data.path());
    let (key, i) = &acknowledged[acknowledged.len() - 1];
    assert_eq!(get(&server, key), format!("v{i}"));
}

#[test]
fn the_state_commands_list_get_export_and_import() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("export.json");
    let import = json!({
        "agent": "twin",
        "entries": [
            {"key": "text", "value": "hello"},
            {"key": "bytes", "hex": "00ff10"},
        ]
    });
    std::fs::write(&file, import.to_string()).unwrap();
    let file = file.to_str().unwrap();
    stdout(&state_cli(data.path(), &["import", "twin", file]));
    let got = state_cli(data.path(), &["get", "twin", "bytes"]);
    assert!(got.status.success());
    assert_eq!(got.stdout, [0x00, 0xff, 0x10]);
    assert_eq!(
        stdout(&state_cli(data.path(), &["ls", "twin"])),
        "         3  bytes\n         5  text\n"
    );
    let export: Value =
        serde_json::from_str(&stdout(&state_cli(data.path(), &["export", "twin"]))).unwrap();
    assert_eq!(
        export,
        json!({"agent": "twin", "entries": [
            {"key": "bytes", "hex": "00ff10"},
            {"key": "text", "value": "hello"},
        ]})
    );

    // Import into another agent, replacing what it had; the export round-trips.
    let out = data.path().join("twin.json");
    let out_arg = out.to_str().unwrap();
    stdout(&state_cli(data.path(), &["export", "twin", "-o", out_arg]));
    stdout(&state_cli(data.path(), &["import", "copy", file]));
    std::fs::write(
        data.path().join("one.json"),
        json!({"agent": "x", "entries": [{"key": "only", "value": "1"}]}).to_string(),
    )
    .unwrap();
    let one = data.path().join("one.json");
    stdout(&state_cli(
        data.path(),
        &["import", "copy", one.to_str().unwrap(), "--replace"],
    ));
    assert_eq!(
        stdout(&state_cli(data.path(), &["ls", "copy"])),
        "         1  only\n"
    );

    // Bad input is named and changes nothing.
    let bad = data.path().join("bad.json");
    for (content, message) in [
        ("not json", "not a state export"),
        (
            r#"{"agent": "x", "entries": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]}"#,
            "entry 1: key `a` appears twice",
        ),
        (
            r#"{"agent": "x", "entries": [{"key": "a", "value": "1", "hex": "00"}]}"#,
            "entry 0: needs exactly one of `value` and `hex`",
        ),
        (
            r#"{"agent": "x", "entries": [{"key": "", "value": "1"}]}"#,
            "entry 0: invalid state key: the key is empty",
        ),
    ] {
        std::fs::write(&bad, content).unwrap();
        let output = state_cli(data.path(), &["import", "copy", bad.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }
    let missing = state_cli(data.path(), &["get", "twin", "nope"]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("agent `twin` keeps no key `nope`"));
    let bad_id = state_cli(data.path(), &["ls", "Not An Id"]);
    assert_eq!(bad_id.status.code(), Some(3));
    assert_eq!(
        stdout(&state_cli(data.path(), &["ls", "copy"])),
        "         1  only\n"
    );
    assert!(out.is_file());
}
