//! The operator interfaces end to end on a real `tandem serve`. `tandem:agent/host-info`: a guest
//! granted it reads figures that match `/metrics` exactly after a known number of calls, and the
//! load it runs under; a guest without the grant is refused (`denied`, 403), and the refusal is an
//! event and an audit line; OPTIMIZER reads the same figures live. `tandem:agent/control`: a guest
//! granted an agent lists its versions, activates a held one and rolls back, each an
//! `agent-swapped` event by `agent:<id>` and an audit line with the acting trace; any other agent,
//! itself included, is refused.

use std::path::Path;

use serde_json::{Value, json};
use tandem_e2e::{TestServer, agent, test_agent};

/// An agents directory with `echo`, `optimizer` (its shipped manifest), `twin` (1.0.0) and
/// `hostile`, which the manifest `hostile_manifest` governs.
fn agents_dir(dir: &Path, hostile_manifest: &str) -> std::path::PathBuf {
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    std::fs::copy(agent("echo"), agents.join("echo.wasm")).unwrap();
    std::fs::copy(agent("optimizer"), agents.join("optimizer.wasm")).unwrap();
    std::fs::copy(
        agent("optimizer").with_extension("toml"),
        agents.join("optimizer.toml"),
    )
    .unwrap();
    std::fs::copy(test_agent("hostile"), agents.join("hostile.wasm")).unwrap();
    std::fs::copy(test_agent("twin-v1"), agents.join("twin.wasm")).unwrap();
    std::fs::write(agents.join("hostile.toml"), hostile_manifest).unwrap();
    agents
}

/// The value of the `/metrics` sample `name{...labels...}` (labels in any order).
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
}

