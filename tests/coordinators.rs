//! DIRECTOR, PROJECTORCHESTRATOR and MONITOR end to end on a real `tandem serve` with the real
//! components: a review of a planted tree through the four code agents, merged and ranked, and
//! partial when a helper fails; a project plan run on the scheduler with its dependencies kept and
//! its hand-computed critical path, then re-planned after a failure; MONITOR flagging an injected
//! latency spike at once and staying quiet over 100 steady periods; a burn-rate alert that fires and
//! resolves; and MONITOR's alert starting DIRECTOR's incident, which rolls a faulty version back.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tandem_e2e::{TestServer, agent, test_agent};

/// Copies shipped agent `id` into `agents`, with `manifest` (none: its shipped manifest).
fn add(agents: &Path, id: &str, manifest: Option<&str>) {
    std::fs::copy(agent(id), agents.join(format!("{id}.wasm"))).unwrap();
    let beside = agents.join(format!("{id}.toml"));
    match manifest {
        Some(text) => std::fs::write(beside, text).unwrap(),
        None => {
            std::fs::copy(agent(id).with_extension("toml"), beside).unwrap();
        }
    }
}

/// Copies test guest `build` into `agents` as `id`, with `manifest`.
fn add_test(agents: &Path, build: &str, id: &str, manifest: &str) {
    std::fs::copy(test_agent(build), agents.join(format!("{id}.wasm"))).unwrap();
    std::fs::write(agents.join(format!("{id}.toml")), manifest).unwrap();
}

/// A tree with something for every helper: pycodestyle errors, a shell-injection call, a weak hash
/// (reported by SECURITY and CRYPTOEXPERT both), a live-looking GitHub token, no license, no CI.
fn planted_tree(root: &Path) -> PathBuf {
    let repo = root.join("repo");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    std::fs::write(
        repo.join("src/app.py"),
        "import os, hashlib, subprocess\n\
         def run(cmd):\n\
         \x20   subprocess.call(cmd, shell=True)\n\
         \x20   return hashlib.md5(cmd.encode()).hexdigest()\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("src/config.py"),
        "GITHUB_TOKEN = \"ghp_Zq8vN3kR7tW1yB5mX2cL9pD4hG6jF0sA1eUo\"\n",
    )
    .unwrap();
    repo
}

/// An agents directory for a review: DIRECTOR granted `repo` read-only, the four helpers with their
/// shipped manifests except those in `overrides`.
fn review_agents(root: &Path, repo: &Path, overrides: &[(&str, &str)]) -> PathBuf {
    let agents = root.join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    let director = format!(
        "[capabilities]\nhost-info = true\ndelegate = [\"linter\", \"security\", \"security-auditor\", \"crypto-expert\"]\n\
         dirs = [{{ host = \"{}\", guest = \"repo\", mode = \"read-only\" }}]\n",
        repo.display()
    );
    add(&agents, "director", Some(&director));
    for id in ["linter", "security", "security-auditor", "crypto-expert"] {
        let manifest = overrides.iter().find(|(o, _)| *o == id).map(|(_, m)| *m);
        add(&agents, id, manifest);
    }
    agents
}

fn findings_by<'a>(report: &'a Value, agent: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["agents"].as_array().unwrap().iter().any(|a| a == agent))
        .collect()
}

fn has(findings: &[&Value], file: &str, line: u64, issue: &str) -> bool {
    findings
        .iter()
        .any(|f| f["file"] == file && f["line"] == line && f["issue"] == issue)
}

