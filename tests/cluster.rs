//! Several hosts sharing the work over NATS (`tandem serve --nats`): a `nats-server` of the test's
//! own (installed from Debian when missing) and three hosts on loopback. Calls through one host run
//! on all three; an agent only one host serves runs there; a host that stops (SIGTERM) or is killed
//! (SIGKILL) under load loses no call silently; a restarted host rejoins and serves.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tandem_e2e::nats::NatsServer;
use tandem_e2e::{TestServer, agent, test_agent};

/// The longest a call may wait when the host that took it dies: its silence for `LOST_AFTER`
/// (3.5 s), or a placing again after `ACCEPT_WAIT` (2 s) when it had not taken it yet, with room for
/// a slow CI machine.
const CALL_BOUND: Duration = Duration::from_secs(12);

/// A directory holding `echo`, and `twin` too when `with_twin`.
fn agents(with_twin: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(agent("echo"), dir.path().join("echo.wasm")).unwrap();
    if with_twin {
        std::fs::copy(test_agent("twin-v1"), dir.path().join("twin.wasm")).unwrap();
    }
    dir
}

const TOKEN: &str = "cluster-admin-token-0123456789";

fn host(nats: &NatsServer, agents: &Path, id: &str) -> TestServer {
    TestServer::start(
        agents,
        &["--nats", &nats.url, "--host-id", id, "--grace", "5s"],
        &[("TANDEM_ADMIN_TOKEN", TOKEN)],
    )
}

fn admin(server: &TestServer, method: &str, path: &str, body: &[u8]) -> tandem_e2e::Reply {
    let bearer = format!("Bearer {TOKEN}");
    server.request(method, path, &[("authorization", &bearer)], body)
}

