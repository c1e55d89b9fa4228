//! `just bench`: what Tandem's host adds to a raw wasmtime call, measured in one run on this machine.
//!
//! - raw wasmtime: the same `echo` component, the same generated bindings and the same `Task`, called
//!   on a plain store (pooling allocator, no fuel, no epochs, no limits), warm and with a fresh
//!   instance per call;
//! - Tandem: `Host::invoke` (registry lookup, operation and JSON checks, fuel, deadline, instance
//!   pool, error classification), warm and with `Isolation::Fresh`;
//! - Tandem's throughput with many concurrent callers on the multi-threaded runtime;
//! - durable state from a guest (the `twin` test agent): one `get`, a call that sets a key and
//!   commits it to disk, and such calls from many concurrent callers (group commit);
//! - weighted routing: the warm call of the `twin` test agent with and without a canary at 20 %;
//! - a cold start: the `tandem run` process on an already-compiled agent.
//!
//! Run it with `just bench` (which builds the guests first). The figures vary with the machine's load;
//! compare ratios from the same run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem::bindings::{AgentWorld, AgentWorldPre, types};
use tandem::{Host, HostConfig, Isolation, Policy};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

const INPUT: &str = r#"{"message":"a 64-byte payload for the echo benchmark, padded.."}"#;
/// Calls per case under `cargo bench` (which passes `--bench`); `cargo test` runs every case a few
/// hundred times as a smoke test.
fn scale() -> usize {
    if std::env::args().any(|arg| arg == "--bench") {
        100
    } else {
        1
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let echo = root.join("target/agents/echo.wasm");
    assert!(
        echo.is_file(),
        "{} is missing: run `just agents` first",
        echo.display()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    println!(
        "Tandem benchmark: echo, {}-byte input, {} logical CPUs",
        INPUT.len(),
        num_cpus()
    );
    println!(
        "{:<44} {:>10} {:>10} {:>12}",
        "case", "p50", "p99", "calls/s"
    );

    if std::env::var_os("BENCH_THROUGHPUT_ONLY").is_some() {
        // Only the throughput figures, three times, to see how much they vary.
        for _ in 0..3 {
            report_graphs(&echo);
            report_throughput(&echo);
        }
        return;
    }
    if std::env::var_os("BENCH_PROFILE_GRAPHS").is_some() {
        // Only the graphs, many times, for a profiler.
        for _ in 0..20 {
            on_a_worker(graphs(echo.clone()));
        }
        return;
    }
    if std::env::var_os("BENCH_PROFILE_WARM").is_some() {
        // Only the Tandem warm loop, for a profiler.
        runtime.block_on(tandem(&echo, Isolation::Pooled, 1_000_000));
        return;
    }
    // A first round for nothing: the case measured first ran slow by up to 50 % (the CPU and the
    // allocator warming up), which skewed every ratio against raw wasmtime.
    runtime.block_on(raw(&echo, false, Metering::None));
    let raw_warm = runtime.block_on(raw(&echo, false, Metering::None));
    report("raw wasmtime, warm instance", &raw_warm);
    let raw_epoch = runtime.block_on(raw(&echo, false, Metering::Epoch));
    report("raw wasmtime + epoch, warm instance", &raw_epoch);
    let raw_metered = runtime.block_on(raw(&echo, false, Metering::FuelAndEpoch));
    report("raw wasmtime + fuel + epoch, warm instance", &raw_metered);
    let tandem_warm = runtime.block_on(tandem(&echo, Isolation::Pooled, 2_000 * scale()));
    report("tandem, warm instance (pooled)", &tandem_warm);
    let tandem_fuel = runtime.block_on(tandem_caching(
        &echo,
        Isolation::Pooled,
        Some(500_000_000),
        2_000 * scale(),
        0,
    ));
    report("tandem, warm, a fuel limit set", &tandem_fuel);
    let cached = runtime.block_on(tandem_caching(
        &echo,
        Isolation::Pooled,
        None,
        2_000 * scale(),
        1 << 20,
    ));
    report("tandem, result cache hit", &cached);
    let raw_fresh = runtime.block_on(raw(&echo, true, Metering::None));
    report("raw wasmtime, fresh instance per call", &raw_fresh);
    let tandem_fresh = runtime.block_on(tandem(&echo, Isolation::Fresh, 200 * scale()));
    report("tandem, fresh instance per call", &tandem_fresh);

    println!();
    println!(
        "host overhead, warm p50:  {:.2}x raw wasmtime (aim: at most 1.5x)",
        ratio(&tandem_warm, &raw_warm)
    );
    println!(
        "host overhead, fresh p50: {:.2}x raw wasmtime",
        ratio(&tandem_fresh, &raw_fresh)
    );
    println!(
        "host overhead, warm p50:  {:.2}x raw wasmtime with the same (epoch) metering",
        ratio(&tandem_warm, &raw_epoch)
    );
    println!(
        "host overhead, warm p50, a fuel limit set: {:.2}x raw wasmtime with the same fuel and epoch metering (aim: at most 1.3x)",
        ratio(&tandem_fuel, &raw_metered)
    );
    println!(
        "epoch metering alone (agents without a fuel limit), warm p50: {:+.1}% on raw wasmtime (aim: at most 5%)",
        (ratio(&raw_epoch, &raw_warm) - 1.0) * 100.0
    );
    println!(
        "fuel + epoch metering alone, warm p50: {:+.1}% on raw wasmtime",
        (ratio(&raw_metered, &raw_warm) - 1.0) * 100.0
    );
    println!(
        "a fuel limit through the host, warm p50: {:+.1}%",
        (ratio(&tandem_fuel, &tandem_warm) - 1.0) * 100.0
    );
    println!(
        "result cache hit, p50: {:.2?} against {:.2?} for the warm guest call ({:.2}x)",
        cached.p50,
        tandem_warm.p50,
        ratio(&cached, &tandem_warm)
    );

    let flaky = root.join("target/test-agents/flaky.wasm");
    let (direct, delegated) = runtime.block_on(delegation(&flaky, 2_000 * scale()));
    report("agent call, no delegation", &direct);
    report("agent call delegating once (round trip)", &delegated);
    println!(
        "delegation round trip, p50: {:.2?} (p99 {:.2?}; aim: p50 under 14us)",
        delegated.p50.saturating_sub(direct.p50),
        delegated.p99.saturating_sub(direct.p99)
    );
    let recovery = runtime.block_on(recovery(&flaky));
    println!(
        "error recovery, fault cleared -> breaker closed, default settings: {recovery:.2?} (aim: under 1s)"
    );

    let twin = |build: &str| root.join(format!("target/test-agents/{build}.wasm"));
    let (alone, weighted) = runtime.block_on(canary_routing(
        &twin("twin-v1"),
        &twin("twin-v2"),
        2_000 * scale(),
    ));
    report("twin, warm, no canary", &alone);
    report("twin, warm, canary at 20 %", &weighted);
    println!(
        "weighted routing, warm p50: {:+.1}% with a canary at 20 % (aim: at most +5 %)",
        (ratio(&weighted, &alone) - 1.0) * 100.0
    );

    report_graphs(&echo);
    report_throughput(&echo);
    report_state(&root.join("target/test-agents/twin-v1.wasm"));

    let tandem_bin = root.join("target/release/tandem");
    if scale() == 1 {
        println!("cold start: skipped outside `cargo bench`");
    } else if tandem_bin.is_file() {
        let cold = cold_start(&tandem_bin, &echo);
        println!(
            "cold start, `tandem run echo` process, compiled code cached: p50 {:.2?}, p99 {:.2?}",
            cold.p50, cold.p99
        );
    } else {
        println!(
            "cold start: skipped ({} not built; `just bench` builds it)",
            tandem_bin.display()
        );
    }
}

struct Stats {
    p50: Duration,
    p99: Duration,
    per_second: f64,
}

fn stats(mut samples: Vec<Duration>, total: Duration) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Stats {
        p50: at(0.50),
        p99: at(0.99),
        per_second: samples.len() as f64 / total.as_secs_f64(),
    }
}

fn report(case: &str, s: &Stats) {
    println!(
        "{case:<44} {:>10.2?} {:>10.2?} {:>12.0}",
        s.p50, s.p99, s.per_second
    );
}

fn ratio(tandem: &Stats, raw: &Stats) -> f64 {
    tandem.p50.as_secs_f64() / raw.p50.as_secs_f64()
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn task(id: u64) -> types::Task {
    types::Task {
        id,
        operation: "echo".into(),
        input: INPUT.into(),
        time_left_ms: 5_000,
        attempt: 1,
        trace_id: "0123456789abcdef0123456789abcdef".into(),
        chain: Vec::new(),
    }
}

struct RawData {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for RawData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn raw_store(engine: &Engine) -> Store<RawData> {
    Store::new(
        engine,
        RawData {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        },
    )
}

/// What a raw wasmtime engine counts in its compiled code.
#[derive(Clone, Copy, PartialEq)]
enum Metering {
    /// Nothing.
    None,
    /// Epochs (what deadlines need), as the host's engine for agents without a fuel limit.
    Epoch,
    /// Fuel and epochs, as the host's engine for agents with a fuel limit.
    FuelAndEpoch,
}

/// The echo component on plain wasmtime: pooling allocator with keep-resident memory, nothing else.
async fn raw(path: &Path, fresh: bool, metering: Metering) -> Stats {
    let (fuel, epoch) = (
        metering == Metering::FuelAndEpoch,
        metering != Metering::None,
    );
    let (engine, pre) = raw_engine(path, fuel, epoch);

    let calls = if fresh {
        200 * scale()
    } else {
        2_000 * scale()
    };
    let mut samples = Vec::with_capacity(calls);
    let arm = |store: &mut Store<RawData>, fuel_per_call: u64| {
        if fuel {
            store.set_fuel(fuel_per_call).unwrap();
        }
        if epoch {
            store.set_epoch_deadline(1_000_000);
        }
    };
    let mut store = raw_store(&engine);
    arm(&mut store, u64::MAX);
    let mut world = pre.instantiate_async(&mut store).await.unwrap();
    let started = Instant::now();
    for i in 0..calls + calls / 10 {
        if i == calls / 10 {
            samples.clear();
        }
        let t = Instant::now();
        if fresh {
            store = raw_store(&engine);
            arm(&mut store, u64::MAX);
            world = pre.instantiate_async(&mut store).await.unwrap();
        }
        arm(&mut store, 500_000_000);
        raw_echo(&world, &mut store, i as u64).await;
        samples.push(t.elapsed());
    }
    let total = started
        .elapsed()
        .mul_f64(calls as f64 / (calls + calls / 10) as f64);
    stats(samples, total)
}

/// One `echo` call on a raw instance, its answer checked.
async fn raw_echo(world: &AgentWorld, store: &mut Store<RawData>, i: u64) {
    let output = world
        .tandem_agent_handler()
        .call_handle(store, &task(i))
        .await
        .unwrap();
    assert!(matches!(output.as_deref(), Ok(INPUT)));
}

/// Raw wasmtime's throughput on two workers: 64 callers, each calling its own warm instance from
/// the pool in a loop (epochs on, as for Tandem's agents without a fuel limit). Tasks per second.
fn raw_throughput(path: &Path) -> f64 {
    let (engine, pre) = raw_engine(path, false, true);
    let (callers, per_caller) = (64, 64 * scale());
    multi_thread().block_on(async {
        let started = Instant::now();
        let handles: Vec<_> = (0..callers)
            .map(|_| {
                let (engine, pre) = (engine.clone(), pre.clone());
                tokio::spawn(async move {
                    let mut store = raw_store(&engine);
                    store.set_epoch_deadline(1_000_000);
                    let world = pre.instantiate_async(&mut store).await.unwrap();
                    for i in 0..per_caller {
                        store.set_epoch_deadline(1_000_000);
                        raw_echo(&world, &mut store, i as u64).await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
        (callers * per_caller) as f64 / started.elapsed().as_secs_f64()
    })
}

/// A plain wasmtime engine for the echo component (pooling allocator with keep-resident memory,
/// fuel and epochs as asked) and the component linked against WASI alone.
fn raw_engine(path: &Path, fuel: bool, epoch: bool) -> (Engine, AgentWorldPre<RawData>) {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(64)
        .total_core_instances(1024)
        .total_memories(128)
        .total_tables(512)
        .max_memory_size(1 << 30)
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(1 << 16)
        .async_stack_keep_resident(1 << 16);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .consume_fuel(fuel)
        .epoch_interruption(epoch);
    let engine = Engine::new(&config).unwrap();
    let component = Component::from_file(&engine, path).unwrap();
    let mut linker: Linker<RawData> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    linker.instance("tandem:agent/types@0.1.0").unwrap();
    let pre = AgentWorldPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
    (engine, pre)
}

/// Loads the `flaky` test agent as `id`, allowed to delegate to `delegate_to`.
async fn load_flaky(
    host: &Host,
    path: &Path,
    id: &str,
    delegate_to: &[&str],
    edit: impl FnOnce(&mut Policy),
) {
    let mut policy = Policy::default();
    policy.grants.env.push(("AGENT_ID".into(), id.into()));
    policy.grants.delegate_to = delegate_to.iter().map(|a| a.to_string()).collect();
    edit(&mut policy);
    host.load(path, policy).await.unwrap();
}

/// `a.echo` against `a.call` -> `b.echo`: the difference is one delegation's round trip.
async fn delegation(flaky: &Path, calls: usize) -> (Stats, Stats) {
    let host = bench_host();
    load_flaky(&host, flaky, "a", &["b"], |_| {}).await;
    load_flaky(&host, flaky, "b", &[], |_| {}).await;
    let measure = async |operation: &str, input: &str| {
        let mut samples = Vec::with_capacity(calls);
        let started = Instant::now();
        for _ in 0..calls + calls / 10 {
            let t = Instant::now();
            let response = host
                .invoke("a", operation, input.to_string())
                .await
                .unwrap();
            samples.push(t.elapsed());
            assert_eq!(response.output, "{}");
        }
        samples.drain(..calls / 10);
        stats(samples, started.elapsed())
    };
    let direct = measure("echo", "{}").await;
    let delegated = measure("call", r#"{"agent":"b","op":"echo"}"#).await;
    (direct, delegated)
}

/// Trips an agent's breaker with the default settings, clears the fault, and times how long until a
/// caller retrying every millisecond gets an answer again.
async fn recovery(flaky: &Path) -> Duration {
    let state = std::env::temp_dir().join(format!("tandem-bench-recovery-{}", std::process::id()));
    std::fs::create_dir_all(&state).unwrap();
    let host = bench_host();
    load_flaky(&host, flaky, "a", &[], |p| {
        p.grants.dirs.push(tandem::DirGrant {
            host: state.clone(),
            guest: "state".into(),
            writable: false,
        });
    })
    .await;
    std::fs::write(state.join("down"), "").unwrap();
    // Call until the breaker refuses: it is open.
    while !matches!(
        host.invoke("a", "flag", "{}".into())
            .await
            .map_err(|e| e.kind()),
        Err(tandem::ErrorKind::CircuitOpen)
    ) {}
    std::fs::remove_file(state.join("down")).unwrap();
    let cleared = Instant::now();
    while host.invoke("a", "flag", "{}".into()).await.is_err() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = cleared.elapsed();
    let _ = std::fs::remove_dir_all(&state);
    elapsed
}

/// Wide (independent nodes), layered (each node depends on the whole previous layer) and chain
/// graphs of `echo` calls, run on the scheduler.
async fn graphs(echo: PathBuf) -> Vec<(&'static str, usize, Duration)> {
    use tandem::scheduler::{Node, Plan};
    let host = bench_host();
    host.load(&echo, Policy::default()).await.unwrap();
    let node = |id: String, deps: Vec<String>| Node {
        id,
        agent: "echo".into(),
        op: "echo".into(),
        input: serde_json::json!({"message": "hello"}),
        depends_on: deps,
        priority: 0,
        max_attempts: None,
        timeout: None,
    };
    let (wide, layers, width, chain) = if scale() == 1 {
        (200, 4, 50, 50)
    } else {
        (10_000, 20, 500, 1_000)
    };
    let wide_plan: Vec<Node> = (0..wide).map(|i| node(format!("w{i}"), vec![])).collect();
    let mut layered_plan = Vec::with_capacity(layers * width);
    for layer in 0..layers {
        let previous: Vec<String> = if layer == 0 {
            vec![]
        } else {
            (0..width).map(|i| format!("l{}-{i}", layer - 1)).collect()
        };
        for i in 0..width {
            layered_plan.push(node(format!("l{layer}-{i}"), previous.clone()));
        }
    }
    let chain_plan: Vec<Node> = (0..chain)
        .map(|i| {
            node(
                format!("c{i}"),
                if i == 0 {
                    vec![]
                } else {
                    vec![format!("c{}", i - 1)]
                },
            )
        })
        .collect();
    // Warm the instance pool and the runtime's workers first, so the first graph measured does not
    // pay for them.
    let warmup: Vec<Node> = (0..wide.min(1_000))
        .map(|i| node(format!("warm{i}"), vec![]))
        .collect();
    host.run_plan(
        Plan {
            nodes: warmup,
            ..Plan::default()
        },
        std::future::pending(),
        |_| {},
    )
    .await
    .unwrap();
    let mut results = Vec::new();
    for (name, nodes) in [
        // The layered plan last: freeing its 5 million dependency ids in the background would
        // slow the graph measured after it.
        ("wide", wide_plan),
        ("chain", chain_plan),
        ("layered", layered_plan),
    ] {
        let tasks = nodes.len();
        let plan = Plan {
            nodes,
            ..Plan::default()
        };
        let validating = Instant::now();
        let graph = host.check_plan(plan).unwrap();
        let validated = validating.elapsed();
        let started = Instant::now();
        let report = host.run_graph(graph, std::future::pending(), |_| {}).await;
        let elapsed = started.elapsed();
        println!("scheduler, {name}: validating {tasks} nodes took {validated:.2?}");
        assert_eq!(
            report.count(|o| matches!(o, tandem::scheduler::Outcome::Succeeded { .. })),
            tasks
        );
        results.push((name, tasks, elapsed));
    }
    results
}

fn bench_host() -> Host {
    bench_host_caching(0)
}

/// A host keeping `result_cache_bytes` of deterministic results.
fn bench_host_caching(result_cache_bytes: usize) -> Host {
    let cache = std::env::temp_dir().join("tandem-bench-cache");
    Host::new(HostConfig {
        cache_dir: Some(cache),
        result_cache_bytes,
        ..HostConfig::default()
    })
    .unwrap()
}

async fn tandem(path: &Path, isolation: Isolation, calls: usize) -> Stats {
    tandem_caching(path, isolation, None, calls, 0).await
}

/// Like [`tandem`] with a result cache: `echo` is deterministic and the input never changes, so
/// every call after the first is a hit.
async fn tandem_caching(
    path: &Path,
    isolation: Isolation,
    fuel: Option<u64>,
    calls: usize,
    result_cache_bytes: usize,
) -> Stats {
    let host = bench_host_caching(result_cache_bytes);
    let mut policy = Policy::default();
    policy.limits.isolation = isolation;
    policy.limits.fuel = fuel;
    host.load(path, policy).await.unwrap();
    warm_calls(&host, "echo", "echo", INPUT, calls).await
}

/// `calls` calls of `agent`'s `operation` with `input`, one after the other, after a tenth as many
/// to warm up; every output is checked to be the input when the agent is `echo`.
async fn warm_calls(host: &Host, agent: &str, operation: &str, input: &str, calls: usize) -> Stats {
    let mut samples = Vec::with_capacity(calls);
    let warmup = calls / 10;
    let started = Instant::now();
    for i in 0..calls + warmup {
        if i == warmup {
            samples.clear();
        }
        let t = Instant::now();
        let response = host
            .invoke(agent, operation, input.to_string())
            .await
            .unwrap();
        samples.push(t.elapsed());
        if agent == "echo" {
            assert_eq!(response.output, input);
        }
    }
    let total = started
        .elapsed()
        .mul_f64(calls as f64 / (calls + warmup) as f64);
    stats(samples, total)
}

/// Warm calls of `twin` (version 1.0.0) alone, then with `canary` (2.0.0) at 20 %: each call a
/// new trace, so a fifth of them go to the canary, both versions warm.
async fn canary_routing(twin: &Path, canary: &Path, calls: usize) -> (Stats, Stats) {
    let host = bench_host();
    host.load(twin, Policy::default()).await.unwrap();
    let alone = warm_calls(&host, "twin", "version", "1", calls).await;
    let bytes = std::fs::read(canary).unwrap();
    host.start_canary(
        "twin",
        canary,
        bytes,
        Policy::default(),
        20,
        tandem::canary::GuardRails::default(),
        "bench",
    )
    .await
    .unwrap();
    let weighted = warm_calls(&host, "twin", "version", "1", calls).await;
    (alone, weighted)
}

fn report_graphs(echo: &Path) {
    let raw = raw_throughput(echo);
    println!("raw wasmtime, warm, 2 workers, 64 callers: {raw:.0} tasks/s (an instance each)");
    let graphs = on_a_worker(graphs(echo.to_path_buf()));
    for (name, tasks, elapsed) in &graphs {
        println!(
            "scheduler, {name}: {tasks} echo tasks in {elapsed:.2?}: {:.0} tasks/s ({:.2?} per task)",
            *tasks as f64 / elapsed.as_secs_f64(),
            *elapsed / *tasks as u32
        );
    }
    let rate =
        |(_, tasks, elapsed): &(&str, usize, Duration)| *tasks as f64 / elapsed.as_secs_f64();
    println!(
        "scheduler, layered against wide: {:.2}x the throughput (aim: within 10%)",
        rate(&graphs[2]) / rate(&graphs[0])
    );
    println!(
        "scheduler, wide against raw wasmtime's throughput: {:.2}x (aim: at least 0.5x)",
        rate(&graphs[0]) / raw
    );
}

fn report_throughput(echo: &Path) {
    let (tasks, elapsed) = throughput(echo);
    println!(
        "throughput, warm, 2 workers, 64 callers: {:.0} tasks/s ({tasks} tasks in {elapsed:.2?})",
        tasks as f64 / elapsed.as_secs_f64()
    );
}

/// Runs `future` as a task on a worker of [`multi_thread`], as the server runs a request.
fn on_a_worker<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> T {
    multi_thread().block_on(async { tokio::spawn(future).await.unwrap() })
}

/// The runtime of the throughput figures: two workers, one per core.
fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn throughput(path: &Path) -> (usize, Duration) {
    multi_thread().block_on(async {
        let host = Arc::new(bench_host());
        host.load(path, Policy::default()).await.unwrap();
        let callers = 64;
        let per_caller = 64 * scale();
        let started = Instant::now();
        let handles: Vec<_> = (0..callers)
            .map(|_| {
                let host = host.clone();
                tokio::spawn(async move {
                    for _ in 0..per_caller {
                        let response = host
                            .invoke("echo", "echo", INPUT.to_string())
                            .await
                            .unwrap();
                        assert_eq!(response.output.len(), INPUT.len());
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
        (callers * per_caller, started.elapsed())
    })
}

/// Durable state from a guest: `twin`'s `state-read-many` with 1 000 reads against none gives one
/// `get`; `state-set` is a call whose one write is committed to disk (fsync) before it returns.
fn report_state(twin: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let (idle, reads, set, concurrent) = multi_thread().block_on(async {
        let host = Arc::new(
            Host::new(HostConfig {
                cache_dir: Some(std::env::temp_dir().join("tandem-bench-cache")),
                state_file: Some(dir.path().join("state.redb")),
                ..HostConfig::default()
            })
            .unwrap(),
        );
        host.load(twin, Policy::default()).await.unwrap();
        let value = r#"{"key":"k","value":"a 32-byte value for the bench.."}"#;
        host.invoke("twin", "state-set", value.into())
            .await
            .unwrap();
        let time = async |operation: &str, input: &str, calls: usize| {
            let mut samples = Vec::with_capacity(calls);
            let started = Instant::now();
            for _ in 0..calls + calls / 10 {
                let t = Instant::now();
                host.invoke("twin", operation, input.into()).await.unwrap();
                samples.push(t.elapsed());
            }
            samples.drain(..calls / 10);
            stats(samples, started.elapsed())
        };
        let idle = time(
            "state-read-many",
            r#"{"key":"k","count":0}"#,
            2_000 * scale(),
        )
        .await;
        let reads = time(
            "state-read-many",
            r#"{"key":"k","count":1000}"#,
            20 * scale(),
        )
        .await;
        let set = time("state-set", value, 20 * scale()).await;
        let callers = 32;
        let per_caller = 4 * scale();
        let started = Instant::now();
        let handles: Vec<_> = (0..callers)
            .map(|caller| {
                let host = host.clone();
                tokio::spawn(async move {
                    let input = format!(
                        r#"{{"key":"c{caller}","value":"a 32-byte value for the bench.."}}"#
                    );
                    let mut samples = Vec::with_capacity(per_caller);
                    for _ in 0..per_caller {
                        let t = Instant::now();
                        host.invoke("twin", "state-set", input.clone())
                            .await
                            .unwrap();
                        samples.push(t.elapsed());
                    }
                    samples
                })
            })
            .collect();
        let mut samples = Vec::new();
        for handle in handles {
            samples.extend(handle.await.unwrap());
        }
        let concurrent = stats(samples, started.elapsed());
        (idle, reads, set, concurrent)
    });
    report("state: twin call touching no state", &idle);
    report("state: twin call with 1000 gets", &reads);
    println!(
        "state get from a guest, p50: {:.2?} per get",
        reads.p50.saturating_sub(idle.p50) / 1000
    );
    report("state: call setting 1 key, durable commit", &set);
    report("state: the same, 32 concurrent callers", &concurrent);
}

fn cold_start(tandem: &PathBuf, echo: &Path) -> Stats {
    let cache = std::env::temp_dir().join("tandem-bench-cache");
    let run = || {
        let t = Instant::now();
        let status = std::process::Command::new(tandem)
            .args([
                "run",
                echo.to_str().unwrap(),
                "--op",
                "echo",
                "--input",
                INPUT,
                "--raw",
            ])
            .env("TANDEM_CACHE_DIR", &cache)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        t.elapsed()
    };
    run(); // fills the cache
    let started = Instant::now();
    let samples: Vec<Duration> = (0..30).map(|_| run()).collect();
    stats(samples, started.elapsed())
}
