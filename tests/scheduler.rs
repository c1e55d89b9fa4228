//! The scheduler against real components: validation, both failure policies, priorities, the
//! per-agent bulkhead, a wide graph on its runners, cancellation, templated inputs, and a graph
//! submitted by a guest.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tandem::scheduler::{FailurePolicy, Node, Outcome, Plan, RunReport};
use tandem::{ErrorKind, Host, Policy};
use tandem_e2e::{agent, host, test_agent};

async fn host_with_agents() -> Arc<Host> {
    let host = Arc::new(host());
    host.load(&agent("echo"), Policy::default()).await.unwrap();
    host.load(&agent("linter"), Policy::default())
        .await
        .unwrap();
    for (id, delegate) in [
        ("a", vec!["b".to_string(), "echo".to_string()]),
        ("b", vec![]),
    ] {
        let mut policy = Policy::default();
        policy.grants.env.push(("AGENT_ID".into(), id.into()));
        policy.grants.delegate_to = delegate;
        policy.limits.max_instances = 16;
        policy.resilience.retry.max_attempts = 1;
        host.load(&test_agent("flaky"), policy).await.unwrap();
    }
    host
}

fn node(id: &str, agent: &str, op: &str, input: Value, deps: &[&str]) -> Node {
    Node {
        id: id.into(),
        agent: agent.into(),
        op: op.into(),
        input,
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
        priority: 0,
        max_attempts: None,
        timeout: None,
    }
}

fn plan(nodes: Vec<Node>) -> Plan {
    Plan {
        nodes,
        ..Plan::default()
    }
}

async fn run(host: &Host, plan: Plan) -> RunReport {
    host.run_plan(plan, std::future::pending(), |_| {})
        .await
        .unwrap()
}

fn status(report: &RunReport, id: &str) -> &'static str {
    match &report.nodes.iter().find(|n| n.id == id).unwrap().outcome {
        Outcome::Succeeded { .. } => "succeeded",
        Outcome::Failed { .. } => "failed",
        Outcome::Skipped { .. } => "skipped",
        Outcome::Cancelled { .. } => "cancelled",
    }
}

#[tokio::test]
async fn invalid_plans_are_rejected_before_anything_runs() {
    let host = host_with_agents().await;
    let e = |id: &str| node(id, "echo", "echo", json!({}), &[]);
    let cases = [
        (vec![e("x"), e("x")], "duplicate node id `x`"),
        (
            vec![node("x", "echo", "echo", json!({}), &["ghost"])],
            "node `x` depends on unknown node `ghost`",
        ),
        (
            vec![node("x", "nobody", "echo", json!({}), &[])],
            "node `x`: no agent `nobody` is loaded",
        ),
        (
            vec![node("x", "echo", "shout", json!({}), &[])],
            "node `x`: agent `echo` has no operation `shout`",
        ),
        (
            vec![
                node("p", "echo", "echo", json!({}), &["r"]),
                node("q", "echo", "echo", json!({}), &["p"]),
                node("r", "echo", "echo", json!({}), &["q"]),
            ],
            "dependency cycle: p -> q -> r -> p",
        ),
        (
            vec![e("x"), node("y", "echo", "echo", json!("${x}"), &[])],
            "node `y`: its input refers to `x`, which is not among its depends-on",
        ),
    ];
    for (nodes, expected) in cases {
        let error = host.check_plan(plan(nodes)).err().expect("invalid");
        assert!(
            error.to_string().contains(expected),
            "expected {expected:?} in {error}"
        );
    }
    assert_eq!(
        host.agent("echo").unwrap().live_instances(),
        1,
        "nothing ran"
    );
}

fn failing_plan(policy: FailurePolicy) -> Plan {
    Plan {
        policy,
        nodes: vec![
            node("slow", "b", "sleep-ms", json!({"ms": 300}), &[]),
            node("bad", "b", "fail-first", json!({"n": 1000}), &[]),
            node("after-slow", "echo", "echo", json!({}), &["slow"]),
            node("after-bad", "echo", "echo", json!({}), &["bad"]),
        ],
        ..Plan::default()
    }
}

