//! Durations and sizes as manifests write them (`250ms`, `2s`, `5m`; `64MiB`), rounded up to values
//! a person would write.

/// A duration of at least `ms`, rounded up to 1, 2 or 5 times a power of ten of milliseconds and
/// written as a manifest takes it (`200ms`, `5s`, `2m`).
pub fn nice_duration(ms: f64) -> (u64, String) {
    let rounded = nice_up(ms.max(1.0));
    let text = if rounded >= 60_000 && rounded.is_multiple_of(60_000) {
        format!("{}m", rounded / 60_000)
    } else if rounded >= 1000 && rounded.is_multiple_of(1000) {
        format!("{}s", rounded / 1000)
    } else {
        format!("{rounded}ms")
    };
    (rounded, text)
}

/// The smallest of 1, 2, 5 x 10^k that is at least `value`.
pub fn nice_up(value: f64) -> u64 {
    let mut scale = 1u64;
    loop {
        for step in [1, 2, 5] {
            let candidate = step * scale;
            if candidate as f64 >= value {
                return candidate;
            }
        }
        scale = scale.saturating_mul(10);
        if scale == u64::MAX {
            return u64::MAX;
        }
    }
}

/// Bytes rounded up to whole MiB, written as a manifest takes it.
pub fn mib_up(bytes: f64) -> (u64, String) {
    let mib = (bytes / (1 << 20) as f64).ceil().max(1.0) as u64;
    (mib << 20, format!("{mib}MiB"))
}

/// A byte count as a person reads it.
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Milliseconds as a person reads them.
pub fn human_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{:.0} us", ms * 1000.0)
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round() {
        assert_eq!(nice_duration(0.7), (1, "1ms".into()));
        assert_eq!(nice_duration(130.0), (200, "200ms".into()));
        assert_eq!(nice_duration(4100.0), (5000, "5s".into()));
        assert_eq!(nice_duration(100_001.0), (200_000, "200s".into()));
        assert_eq!(mib_up(1_114_112.0), (2 << 20, "2MiB".into()));
    }
}
