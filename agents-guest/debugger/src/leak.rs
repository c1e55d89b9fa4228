//! Telling a memory leak from a plateau: from (time, bytes) samples, the growth per hour by least
//! squares and by Theil-Sen (the median of pairwise slopes, which one spike cannot move), and the
//! Mann-Kendall test of whether memory keeps rising. The series is judged on its whole and on its
//! second half: memory still rising in the second half (a significant trend, Theil-Sen's 95 %
//! interval above zero) is a `leak`; memory that rose and then grew at less than half its overall
//! rate (as after a warm-up) is a `plateau`; one whose second half keeps the rate without being
//! significant yet is a `possible-leak`.

use guest_support::fit::{self, FitError};
use serde::{Deserialize, Serialize};
use tandem_sdk::AgentError;

/// One sample: seconds (any origin) or an RFC 3339 time, and bytes.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Sample {
    Pair(Time, f64),
    Object { time: Time, bytes: f64 },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Time {
    Seconds(f64),
    Text(String),
}

/// The input of `leak-check`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LeakInput {
    pub samples: Vec<Sample>,
    /// The p-value under which a trend counts (default 0.01).
    #[serde(default)]
    pub significance: Option<f64>,
    /// Growth per hour, as a share of the mean, under which memory counts as flat (default 0.01).
    #[serde(default)]
    pub flat_share_per_hour: Option<f64>,
}

/// The verdict and the figures behind it.
#[derive(Debug, Serialize)]
pub struct LeakReport {
    /// `leak`, `possible-leak` (rising at the same rate in the second half, but not significantly
    /// yet), `plateau` (grew, then levelled off), `stable`, or `shrinking`.
    pub verdict: &'static str,
    /// Why, in a sentence.
    pub reason: String,
    pub samples: usize,
    pub duration_hours: f64,
    /// Growth per hour over the whole series, by Theil-Sen (with its 95 % interval) and least squares.
    pub growth_bytes_per_hour: f64,
    pub growth_interval_bytes_per_hour: [f64; 2],
    pub least_squares_bytes_per_hour: f64,
    pub r_squared: f64,
    /// Growth per hour over the second half, by Theil-Sen.
    pub recent_growth_bytes_per_hour: f64,
    /// 1 minus the Mann-Kendall p-value of a trend: over the whole series, and over its second half.
    pub confidence: f64,
    pub recent_confidence: f64,
    /// The median of the last tenth of the samples less that of the first tenth.
    pub rise_bytes: f64,
    pub first_bytes: f64,
    pub last_bytes: f64,
    pub mean_bytes: f64,
}

/// The most samples `leak-check` takes.
pub const MAX_SAMPLES: usize = 100_000;
/// The fewest: fewer cannot tell a trend from noise.
pub const MIN_SAMPLES: usize = 6;

fn seconds(time: &Time, index: usize) -> Result<f64, AgentError> {
    match time {
        Time::Seconds(s) if s.is_finite() => Ok(*s),
        Time::Seconds(_) => Err(AgentError::invalid(format!("sample {index}: the time is not a finite number"))),
        Time::Text(text) => guest_support::time::rfc3339_seconds(text).ok_or_else(|| {
            AgentError::invalid(format!(
                "sample {index}: `{text}` is not a time in seconds or RFC 3339 (2026-12-01T10:00:00Z)"
            ))
        }),
    }
}

fn fit_error(error: FitError) -> AgentError {
    AgentError::invalid(format!("the samples cannot be fitted: {error}"))
}

