//! Delegation between real agents through the host, and the resilience around every call: retries,
//! the circuit breaker, deadlines down a chain, cycles, denied hops and a concurrent fan-out.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tandem::breaker::BreakerState;
use tandem::{DirGrant, ErrorKind, Host, Policy};
use tandem_e2e::{host, test_agent};

/// Loads the `flaky` component as agent `id` with the given policy edits.
async fn load(host: &Host, id: &str, edit: impl FnOnce(&mut Policy)) {
    let mut policy = Policy::default();
    policy.grants.env.push(("AGENT_ID".into(), id.into()));
    policy.resilience.retry.backoff = Duration::from_millis(1);
    edit(&mut policy);
    host.load(&test_agent("flaky"), policy).await.unwrap();
}

fn json(output: &str) -> Value {
    serde_json::from_str(output).unwrap()
}

#[tokio::test]
async fn retries_recover_transient_failures_and_the_attempt_reaches_the_guest() {
    let host = host();
    load(&host, "a", |p| p.limits.max_instances = 1).await;
    let output = host
        .invoke("a", "fail-first", r#"{"n": 2}"#.into())
        .await
        .unwrap()
        .output;
    assert_eq!(json(&output), json!({"calls": 3, "attempt": 3}));
}

#[tokio::test]
async fn retries_stop_at_max_attempts_and_skip_classes_that_cannot_pass() {
    let host = host();
    load(&host, "a", |p| p.limits.max_instances = 1).await;
    let error = host
        .invoke("a", "fail-first", r#"{"n": 100}"#.into())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Retryable, "{error}");
    assert!(
        error.to_string().contains("call 3 of 100 failing"),
        "three attempts: {error}"
    );

    let error = host
        .invoke("a", "fail-first", r#"{"n": "not a number"}"#.into())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    // The invalid input was tried once: the next call is this instance's fifth.
    let error = host
        .invoke("a", "fail-first", r#"{"n": 100}"#.into())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("call 7 of 100"), "{error}");
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_half_opens_and_closes_after_recovery() {
    let state = tempfile::tempdir().unwrap();
    let host = host();
    load(&host, "a", |p| {
        p.limits.max_instances = 1;
        p.resilience.retry.max_attempts = 1;
        p.resilience.breaker.open_for = Duration::from_millis(200);
        p.grants.dirs.push(DirGrant {
            host: state.path().to_path_buf(),
            guest: "state".into(),
            writable: false,
        });
    })
    .await;
    let agent = host.agent("a").unwrap();
    std::fs::write(state.path().join("down"), "").unwrap();

    for _ in 0..5 {
        let error = host.invoke("a", "flag", "{}".into()).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Retryable, "{error}");
    }
    assert_eq!(agent.breaker().state(), BreakerState::Open);
    for _ in 0..3 {
        let error = host.invoke("a", "flag", "{}".into()).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::CircuitOpen, "{error}");
        assert!(
            error
                .to_string()
                .contains("a.flag: the circuit breaker is open; the next probe in"),
            "{error}"
        );
    }

    // Still failing when the probe goes through: open again.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(agent.breaker().state(), BreakerState::HalfOpen);
    assert_eq!(
        host.invoke("a", "flag", "{}".into())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Retryable
    );
    assert_eq!(agent.breaker().state(), BreakerState::Open);

    // The fault clears: the next probe closes it.
    std::fs::remove_file(state.path().join("down")).unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        json(&host.invoke("a", "flag", "{}".into()).await.unwrap().output)["up"],
        true
    );
    assert_eq!(agent.breaker().state(), BreakerState::Closed);
    // 5 failures + 1 failed probe + 1 good probe + this call: the 3 refused calls never ran.
    let output = host
        .invoke("a", "fail-first", r#"{"n": 0}"#.into())
        .await
        .unwrap()
        .output;
    assert_eq!(json(&output)["calls"], 8);
}

#[tokio::test]
async fn deadline_trace_and_chain_propagate_down_three_hops() {
    let host = host();
    load(&host, "a", |p| {
        p.limits.timeout = Duration::from_millis(2_000);
        p.grants.delegate_to = vec!["b".into()];
    })
    .await;
    load(&host, "b", |p| p.grants.delegate_to = vec!["c".into()]).await;
    load(&host, "c", |_| {}).await;

    let output = host
        .invoke("a", "chain", r#"{"next": ["b", "c"]}"#.into())
        .await
        .unwrap()
        .output;
    let hops = json(&output);
    let hops = hops.as_array().unwrap();
    let agents: Vec<&str> = hops.iter().map(|h| h["agent"].as_str().unwrap()).collect();
    assert_eq!(agents, ["a", "b", "c"]);
    assert_eq!(hops[0]["chain"], json!([]));
    assert_eq!(hops[1]["chain"], json!(["a"]));
    assert_eq!(hops[2]["chain"], json!(["a", "b"]));
    assert!(
        hops.iter().all(|h| h["trace_id"] == hops[0]["trace_id"]),
        "one trace: {hops:?}"
    );
    let left: Vec<u64> = hops
        .iter()
        .map(|h| h["time_left_ms"].as_u64().unwrap())
        .collect();
    assert!(left[0] <= 2_000, "a's own timeout: {left:?}");
    assert!(
        left[1] <= left[0] && left[2] <= left[1],
        "b and c inherit what is left of a's deadline, not their own 5 s: {left:?}"
    );
}

#[tokio::test]
async fn a_cycle_is_refused_and_named() {
    let host = host();
    load(&host, "a", |p| p.grants.delegate_to = vec!["b".into()]).await;
    load(&host, "b", |p| p.grants.delegate_to = vec!["a".into()]).await;
    let error = host
        .invoke("a", "chain", r#"{"next": ["b", "a"]}"#.into())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::DependencyFailed, "{error}");
    assert!(
        error
            .to_string()
            .contains("delegation cycle refused: a -> b -> a"),
        "{error}"
    );
}

#[tokio::test]
async fn a_hop_that_is_not_granted_is_denied() {
    let host = host();
    load(&host, "a", |p| p.grants.delegate_to = vec!["b".into()]).await;
    load(&host, "b", |_| {}).await;
    load(&host, "c", |_| {}).await;
    let error = host
        .invoke("a", "call", r#"{"agent": "c", "op": "echo"}"#.into())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Denied, "{error}");
    assert!(
        error
            .to_string()
            .contains("`a` may not delegate to `c`: not granted in its manifest"),
        "{error}"
    );
    let granted = host
        .invoke("a", "call", r#"{"agent": "b", "op": "echo"}"#.into())
        .await
        .unwrap();
    assert_eq!(granted.output, "{}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_of_100_calls_runs_concurrently() {
    let host = Arc::new(host());
    load(&host, "a", |p| p.grants.delegate_to = vec!["b".into()]).await;
    load(&host, "b", |p| p.limits.max_instances = 100).await;
    let output = host
        .invoke(
            "a",
            "fan-out",
            r#"{"agent": "b", "count": 100, "ms": 200}"#.into(),
        )
        .await
        .unwrap()
        .output;
    assert_eq!(json(&output), json!({"ok": 100, "errors": []}));
    let peak = host.agent("b").unwrap().peak_instances();
    assert!(
        peak >= 50,
        "at the peak {peak} of the 100 calls ran at once"
    );
}

#[tokio::test]
async fn a_callee_is_stopped_at_the_callers_deadline() {
    let host = host();
    load(&host, "a", |p| {
        p.limits.timeout = Duration::from_millis(300);
        p.resilience.retry.max_attempts = 1;
        p.grants.delegate_to = vec!["b".into()];
    })
    .await;
    load(&host, "b", |p| p.limits.timeout = Duration::from_secs(30)).await;
    let error = host
        .invoke(
            "a",
            "fan-out",
            r#"{"agent": "b", "count": 3, "ms": 20000}"#.into(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(
        error
            .to_string()
            .contains("a.fan-out: timed out after 300ms"),
        "{error}"
    );
    let b = host.agent("b").unwrap();
    assert_eq!(
        b.live_instances(),
        b.idle_instances(),
        "no call of b is still running"
    );
}
