//! The wasmtime [`Engine`]s a host runs guests on, and the epoch ticker that drives deadlines.
//!
//! A host has two engines, alike but for fuel: agents whose manifest sets a fuel limit run on the
//! metered one, whose compiled code counts fuel at every block; the others run on one that compiles
//! no such counting (fuel costs a warm call about a tenth of its time) and are bound by their
//! deadlines, which epochs enforce on both.
//!
//! The ticker advances the epoch every [`EPOCH_TICK`] while guest code may run ([`running`] marks
//! it: a load's `describe()` and `health()`, a call from its lease to its end) and only every
//! [`IDLE_TICK`] otherwise, so an idle host wakes ten times a second instead of a thousand. Guest
//! code that ran unmarked would still be stopped at its deadline, but checked only every few idle
//! ticks (a second late at most).
//!
//! Each of the two may have a baseline twin compiled by Winch instead of Cranelift ([`Tier`]), for
//! the first calls of a hot-swapped version whose optimised code is not ready yet.
//!
//! An engine enables the component model, async calls, epoch interruption, the pooling instance
//! allocator and, when metered, fuel. Its pool is sized by [`EngineLimits`]; no agent's manifest can
//! ask for more than these.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch ticker advances the engine's epoch: the granularity of every deadline.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

pub use tandem_manifest::EngineLimits;

/// Which compiler makes an engine's machine code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Cranelift: optimised code. Every agent version runs on it in the end.
    Optimized,
    /// Winch, wasmtime's baseline compiler: compiles several times faster than Cranelift into
    /// slower code. A hot-swapped version whose code is not cached yet serves its first calls from
    /// it while Cranelift compiles it in the background.
    Baseline,
}

/// Builds an engine, counting fuel when `metered`, compiling with `tier`'s compiler. Errors only
/// when the configuration is rejected by wasmtime (for instance a pool too large for the address
/// space).
pub fn build(limits: &EngineLimits, metered: bool, tier: Tier) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    let instances = limits.max_instances;
    // A componentized Rust guest holds its module, the WASI adapter and a few shims: several core
    // instances, tables and memories per component instance.
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(16))
        .total_memories(instances.saturating_mul(2))
        .total_tables(instances.saturating_mul(8))
        .total_stacks(instances)
        .max_core_instances_per_component(32)
        .max_memories_per_component(4)
        .max_tables_per_component(16)
        .max_memory_size(limits.max_memory_bytes)
        // Keep a little of each slot resident so a fresh instance per call is cheap.
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(1 << 16)
        .async_stack_keep_resident(1 << 16);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(metered)
        .epoch_interruption(true)
        .strategy(match tier {
            Tier::Optimized => wasmtime::Strategy::Cranelift,
            Tier::Baseline => wasmtime::Strategy::Winch,
        })
        .max_wasm_stack(limits.max_wasm_stack)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// How often the ticker advances the epoch while no guest code runs.
pub const IDLE_TICK: Duration = Duration::from_millis(100);

/// Guest code running now, in every host of the process.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Ticks made by every ticker of the process so far.
static TICKS: AtomicU64 = AtomicU64::new(0);

/// How many times the tickers of this process have advanced an epoch (for tests and diagnostics).
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}
/// Where an idle ticker waits to be woken by the first [`running`].
static WAKE: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());
/// Tickers (one per host in the process) waiting, or about to wait, on [`WAKE`]: only while there
/// is one does [`running`] pay for the lock and the wake-up (a system call), not on every call of a
/// busy host.
static IDLE: AtomicUsize = AtomicUsize::new(0);

/// Marks guest code as running until dropped: the epoch ticks every [`EPOCH_TICK`] meanwhile.
#[must_use = "the mark lasts as long as the value"]
pub struct Running(());

/// Marks guest code as running (see [`Running`]), waking an idle ticker.
pub fn running() -> Running {
    // With `next_tick`'s count in IDLE then load of RUNNING (all SeqCst), either the ticker sees
    // this call running and does not wait, or this sees the ticker idle and wakes it; the lock is
    // held by the ticker from its check until it waits, so the wake-up cannot come before the wait.
    if RUNNING.fetch_add(1, Ordering::SeqCst) == 0 && IDLE.load(Ordering::SeqCst) > 0 {
        let _lock = WAKE.0.lock().unwrap_or_else(|e| e.into_inner());
        WAKE.1.notify_all();
    }
    Running(())
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits for the next tick: [`EPOCH_TICK`] while guest code runs; otherwise until some starts, or
/// [`IDLE_TICK`] at most.
fn next_tick() {
    if RUNNING.load(Ordering::SeqCst) > 0 {
        std::thread::sleep(EPOCH_TICK);
        return;
    }
    let lock = WAKE.0.lock().unwrap_or_else(|e| e.into_inner());
    // Idle is announced before RUNNING is checked again: a `running()` after the check sees it,
    // waits for the lock (released by the wait), then wakes us.
    IDLE.fetch_add(1, Ordering::SeqCst);
    if RUNNING.load(Ordering::SeqCst) == 0 {
        let _ = WAKE.1.wait_timeout(lock, IDLE_TICK);
    }
    IDLE.fetch_sub(1, Ordering::SeqCst);
}

/// Advances the epoch of a host's engines on a background thread until dropped: every
/// [`EPOCH_TICK`] while guest code runs, every [`IDLE_TICK`] otherwise.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    /// Starts the ticker thread, which advances the epoch of `engines` until dropped (or until they
    /// are all gone).
    pub fn start(engines: &[&Engine]) -> std::io::Result<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        let engines: Vec<_> = engines.iter().map(|engine| engine.weak()).collect();
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("tandem-epoch".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    next_tick();
                    let mut alive = false;
                    for engine in engines.iter().filter_map(|engine| engine.upgrade()) {
                        engine.increment_epoch();
                        alive = true;
                    }
                    if !alive {
                        break;
                    }
                    TICKS.fetch_add(1, Ordering::Relaxed);
                }
            })?;
        Ok(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
