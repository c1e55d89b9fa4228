//! Triggers against a real `tandem serve`: a schedule keeps its count, overlapping runs are skipped
//! and counted, a failing trigger backs off, event triggers fire once per matching event (host
//! events and agents' own) and never for others, an agent cannot trigger itself in a loop, and a
//! trigger naming an operation the agent lacks keeps the agent from loading.
//!
//! The agent is the test guest `hostile` (`nap` sleeps `count` ms, `emit` publishes an event,
//! `big-error` fails) with a manifest of triggers; `twin` is swapped to make host events.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tandem_e2e::{TestServer, tandem_bin, test_agent};

const TOKEN: &str = "triggers-test-admin-token-0123456789";

fn start(dir: &Path, triggers: &str) -> TestServer {
    std::fs::copy(test_agent("hostile"), dir.join("hostile.wasm")).unwrap();
    std::fs::write(dir.join("hostile.toml"), triggers).unwrap();
    std::fs::copy(test_agent("twin-v1"), dir.join("twin.wasm")).unwrap();
    TestServer::start(dir, &["--no-audit"], &[("TANDEM_ADMIN_TOKEN", TOKEN)])
}

/// The figures of `hostile`'s trigger `name`.
fn trigger(server: &TestServer, name: &str) -> Value {
    let detail = server.get("/v1/agents/hostile").json();
    detail["triggers"]
        .as_array()
        .unwrap_or_else(|| panic!("no triggers in {detail}"))
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no trigger {name} in {detail}"))
        .clone()
}

fn count(server: &TestServer, name: &str, field: &str) -> u64 {
    trigger(server, name)[field].as_u64().unwrap()
}

/// Waits (at most 10 s) until `field` of trigger `name` reaches `at_least`.
fn wait_for(server: &TestServer, name: &str, field: &str, at_least: u64) -> u64 {
    let started = Instant::now();
    loop {
        let n = count(server, name, field);
        if n >= at_least || started.elapsed() > Duration::from_secs(10) {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn scheduled_triggers_keep_time_skip_overlaps_and_back_off_when_failing() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        r#"
        [[triggers]]
        name = "tick"
        every = "200ms"
        operation = "nap"
        input = { count = 0 }

        [[triggers]]
        name = "slow"
        every = "100ms"
        operation = "nap"
        input = { count = 350 }

        [[triggers]]
        name = "failing"
        every = "100ms"
        operation = "big-error"
        input = { count = 10 }

        [[triggers]]
        name = "each-second"
        cron = "* * * * * *"
        operation = "nap"
        input = { count = 0 }
        "#,
    );
    let tick = trigger(&server, "tick");
    assert_eq!(tick["when"], "every 200ms");
    assert_eq!(tick["active"], true, "{tick}");
    let before = count(&server, "tick", "runs");
    std::thread::sleep(Duration::from_secs(2));
    let ran = count(&server, "tick", "runs") - before;
    assert!(
        (9..=11).contains(&ran),
        "every 200ms ran {ran} times in 2 s"
    );
    // A cron expression with seconds: once a second, never twice for one occurrence.
    let each_second = trigger(&server, "each-second");
    assert_eq!(each_second["when"], "cron * * * * * *");
    let runs = each_second["runs"].as_u64().unwrap();
    assert!((1..=4).contains(&runs), "{each_second}");
    assert_eq!(count(&server, "tick", "failures"), 0);
    assert_eq!(trigger(&server, "tick")["last_outcome"], "ok");

    // 100 ms apart, 350 ms each: about two of every three runs find the last one still going.
    let slow = trigger(&server, "slow");
    let (runs, skipped) = (
        slow["runs"].as_u64().unwrap(),
        slow["skipped_overlap"].as_u64().unwrap(),
    );
    assert!(skipped >= runs, "{slow}");
    assert!(runs >= 3, "{slow}");
    assert_eq!(slow["failures"], 0, "{slow}");

    // Failing every time: waits of 100, 200, 400, 800 ms... so a handful of runs, the rest skipped.
    let failing = trigger(&server, "failing");
    let (runs, skipped) = (
        failing["runs"].as_u64().unwrap(),
        failing["skipped_backoff"].as_u64().unwrap(),
    );
    assert!((3..=8).contains(&runs), "{failing}");
    assert!(skipped >= 8, "{failing}");
    assert_eq!(failing["failures"].as_u64(), Some(runs), "{failing}");
    assert_eq!(failing["last_outcome"], "failed");

    // Triggered calls are calls: counted in the agent's figures like any other; the triggers'
    // own counters are there too.
    let metrics = server.get("/metrics").body;
    let sample = |prefix: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0.0, |v| v.parse().unwrap())
    };
    assert!(
        sample("tandem_trigger_runs_total{agent=\"hostile\",trigger=\"tick\"}") >= 10.0,
        "{metrics}"
    );
    assert!(
        sample(
            "tandem_trigger_skipped_total{agent=\"hostile\",trigger=\"slow\",reason=\"overlap\"}"
        ) >= 3.0,
        "{metrics}"
    );
    assert!(
        sample("tandem_trigger_failures_total{agent=\"hostile\",trigger=\"failing\"}") >= 3.0,
        "{metrics}"
    );
    assert!(
        metrics.lines().any(|l| l.starts_with("tandem_calls_total{")
            && l.contains("agent=\"hostile\"")
            && l.contains("outcome=\"failed\"")),
        "{metrics}"
    );
}