#[tokio::test]
async fn fail_fast_cancels_running_nodes_and_skips_the_rest() {
    let host = host_with_agents().await;
    let report = run(&host, failing_plan(FailurePolicy::FailFast)).await;
    let statuses: Vec<_> = ["slow", "bad", "after-slow", "after-bad"]
        .iter()
        .map(|id| status(&report, id))
        .collect();
    assert_eq!(statuses, ["cancelled", "failed", "skipped", "skipped"]);
    match &report.nodes[1].outcome {
        Outcome::Failed { kind, error } => {
            assert_eq!(*kind, ErrorKind::Retryable);
            assert!(error.contains("failing"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    let b = host.agent("b").unwrap();
    assert_eq!(
        b.live_instances(),
        b.idle_instances(),
        "the cancelled node's guest was stopped"
    );
}

#[tokio::test]
async fn continue_skips_only_what_depends_on_the_failure() {
    let host = host_with_agents().await;
    let report = run(&host, failing_plan(FailurePolicy::Continue)).await;
    let statuses: Vec<_> = ["slow", "bad", "after-slow", "after-bad"]
        .iter()
        .map(|id| status(&report, id))
        .collect();
    assert_eq!(statuses, ["succeeded", "failed", "succeeded", "skipped"]);
    match &report.nodes[3].outcome {
        Outcome::Skipped { reason } => assert_eq!(reason, "dependency `bad` did not succeed"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn ready_nodes_start_in_priority_order() {
    let host = host_with_agents().await;
    let mut nodes: Vec<Node> = [("low", 1), ("high", 9), ("mid", 5), ("also-low", 1)]
        .into_iter()
        .map(|(id, priority)| Node {
            priority,
            ..node(id, "echo", "echo", json!({}), &[])
        })
        .collect();
    nodes.push(node("first", "echo", "echo", json!({}), &[]));
    for n in nodes.iter_mut().take(4) {
        n.depends_on = vec!["first".into()];
    }
    let report = run(
        &host,
        Plan {
            max_concurrency: Some(1),
            nodes,
            ..Plan::default()
        },
    )
    .await;
    let mut order: Vec<(usize, &str)> = report
        .nodes
        .iter()
        .map(|n| (n.started.unwrap(), n.id.as_str()))
        .collect();
    order.sort();
    let order: Vec<&str> = order.into_iter().map(|(_, id)| id).collect();
    assert_eq!(order, ["first", "high", "mid", "low", "also-low"]);
}

#[tokio::test]
async fn a_node_starts_as_soon_as_its_own_dependencies_are_done() {
    let host = host_with_agents().await;
    // `quick-next` depends only on `quick`: it must not wait for `slow`, which started at the same time.
    let nodes = vec![
        node("slow", "b", "sleep-ms", json!({"ms": 400}), &[]),
        node("quick", "echo", "echo", json!({}), &[]),
        node("quick-next", "echo", "echo", json!({}), &["quick"]),
        node("after-slow", "echo", "echo", json!({}), &["slow"]),
    ];
    let report = run(&host, plan(nodes)).await;
    let started = |id: &str| {
        report
            .nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap()
            .started
            .unwrap()
    };
    assert!(started("quick-next") < started("after-slow"), "{report:?}");
    assert_eq!(report.count(|o| matches!(o, Outcome::Succeeded { .. })), 4);
}

#[tokio::test]
async fn the_per_agent_bulkhead_bounds_concurrency() {
    for (bound, expect_at_most) in [(Some(2), 2), (None, 10)] {
        let host = host_with_agents().await;
        let nodes = (0..10)
            .map(|i| node(&format!("s{i}"), "b", "sleep-ms", json!({"ms": 100}), &[]))
            .collect();
        let report = run(
            &host,
            Plan {
                max_per_agent: bound,
                nodes,
                ..Plan::default()
            },
        )
        .await;
        assert_eq!(report.count(|o| matches!(o, Outcome::Succeeded { .. })), 10);
        match bound {
            Some(_) => assert!(
                report.peak_concurrency <= expect_at_most,
                "{}",
                report.peak_concurrency
            ),
            None => assert_eq!(
                report.peak_concurrency, expect_at_most,
                "all ten at once without a bulkhead"
            ),
        }
        assert!(host.agent("b").unwrap().peak_instances() <= expect_at_most);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wide_graph_fills_max_concurrency_and_reports_its_progress_to_the_end() {
    let host = host_with_agents().await;
    let mut nodes: Vec<Node> = (0..40)
        .map(|i| node(&format!("s{i}"), "b", "sleep-ms", json!({"ms": 20}), &[]))
        .collect();
    let all: Vec<String> = nodes.iter().map(|n| n.id.clone()).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    nodes.push(node("after", "echo", "echo", json!({"n": 1}), &all));
    let mut seen = Vec::new();
    let report = host
        .run_plan(
            Plan {
                max_concurrency: Some(8),
                nodes,
                ..Plan::default()
            },
            std::future::pending(),
            |p| seen.push(p.clone()),
        )
        .await
        .unwrap();
    assert_eq!(report.count(|o| matches!(o, Outcome::Succeeded { .. })), 41);
    assert_eq!(report.peak_concurrency, 8, "eight runners at once, no more");
    let mut order: Vec<usize> = report.nodes.iter().map(|n| n.started.unwrap()).collect();
    order.sort();
    assert_eq!(
        order,
        (0..41).collect::<Vec<_>>(),
        "every node started once"
    );
    assert_eq!(
        report.nodes[40].started,
        Some(40),
        "the last only after all"
    );
    match &report.nodes[40].outcome {
        Outcome::Succeeded { output } => assert_eq!(output.get(), r#"{"n":1}"#),
        other => panic!("{other:?}"),
    }
    let last = seen.last().expect("progress was told");
    assert_eq!(
        (
            last.total,
            last.started,
            last.running,
            last.succeeded,
            last.failed
        ),
        (41, 41, 0, 41, 0),
        "{seen:?}"
    );
}

#[tokio::test]
async fn cancellation_stops_running_guests_promptly() {
    let host = host_with_agents().await;
    let nodes = vec![
        node("long-1", "b", "sleep-ms", json!({"ms": 30_000}), &[]),
        node("long-2", "b", "sleep-ms", json!({"ms": 30_000}), &[]),
        node("later", "echo", "echo", json!({}), &["long-1"]),
    ];
    let cancel = tokio::time::sleep(Duration::from_millis(200));
    let report = tokio::time::timeout(
        Duration::from_secs(10),
        host.run_plan(plan(nodes), cancel, |_| {}),
    )
    .await
    .expect("the run stops long before the guests would")
    .unwrap();
    let statuses: Vec<_> = ["long-1", "long-2", "later"]
        .iter()
        .map(|id| status(&report, id))
        .collect();
    assert_eq!(statuses, ["cancelled", "cancelled", "skipped"]);
    let b = host.agent("b").unwrap();
    assert_eq!(b.live_instances(), b.idle_instances());

    // A lone ready node runs in the run's own task, not a task of its own: cancelling the run stops
    // its guest all the same.
    let lone = plan(vec![node(
        "alone",
        "b",
        "sleep-ms",
        json!({"ms": 30_000}),
        &[],
    )]);
    let cancel = tokio::time::sleep(Duration::from_millis(200));
    let report = tokio::time::timeout(Duration::from_secs(10), host.run_plan(lone, cancel, |_| {}))
        .await
        .expect("the run stops long before the guest would")
        .unwrap();
    assert_eq!(status(&report, "alone"), "cancelled");
    assert_eq!(b.live_instances(), b.idle_instances());

    // A run whose caller goes away (a client that hangs up, a guest past its deadline) drops its
    // future: every runner's call stops, none goes on alone.
    let dropped = plan(vec![
        node("long-1", "b", "sleep-ms", json!({"ms": 30_000}), &[]),
        node("long-2", "b", "sleep-ms", json!({"ms": 30_000}), &[]),
        node("long-3", "b", "sleep-ms", json!({"ms": 30_000}), &[]),
    ]);
    let running = host.run_plan(dropped, std::future::pending(), |_| {});
    assert!(
        tokio::time::timeout(Duration::from_millis(300), running)
            .await
            .is_err()
    );
    let stopped = std::time::Instant::now();
    while b.live_instances() != b.idle_instances() {
        assert!(
            stopped.elapsed() < Duration::from_secs(2),
            "the dropped run's guests still run (the agent's own timeout would stop them at 5 s)"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let timed = Plan {
        timeout: Some("200ms".into()),
        ..plan(vec![node(
            "long",
            "b",
            "sleep-ms",
            json!({"ms": 30_000}),
            &[],
        )])
    };
    let report = run(&host, timed).await;
    match &report.nodes[0].outcome {
        Outcome::Cancelled { reason } => assert_eq!(reason, "the run's deadline passed"),
        Outcome::Failed { kind, .. } => assert_eq!(
            *kind,
            ErrorKind::Timeout,
            "the node's own deadline is the run's"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn templated_inputs_take_outputs_of_dependencies() {
    let host = host_with_agents().await;
    let nodes = vec![
        node(
            "make",
            "echo",
            "echo",
            json!({"doc": {"text": "a TODO here\n", "name": "notes.md"}}),
            &[],
        ),
        node(
            "lint",
            "linter",
            "lint",
            json!({"text": "${make/doc/text}", "name": "${make/doc/name}"}),
            &["make"],
        ),
        node(
            "count",
            "echo",
            "echo",
            json!({"findings": "${lint/summary/findings}", "all": "${make}"}),
            &["lint", "make"],
        ),
        node(
            "broken",
            "echo",
            "echo",
            json!("${make/no/such/path}"),
            &["make"],
        ),
    ];
    let report = run(
        &host,
        Plan {
            policy: FailurePolicy::Continue,
            ..plan(nodes)
        },
    )
    .await;
    let output = |id: &str| match &report.nodes.iter().find(|n| n.id == id).unwrap().outcome {
        Outcome::Succeeded { output } => serde_json::from_str::<Value>(output.get()).unwrap(),
        other => panic!("{id}: {other:?}"),
    };
    assert_eq!(output("lint")["findings"][0]["file"], "notes.md");
    assert_eq!(output("lint")["findings"][0]["rule"], "todo-marker");
    assert_eq!(
        output("count"),
        json!({"findings": 1, "all": {"doc": {"text": "a TODO here\n", "name": "notes.md"}}})
    );
    match &report.nodes[3].outcome {
        Outcome::Failed { kind, error } => {
            assert_eq!(*kind, ErrorKind::InvalidInput);
            assert!(
                error.contains("the output of `make` has nothing at `/no/such/path`"),
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_guest_can_hand_a_graph_to_the_scheduler() {
    let host = host_with_agents().await;
    let output = host
        .invoke(
            "a",
            "graph",
            json!({"agent": "echo", "count": 3}).to_string(),
        )
        .await
        .unwrap()
        .output;
    let results: Value = serde_json::from_str(&output).unwrap();
    assert_eq!(
        results,
        json!([
            {"id": "n0", "output": "{\"step\":0}"},
            {"id": "n1", "output": "{\"step\":0}"},
            {"id": "n2", "output": "{\"step\":0}"},
        ])
    );
    // Only agents it may delegate to: `a` may not schedule `linter`.
    let error = host
        .invoke(
            "a",
            "graph",
            json!({"agent": "linter", "count": 1}).to_string(),
        )
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`a` may not delegate to `linter`"),
        "{error}"
    );
}

#[tokio::test]
async fn plans_read_from_toml_and_json_files() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("plan.toml");
    std::fs::write(&toml, "policy = \"continue\"\nmax-concurrency = 4\n[[nodes]]\nid = \"x\"\nagent = \"echo\"\nop = \"echo\"\ninput = { a = 1 }\n").unwrap();
    let json_file = dir.path().join("plan.json");
    std::fs::write(&json_file, r#"{"nodes": [{"id": "x", "agent": "echo", "op": "echo", "input": {"a": 1}, "priority": 3}]}"#).unwrap();
    let from_toml = Plan::read(&toml).unwrap();
    assert_eq!(
        (
            from_toml.policy,
            from_toml.max_concurrency,
            from_toml.nodes[0].input.clone()
        ),
        (FailurePolicy::Continue, Some(4), json!({"a": 1}))
    );
    assert_eq!(Plan::read(&json_file).unwrap().nodes[0].priority, 3);
    std::fs::write(
        &toml,
        "[[nodes]]\nid = \"x\"\nagent = \"echo\"\noperation = \"echo\"\n",
    )
    .unwrap();
    let error = Plan::read(&toml).unwrap_err().to_string();
    assert!(
        error.contains("plan.toml") && error.contains("unknown field `operation`"),
        "{error}"
    );
}

#[tokio::test]
async fn the_readme_example_plan_is_valid_and_runs() {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .unwrap();
    let start = readme
        .find("```toml\n# plan.toml")
        .expect("the README has the plan example")
        + "```toml\n".len();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.toml");
    std::fs::write(
        &file,
        &readme[start..start + readme[start..].find("```").unwrap()],
    )
    .unwrap();
    let host = host_with_agents().await;
    let report = run(&host, Plan::read(&file).unwrap()).await;
    match &report.nodes[1].outcome {
        Outcome::Succeeded { output } => {
            let output: Value = serde_json::from_str(output.get()).unwrap();
            assert_eq!(output["findings"][0]["rule"], "todo-marker");
        }
        other => panic!("{other:?}"),
    }
}
