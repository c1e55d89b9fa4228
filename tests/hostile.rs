//! The hostile-guest suite: each attack by the `hostile` test agent ends in its exact error class,
//! naming the agent, the operation and the limit, while `echo` keeps answering correctly to
//! concurrent callers throughout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;
use tandem::{CallError, DirGrant, ErrorKind, Host, Policy};
use tandem_e2e::{agent, host, test_agent};

/// A host with `echo` (default policy) and `hostile` (the given policy).
async fn host_with(policy: Policy) -> Arc<Host> {
    let host = Arc::new(host());
    host.load(&agent("echo"), Policy::default()).await.unwrap();
    host.load(&test_agent("hostile"), policy).await.unwrap();
    host
}

/// The hostile agent's policy: the defaults with `edit` applied, but no retries and a breaker that
/// never opens, so that every attack runs exactly once and ends in its own class.
fn policy(edit: impl FnOnce(&mut Policy)) -> Policy {
    let mut policy = Policy::default();
    policy.resilience.retry.max_attempts = 1;
    policy.resilience.breaker.consecutive_failures = u32::MAX;
    policy.resilience.breaker.failure_rate = f64::INFINITY;
    edit(&mut policy);
    policy
}

/// Runs one attack while four callers keep calling `echo`, each checking every answer, and returns
/// the attack's error. Fails if echo answered wrongly or not at all during the attack.
async fn attack(host: &Arc<Host>, operation: &str, input: serde_json::Value) -> CallError {
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let bystanders: Vec<_> = (0..4)
        .map(|caller| {
            let (host, stop, answered) = (host.clone(), stop.clone(), answered.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let input = format!("{{\"caller\":{caller},\"n\":{n}}}");
                    let output = host
                        .invoke("echo", "echo", input.clone())
                        .await
                        .expect("echo answers");
                    assert_eq!(output.output, input, "echo's answer is its own");
                    answered.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let answers_reach = |count: u64| {
        let answered = answered.clone();
        async move {
            while answered.load(Ordering::Relaxed) < count {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), answers_reach(8))
        .await
        .expect("echo answers before the attack");
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        host.invoke("hostile", operation, input.to_string()),
    )
    .await
    .expect("the host ends the attack by itself");
    // Echo's callers go on being answered after the attack, whatever it did to its own instance.
    let after = answered.load(Ordering::Relaxed) + 8;
    tokio::time::timeout(Duration::from_secs(30), answers_reach(after))
        .await
        .expect("echo answers after the attack");
    stop.store(true, Ordering::Relaxed);
    for bystander in bystanders {
        bystander.await.expect("a bystander's assertions held");
    }
    // The host is still whole: echo answers, and the hostile agent can be called again.
    assert_eq!(
        host.invoke("echo", "echo", "[1]".into())
            .await
            .unwrap()
            .output,
        "[1]"
    );
    match outcome {
        Ok(response) => panic!("`{operation}` succeeded with {:.100}", response.output),
        Err(error) => {
            let text = error.to_string();
            assert!(
                text.contains(&format!("hostile.{operation}")) || text.contains("hostile"),
                "{text}"
            );
            error
        }
    }
}

fn assert_kind(error: &CallError, kind: ErrorKind, mentions: &str) {
    assert_eq!(error.kind(), kind, "{error}");
    assert!(
        error.to_string().contains(mentions),
        "expected {mentions:?} in {error}"
    );
}

/// Asserts that attack `op` is stopped at a 300 ms deadline, with `mentions` in the error, both
/// without a fuel limit (the default: the engine without fuel instrumentation) and with more fuel
/// than the deadline lets a guest burn (the metered engine).
async fn times_out_with_or_without_fuel(op: &str, mentions: &str) {
    for fuel in [None, Some(u64::MAX / 4)] {
        let host = host_with(policy(|p| {
            p.limits.timeout = Duration::from_millis(300);
            p.limits.fuel = fuel;
        }))
        .await;
        assert_kind(
            &attack(&host, op, json!({})).await,
            ErrorKind::Timeout,
            mentions,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_times_out() {
    times_out_with_or_without_fuel("spin", "hostile.spin: timed out after 300ms").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_runs_out_of_fuel() {
    let host = host_with(policy(|p| p.limits.fuel = Some(20_000_000))).await;
    assert_kind(
        &attack(&host, "spin", json!({})).await,
        ErrorKind::FuelExhausted,
        "(20000000 units)",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_of_host_calls_times_out() {
    times_out_with_or_without_fuel("spin-on-host", "timed out after 300ms").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_hits_the_memory_limit() {
    let host = host_with(policy(|p| p.limits.max_memory_bytes = 32 << 20)).await;
    assert_kind(
        &attack(&host, "grow", json!({})).await,
        ErrorKind::MemoryLimit,
        "past its limit of 33554432",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_recursion_overflows_the_stack() {
    let host = host_with(policy(|_| {})).await;
    assert_kind(
        &attack(&host, "recurse", json!({})).await,
        ErrorKind::StackOverflow,
        "stack overflow",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_output_is_refused() {
    let host = host_with(policy(|p| p.limits.max_memory_bytes = 512 << 20)).await;
    assert_kind(
        &attack(&host, "big-output", json!({})).await,
        ErrorKind::MemoryLimit,
        "output of 104857600 bytes is over the limit of 16777216 bytes",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_and_unreachable_are_traps() {
    let host = host_with(policy(|_| {})).await;
    assert_kind(
        &attack(&host, "panic", json!({})).await,
        ErrorKind::Trap,
        "unreachable",
    );
    assert_kind(
        &attack(&host, "unreachable", json!({})).await,
        ErrorKind::Trap,
        "unreachable",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeping_past_the_deadline_times_out() {
    let host = host_with(policy(|p| p.limits.timeout = Duration::from_millis(300))).await;
    assert_kind(
        &attack(&host, "sleep", json!({})).await,
        ErrorKind::Timeout,
        "timed out after 300ms",
    );
}

/// A sandbox directory `data` granted read-only (or read-write), with a secret beside it on the host
/// and a symlink inside it pointing at the secret.
fn sandbox_dir(writable: bool) -> (tempfile::TempDir, Policy) {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("ok.txt"), "fine").unwrap();
    std::fs::write(root.path().join("secret.txt"), "TOP-SECRET").unwrap();
    std::os::unix::fs::symlink(root.path().join("secret.txt"), data.join("link")).unwrap();
    let policy = policy(|p| {
        p.grants.dirs.push(DirGrant {
            host: data,
            guest: "data".into(),
            writable,
        })
    });
    (root, policy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_outside_the_preopen_are_denied() {
    let (root, policy) = sandbox_dir(false);
    let host = host_with(policy).await;
    let ok = host
        .invoke(
            "hostile",
            "read",
            json!({"path": "data/ok.txt"}).to_string(),
        )
        .await
        .unwrap();
    assert_eq!(ok.output, "\"fine\"", "the granted directory is readable");
    let secret = root.path().join("secret.txt").display().to_string();
    for path in [
        "data/../secret.txt",
        secret.as_str(),
        "data/link",
        "/etc/passwd",
    ] {
        let error = attack(&host, "read", json!({ "path": path })).await;
        assert_kind(&error, ErrorKind::Denied, "cannot read");
        assert!(!error.to_string().contains("TOP-SECRET"), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_into_a_read_only_preopen_are_denied() {
    let (root, policy) = sandbox_dir(false);
    let host = host_with(policy).await;
    let error = attack(&host, "write", json!({"path": "data/new.txt"})).await;
    assert_kind(&error, ErrorKind::Denied, "cannot write data/new.txt");
    assert!(!root.path().join("data/new.txt").exists());

    let (root, policy) = sandbox_dir(true);
    let host = host_with(policy).await;
    let written = host
        .invoke(
            "hostile",
            "write",
            json!({"path": "data/new.txt"}).to_string(),
        )
        .await
        .unwrap();
    assert_eq!(written.output, "\"written\"");
    assert_eq!(
        std::fs::read_to_string(root.path().join("data/new.txt")).unwrap(),
        "owned",
        "read-write works"
    );
    let error = attack(&host, "write", json!({"path": "data/../escaped.txt"})).await;
    assert_kind(&error, ErrorKind::Denied, "cannot write");
    assert!(!root.path().join("escaped.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_granted_environment_variables_are_visible() {
    let host = host_with(policy(|p| {
        p.grants.env.push(("GREETING".into(), "hello".into()))
    }))
    .await;
    let granted = host
        .invoke("hostile", "env", json!({"name": "GREETING"}).to_string())
        .await
        .unwrap();
    assert_eq!(granted.output, "\"hello\"");
    assert!(std::env::var("PATH").is_ok(), "the host has PATH");
    assert_kind(
        &attack(&host, "env", json!({"name": "PATH"})).await,
        ErrorKind::Denied,
        "cannot read $PATH",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegating_without_a_grant_is_denied() {
    let host = host_with(policy(|_| {})).await;
    assert_kind(
        &attack(&host, "delegate", json!({"agent": "echo"})).await,
        ErrorKind::Denied,
        "`hostile` may not delegate to `echo`: not granted in its manifest",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_flood_is_cut_off_at_the_limit() {
    let host = host_with(policy(|p| p.limits.max_log_records = 100)).await;
    let response = host
        .invoke(
            "hostile",
            "log-flood",
            json!({"count": 100_000}).to_string(),
        )
        .await
        .unwrap();
    assert_eq!(response.output, "100000");
    assert_eq!(
        response.logs_dropped, 99_900,
        "everything past the limit is dropped"
    );
    let again = host
        .invoke("hostile", "log-flood", json!({"count": 10}).to_string())
        .await
        .unwrap();
    assert_eq!(again.logs_dropped, 0, "the limit is per call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapped_instance_is_never_reused() {
    let host = host_with(policy(|_| {})).await;
    let hostile = host.agent("hostile").unwrap();
    assert_eq!(
        (hostile.live_instances(), hostile.idle_instances()),
        (1, 1),
        "the describe instance is kept warm"
    );
    attack(&host, "panic", json!({})).await;
    assert_eq!(
        (hostile.live_instances(), hostile.idle_instances()),
        (0, 0),
        "the trapped instance was dropped"
    );
    host.invoke("hostile", "env", json!({"name": "X"}).to_string())
        .await
        .unwrap_err();
    assert_eq!(
        (hostile.live_instances(), hostile.idle_instances()),
        (1, 1),
        "a new instance served the next call"
    );
}
