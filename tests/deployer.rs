//! DEPLOYER on a real `tandem serve` under load: a canary of a version that fails 30 % of its calls
//! is rolled back automatically (by DEPLOYER's bounds or the host's guard rails, whichever is
//! first) with few failed calls; a healthy canary is widened step by step and promoted with none;
//! a blue-green switch back is kept with none, and so is DIRECTOR's `release` handed to DEPLOYER;
//! a deploy of an agent DEPLOYER may not control is refused, naming the grant.
//!
//! The agent is the test guest `twin`: `twin-v1` serves; `twin-v2` (healthy) and `twin-flaky`
//! (whose `version` fails for inputs ending in 0, 1 or 2) are uploaded and rolled back first, so
//! the host holds them in its agent store for `control` to bring back by content hash.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tandem_e2e::{TestServer, agent, test_agent};

const TOKEN: &str = "deployer-test-admin-token-0123456789";

/// A server with `twin` (v1) and DEPLOYER (granted `control` of twin), holding twin-v2 and
/// twin-flaky in its agent store; returns their content hashes.
fn start(dir: &std::path::Path) -> (TestServer, String, String) {
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    std::fs::copy(test_agent("twin-v1"), agents.join("twin.wasm")).unwrap();
    std::fs::copy(agent("deployer"), agents.join("deployer.wasm")).unwrap();
    std::fs::copy(agent("director"), agents.join("director.wasm")).unwrap();
    std::fs::write(
        agents.join("director.toml"),
        "[limits]\ntimeout = \"2m\"\n[capabilities]\nhost-info = true\ndelegate = [\"deployer\"]\n",
    )
    .unwrap();
    std::fs::write(
        agents.join("deployer.toml"),
        "[limits]\ntimeout = \"2m\"\n[capabilities]\nhost-info = true\ncontrol = [\"twin\"]\n[resilience]\nmax-attempts = 1\n",
    )
    .unwrap();
    let server = TestServer::start(&agents, &["--no-audit"], &[("TANDEM_ADMIN_TOKEN", TOKEN)]);
    let bearer = format!("Bearer {TOKEN}");
    let mut hashes = Vec::new();
    for build in ["twin-v2", "twin-flaky"] {
        let bytes = std::fs::read(test_agent(build)).unwrap();
        let swap = server.request(
            "PUT",
            "/v1/agents/twin",
            &[("authorization", &bearer)],
            &bytes,
        );
        assert_eq!(swap.status, 200, "{}", swap.body);
        hashes.push(
            server.get("/v1/agents/twin").json()["content_hash"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        let back = server.request(
            "POST",
            "/v1/agents/twin/rollback",
            &[("authorization", &bearer)],
            b"",
        );
        assert_eq!(back.status, 200, "{}", back.body);
    }
    assert_eq!(version(&server), "1.0.0");
    let flaky = hashes.pop().unwrap();
    (server, hashes.pop().unwrap(), flaky)
}

fn version(server: &TestServer) -> String {
    server.get("/v1/agents/twin").json()["version"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Calls twin's `version` with 0, 1, 2, ... from a thread until stopped; counts calls and failures.
struct Load {
    stop: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(url: &str) -> Load {
        let (stop, calls, failed) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let (s, c, f) = (stop.clone(), calls.clone(), failed.clone());
        let url = format!("{url}/v1/agents/twin/invoke");
        let thread = std::thread::spawn(move || {
            let http = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .new_agent();
            let mut n = 0u64;
            while !s.load(Ordering::Relaxed) {
                let body = json!({"op": "version", "input": n}).to_string();
                let status = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .send(&body)
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                c.fetch_add(1, Ordering::Relaxed);
                if status != 200 {
                    f.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Load {
            stop,
            calls,
            failed,
            thread: Some(thread),
        }
    }

    /// Stops it: (calls, failed).
    fn stop(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        (
            self.calls.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

fn deploy(server: &TestServer, op: &str, input: Value) -> Value {
    let reply = server.invoke("deployer", op, input);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["output"].clone()
}

#[test]
fn a_failing_canary_is_rolled_back_automatically() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _, flaky) = start(dir.path());
    let load = Load::start(&server.url);
    std::thread::sleep(Duration::from_millis(300));
    let out = deploy(
        &server,
        "canary",
        json!({"agent": "twin", "content-hash": flaky, "steps": [10, 50, 100], "step-duration": "3s",
               "poll": "50ms", "bounds": {"max-error-rate": 0.05, "min-calls": 10}}),
    );
    std::thread::sleep(Duration::from_millis(300));
    let (calls, failed) = load.stop();
    let outcome = out["outcome"].as_str().unwrap();
    assert!(
        outcome == "rolled-back" || outcome == "aborted-by-host",
        "{out:#}"
    );
    assert_eq!(out["from"], "1.0.0");
    assert_eq!(out["to"], "5.0.0");
    // It never went past the first step, and v1 serves alone again.
    let steps: Vec<&str> = out["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert!(
        !steps.contains(&"widen") && !steps.contains(&"promote"),
        "{steps:?}"
    );
    assert_eq!(version(&server), "1.0.0");
    assert!(server.get("/v1/agents/twin").json()["canary"].is_null());
    // The failed calls: the canary served 10 % of the traces until the rollback and 30 % of those
    // failed; it is judged once 10 of its calls were seen (DEPLOYER's `min-calls`, the host's
    // guard rails' too), so about 3 fail, and never more than the 10 it takes to judge it.
    let share = failed as f64 / calls as f64;
    eprintln!(
        "failing canary: {failed} of {calls} calls failed ({:.2} %), rolled back {:.0} ms after the start: {outcome}",
        share * 100.0,
        out["timeline"].as_array().unwrap().last().unwrap()["at_ms"]
    );
    assert!(calls > 100, "{calls}");
    assert!(
        (1..=10).contains(&failed),
        "{failed} of {calls} failed: {out:#}"
    );
}

#[test]
fn a_healthy_canary_is_promoted_and_blue_green_switches_back_without_a_failed_call() {
    let dir = tempfile::tempdir().unwrap();
    let (server, v2, _) = start(dir.path());
    let v1 = server.get("/v1/agents/twin").json()["content_hash"].clone();
    let load = Load::start(&server.url);
    let out = deploy(
        &server,
        "canary",
        json!({"agent": "twin", "content-hash": v2, "steps": [20, 60, 100], "step-duration": "1s",
               "poll": "50ms"}),
    );
    assert_eq!(out["outcome"], "promoted", "{out:#}");
    assert_eq!(version(&server), "2.0.0");
    let steps: Vec<(&str, Option<u64>)> = out["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["weight"].as_u64()))
        .collect();
    assert_eq!(
        steps,
        [
            ("start", Some(20)),
            ("watched", Some(20)),
            ("widen", Some(60)),
            ("watched", Some(60)),
            ("widen", Some(100)),
            ("watched", Some(100)),
            ("promote", Some(100))
        ]
    );
    let seen = &out["timeline"][6]["seen"];
    assert!(
        seen["calls"].as_u64().unwrap() > 0 && seen["failed"] == 0,
        "{seen}"
    );

    // Blue-green back to v1 (held in the history), under the same load.
    let out = deploy(
        &server,
        "blue-green",
        json!({"agent": "twin", "content-hash": v1, "watch": "1s", "poll": "50ms"}),
    );
    assert_eq!(out["outcome"], "kept", "{out:#}");
    assert_eq!(version(&server), "1.0.0");

    // DIRECTOR's `release` hands v2 to DEPLOYER (it needs no `control` of its own for that).
    let reply = server.invoke(
        "director",
        "release",
        json!({"agent": "twin", "content-hash": v2, "mode": "activate",
               "deploy": {"watch": "500ms", "poll": "50ms"}}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let release = reply.json()["output"].clone();
    assert_eq!(release["via"], "deployer", "{release:#}");
    assert_eq!(release["result"]["outcome"], "kept");
    assert_eq!(version(&server), "2.0.0");
    let (calls, failed) = load.stop();
    assert!(calls > 100, "{calls}");
    assert_eq!(
        failed, 0,
        "no call failed across the canary, the promotion and the switch"
    );

    // An agent DEPLOYER may not control is refused, naming the grant.
    let reply = server.invoke(
        "deployer",
        "canary",
        json!({"agent": "deployer", "content-hash": "00", "step-duration": "100ms"}),
    );
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(
        reply.body.contains("control = [\\\"deployer\\\"]"),
        "{}",
        reply.body
    );
}