/// The `leak-check` verdict on `input`.
pub fn check(input: &LeakInput) -> Result<LeakReport, AgentError> {
    if input.samples.len() < MIN_SAMPLES {
        return Err(AgentError::invalid(format!(
            "`samples` holds {} samples; leak-check needs at least {MIN_SAMPLES} (time, bytes) samples to tell a trend from noise",
            input.samples.len()
        )));
    }
    if input.samples.len() > MAX_SAMPLES {
        return Err(AgentError::invalid(format!(
            "`samples` holds {} samples; at most {MAX_SAMPLES}: average them first",
            input.samples.len()
        )));
    }
    let mut points = Vec::with_capacity(input.samples.len());
    for (i, sample) in input.samples.iter().enumerate() {
        let (time, bytes) = match sample {
            Sample::Pair(t, b) | Sample::Object { time: t, bytes: b } => (t, *b),
        };
        if !bytes.is_finite() || bytes < 0.0 {
            return Err(AgentError::invalid(format!(
                "sample {i}: bytes must be a number >= 0, not {bytes}"
            )));
        }
        points.push((seconds(time, i)?, bytes));
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let hours: Vec<f64> = points
        .iter()
        .map(|p| (p.0 - points[0].0) / 3600.0)
        .collect();
    let bytes: Vec<f64> = points.iter().map(|p| p.1).collect();
    let significance = input.significance.unwrap_or(0.01);
    let flat_share = input.flat_share_per_hour.unwrap_or(0.01);

    let robust = fit::theil_sen(&hours, &bytes).map_err(fit_error)?;
    let ols = fit::least_squares(&hours, &bytes).map_err(fit_error)?;
    let (_, p) = fit::mann_kendall(&hours, &bytes).map_err(fit_error)?;
    let half = hours.len() / 2;
    let recent = fit::theil_sen(&hours[half..], &bytes[half..]).map_err(fit_error)?;
    let (_, recent_p) = fit::mann_kendall(&hours[half..], &bytes[half..]).map_err(fit_error)?;
    let mean = bytes.iter().sum::<f64>() / bytes.len() as f64;
    let flat = flat_share * mean.max(1.0);
    let duration = hours.last().copied().unwrap_or(0.0);

    // The rise from the first tenth of the series to the last, medians both: a warm-up shows here
    // even when the flat part that follows dominates the slope.
    let tenth = (bytes.len() / 10).max(1);
    let median_of = |values: &[f64]| {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        fit::median_sorted(&v)
    };
    let rise = median_of(&bytes[bytes.len() - tenth..]) - median_of(&bytes[..tenth]);
    let rising = p < significance && rise > flat;
    let still_rising = recent_p < significance && recent.slope > flat && recent.slope_low > 0.0;
    let (verdict, reason) = if still_rising {
        (
            "leak",
            format!(
                "memory keeps rising: {:.0} bytes/hour over the second half (95 % interval from {:.0}), a trend at p = {recent_p:.2e}",
                recent.slope, recent.slope_low
            ),
        )
    } else if rising && recent.slope > flat.max(robust.slope / 2.0) {
        (
            "possible-leak",
            format!(
                "memory rose by {rise:.0} bytes and the second half keeps rising at {:.0} bytes/hour (the whole series: {:.0}), but with this much noise the trend there is not significant (p = {recent_p:.2}): take more samples",
                recent.slope, robust.slope
            ),
        )
    } else if rising {
        (
            "plateau",
            format!(
                "memory rose by {rise:.0} bytes but levelled off: the second half's trend ({:.0} bytes/hour, p = {recent_p:.2}) is flat, as after a warm-up",
                recent.slope
            ),
        )
    } else if p < significance && robust.slope < -flat {
        (
            "shrinking",
            format!(
                "memory falls by {:.0} bytes/hour (p = {p:.2e})",
                -robust.slope
            ),
        )
    } else {
        (
            "stable",
            format!(
                "no trend: {:.0} bytes/hour, p = {p:.2} (a trend needs p < {significance})",
                robust.slope
            ),
        )
    };
    Ok(LeakReport {
        verdict,
        reason,
        samples: bytes.len(),
        duration_hours: duration,
        growth_bytes_per_hour: robust.slope,
        growth_interval_bytes_per_hour: [robust.slope_low, robust.slope_high],
        least_squares_bytes_per_hour: ols.slope,
        r_squared: ols.r_squared,
        recent_growth_bytes_per_hour: recent.slope,
        confidence: 1.0 - p,
        recent_confidence: 1.0 - recent_p,
        rise_bytes: rise,
        first_bytes: bytes[0],
        last_bytes: *bytes.last().unwrap_or(&0.0),
        mean_bytes: mean,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(f: impl Fn(f64) -> f64) -> LeakInput {
        // A sample a minute for six hours, with a deterministic jitter of +-2 %.
        let samples = (0..360)
            .map(|i| {
                let t = f64::from(i) * 60.0;
                let jitter = 1.0 + 0.02 * ((f64::from(i) * 12.9898).sin());
                Sample::Pair(Time::Seconds(t), f(t / 3600.0) * jitter)
            })
            .collect();
        LeakInput {
            samples,
            significance: None,
            flat_share_per_hour: None,
        }
    }

    #[test]
    fn a_steady_climb_is_a_leak() {
        // 100 MB plus 5 MB an hour, and a spike of 10x in the middle that Theil-Sen ignores.
        let mut input = series(|h| 100e6 + 5e6 * h);
        input.samples[180] = Sample::Pair(Time::Seconds(180.0 * 60.0), 1e9);
        let report = check(&input).unwrap();
        assert_eq!(report.verdict, "leak", "{report:?}");
        assert!(
            (report.growth_bytes_per_hour - 5e6).abs() < 0.5e6,
            "{report:?}"
        );
        assert!(report.confidence > 0.99);
    }

    #[test]
    fn a_warm_up_then_flat_is_a_plateau() {
        // Rises 60 MB over the first hour, then stays at 160 MB.
        let report = check(&series(|h| 100e6 + 60e6 * h.min(1.0))).unwrap();
        assert_eq!(report.verdict, "plateau", "{report:?}");
        assert!(
            report.recent_growth_bytes_per_hour.abs() < 1e6,
            "{report:?}"
        );
    }

    #[test]
    fn flat_noise_is_stable_and_too_few_samples_are_refused() {
        assert_eq!(check(&series(|_| 100e6)).unwrap().verdict, "stable");
        let noisy = LeakInput {
            samples: (0..40)
                .map(|i| {
                    let i = f64::from(i);
                    Sample::Pair(
                        Time::Seconds(i * 90.0),
                        1000.0 + i * 2.0 + 60.0 * (i * 7.31).sin(),
                    )
                })
                .collect(),
            significance: None,
            flat_share_per_hour: None,
        };
        assert_eq!(check(&noisy).unwrap().verdict, "possible-leak");
        let few = LeakInput {
            samples: vec![],
            significance: None,
            flat_share_per_hour: None,
        };
        assert!(
            matches!(check(&few), Err(AgentError::InvalidInput(m)) if m.contains("at least 6"))
        );
    }
}