#[test]
fn director_reviews_a_planted_tree_into_one_ranked_report() {
    let dir = tempfile::tempdir().unwrap();
    let repo = planted_tree(dir.path());
    let agents = review_agents(dir.path(), &repo, &[]);
    let server = TestServer::start(&agents, &["--no-audit"], &[]);
    let reply = server.invoke("director", "review", json!({"paths": ["repo"]}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let report = reply.json()["output"].clone();

    assert_eq!(report["partial"], false, "{report:#}");
    assert_eq!(report["strategy"], "fan-out", "an idle host: {report:#}");
    let app = "repo/src/app.py";
    assert!(
        has(&findings_by(&report, "linter"), app, 1, "e401"),
        "{report:#}"
    );
    assert!(
        has(&findings_by(&report, "security"), app, 3, "CWE-78"),
        "{report:#}"
    );
    assert!(
        has(
            &findings_by(&report, "security"),
            "repo/src/config.py",
            1,
            "hardcoded-credential"
        ),
        "{report:#}"
    );
    assert!(
        has(
            &findings_by(&report, "security-auditor"),
            "repo",
            1,
            "compliance-license"
        ),
        "{report:#}"
    );
    // The weak hash, reported by SECURITY and CRYPTOEXPERT, is one finding of both.
    let weak: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["file"] == app && f["line"] == 4 && f["issue"] == "weak-crypto")
        .collect();
    assert_eq!(weak.len(), 1, "{report:#}");
    assert_eq!(weak[0]["agents"], json!(["security", "crypto-expert"]));
    assert_eq!(weak[0]["severity"], "error");
    assert!(report["duplicates_merged"].as_u64().unwrap() >= 1);
    // Ranked: severities never go up; the findings of two agents first among the errors.
    let rank = |s: &Value| match s.as_str().unwrap() {
        "error" => 0,
        "warning" => 1,
        _ => 2,
    };
    let severities: Vec<i32> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| rank(&f["severity"]))
        .collect();
    assert!(
        severities.windows(2).all(|w| w[0] <= w[1]),
        "{severities:?}"
    );
    assert_eq!(report["findings"][0]["issue"], "weak-crypto");
    // Grouped by file, and counted per agent.
    let files: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert!(
        files.contains(&app) && files.contains(&"repo/src/config.py"),
        "{files:?}"
    );
    for helper in report["helpers"].as_array().unwrap() {
        assert_eq!(helper["status"], "ok", "{helper}");
    }
    let helper_findings = |op: &str| {
        report["helpers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["operation"] == op)
            .unwrap()["findings"]
            .as_u64()
            .unwrap()
    };
    for op in [
        "lint",
        "scan-code",
        "scan-secrets",
        "audit-tree",
        "audit-crypto",
    ] {
        assert!(helper_findings(op) > 0, "{op}: {report:#}");
    }

    // Markdown and SARIF carry the same findings.
    let md = server.invoke(
        "director",
        "review",
        json!({"paths": ["repo"], "format": "markdown"}),
    );
    let md = md.json()["output"]["markdown"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        md.contains("## repo/src/app.py") && md.contains("security, crypto-expert"),
        "{md}"
    );
    let sarif = server.invoke(
        "director",
        "review",
        json!({"paths": ["repo"], "format": "sarif"}),
    );
    let sarif = sarif.json()["output"].clone();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        report["findings"].as_array().unwrap().len()
    );
    // Asked to go one at a time, it does, with the same findings.
    let seq = server.invoke(
        "director",
        "review",
        json!({"paths": ["repo"], "strategy": "sequential"}),
    );
    let seq = seq.json()["output"].clone();
    assert_eq!(seq["strategy"], "sequential");
    assert_eq!(seq["counts"], report["counts"]);
}