/// The version of `twin` each host serves, once all serve `version` (failing after 20 s): how long
/// that took.
fn wait_for_version(hosts: &[&TestServer], version: &str) -> Duration {
    let started = Instant::now();
    loop {
        let serving: Vec<String> = hosts
            .iter()
            .map(|h| {
                h.get("/v1/agents/twin").json()["version"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        if serving.iter().all(|v| v == version) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the hosts serve {serving:?}, not all {version}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Who answered: the `host` of a successful invoke's reply, or `error:<kind>`.
fn outcome(reply: &tandem_e2e::Reply) -> String {
    let body = reply.json();
    match reply.status {
        200 => body["host"].as_str().unwrap_or("no host named").to_string(),
        _ => format!("error:{}", body["error"]["kind"].as_str().unwrap_or("?")),
    }
}

#[test]
fn calls_spread_over_the_hosts_and_run_where_the_agent_is() {
    let nats = NatsServer::start();
    let (plain, with_twin) = (agents(false), agents(true));
    let a = host(&nats, plain.path(), "a");
    let b = host(&nats, with_twin.path(), "b");
    let _c = host(&nats, plain.path(), "c");

    let mut served = BTreeMap::<String, u32>::new();
    for n in 0..60 {
        let reply = a.invoke("echo", "echo", json!({"n": n}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["output"], json!({"n": n}));
        *served.entry(outcome(&reply)).or_default() += 1;
    }
    // NATS gives each call to one host of the queue group at random: 60 calls reach all three.
    assert_eq!(
        served.keys().collect::<Vec<_>>(),
        ["a", "b", "c"],
        "{served:?}"
    );

    // Each host's figures are its own, labelled with its id.
    let metrics = b.get("/metrics").body;
    assert!(
        metrics
            .contains(r#"tandem_calls_total{host="b",agent="echo",version="0.1.0",outcome="ok"}"#),
        "{metrics}"
    );

    // `tandem stats --cluster` through any host: a row per host and agent, the calls each ran.
    let table = tandem_stdout(&["stats", "--cluster", "--server", &a.url]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let echo_calls: u64 = rows
        .iter()
        .filter(|r| r[1] == "echo")
        .map(|r| r[4].parse::<u64>().unwrap())
        .sum();
    assert!(echo_calls >= 60, "{table}");
    let listed: Vec<(&str, &str)> = rows.iter().map(|r| (r[0], r[1])).collect();
    assert_eq!(
        listed,
        [("a", "echo"), ("b", "echo"), ("b", "twin"), ("c", "echo")],
        "{table}"
    );
    // A server of no cluster says so.
    let solo = TestServer::start(plain.path(), &[], &[]);
    let reply = solo.get("/v1/cluster");
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert!(
        reply.body.contains("not one host of a cluster"),
        "{}",
        reply.body
    );

    // Only `b` serves `twin`: every call of it runs there, whoever takes the request.
    for _ in 0..10 {
        let reply = a.invoke("twin", "version", json!({}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(outcome(&reply), "b");
    }

    // No host serves `nope`: a classified error at once, not a wait.
    let started = Instant::now();
    let reply = a.invoke("nope", "echo", json!({}));
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.json()["error"]["kind"], "unavailable");
    assert!(
        reply
            .body
            .contains("no host of the cluster serves agent `nope`"),
        "{}",
        reply.body
    );
    assert!(started.elapsed() < Duration::from_secs(1));

    // A failure on the host that ran the call keeps its class and names that host.
    let reply = a.invoke("echo", "nope", json!({}));
    assert_eq!(reply.status, 400, "{}", reply.body);
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("has no operation `nope`"), "{message}");
    assert!(message.contains("(on host `"), "{message}");

    // A graph's nodes are calls like any other: the cluster runs them.
    let plan = json!({"nodes": [
        {"id": "first", "agent": "echo", "op": "echo", "input": {"n": 1}},
        {"id": "second", "agent": "echo", "op": "echo", "input": {"got": "${first}"}, "depends-on": ["first"]},
    ]});
    let report = a.post("/v1/graphs", &plan.to_string()).json();
    assert_eq!(report["nodes"][1]["status"], "succeeded", "{report}");
    assert_eq!(
        report["nodes"][1]["output"],
        json!({"got": {"n": 1}}),
        "{report}"
    );

    // The caller's trace and deadline travel with the call.
    let reply = a.post(
        "/v1/agents/echo/invoke",
        r#"{"op": "echo", "input": 7, "trace_id": "cluster-trace-1", "timeout_ms": 5000}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["trace_id"], "cluster-trace-1");
}

/// Calls `echo` from `threads` threads through `through` (in turn) until `stop`, recording each
/// call's outcome and the longest wait.
struct Load {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<BTreeMap<String, u32>>>,
    longest: Arc<Mutex<Duration>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(through: &[&TestServer], threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Arc::new(Mutex::new(BTreeMap::new()));
        let longest = Arc::new(Mutex::new(Duration::ZERO));
        let urls: Vec<String> = through.iter().map(|s| s.url.clone()).collect();
        let threads = (0..threads)
            .map(|t| {
                let (stop, outcomes, longest) = (stop.clone(), outcomes.clone(), longest.clone());
                let url = urls[t % urls.len()].clone();
                std::thread::spawn(move || {
                    let http = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .timeout_global(Some(Duration::from_secs(60)))
                        .build()
                        .new_agent();
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let started = Instant::now();
                        let mut response = http
                            .post(format!("{url}/v1/agents/echo/invoke"))
                            .header("content-type", "application/json")
                            .send(json!({"op": "echo", "input": {"t": t, "n": n}}).to_string())
                            .expect("the host answers");
                        let took = started.elapsed();
                        let status = response.status().as_u16();
                        let body: serde_json::Value =
                            serde_json::from_str(&response.body_mut().read_to_string().unwrap())
                                .unwrap();
                        let outcome = if status == 200 {
                            assert_eq!(body["output"], json!({"t": t, "n": n}));
                            "ok".to_string()
                        } else {
                            format!("{status} {}", body["error"]["kind"].as_str().unwrap_or("?"))
                        };
                        *outcomes.lock().unwrap().entry(outcome).or_default() += 1;
                        let mut longest = longest.lock().unwrap();
                        *longest = (*longest).max(took);
                    }
                })
            })
            .collect();
        Load {
            stop,
            outcomes,
            longest,
            threads,
        }
    }

    /// Stops the load: every call's outcome and the longest a call took.
    fn finish(self) -> (BTreeMap<String, u32>, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("a load thread panicked");
        }
        let outcomes = self.outcomes.lock().unwrap().clone();
        (outcomes, *self.longest.lock().unwrap())
    }
}

#[test]
fn a_host_that_stops_or_dies_under_load_loses_no_call_silently_and_rejoins() {
    let nats = NatsServer::start();
    let dir = agents(false);
    let a = host(&nats, dir.path(), "a");
    let b = host(&nats, dir.path(), "b");
    let mut c = host(&nats, dir.path(), "c");

    // SIGTERM: `c` leaves the queue groups, refuses as busy what NATS had already sent it (placed
    // again elsewhere) and answers what it took: every call succeeds.
    let load = Load::start(&[&a, &b], 4);
    std::thread::sleep(Duration::from_millis(800));
    assert!(c.terminate().success(), "{}", c.stderr());
    std::thread::sleep(Duration::from_millis(800));
    let (outcomes, longest) = load.finish();
    eprintln!("SIGTERM under load: {outcomes:?}, the longest call {longest:?}");
    assert_eq!(outcomes.keys().collect::<Vec<_>>(), ["ok"], "{outcomes:?}");
    assert!(outcomes["ok"] > 20, "{outcomes:?}");

    // Restarted, `c` rejoins and serves.
    let c = host(&nats, dir.path(), "c");
    let rejoined = (0..200).any(|n| outcome(&a.invoke("echo", "echo", json!(n))) == "c");
    assert!(rejoined, "no call reached the restarted host");

    // SIGKILL mid-load: a call `c` had taken is reported lost once it stays silent (unavailable),
    // one it had not taken yet is placed again: every call ends, none hangs.
    let mut c = c;
    let load = Load::start(&[&a, &b], 4);
    std::thread::sleep(Duration::from_millis(800));
    c.kill_hard();
    std::thread::sleep(Duration::from_millis(1500));
    let (outcomes, longest) = load.finish();
    eprintln!("SIGKILL under load: {outcomes:?}, the longest call {longest:?}");
    for outcome in outcomes.keys() {
        assert!(
            outcome == "ok" || outcome == "503 unavailable",
            "{outcomes:?}"
        );
    }
    assert!(
        longest < CALL_BOUND,
        "a call took {longest:?} (bound {CALL_BOUND:?}): {outcomes:?}"
    );
    // After the kill the two hosts left serve every call.
    for n in 0..30 {
        let reply = a.invoke("echo", "echo", json!(n));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_ne!(outcome(&reply), "c");
    }

    // A call the killed host had taken and was running: its caller learns, in bounded time, that
    // the host went silent, with the class `unavailable` and the host named.
    let napper = tempfile::tempdir().unwrap();
    std::fs::copy(test_agent("hostile"), napper.path().join("hostile.wasm")).unwrap();
    let mut d = host(&nats, napper.path(), "d");
    let call = nap(&a.url, 20000, "");
    std::thread::sleep(Duration::from_millis(1500));
    d.kill_hard();
    let (status, body, took) = call.join().unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("host `d` took the call and has not answered"),
        "{body}"
    );
    assert!(took < CALL_BOUND, "the lost call took {took:?}");
}

/// `hostile` alone, with one instance: a host serving it has room for one call at a time.
fn one_instance_napper() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(test_agent("hostile"), dir.path().join("hostile.wasm")).unwrap();
    std::fs::write(
        dir.path().join("hostile.toml"),
        "[agent]\nid = \"hostile\"\n\n[limits]\nmax-instances = 1\n",
    )
    .unwrap();
    dir
}

/// `hostile.nap` of `ms` through `url` in a thread of its own, with `extra` fields in the body:
/// the status, body and how long it took.
fn nap(url: &str, ms: u64, extra: &str) -> std::thread::JoinHandle<(u16, String, Duration)> {
    let (url, extra) = (url.to_string(), extra.to_string());
    std::thread::spawn(move || {
        let started = Instant::now();
        let mut response = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .post(format!("{url}/v1/agents/hostile/invoke"))
            .header("content-type", "application/json")
            .send(format!(
                r#"{{"op": "nap", "input": {{"count": {ms}}}{extra}}}"#
            ))
            .unwrap();
        let body = response.body_mut().read_to_string().unwrap();
        (response.status().as_u16(), body, started.elapsed())
    })
}

#[test]
fn a_host_without_room_refuses_and_the_call_runs_where_there_is_room() {
    let nats = NatsServer::start();
    let (plain, napper) = (agents(false), one_instance_napper());
    let a = host(&nats, plain.path(), "a");
    let _d = host(&nats, napper.path(), "d");
    let _e = host(&nats, napper.path(), "e");

    // Four calls of 800 ms where two hosts have room for one each: two run, two are refused as
    // busy (nothing queues on a full host) and placed again until a host has room.
    let started = Instant::now();
    let calls: Vec<_> = (0..4).map(|_| nap(&a.url, 800, "")).collect();
    let mut hosts = BTreeMap::<String, u32>::new();
    for call in calls {
        let (status, body, _) = call.join().unwrap();
        assert_eq!(status, 200, "{body}");
        let host = serde_json::from_str::<serde_json::Value>(&body).unwrap()["host"].clone();
        *hosts.entry(host.as_str().unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(hosts, BTreeMap::from([("d".into(), 2), ("e".into(), 2)]));
    assert!(started.elapsed() >= Duration::from_millis(1600));

    // While both are full, a call whose deadline passes before one has room ends with `timeout`.
    let busy: Vec<_> = (0..2).map(|_| nap(&a.url, 1500, "")).collect();
    std::thread::sleep(Duration::from_millis(300));
    let (status, body, took) = nap(&a.url, 10, r#", "timeout_ms": 300"#).join().unwrap();
    assert_eq!(status, 504, "{body}");
    assert!(
        body.contains("the deadline passed before a host of the cluster took the call"),
        "{body}"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    for call in busy {
        assert_eq!(call.join().unwrap().0, 200);
    }
}

#[test]
fn a_swap_or_rollback_on_one_host_reaches_every_host_without_a_failed_call() {
    let nats = NatsServer::start();
    let dir = agents(true);
    let a = host(&nats, dir.path(), "a");
    let b = Arc::new(host(&nats, dir.path(), "b"));
    let mut c = host(&nats, dir.path(), "c");
    wait_for_version(&[&a, &b, &c], "1.0.0");

    // Calls of `twin` go on through `b` while the version changes under them.
    let stop = Arc::new(AtomicBool::new(false));
    let caller = {
        let (b, stop) = (b.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut versions = BTreeMap::<String, u32>::new();
            for n in 0u64.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let reply = b.invoke("twin", "version", json!(n));
                assert_eq!(reply.status, 200, "{}", reply.body);
                let version = reply.json()["output"]["version"]
                    .as_str()
                    .unwrap()
                    .to_string();
                *versions.entry(version).or_default() += 1;
            }
            versions
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let v2 = std::fs::read(test_agent("twin-v2")).unwrap();
    let reply = admin(&a, "PUT", "/v1/agents/twin", &v2);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let took = wait_for_version(&[&a, &b, &c], "2.0.0");
    eprintln!("a swap reached the three hosts in {took:?}");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let versions = caller.join().unwrap();
    assert_eq!(
        versions.keys().collect::<Vec<_>>(),
        ["1.0.0", "2.0.0"],
        "{versions:?}"
    );

    // The swap on `c` was made by the cluster, on behalf of `a`.
    let history = c.get("/v1/agents/twin").json()["history"].clone();
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["by"], "cluster:a", "{history}");

    // A host that starts later with the old component catches up.
    c.terminate();
    let c = host(&nats, dir.path(), "c");
    wait_for_version(&[&c], "2.0.0");

    // A rollback on `b` is a version change like any other.
    let reply = admin(&b, "POST", "/v1/agents/twin/rollback", b"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let took = wait_for_version(&[&a, &b, &c], "1.0.0");
    eprintln!("a rollback reached the three hosts in {took:?}");
}

#[test]
fn without_its_nats_server_a_host_fails_calls_fast_and_still_stops() {
    let nats = NatsServer::start();
    let dir = agents(false);
    // Credentials in the URL reach the server, never the log.
    let url = nats.url.replace("nats://", "nats://tandem:s3cret-word@");
    let mut a = TestServer::start(
        dir.path(),
        &["--nats", &url, "--host-id", "a", "--grace", "5s"],
        &[("TANDEM_LOG", "debug")],
    );
    assert_eq!(a.invoke("echo", "echo", json!(1)).status, 200);
    drop(nats);
    std::thread::sleep(Duration::from_millis(300));

    let started = Instant::now();
    let reply = a.invoke("echo", "echo", json!(2));
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.json()["error"]["kind"], "unavailable");
    assert!(started.elapsed() < CALL_BOUND, "{:?}", started.elapsed());

    let started = Instant::now();
    assert!(a.terminate().success(), "{}", a.stderr());
    let log = a.stderr();
    assert!(
        log.contains("joined the cluster at nats://***@127.0.0.1:"),
        "{log}"
    );
    assert!(!log.contains("s3cret-word"), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stopping took {:?}",
        started.elapsed()
    );
}

#[test]
fn state_written_through_one_host_is_read_through_another_and_no_update_is_lost() {
    let nats = NatsServer::start();
    let dir = agents(true);
    // Racing writers of one agent conflict and are retried: give them room to.
    std::fs::write(
        dir.path().join("twin.toml"),
        "[agent]\nid = \"twin\"\n\n[resilience]\nmax-attempts = 10\nbackoff = \"5ms\"\nmax-backoff = \"100ms\"\n",
    )
    .unwrap();
    let a = Arc::new(host(&nats, dir.path(), "a"));
    let b = Arc::new(host(&nats, dir.path(), "b"));
    let c = host(&nats, dir.path(), "c");

    let reply = a.invoke(
        "twin",
        "state-set",
        json!({"key": "greeting", "value": "hello"}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let writer = outcome(&reply);
    // Read through the other hosts; the reads run on all three, the writer and the others.
    let mut readers = BTreeMap::<String, u32>::new();
    for through in [&b, &c] {
        for _ in 0..20 {
            let reply = through.invoke("twin", "state-get", json!({"key": "greeting"}));
            assert_eq!(reply.status, 200, "{}", reply.body);
            assert_eq!(reply.json()["output"]["value"], "hello", "{}", reply.body);
            *readers.entry(outcome(&reply)).or_default() += 1;
        }
    }
    assert!(
        readers.keys().any(|host| *host != writer),
        "written on {writer}, read on {readers:?}"
    );

    // Increments racing on every host: each one counted once.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let through = if t % 2 == 0 { a.clone() } else { b.clone() };
            std::thread::spawn(move || {
                for _ in 0..15 {
                    let reply = through.invoke("twin", "state-incr", json!({"key": "counter"}));
                    assert_eq!(reply.status, 200, "{}", reply.body);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let reply = c.invoke("twin", "state-get", json!({"key": "counter"}));
    assert_eq!(reply.json()["output"]["value"], "60", "{}", reply.body);

    // `tandem state --nats` reads and writes the same shared state.
    let state = |args: &[&str]| tandem_stdout(&[&["state", "--nats", &nats.url], args].concat());
    assert_eq!(state(&["get", "twin", "counter"]), "60");
    let listed = state(&["ls"]);
    assert!(
        listed
            .lines()
            .any(|l| l.split_whitespace().take(2).eq(["twin", "2"])),
        "{listed}"
    );
    let export = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        export.path(),
        r#"{"agent": "twin", "entries": [{"key": "greeting", "value": "imported"}]}"#,
    )
    .unwrap();
    state(&["import", "twin", export.path().to_str().unwrap()]);
    let reply = b.invoke("twin", "state-get", json!({"key": "greeting"}));
    assert_eq!(
        reply.json()["output"]["value"],
        "imported",
        "{}",
        reply.body
    );
}

#[test]
fn with_local_placement_a_host_runs_what_it_can_and_hands_on_the_rest() {
    let nats = NatsServer::start();
    let (with_twin, napper, other_napper) =
        (agents(true), one_instance_napper(), one_instance_napper());
    std::fs::copy(agent("echo"), napper.path().join("echo.wasm")).unwrap();
    let a = TestServer::start(
        napper.path(),
        &[
            "--nats",
            &nats.url,
            "--host-id",
            "a",
            "--placement",
            "local",
        ],
        &[],
    );
    let _b = host(&nats, with_twin.path(), "b");
    let _c = host(&nats, other_napper.path(), "c");

    // `a` serves `echo` and has room: every call runs there, no round trip.
    for n in 0..30 {
        let reply = a.invoke("echo", "echo", json!(n));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(outcome(&reply), "a");
    }
    // `a` does not serve `twin`: the cluster runs it.
    assert_eq!(outcome(&a.invoke("twin", "version", json!(1))), "b");
    // `a` has room for one `hostile` call: the second of two at once runs elsewhere.
    let calls: Vec<_> = (0..2).map(|_| nap(&a.url, 600, "")).collect();
    let mut hosts: Vec<String> = calls
        .into_iter()
        .map(|call| {
            let (status, body, _) = call.join().unwrap();
            assert_eq!(status, 200, "{body}");
            let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
            reply["host"].as_str().unwrap().to_string()
        })
        .collect();
    hosts.sort();
    assert_eq!(hosts, ["a", "c"]);
}

/// A peer that takes every call of `agent` and then only ever says it is alive (or, with
/// `garbage`, answers what no host would): what a broken or hostile member of the cluster does.
fn rogue_peer(url: &str, agent: &str, garbage: bool) -> std::thread::JoinHandle<()> {
    use futures::StreamExt;
    let (url, subject) = (url.to_string(), format!("tandem.invoke.{agent}"));
    let (ready, subscribed) = std::sync::mpsc::channel();
    let peer = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let client = async_nats::connect(url).await.unwrap();
            let mut calls = client
                .queue_subscribe(subject, "tandem".into())
                .await
                .unwrap();
            client.flush().await.unwrap();
            ready.send(()).unwrap();
            while let Some(call) = calls.next().await {
                let (client, reply) = (client.clone(), call.reply.unwrap());
                tokio::spawn(async move {
                    let say = |what: &'static str| {
                        let mut headers = async_nats::HeaderMap::new();
                        headers.insert("Tandem-Reply", what);
                        headers.insert("Tandem-Host", "rogue");
                        headers
                    };
                    if garbage {
                        let _ = client
                            .publish_with_headers(reply, say("nonsense"), "".into())
                            .await;
                        return;
                    }
                    let _ = client
                        .publish_with_headers(reply.clone(), say("accepted"), "".into())
                        .await;
                    loop {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        let alive =
                            client.publish_with_headers(reply.clone(), say("alive"), "".into());
                        if alive.await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    });
    subscribed.recv().unwrap();
    peer
}

#[test]
fn a_peer_that_never_answers_or_answers_nonsense_ends_in_a_classified_error() {
    let nats = NatsServer::start();
    let dir = agents(false);
    let a = host(&nats, dir.path(), "a");
    let _stuck = rogue_peer(&nats.url, "ghost", false);
    let _babbling = rogue_peer(&nats.url, "babbler", true);

    // It says it is alive forever: the caller believes it until the call's deadline, then a
    // little longer, no more.
    let started = Instant::now();
    let reply = a.post(
        "/v1/agents/ghost/invoke",
        r#"{"op": "haunt", "input": {}, "timeout_ms": 500}"#,
    );
    assert_eq!(reply.status, 504, "{}", reply.body);
    assert!(reply.body.contains("past its deadline"), "{}", reply.body);
    assert!(started.elapsed() < CALL_BOUND, "{:?}", started.elapsed());

    let reply = a.invoke("babbler", "talk", json!({}));
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert_eq!(reply.json()["error"]["kind"], "internal");
    assert!(reply.body.contains("cannot read"), "{}", reply.body);
}

/// The canary of `twin` each host serves, as (version, weight), once all serve `wanted` (failing
/// after 20 s).
fn wait_for_canary(hosts: &[&TestServer], wanted: Option<(&str, u64)>) {
    let started = Instant::now();
    loop {
        let serving: Vec<Option<(String, u64)>> = hosts
            .iter()
            .map(|h| {
                let canary = h.get("/v1/agents/twin").json()["canary"].clone();
                (!canary.is_null()).then(|| {
                    let version = canary["version"].as_str().unwrap().to_string();
                    (version, canary["weight"].as_u64().unwrap())
                })
            })
            .collect();
        let want = wanted.map(|(v, w)| (v.to_string(), w));
        if serving.iter().all(|s| *s == want) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the hosts serve canaries {serving:?}, not all {wanted:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_canary_started_reweighted_aborted_or_promoted_on_one_host_is_every_hosts() {
    let nats = NatsServer::start();
    let dir = agents(true);
    let a = host(&nats, dir.path(), "a");
    let b = host(&nats, dir.path(), "b");
    let c = host(&nats, dir.path(), "c");
    let all = [&a, &b, &c];
    let v2 = std::fs::read(test_agent("twin-v2")).unwrap();

    let reply = admin(&a, "POST", "/v1/agents/twin/canary?weight=30", &v2);
    assert_eq!(reply.status, 201, "{}", reply.body);
    wait_for_canary(&all, Some(("2.0.0", 30)));
    let reply = admin(&b, "PATCH", "/v1/agents/twin/canary?weight=60", b"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    wait_for_canary(&all, Some(("2.0.0", 60)));
    let reply = admin(&c, "POST", "/v1/agents/twin/canary/abort", b"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    wait_for_canary(&all, None);
    wait_for_version(&all, "1.0.0");

    let reply = admin(&a, "POST", "/v1/agents/twin/canary?weight=10", &v2);
    assert_eq!(reply.status, 201, "{}", reply.body);
    wait_for_canary(&all, Some(("2.0.0", 10)));
    let reply = admin(&b, "POST", "/v1/agents/twin/canary/promote", b"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    wait_for_version(&all, "2.0.0");
    wait_for_canary(&all, None);
    // The promotion on `a` and `c` was the cluster's, on behalf of `b`.
    let history = c.get("/v1/agents/twin").json()["history"].clone();
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["by"], "cluster:b", "{history}");
}

#[test]
fn a_delegation_chain_crosses_the_hosts_with_its_trace_chain_and_deadline() {
    let nats = NatsServer::start();
    // `flaky` as `a` on one host, `b` on another, `c` on a third: each hop of a -> b -> c is a
    // guest's delegation that the cluster runs on the host serving the callee.
    let start = |id: &str, next: Option<&str>| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(test_agent("flaky"), dir.path().join(format!("{id}.wasm"))).unwrap();
        let delegate = next
            .map(|next| format!("delegate = [\"{next}\"]\n"))
            .unwrap_or_default();
        std::fs::write(
            dir.path().join(format!("{id}.toml")),
            format!(
                "[agent]\nid = \"{id}\"\n\n[limits]\ntimeout = \"5s\"\n\n[capabilities]\nenv = [\"AGENT_ID\"]\n{delegate}"
            ),
        )
        .unwrap();
        let host_id = format!("host-{id}");
        let args = ["--nats", nats.url.as_str(), "--host-id", host_id.as_str()];
        (
            TestServer::start(dir.path(), &args, &[("AGENT_ID", id)]),
            dir,
        )
    };
    let (a, _a) = start("a", Some("b"));
    let (_b, _bd) = start("b", Some("c"));
    let (_c, _cd) = start("c", None);

    let reply = a.post(
        "/v1/agents/a/invoke",
        r#"{"op": "chain", "input": {"next": ["b", "c"]}, "trace_id": "across-hosts-1"}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let hops = reply.json()["output"].clone();
    let hops = hops.as_array().unwrap();
    let agents: Vec<&str> = hops.iter().map(|h| h["agent"].as_str().unwrap()).collect();
    assert_eq!(agents, ["a", "b", "c"]);
    assert_eq!(hops[1]["chain"], json!(["a"]));
    assert_eq!(hops[2]["chain"], json!(["a", "b"]));
    assert!(
        hops.iter().all(|h| h["trace_id"] == "across-hosts-1"),
        "{hops:?}"
    );
    let left: Vec<u64> = hops
        .iter()
        .map(|h| h["time_left_ms"].as_u64().unwrap())
        .collect();
    assert!(
        left[0] <= 5_000 && left[1] <= left[0] && left[2] <= left[1],
        "the deadline travels down: {left:?}"
    );
    // Each hop ran on the host serving its agent.
    let census = a.get("/v1/cluster").json();
    let ran: Vec<(String, String, u64)> = census["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| {
            h["agents"].as_array().unwrap().iter().map(|agent| {
                (
                    h["host"].as_str().unwrap().to_string(),
                    agent["id"].as_str().unwrap().to_string(),
                    agent["stats"]["calls"].as_u64().unwrap(),
                )
            })
        })
        .collect();
    assert_eq!(
        ran,
        [
            ("host-a".to_string(), "a".to_string(), 1),
            ("host-b".to_string(), "b".to_string(), 1),
            ("host-c".to_string(), "c".to_string(), 1)
        ],
        "{census}"
    );
}

/// What `tandem ARGS` printed, after checking it succeeded.
fn tandem_stdout(args: &[&str]) -> String {
    let output = std::process::Command::new(tandem_e2e::tandem_bin())
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text
}
