//! The epoch ticker wakes rarely while no guest code runs and every millisecond while some does
//! (its own test binary: the count of running guest code is process-wide).

use std::time::Duration;

use tandem_engine::engine::{self, EpochTicker};

/// Ticks made during `span`.
fn ticks_during(span: Duration) -> u64 {
    let before = engine::ticks();
    std::thread::sleep(span);
    engine::ticks() - before
}

#[test]
fn an_idle_ticker_sleeps_and_running_guest_code_wakes_it_at_once() {
    let limits = engine::EngineLimits::default();
    let metered = engine::build(&limits, true, engine::Tier::Optimized).unwrap();
    let unmetered = engine::build(&limits, false, engine::Tier::Optimized).unwrap();
    let _ticker = EpochTicker::start(&[&metered, &unmetered]).unwrap();
    std::thread::sleep(Duration::from_millis(50));

    // Idle: about one tick per IDLE_TICK (100 ms), not one per millisecond.
    let idle = ticks_during(Duration::from_millis(500));
    assert!(idle <= 8, "{idle} ticks in 500 ms while idle");

    // Guest code starts: the ticker is woken at once (an idle one would tick once or twice in the
    // next 100 ms) and ticks every millisecond.
    let running = engine::running();
    let first = ticks_during(Duration::from_millis(100));
    assert!(
        first >= 5,
        "{first} ticks in the first 100 ms of running guest code"
    );
    let busy = ticks_during(Duration::from_millis(300));
    assert!(busy >= 50, "{busy} ticks in 300 ms while guest code runs");

    // And idle again once it ends.
    drop(running);
    std::thread::sleep(Duration::from_millis(150));
    let idle = ticks_during(Duration::from_millis(500));
    assert!(
        idle <= 8,
        "{idle} ticks in 500 ms after the guest code ended"
    );
}