#[test]
fn a_failing_helper_leaves_a_partial_report_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = planted_tree(dir.path());
    // CRYPTOEXPERT's manifest no longer accepts lent directories: its call is refused.
    let refusing = "[capabilities]\n";
    let agents = review_agents(dir.path(), &repo, &[("crypto-expert", refusing)]);
    let server = TestServer::start(&agents, &["--no-audit"], &[]);
    let reply = server.invoke("director", "review", json!({"paths": ["repo"]}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let report = reply.json()["output"].clone();
    assert_eq!(report["partial"], true, "{report:#}");
    assert_eq!(
        report["missing"],
        json!([{"agent": "crypto-expert", "operation": "audit-crypto", "status": "denied",
                "message": report["missing"][0]["message"]}])
    );
    let why = report["missing"][0]["message"].as_str().unwrap();
    assert!(why.contains("lend refused"), "{why}");
    // The others' findings are all there; the weak hash is SECURITY's alone now.
    assert!(has(
        &findings_by(&report, "linter"),
        "repo/src/app.py",
        1,
        "e401"
    ));
    let weak = findings_by(&report, "security")
        .into_iter()
        .find(|f| f["issue"] == "weak-crypto")
        .unwrap();
    assert_eq!(weak["agents"], json!(["security"]));
}

#[test]
fn director_asks_infrastructure_for_deployment_files_when_it_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let repo = planted_tree(dir.path());
    std::fs::write(
        repo.join("Dockerfile"),
        "FROM node:latest\nCOPY . /app\nCMD [\"node\", \"/app/server.js\"]\n",
    )
    .unwrap();
    let agents = review_agents(dir.path(), &repo, &[]);
    let director = format!(
        "[capabilities]\nhost-info = true\ndelegate = [\"linter\", \"security\", \"security-auditor\", \"crypto-expert\", \"infrastructure\"]\n\
         dirs = [{{ host = \"{}\", guest = \"repo\", mode = \"read-only\" }}]\n",
        repo.display()
    );
    add(&agents, "director", Some(&director));
    add(&agents, "infrastructure", None);
    let server = TestServer::start(&agents, &["--no-audit"], &[]);
    let reply = server.invoke("director", "review", json!({"paths": ["repo"]}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let report = reply.json()["output"].clone();
    assert_eq!(report["partial"], false, "{report:#}");
    let infrastructure = findings_by(&report, "infrastructure");
    for rule in ["image-latest", "runs-as-root"] {
        assert!(
            has(&infrastructure, "repo/Dockerfile", 1, rule),
            "{rule}: {report:#}"
        );
    }
    // The other helpers' findings are there as before.
    assert!(has(
        &findings_by(&report, "linter"),
        "repo/src/app.py",
        1,
        "e401"
    ));
}

/// PROJECTORCHESTRATOR and `hostile` (whose `nap` says when it started and ended).
fn orchestrator_server(dir: &Path) -> TestServer {
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    add(
        &agents,
        "project-orchestrator",
        Some("[capabilities]\nhost-info = true\ndelegate = [\"hostile\"]\n"),
    );
    add_test(
        &agents,
        "hostile",
        "hostile",
        "[resilience]\nmax-attempts = 1\n",
    );
    TestServer::start(&agents, &["--no-audit"], &[])
}

fn nap(id: &str, ms: u64, deps: &[&str]) -> Value {
    json!({"id": id, "agent": "hostile", "operation": "nap", "input": {"count": ms},
           "estimate": format!("{ms}ms"), "depends-on": deps})
}

#[test]
fn project_orchestrator_runs_a_plan_along_its_critical_path() {
    let dir = tempfile::tempdir().unwrap();
    let server = orchestrator_server(dir.path());
    // a(300) -> b(200) -> d(400); a -> c(100) -> d; e(200) alone. By hand: the critical path is
    // a, b, d (900 ms); c may start 100 ms late, e 700 ms.
    let tasks = json!([
        nap("a", 300, &[]),
        nap("b", 200, &["a"]),
        nap("c", 100, &["a"]),
        nap("d", 400, &["b", "c"]),
        nap("e", 200, &[])
    ]);
    let plan = server.invoke("project-orchestrator", "plan", json!({"tasks": tasks}));
    assert_eq!(plan.status, 200, "{}", plan.body);
    let plan = plan.json()["output"].clone();
    assert_eq!(plan["critical_path"], json!(["a", "b", "d"]));
    assert_eq!(plan["estimated_ms"], 900.0);
    let slack: Vec<f64> = plan["timings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slack_ms"].as_f64().unwrap())
        .collect();
    assert_eq!(slack, [0.0, 0.0, 100.0, 0.0, 700.0]);

    let run = server.invoke("project-orchestrator", "run", json!({"tasks": tasks}));
    assert_eq!(run.status, 200, "{}", run.body);
    let run = run.json()["output"].clone();
    let progress = &run["progress"];
    assert_eq!(
        (progress["succeeded"].as_u64(), progress["total"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(progress["percent_done"], 100.0);
    assert_eq!(progress["critical_path"], json!(["a", "b", "d"]));
    assert!(
        progress["elapsed_ms"].as_f64().unwrap() >= 900.0,
        "{progress}"
    );
    assert!(run.get("replan").is_none());
    // Dependencies kept: each task started after its dependencies ended.
    let task = |id: &str| -> Value {
        run["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()
            .clone()
    };
    let time = |id: &str, key: &str| task(id)["output"][key].as_u64().unwrap();
    for (id, deps) in [("b", vec!["a"]), ("c", vec!["a"]), ("d", vec!["b", "c"])] {
        for dep in deps {
            assert!(
                time(id, "started_ms") >= time(dep, "ended_ms"),
                "{id} before {dep} ended"
            );
        }
    }
    assert!(task("a")["critical"].as_bool().unwrap() && !task("e")["critical"].as_bool().unwrap());
    assert!(task("d")["vs_estimate"].as_f64().unwrap() >= 1.0);

    // b fails: d is blocked by it; what can still run is a, c and e, whose critical path is a, c.
    let mut failing = tasks.clone();
    failing[1]["operation"] = json!("panic");
    let run = server.invoke("project-orchestrator", "run", json!({"tasks": failing}));
    assert_eq!(run.status, 200, "{}", run.body);
    let run = run.json()["output"].clone();
    let replan = &run["replan"];
    assert_eq!(replan["failed"], json!(["b"]), "{run:#}");
    assert_eq!(replan["blocked"], json!([{"id": "d", "by": "b"}]));
    assert_eq!(replan["can_still_run"], json!(["a", "c", "e"]));
    assert_eq!(replan["critical_path"], json!(["a", "c"]));
    assert_eq!(replan["estimated_ms"], 400.0);
    assert_eq!(run["progress"]["succeeded"], 3);

    // A bad plan is refused with every problem named, and nothing runs.
    let bad = json!([
        nap("p", 1, &["r"]),
        nap("q", 1, &["p"]),
        nap("r", 1, &["q"])
    ]);
    let reply = server.invoke("project-orchestrator", "run", json!({"tasks": bad}));
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("dependency cycle: "), "{}", reply.body);
    let mut unknown = tasks.clone();
    unknown[4]["agent"] = json!("ghost");
    unknown[2]["input"] = json!({"count": "${e}"});
    let reply = server.invoke("project-orchestrator", "run", json!({"tasks": unknown}));
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body.contains("no agent `ghost` is loaded"),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("takes the output of `e`"),
        "{}",
        reply.body
    );
}

/// MONITOR (no trigger: the test samples) and `hostile` with retries off and a breaker that never
/// opens at a 50 % failure rate.
fn monitor_server(dir: &Path) -> TestServer {
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    add(
        &agents,
        "monitor",
        Some("[capabilities]\nhost-info = true\n[state]\nmax-keys = 1024\nmax-bytes = \"64MiB\"\n"),
    );
    add_test(
        &agents,
        "hostile",
        "hostile",
        "[resilience]\nmax-attempts = 1\nfailure-rate = 1.0\nconsecutive-failures = 1000\n",
    );
    TestServer::start(&agents, &["--no-audit"], &[])
}

fn sample(server: &TestServer, config: &Value) -> Value {
    let reply = server.invoke("monitor", "sample", json!({"config": config}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["output"].clone()
}

fn naps(server: &TestServer, ms: u64, n: usize) {
    for _ in 0..n {
        assert_eq!(
            server.invoke("hostile", "nap", json!({"count": ms})).status,
            200
        );
    }
}

#[test]
fn monitor_flags_a_latency_spike_and_stays_quiet_in_the_steady_state() {
    let dir = tempfile::tempdir().unwrap();
    let server = monitor_server(dir.path());
    let config = json!({"agents": ["hostile"], "detectors": {"metrics": ["latency-ms"]}});
    sample(&server, &config);
    for period in 0..100 {
        naps(&server, 5, 4);
        let seen = sample(&server, &config);
        assert_eq!(seen["transitions"], json!([]), "period {period}: {seen:#}");
        assert_eq!(seen["firing"], 0);
    }
    // The agent slows down: flagged within two periods, by both detectors.
    let mut fired = None;
    for period in 1..=2 {
        naps(&server, 60, 3);
        let seen = sample(&server, &config);
        if let Some(t) = seen["transitions"].as_array().unwrap().first() {
            fired = Some((period, t.clone()));
            break;
        }
    }
    let (period, alert) = fired.expect("the spike was flagged within two periods");
    assert_eq!(period, 1);
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["kind"], "anomaly");
    assert_eq!(alert["name"], "ewma+mad");
    assert_eq!(alert["target"], "hostile");
    assert!(alert["value"].as_f64().unwrap() >= 60.0, "{alert}");
    // Back to normal: it resolves, once.
    naps(&server, 5, 3);
    let seen = sample(&server, &config);
    assert_eq!(seen["transitions"][0]["status"], "resolved", "{seen:#}");
    let status = server.invoke("monitor", "status", json!({})).json()["output"].clone();
    assert_eq!(status["history"].as_array().unwrap().len(), 2, "{status:#}");
}

#[test]
fn a_burn_rate_alert_fires_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let server = monitor_server(dir.path());
    let events = server.events();
    let config = json!({
        "agents": ["hostile"],
        "detectors": {"metrics": []},
        "slos": [{"agent": "hostile", "availability": 0.9,
                  "windows": [{"long": "3s", "short": "600ms", "burn-rate": 2, "severity": "page"}]}],
    });
    let period = |server: &TestServer, failing: bool| {
        naps(server, 1, 2);
        if failing {
            for _ in 0..2 {
                assert_ne!(server.invoke("hostile", "panic", json!({})).status, 200);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        sample(server, &config)
    };
    sample(&server, &config);
    for _ in 0..5 {
        assert_eq!(period(&server, false)["transitions"], json!([]));
    }
    // Half the calls fail: a burn rate of 5 in both windows once the long one has enough of them.
    let mut fired = None;
    for i in 0..20 {
        let seen = period(&server, true);
        if let Some(t) = seen["transitions"].as_array().unwrap().first() {
            fired = Some((i, t.clone(), seen));
            break;
        }
    }
    let (_, alert, seen) = fired.expect("the burn-rate alert fired");
    assert_eq!(alert["status"], "firing", "{seen:#}");
    assert_eq!(alert["kind"], "slo-burn");
    assert_eq!(alert["severity"], "page");
    let details = &alert["details"];
    assert!(
        details["long_burn"].as_f64().unwrap() > 2.0
            && details["short_burn"].as_f64().unwrap() > 2.0
    );
    assert!(details["budget_remaining"].as_f64().unwrap() < 1.0);
    // Healthy again: the short window clears first, and the alert resolves.
    let mut resolved = false;
    for _ in 0..20 {
        let seen = period(&server, false);
        if seen["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["status"] == "resolved")
        {
            resolved = true;
            break;
        }
    }
    assert!(resolved, "the burn-rate alert resolved");
    // Both were published as `alert` events by MONITOR.
    let mut statuses = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while statuses.len() < 2 && Instant::now() < deadline {
        if let Ok(e) = events.recv_timeout(Duration::from_millis(200))
            && e["type"] == "guest"
            && e["name"] == "alert"
            && e["agent"] == "monitor"
        {
            let data: Value = serde_json::from_str(e["data"].as_str().unwrap()).unwrap();
            statuses.push(data["status"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(statuses, ["firing", "resolved"]);
}

const TOKEN: &str = "coordinators-test-admin-token-0123";

#[test]
fn monitors_alert_runs_directors_incident_which_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    // MONITOR samples every 200 ms and alerts when more than half of twin's calls fail.
    add(
        &agents,
        "monitor",
        Some(
            "[capabilities]\nhost-info = true\n[state]\nmax-keys = 1024\nmax-bytes = \"64MiB\"\n\
             [[triggers]]\nevery = \"200ms\"\noperation = \"sample\"\n\
             input = { config = { agents = [\"twin\"], detectors = { metrics = [] }, \
             rules = [{ name = \"errors\", metric = \"error-rate\", op = \">\", threshold = 0.5, severity = \"page\" }] } }\n",
        ),
    );
    // DIRECTOR acts on MONITOR's firing alerts and may roll twin back.
    add(
        &agents,
        "director",
        Some(
            "[capabilities]\nhost-info = true\ndelegate = [\"monitor\"]\ncontrol = [\"twin\"]\n\
             [[triggers]]\non-event = \"alert\"\nfilter = { agent = \"monitor\", status = \"firing\" }\n\
             operation = \"incident\"\ninput = {}\n",
        ),
    );
    std::fs::copy(test_agent("twin-v1"), agents.join("twin.wasm")).unwrap();
    let server = TestServer::start(&agents, &["--no-audit"], &[("TANDEM_ADMIN_TOKEN", TOKEN)]);
    let v1 = server.get("/v1/agents/twin").json()["version"].clone();
    let events = server.events();
    // A faulty version goes out: its `version` operation always fails.
    let bearer = format!("Bearer {TOKEN}");
    let swap = server.request(
        "PUT",
        "/v1/agents/twin",
        &[("authorization", &bearer)],
        &std::fs::read(test_agent("twin-faulty")).unwrap(),
    );
    assert_eq!(swap.status, 200, "{}", swap.body);
    assert_ne!(server.get("/v1/agents/twin").json()["version"], v1);

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut incident = None;
    while incident.is_none() {
        assert!(
            Instant::now() < deadline,
            "no incident: {}",
            server.stderr()
        );
        server.post(
            "/v1/agents/twin/invoke",
            &json!({"op": "version", "input": 1}).to_string(),
        );
        while let Ok(e) = events.recv_timeout(Duration::from_millis(20)) {
            if e["type"] == "guest" && e["agent"] == "director" && e["name"] == "incident" {
                incident =
                    Some(serde_json::from_str::<Value>(e["data"].as_str().unwrap()).unwrap());
            }
        }
    }
    let incident = incident.unwrap();
    assert_eq!(incident["target"], "twin", "{incident:#}");
    assert_eq!(incident["alert"], "rule/errors/twin/error-rate");
    let decision = &incident["decision"];
    assert_eq!(decision["action"], "rollback", "{decision:#}");
    assert_eq!(decision["command"], "tandem agent rollback twin");
    assert_eq!(
        decision["performed"]["result"]["version"], v1,
        "{decision:#}"
    );
    assert_eq!(server.get("/v1/agents/twin").json()["version"], v1);
    let answer = server.post(
        "/v1/agents/twin/invoke",
        &json!({"op": "version", "input": 1}).to_string(),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[test]
fn the_shipped_manifests_grant_each_target_by_name_and_nothing_else() {
    let manifest = |id: &str| -> toml::Table {
        std::fs::read_to_string(agent(id).with_extension("toml"))
            .unwrap()
            .parse()
            .unwrap()
    };
    let caps = |m: &toml::Table| m["capabilities"].as_table().unwrap().clone();
    let names = |v: &toml::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };

    let director = manifest("director");
    let mut c = caps(&director);
    assert_eq!(
        names(&c.remove("delegate").unwrap()),
        [
            "linter",
            "security",
            "security-auditor",
            "crypto-expert",
            "infrastructure",
            "debugger",
            "monitor",
            "deployer"
        ]
    );
    assert_eq!(c.remove("host-info"), Some(toml::Value::Boolean(true)));
    assert!(c.is_empty(), "no control, dirs, env: {c:?}");
    assert_eq!(director["triggers"][0]["on-event"].as_str(), Some("alert"));

    let orchestrator = manifest("project-orchestrator");
    let mut c = caps(&orchestrator);
    assert!(!names(&c.remove("delegate").unwrap()).is_empty());
    assert_eq!(c.remove("host-info"), Some(toml::Value::Boolean(true)));
    assert!(c.is_empty(), "{c:?}");

    let monitor = manifest("monitor");
    let mut c = caps(&monitor);
    assert_eq!(c.remove("host-info"), Some(toml::Value::Boolean(true)));
    assert!(c.is_empty(), "{c:?}");
    assert_eq!(monitor["triggers"][0]["every"].as_str(), Some("10s"));
    assert!(monitor["state"]["max-keys"].as_integer().unwrap() > 0);

    // DEPLOYER controls nothing until an operator names an agent.
    let deployer = manifest("deployer");
    let mut c = caps(&deployer);
    assert_eq!(c.remove("host-info"), Some(toml::Value::Boolean(true)));
    assert!(c.is_empty(), "{c:?}");
}
