//! The anomaly detectors, each judging a new point of a series against what came before:
//! - **EWMA with a z-score band**: an exponentially weighted average `m` and variance `v` of the
//!   series (weight `alpha` on the newest point); a point is anomalous when `|x - m|` is more than
//!   `k` times `max(sqrt(v), floor)`. Anomalous points do not move the baseline, unless
//!   `adapt-after` of them come in a row: then the new level becomes the baseline (a level shift,
//!   not a spike).
//! - **Median/MAD**: the median and the median absolute deviation of the last `window` points; a
//!   point is anomalous when its modified z-score `0.6745 |x - median| / MAD` (Iglewicz and
//!   Hoaglin) is above `k`, with the MAD held to at least `floor / 1.4826`.
//!
//! Both need `warmup` points first. `floor` is the smallest spread a series is taken to have (see
//! [`crate::config::Detectors::floor`]). Seasonality is out of scope.

use serde::{Deserialize, Serialize};

use crate::config::{Ewma, Mad};

/// One detector's view of a point.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Verdict {
    /// The z-score (EWMA) or modified z-score (MAD) of the point.
    pub score: f64,
    pub anomalous: bool,
    /// The baseline the point was compared with (average or median).
    pub baseline: f64,
}

/// The running EWMA of one series.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EwmaState {
    pub mean: f64,
    pub var: f64,
    /// Points taken in.
    pub n: usize,
    /// Anomalies in a row.
    pub run: usize,
}

impl EwmaState {
    /// The verdict on `x` (none while warming up).
    pub fn judge(&self, x: f64, params: &Ewma, floor: f64) -> Option<Verdict> {
        if self.n < params.warmup {
            return None;
        }
        let spread = self.var.max(0.0).sqrt().max(floor).max(f64::MIN_POSITIVE);
        let score = (x - self.mean) / spread;
        Some(Verdict {
            score,
            anomalous: score.abs() > params.k,
            baseline: self.mean,
        })
    }

    /// Takes `x` in; an anomalous point only counts towards a level shift.
    pub fn update(&mut self, x: f64, anomalous: bool, params: &Ewma) {
        if anomalous {
            self.run += 1;
            if self.run < params.adapt_after {
                return;
            }
            // A level shift: start again from the new level.
            *self = EwmaState {
                mean: x,
                var: 0.0,
                n: params.warmup,
                run: 0,
            };
            return;
        }
        self.run = 0;
        if self.n == 0 {
            self.mean = x;
            self.var = 0.0;
        } else {
            let diff = x - self.mean;
            let increment = params.alpha * diff;
            self.mean += increment;
            self.var = (1.0 - params.alpha) * (self.var + diff * increment);
        }
        self.n += 1;
    }
}

/// The median of `values` (which it sorts).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The MAD verdict on `x` after `history` (oldest first; the last `window` points are used).
pub fn mad(history: &[f64], x: f64, params: &Mad, floor: impl Fn(f64) -> f64) -> Option<Verdict> {
    let start = history.len().saturating_sub(params.window);
    let mut window: Vec<f64> = history[start..].to_vec();
    if window.len() < params.warmup {
        return None;
    }
    let med = median(&mut window);
    let mut deviations: Vec<f64> = window.iter().map(|v| (v - med).abs()).collect();
    let mad = median(&mut deviations)
        .max(floor(med) / 1.4826)
        .max(f64::MIN_POSITIVE);
    let score = 0.6745 * (x - med) / mad;
    Some(Verdict {
        score,
        anomalous: score.abs() > params.k,
        baseline: med,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A steady series with a little deterministic jitter.
    fn steady(i: usize) -> f64 {
        5.0 + 0.3 * ((i * 7919 % 13) as f64 / 13.0 - 0.5)
    }

    #[test]
    fn ewma_flags_a_spike_and_not_the_steady_state() {
        let params = Ewma::default();
        let mut state = EwmaState::default();
        let mut flagged = 0;
        for i in 0..200 {
            let x = steady(i);
            let verdict = state.judge(x, &params, 0.5_f64.max(0.25 * state.mean));
            let anomalous = verdict.as_ref().is_some_and(|v| v.anomalous);
            flagged += anomalous as usize;
            state.update(x, anomalous, &params);
        }
        assert_eq!(flagged, 0);
        let spike = state.judge(60.0, &params, 1.25).unwrap();
        assert!(spike.anomalous && spike.score > 10.0, "{spike:?}");
        // The spike does not move the baseline.
        let before = state.mean;
        state.update(60.0, true, &params);
        assert_eq!(state.mean, before);
    }

    #[test]
    fn ewma_adapts_to_a_level_shift() {
        let params = Ewma::default();
        let mut state = EwmaState::default();
        for i in 0..50 {
            state.update(steady(i), false, &params);
        }
        for _ in 0..params.adapt_after {
            let anomalous = state.judge(50.0, &params, 1.0).unwrap().anomalous;
            assert!(anomalous);
            state.update(50.0, anomalous, &params);
        }
        assert_eq!(state.mean, 50.0);
        assert!(!state.judge(50.2, &params, 1.0).unwrap().anomalous);
    }

    #[test]
    fn mad_ignores_outliers_in_its_window_and_flags_a_spike() {
        let params = Mad::default();
        let mut history: Vec<f64> = (0..40).map(steady).collect();
        history[35] = 500.0; // an earlier outlier barely moves the median or the MAD
        let floor = |m: f64| 0.5_f64.max(0.25 * m);
        let spike = mad(&history, 60.0, &params, floor).unwrap();
        assert!(spike.anomalous, "{spike:?}");
        assert!((spike.baseline - 5.0).abs() < 0.2);
        assert!(!mad(&history, 5.6, &params, floor).unwrap().anomalous);
        assert!(mad(&history[..5], 60.0, &params, floor).is_none());
    }
}
