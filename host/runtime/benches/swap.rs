//! `just bench` (swap part): the time from a hot-swap request to the first call served by the new
//! version, while 4 callers call the agent without pause, and the number of calls that failed (the
//! aim: under 50 ms, and none).
//!
//! The agent is the test guest `twin` (built as 1.0.0 and 2.0.0; each answer names its version). The
//! first swap to each version compiles it; later swaps find its compiled code in the host's cache, as
//! a redeploy of a version seen before (or a second server) does. `cargo bench --bench swap` swaps
//! 40 times; under `cargo test` it swaps 4 times as a smoke test. It runs twice: with Cranelift
//! only, then with the baseline tier (Winch compiles a new version first, Cranelift in the background).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tandem::engine::Tier;
use tandem::{Host, HostConfig, Policy};

fn main() {
    let swaps = if std::env::args().any(|arg| arg == "--bench") {
        40
    } else {
        4
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let versions = [
        ("1.0.0", root.join("target/test-agents/twin-v1.wasm")),
        ("2.0.0", root.join("target/test-agents/twin-v2.wasm")),
    ];
    for (_, path) in &versions {
        assert!(
            path.is_file(),
            "{} is missing: run `just agents` first",
            path.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for baseline_tier in [false, true] {
        runtime.block_on(swap_under_load(&versions, swaps, baseline_tier));
    }
}

/// Swaps `twin` `swaps` times under 4 callers, on a host with or without the baseline tier, and
/// prints the figures.
async fn swap_under_load(versions: &[(&str, PathBuf); 2], swaps: usize, baseline_tier: bool) {
    let cache = tempfile::tempdir().unwrap();
    let host = Arc::new(
        Host::new(HostConfig {
            cache_dir: Some(cache.path().to_path_buf()),
            baseline_tier,
            ..HostConfig::default()
        })
        .unwrap(),
    );
    host.load(&versions[0].1, Policy::default()).await.unwrap();
    let bytes: Vec<Vec<u8>> = versions
        .iter()
        .map(|(_, p)| std::fs::read(p).unwrap())
        .collect();

    // Callers record when each answer arrived and which version gave it.
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicU64::new(0));
    let answers: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (host, stop, failed, answers) =
                (host.clone(), stop.clone(), failed.clone(), answers.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match host.invoke("twin", "version", "1".into()).await {
                        Ok(response) => {
                            let output: serde_json::Value =
                                serde_json::from_str(&response.output).unwrap();
                            let version = output["version"].as_str().unwrap().to_string();
                            answers.lock().unwrap().push((Instant::now(), version));
                        }
                        Err(error) => {
                            eprintln!("failed call: {error}");
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();

    let mut first_compiles = Vec::new();
    let mut optimized_after = None;
    let mut cached = Vec::new();
    for swap in 0..swaps {
        let (version, bytes) = (versions[(swap + 1) % 2].0, &bytes[(swap + 1) % 2]);
        tokio::time::sleep(Duration::from_millis(20)).await;
        answers.lock().unwrap().clear();
        let requested = Instant::now();
        let done = host
            .swap_in(
                Some("twin"),
                Path::new("bench"),
                bytes.clone(),
                Policy::default(),
                "bench",
            )
            .await
            .unwrap();
        // The first answer from the new version.
        let served = loop {
            let first_new = answers
                .lock()
                .unwrap()
                .iter()
                .find(|(_, v)| v == version)
                .map(|(at, _)| *at);
            if let Some(at) = first_new {
                break at;
            }
            tokio::time::sleep(Duration::from_micros(50)).await;
        };
        let total = served.duration_since(requested);
        // Swap 0 brings 2.0.0 in for the first time; 1.0.0 was compiled when it was loaded.
        let row = (total, done.prepared_in);
        if swap == 0 {
            first_compiles.push(row);
            if done.agent.tier() == Tier::Baseline {
                // Cranelift's code takes over in the background.
                while host.agent("twin").unwrap().tier() == Tier::Baseline {
                    assert!(
                        requested.elapsed() < Duration::from_secs(30),
                        "no optimised code after 30s"
                    );
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                optimized_after = Some(requested.elapsed());
            }
        } else {
            cached.push(row)
        }
    }
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.await.unwrap();
    }
    let failed = failed.load(Ordering::Relaxed);
    let tier = match baseline_tier {
        true => "baseline tier: Winch's code first",
        false => "Cranelift's code only",
    };
    println!("hot swap of `twin` under 4 callers ({swaps} swaps between 1.0.0 and 2.0.0), {tier}:");
    let report = |label: &str, rows: &mut Vec<(Duration, Duration)>| {
        if rows.is_empty() {
            return;
        }
        rows.sort();
        let (p50, max) = (rows[rows.len() / 2], rows[rows.len() - 1]);
        println!(
            "  {label:<38} request -> first call on the new version: p50 {:>9.2?}  max {:>9.2?}  (of which compile, describe, probe: {:>9.2?})",
            p50.0, max.0, p50.1
        );
    };
    report("first swap to 2.0.0 (compiles it)", &mut first_compiles);
    if let Some(after) = optimized_after {
        println!("  first swap: on Cranelift's code {after:>9.2?} after the request");
    }
    report("later swaps (compiled code cached)", &mut cached);
    println!(
        "  failed calls during the swaps: {failed} (aim: 0); time to first new call aim: under 50ms"
    );
    assert_eq!(failed, 0, "no call may fail because of a swap");
}