#[test]
fn event_triggers_fire_once_per_matching_event_and_never_loop() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        r#"
        [[triggers]]
        name = "on-twin-swap"
        on-event = "agent-swapped"
        filter = { agent = "twin" }
        operation = "nap"
        input = { count = 0 }

        [[triggers]]
        name = "on-ping"
        on-event = "ping"
        filter = { n = 7 }
        operation = "nap"
        input = { count = 0 }

        [[triggers]]
        name = "on-own-nap"
        on-event = "call-finished"
        filter = { agent = "hostile", operation = "nap" }
        operation = "nap"
        input = { count = 0 }
        "#,
    );
    assert_eq!(
        trigger(&server, "on-ping")["when"],
        "on-event ping where n=7"
    );
    let bearer = format!("Bearer {TOKEN}");
    let put = |build: &str| {
        let bytes = std::fs::read(test_agent(build)).unwrap();
        let reply = server.request(
            "PUT",
            "/v1/agents/twin",
            &[("authorization", &bearer)],
            &bytes,
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
    };
    put("twin-v2");
    put("twin-v1");
    put("twin-v2");
    assert_eq!(wait_for(&server, "on-twin-swap", "runs", 3), 3);

    for n in [7, 8, 7, 9] {
        let reply = server.invoke("hostile", "emit", json!({"name": "ping", "count": n}));
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let reply = server.invoke("hostile", "emit", json!({"name": "pong", "count": 7}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(wait_for(&server, "on-ping", "runs", 2), 2);

    // One nap from outside: the trigger fires once; its own nap (a trace it started) does not
    // fire it again.
    let reply = server.invoke("hostile", "nap", json!({"count": 0}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(wait_for(&server, "on-own-nap", "runs", 1), 1);
    std::thread::sleep(Duration::from_millis(500));
    // Every run so far was a nap of a trigger: none fired `on-own-nap`, nor anything else.
    assert_eq!(count(&server, "on-own-nap", "runs"), 1);
    assert_eq!(count(&server, "on-ping", "runs"), 2);
    assert_eq!(count(&server, "on-twin-swap", "runs"), 3);
}

#[test]
fn a_trigger_of_an_operation_the_agent_lacks_keeps_it_from_loading() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(test_agent("hostile"), dir.path().join("hostile.wasm")).unwrap();
    std::fs::write(
        dir.path().join("hostile.toml"),
        "[[triggers]]\nname = \"typo\"\nevery = \"1s\"\noperation = \"napp\"\n",
    )
    .unwrap();
    let output = std::process::Command::new(tandem_bin())
        .args([
            "run",
            dir.path().join("hostile.wasm").to_str().unwrap(),
            "--op",
            "nap",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("trigger `typo` calls operation `napp`, which it does not offer"),
        "{stderr}"
    );
}
