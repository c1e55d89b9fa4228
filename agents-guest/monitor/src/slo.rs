//! SLOs: the share of an agent's calls that were bad over a window, as a burn rate (that share over
//! the error budget `1 - objective`: 1 spends the budget exactly over the SLO period), the
//! multiwindow alerts of the Google SRE workbook (a long and a short window must both burn faster
//! than the pair's rate, so that an alert fires fast and resolves fast), and the budget left.
//!
//! Availability counts the calls that failed through the agent's fault. Latency counts, per sample
//! period, every call of a period whose mean latency was over the threshold: the host reports
//! percentiles since it started, not per call, so the period is the unit (documented in the
//! README).

use std::collections::VecDeque;

use guest_support::time::duration_ms;
use serde::Serialize;
use tandem_sdk::AgentError;

use crate::config::{BurnWindow, Slo};
use crate::record::SloPoint;

/// One SLI (`availability` or `latency`) of one SLO.
#[derive(Debug, Serialize)]
pub struct SliStatus {
    pub sli: &'static str,
    pub objective: f64,
    pub windows: Vec<WindowStatus>,
    /// The budget left over the SLO period (or what the ring covers of it): 1 is untouched, 0
    /// spent, below 0 overspent.
    pub budget_remaining: f64,
    pub budget_covered_ms: f64,
    pub calls: u64,
    pub bad: u64,
}

/// One window pair's burn rates.
#[derive(Debug, Serialize)]
pub struct WindowStatus {
    pub long_ms: f64,
    pub short_ms: f64,
    pub long_burn: f64,
    pub short_burn: f64,
    pub burn_rate: f64,
    pub severity: String,
    /// Both windows burn faster than `burn_rate`.
    pub burning: bool,
}

/// Calls and bad calls of points after `since`.
fn totals(points: &VecDeque<SloPoint>, since: f64, bad: &dyn Fn(&SloPoint) -> u64) -> (u64, u64) {
    points
        .iter()
        .filter(|p| p.at > since)
        .fold((0, 0), |(c, b), p| (c + p.calls, b + bad(p)))
}

/// The burn rate of `bad` over the window ending `now`: the bad share over the budget.
fn burn(
    points: &VecDeque<SloPoint>,
    now: f64,
    window: f64,
    objective: f64,
    bad: &dyn Fn(&SloPoint) -> u64,
) -> f64 {
    let (calls, bad) = totals(points, now - window, bad);
    if calls == 0 {
        0.0
    } else {
        bad as f64 / calls as f64 / (1.0 - objective)
    }
}

/// The status of every SLI of `slo` at `now`.
pub fn status(
    slo: &Slo,
    points: &VecDeque<SloPoint>,
    now: f64,
) -> Result<Vec<SliStatus>, AgentError> {
    let mut out = Vec::new();
    let period = duration_ms(&slo.period, "slo period")?;
    let covered = points.front().map_or(0.0, |p| (now - p.at).min(period));
    let mut sli = |name: &'static str, objective: f64, bad: &dyn Fn(&SloPoint) -> u64| {
        let windows = slo
            .windows
            .iter()
            .map(|w: &BurnWindow| {
                let long = duration_ms(&w.long, "slo window")?;
                let short = duration_ms(&w.short, "slo window")?;
                let long_burn = burn(points, now, long, objective, bad);
                let short_burn = burn(points, now, short, objective, bad);
                Ok(WindowStatus {
                    long_ms: long,
                    short_ms: short,
                    long_burn,
                    short_burn,
                    burn_rate: w.burn_rate,
                    severity: w.severity.clone(),
                    burning: long_burn > w.burn_rate && short_burn > w.burn_rate,
                })
            })
            .collect::<Result<Vec<_>, AgentError>>()?;
        let (calls, bad_calls) = totals(points, now - period, bad);
        let spent = if calls == 0 {
            0.0
        } else {
            bad_calls as f64 / calls as f64 / (1.0 - objective)
        };
        out.push(SliStatus {
            sli: name,
            objective,
            windows,
            budget_remaining: 1.0 - spent,
            budget_covered_ms: covered,
            calls,
            bad: bad_calls,
        });
        Ok::<(), AgentError>(())
    };
    if let Some(objective) = slo.availability {
        sli("availability", objective, &|p| p.bad)?;
    }
    if let Some(latency) = &slo.latency {
        sli("latency", latency.objective, &|p| p.slow)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn slo() -> Slo {
        serde_json::from_value(json!({
            "agent": "a", "availability": 0.99,
            "windows": [{"long": "60s", "short": "10s", "burn-rate": 10, "severity": "page"}]
        }))
        .unwrap()
    }

    fn point(at: f64, calls: u64, bad: u64) -> SloPoint {
        SloPoint {
            at,
            calls,
            bad,
            slow: 0,
            latency_ms: 1.0,
        }
    }

    #[test]
    fn both_windows_must_burn() {
        let mut points: VecDeque<SloPoint> =
            (1..=60).map(|s| point(s as f64 * 1000.0, 100, 0)).collect();
        let quiet = status(&slo(), &points, 60_000.0).unwrap();
        assert!(!quiet[0].windows[0].burning);
        assert_eq!(quiet[0].budget_remaining, 1.0);
        // Ten seconds at 50 % errors: the short window burns at 50x, the long one at 8.3x.
        for s in 61..=70 {
            points.push_back(point(s as f64 * 1000.0, 100, 50));
        }
        let s = &status(&slo(), &points, 70_000.0).unwrap()[0];
        assert!((s.windows[0].short_burn - 50.0).abs() < 1e-9);
        assert!((s.windows[0].long_burn - 500.0 / 6000.0 / 0.01).abs() < 1e-9);
        assert!(!s.windows[0].burning);
        // Ten more: the long window passes 10x too.
        for s in 71..=80 {
            points.push_back(point(s as f64 * 1000.0, 100, 50));
        }
        let s = &status(&slo(), &points, 80_000.0).unwrap()[0];
        assert!(s.windows[0].burning, "{s:?}");
        assert!(s.budget_remaining < 0.0);
    }
}
