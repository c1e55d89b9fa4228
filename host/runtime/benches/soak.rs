//! `just soak`: many thousands of hostile calls against one host, with the process's resident memory
//! printed before and after. Every call must end in its expected error class; the host's memory must
//! stay flat (the aim: under 5 % growth after 100 000 hostile calls).
//!
//! `cargo bench --bench soak` runs 100 000 calls (`SOAK_CALLS` overrides); under `cargo test` it runs
//! a few hundred as a smoke test.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem::{ErrorKind, Host, HostConfig, Policy};

/// (operation, input, expected class)
const ATTACKS: &[(&str, &str, ErrorKind)] = &[
    ("spin", "{}", ErrorKind::FuelExhausted),
    ("grow", "{}", ErrorKind::MemoryLimit),
    ("recurse", "{}", ErrorKind::StackOverflow),
    ("panic", "{}", ErrorKind::Trap),
    ("unreachable", "{}", ErrorKind::Trap),
    ("env", r#"{"name":"PATH"}"#, ErrorKind::Denied),
    ("read", r#"{"path":"/etc/passwd"}"#, ErrorKind::Denied),
    ("delegate", r#"{"agent":"echo"}"#, ErrorKind::Denied),
];

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let calls: usize = match std::env::var("SOAK_CALLS") {
        Ok(n) => n.parse().expect("SOAK_CALLS is a number"),
        Err(_) if full => 100_000,
        Err(_) => 400,
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let hostile = root.join("target/test-agents/hostile.wasm");
    let echo = root.join("target/agents/echo.wasm");
    assert!(
        hostile.is_file() && echo.is_file(),
        "run `just agents` first"
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let cache = std::env::temp_dir().join("tandem-bench-cache");
        let host = Arc::new(Host::new(HostConfig { cache_dir: Some(cache), ..HostConfig::default() }).unwrap());
        let mut policy = Policy::default();
        policy.limits.fuel = Some(20_000_000);
        policy.limits.max_memory_bytes = 4 << 20;
        policy.limits.timeout = Duration::from_secs(2);
        // Every call fails on purpose: no retries, and a breaker that never opens, so that each one
        // really runs the guest.
        policy.resilience.retry.max_attempts = 1;
        policy.resilience.breaker.consecutive_failures = u32::MAX;
        policy.resilience.breaker.failure_rate = f64::INFINITY;
        host.load(&hostile, policy).await.unwrap();
        host.load(&echo, Policy::default()).await.unwrap();

        // Long enough for the allocator and the instance pool to reach their working set.
        let warmup = if full { (calls / 5).max(20_000) } else { calls / 4 };
        run(&host, warmup).await;
        let before = rss_kib();
        let started = Instant::now();
        run(&host, calls).await;
        let elapsed = started.elapsed();
        let after = rss_kib();
        let growth = (after as f64 - before as f64) / before as f64 * 100.0;
        println!("soak: {calls} hostile calls in {elapsed:.1?} ({:.0} calls/s), each with its expected class", calls as f64 / elapsed.as_secs_f64());
        println!("RSS before: {before} KiB, after: {after} KiB, growth: {growth:+.2}% (aim: under 5%)");
        println!("echo still answers: {}", host.invoke("echo", "echo", "\"ok\"".into()).await.unwrap().output);
    });
}

/// `calls` hostile calls from 8 concurrent callers, cycling through the attacks.
async fn run(host: &Arc<Host>, calls: usize) {
    let callers = 8;
    let handles: Vec<_> = (0..callers)
        .map(|caller| {
            let host = host.clone();
            tokio::spawn(async move {
                for i in (caller..calls).step_by(callers) {
                    let (operation, input, expected) = ATTACKS[i % ATTACKS.len()];
                    let error = host
                        .invoke("hostile", operation, input.to_string())
                        .await
                        .unwrap_err();
                    assert_eq!(error.kind(), expected, "{operation}: {error}");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}