#[test]
fn a_granted_guest_reads_the_figures_metrics_holds() {
    let dir = tempfile::tempdir().unwrap();
    let agents = agents_dir(dir.path(), "[capabilities]\nhost-info = true\n");
    let server = TestServer::start(&agents, &["--no-audit"], &[]);
    for i in 0..7 {
        assert_eq!(server.invoke("echo", "echo", json!({ "i": i })).status, 200);
    }
    let reply = server.invoke("hostile", "host-info", json!({}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let seen = reply.json()["output"].clone();
    let metrics = server.get("/metrics").body;

    let echo: Vec<&Value> = seen["figures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["agent"] == "echo")
        .collect();
    assert_eq!(echo.len(), 1, "{seen:#}");
    let echo = echo[0];
    let labels = [("agent", "echo"), ("version", "0.1.0")];
    assert_eq!(echo["calls"], 7);
    assert_eq!(echo["outcomes"], json!([["ok", 7]]));
    assert_eq!(
        echo["calls"].as_f64().unwrap(),
        metric(
            &metrics,
            "tandem_calls_total",
            &[("agent", "echo"), ("outcome", "ok")]
        )
    );
    assert_eq!(
        echo["fuel"].as_f64().unwrap(),
        metric(&metrics, "tandem_fuel_consumed_total", &labels)
    );
    assert_eq!(
        echo["max_fuel"].as_f64().unwrap(),
        metric(&metrics, "tandem_max_fuel_per_call", &labels)
    );
    assert_eq!(
        echo["peak_memory_bytes"].as_f64().unwrap(),
        metric(&metrics, "tandem_peak_memory_bytes", &labels)
    );
    assert_eq!(echo["breaker"], "closed");
    assert!(echo["p99_us"].as_f64().unwrap() > 0.0);

    let ids: Vec<&str> = seen["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["echo", "hostile", "optimizer", "twin"]);
    assert_eq!(seen["agents"][0]["limits"]["timeout_ms"], 5000);
    assert_eq!(seen["agents"][0]["operations"], json!(["echo"]));
    // The call that asks is running: the load counts it.
    assert!(seen["load"]["running"].as_u64().unwrap() >= 1, "{seen:#}");
    assert_eq!(seen["load"]["instances_bound"], 256);

    // OPTIMIZER's manifest grants it: the same figures, live.
    let reply = server.invoke(
        "optimizer",
        "recommend-limits",
        json!({"live": true, "agents": ["echo"]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let r = &reply.json()["output"]["agents"][0];
    assert_eq!(r["calls"], 7);
    assert_eq!(r["settings"][0]["current"], "5s");
}

#[test]
fn a_guest_without_the_grant_is_denied_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let agents = agents_dir(dir.path(), "[capabilities]\n");
    let server = TestServer::start(&agents, &["--data-dir", data.to_str().unwrap()], &[]);
    let events = server.events();
    let reply = server.invoke("hostile", "host-info", json!({}));
    assert_eq!(reply.status, 403, "{}", reply.body);
    let error = reply.json()["error"].clone();
    assert_eq!(error["kind"], "denied");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("host-info = true"),
        "{error}"
    );

    let event = loop {
        let event = events
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("an event");
        if event["type"] == "capability-denied" {
            break event;
        }
    };
    assert_eq!(
        (event["agent"].as_str(), event["capability"].as_str()),
        (Some("hostile"), Some("host-info"))
    );
    let audit = std::fs::read_to_string(data.join("audit.jsonl")).unwrap();
    let line: Value = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["event"] == "denied-capability")
        .unwrap_or_else(|| panic!("no denied-capability line in\n{audit}"));
    assert_eq!(line["agent"], "hostile");
    assert_eq!(line["outcome"], "denied");
    assert_eq!(line["trace_id"], event["trace_id"]);
}

const TOKEN: &str = "operator-test-admin-token-0123456789";

/// A server whose `hostile` has `capabilities` (TOML), with a data directory (audit log, agent
/// store) and the admin token; its data directory's path.
fn start_controlling(dir: &Path, capabilities: &str) -> (TestServer, std::path::PathBuf) {
    let data = dir.join("data");
    let agents = agents_dir(dir, capabilities);
    let server = TestServer::start(
        &agents,
        &["--data-dir", data.to_str().unwrap()],
        &[("TANDEM_ADMIN_TOKEN", TOKEN)],
    );
    (server, data)
}

/// Uploads `twin-v2` over the admin API: twin's history is then 1.0.0, 2.0.0.
fn put_v2(server: &TestServer) {
    let bearer = format!("Bearer {TOKEN}");
    let v2 = std::fs::read(test_agent("twin-v2")).unwrap();
    let put = server.request("PUT", "/v1/agents/twin", &[("authorization", &bearer)], &v2);
    assert_eq!(put.status, 200, "{}", put.body);
}

/// `hostile`'s `control` operation: `action` on `agent` (with `hash` for `activate`).
fn control(server: &TestServer, action: &str, agent: &str, hash: &str) -> tandem_e2e::Reply {
    server.invoke(
        "hostile",
        "control",
        json!({"name": action, "agent": agent, "path": hash}),
    )
}

fn serving(server: &TestServer) -> (String, String) {
    let twin = server.get("/v1/agents/twin").json();
    (
        twin["version"].as_str().unwrap().to_string(),
        twin["content_hash"].as_str().unwrap().to_string(),
    )
}

#[test]
fn a_granted_guest_operates_another_agents_versions_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (server, data) = start_controlling(dir.path(), "[capabilities]\ncontrol = [\"twin\"]\n");
    let (_, v1_hash) = serving(&server);
    put_v2(&server);
    let events = server.events();

    let listed = control(&server, "versions", "twin", "");
    assert_eq!(listed.status, 200, "{}", listed.body);
    let versions: Vec<(String, bool)> = listed.json()["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_string(),
                v["current"] == true,
            )
        })
        .collect();
    assert_eq!(
        versions,
        [("1.0.0".to_string(), false), ("2.0.0".to_string(), true)]
    );

    // Back to 1.0.0 by its hash: it serves, and the swap is reported as the agent's.
    let activated = control(&server, "activate", "twin", &v1_hash);
    assert_eq!(activated.status, 200, "{}", activated.body);
    assert_eq!(activated.json()["output"]["version"], "1.0.0");
    assert_eq!(serving(&server), ("1.0.0".to_string(), v1_hash.clone()));
    let swapped = loop {
        let event = events
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("an event");
        if event["type"] == "agent-swapped" {
            break event;
        }
    };
    assert_eq!(swapped["by"], "agent:hostile");
    assert_eq!(swapped["version"], "1.0.0");
    let acted = loop {
        let event = events
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("an event");
        if event["type"] == "control" {
            break event;
        }
    };
    assert_eq!(
        (&acted["agent"], &acted["target"]),
        (&json!("hostile"), &json!("twin"))
    );
    assert_eq!(
        acted["trace_id"].as_str().map(str::len),
        Some(32),
        "{acted}"
    );
    assert!(
        acted["detail"]
            .as_str()
            .unwrap()
            .starts_with("activate: now 1.0.0"),
        "{acted}"
    );

    // A rollback drops 1.0.0 again: 2.0.0 serves.
    let rolled = control(&server, "rollback", "twin", "");
    assert_eq!(rolled.status, 200, "{}", rolled.body);
    assert_eq!(serving(&server).0, "2.0.0");
    // Nothing left to go back to; an unknown hash is not found.
    assert_eq!(
        control(&server, "rollback", "twin", "").json()["error"]["kind"],
        "failed"
    );
    assert_eq!(
        control(&server, "activate", "twin", "00ff").json()["error"]["kind"],
        "invalid-input"
    );

    // Not granted: another agent, and itself.
    for target in ["echo", "hostile"] {
        let refused = control(&server, "versions", target, "");
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(
            refused.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("under `control`")
        );
    }

    let audit = std::fs::read_to_string(data.join("audit.jsonl")).unwrap();
    let lines: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let controls: Vec<&Value> = lines.iter().filter(|l| l["event"] == "control").collect();
    assert_eq!(controls.len(), 2, "{audit}");
    assert!(
        controls
            .iter()
            .all(|l| l["agent"] == "hostile" && l["operation"] == "twin")
    );
    assert!(
        controls
            .iter()
            .all(|l| l["trace_id"].as_str().is_some_and(|t| t.len() == 32))
    );
    let denied = lines
        .iter()
        .filter(|l| l["event"] == "denied-capability" && l["operation"] == "control")
        .count();
    assert_eq!(denied, 2, "{audit}");
}

/// `hostile`'s `control` operation with a weight.
fn control_weighted(server: &TestServer, action: &str, hash: &str, weight: u8) -> Value {
    let reply = server.invoke(
        "hostile",
        "control",
        json!({"name": action, "agent": "twin", "path": hash, "count": weight}),
    );
    reply.json()
}

fn twin_answer(server: &TestServer) -> String {
    let reply = server.invoke("twin", "version", json!(1));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["output"]["version"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_granted_guest_runs_a_canary_of_a_held_version() {
    let dir = tempfile::tempdir().unwrap();
    let capabilities = "[capabilities]\ncontrol = [\"twin\"]\nhost-info = true\n";
    let (server, data) = start_controlling(dir.path(), capabilities);
    let (_, v1_hash) = serving(&server);
    put_v2(&server);

    assert_eq!(
        control_weighted(&server, "canary", "", 0)["output"],
        Value::Null
    );
    let started = control_weighted(&server, "start-canary", &v1_hash, 100);
    assert_eq!(started["output"]["version"], "1.0.0", "{started}");
    assert_eq!(started["output"]["weight"], 100);
    assert_eq!(started["output"]["by"], "agent:hostile");
    assert_eq!(
        twin_answer(&server),
        "1.0.0",
        "weight 100: the canary serves"
    );
    let shown = control_weighted(&server, "canary", "", 0);
    assert_eq!(shown["output"]["content_hash"], v1_hash.as_str());
    // host-info's routes show the split.
    let read = server.invoke("hostile", "host-info", json!({}));
    let routes = read.json()["output"]["routes"].clone();
    let twin = routes
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["agent"] == "twin")
        .unwrap_or_else(|| panic!("{routes}"));
    assert_eq!(twin["version"], "2.0.0", "{twin}");
    assert_eq!(
        (&twin["canary"]["version"], &twin["canary"]["weight"]),
        (&json!("1.0.0"), &json!(100)),
        "{twin}"
    );

    let reweighted = control_weighted(&server, "set-weight", "", 0);
    assert_eq!(reweighted["output"]["weight"], 0, "{reweighted}");
    assert_eq!(
        twin_answer(&server),
        "2.0.0",
        "weight 0: the current version serves"
    );
    let second = control_weighted(&server, "start-canary", &v1_hash, 10);
    assert_eq!(second["error"]["kind"], "failed", "{second}");
    assert!(
        second["error"]["message"]
            .as_str()
            .unwrap()
            .contains("has a canary already"),
        "{second}"
    );

    let promoted = control_weighted(&server, "promote", "", 0);
    assert_eq!(promoted["output"]["version"], "1.0.0", "{promoted}");
    assert!(promoted["output"]["current"].as_bool().unwrap());
    assert_eq!(serving(&server), ("1.0.0".to_string(), v1_hash.clone()));
    assert_eq!(twin_answer(&server), "1.0.0");
    let none = control_weighted(&server, "abort", "", 0);
    assert_eq!(none["error"]["kind"], "failed", "{none}");
    // Another agent's canary stays out of reach.
    let refused = server.invoke(
        "hostile",
        "control",
        json!({"name": "set-weight", "agent": "echo", "count": 50}),
    );
    assert_eq!(refused.status, 403, "{}", refused.body);

    let audit = std::fs::read_to_string(data.join("audit.jsonl")).unwrap();
    let lines: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l["event"].as_str().unwrap().starts_with("canary-"))
        .map(|l| (l["event"].as_str().unwrap(), l["detail"].as_str().unwrap()))
        .collect();
    assert_eq!(
        events,
        [
            ("canary-start", "by agent:hostile, weight 100 %"),
            ("canary-weight", "by agent:hostile, weight 0 %"),
            ("canary-promote", "by agent:hostile, weight 0 %"),
        ],
        "{audit}"
    );
    let controls = lines.iter().filter(|l| l["event"] == "control").count();
    assert_eq!(
        controls, 3,
        "start, weight and promote, each with its trace: {audit}"
    );
}

#[test]
fn a_granted_guest_brings_back_a_component_of_the_agent_store() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start_controlling(dir.path(), "[capabilities]\ncontrol = [\"twin\"]\n");
    // An operator's canary of 4.0.0, aborted: the component stays in the agent store only.
    let bearer = format!("Bearer {TOKEN}");
    let faulty = std::fs::read(test_agent("twin-faulty")).unwrap();
    let path = "/v1/agents/twin/canary?weight=0";
    let started = server.request("POST", path, &[("authorization", &bearer)], &faulty);
    assert_eq!(started.status, 201, "{}", started.body);
    let hash = started.json()["content_hash"].as_str().unwrap().to_string();
    let abort = "/v1/agents/twin/canary/abort";
    let aborted = server.request("POST", abort, &[("authorization", &bearer)], b"");
    assert_eq!(aborted.status, 200, "{}", aborted.body);
    let versions = control(&server, "versions", "twin", "").json();
    assert_eq!(
        versions["output"].as_array().unwrap().len(),
        1,
        "{versions}"
    );

    let restarted = control_weighted(&server, "start-canary", &hash, 0);
    assert_eq!(restarted["output"]["version"], "4.0.0", "{restarted}");
    assert_eq!(restarted["output"]["by"], "agent:hostile");
    assert_eq!(
        control_weighted(&server, "abort", "", 0)["output"]["weight"],
        0
    );
    let activated = control(&server, "activate", "twin", &hash).json();
    assert_eq!(activated["output"]["version"], "4.0.0", "{activated}");
    assert_eq!(serving(&server), ("4.0.0".to_string(), hash));

    // Hashes the host does not hold, and text that is no hash, touch nothing.
    for bad in [
        "0".repeat(64),
        "../../../etc/passwd".to_string(),
        String::new(),
    ] {
        let reply = control(&server, "activate", "twin", &bad).json();
        assert_eq!(reply["error"]["kind"], "invalid-input", "{bad}: {reply}");
        assert!(
            reply["error"]["message"]
                .as_str()
                .unwrap()
                .contains("holds no version"),
            "{reply}"
        );
    }
    assert_eq!(serving(&server).0, "4.0.0");
}
