//! `predict`: a resource against load, from samples. Two models are fitted by least squares, the
//! linear `y = a + b x` and the logarithmic `y = a + b ln x` (growth that slows as load rises, as a
//! cache warming up); the one with the smaller sum of squared residuals is chosen (both have two
//! parameters, so the residuals compare fairly), and the value at the asked load is given with
//! its 95 % prediction interval.

use guest_support::fit::{self, Line};
use serde::{Deserialize, Serialize};
use tandem_sdk::AgentError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PredictInput {
    /// `[load, value]` pairs.
    pub samples: Vec<[f64; 2]>,
    /// The load to predict at.
    pub at: f64,
    /// `auto` (default), `linear` or `log`.
    #[serde(default)]
    pub model: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Model {
    pub model: &'static str,
    /// `value = intercept + slope * load` (or `* ln(load)`).
    pub formula: String,
    pub slope: f64,
    pub intercept: f64,
    pub r_squared: f64,
    pub residuals: f64,
}

#[derive(Debug, Serialize)]
pub struct Prediction {
    pub chosen: Model,
    /// The model not chosen, when it could be fitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<Model>,
    pub at: f64,
    pub predicted: f64,
    /// The 95 % prediction interval of one observation at that load.
    pub interval: Option<[f64; 2]>,
    /// True when `at` is outside the loads sampled: the fit is extrapolated.
    pub extrapolated: bool,
    pub samples: usize,
}

/// The most samples taken.
pub const MAX_SAMPLES: usize = 100_000;

fn model(name: &'static str, line: &Line) -> Model {
    let x = if name == "log" { "ln(load)" } else { "load" };
    Model {
        model: name,
        formula: format!("{:.6} + {:.6} * {x}", line.intercept, line.slope),
        slope: line.slope,
        intercept: line.intercept,
        r_squared: line.r_squared,
        residuals: line.residuals,
    }
}

pub fn predict(input: &PredictInput) -> Result<Prediction, AgentError> {
    let n = input.samples.len();
    if n < 3 {
        return Err(AgentError::invalid(format!(
            "`samples` holds {n} samples; predict needs at least 3 [load, value] pairs (2 to fit a line, 1 more to know its spread)"
        )));
    }
    if n > MAX_SAMPLES {
        return Err(AgentError::invalid(format!(
            "`samples` holds {n} samples; at most {MAX_SAMPLES}"
        )));
    }
    if !input.at.is_finite() {
        return Err(AgentError::invalid("`at` must be a finite number"));
    }
    let xs: Vec<f64> = input.samples.iter().map(|s| s[0]).collect();
    let ys: Vec<f64> = input.samples.iter().map(|s| s[1]).collect();
    let invalid =
        |e: fit::FitError| AgentError::invalid(format!("the samples cannot be fitted: {e}"));
    let linear = fit::least_squares(&xs, &ys).map_err(invalid)?;
    let log = if xs.iter().all(|x| *x > 0.0) {
        let lx: Vec<f64> = xs.iter().map(|x| x.ln()).collect();
        fit::least_squares(&lx, &ys).ok()
    } else {
        None
    };
    let wanted = input.model.as_deref().unwrap_or("auto");
    let use_log = match wanted {
        "linear" => false,
        "log" => {
            if log.is_none() {
                return Err(AgentError::invalid(
                    "the `log` model needs every load above 0",
                ));
            }
            true
        }
        "auto" => log.is_some_and(|l| l.residuals < linear.residuals),
        other => {
            return Err(AgentError::invalid(format!(
                "`model` is `auto`, `linear` or `log`, not `{other}`"
            )));
        }
    };
    if use_log && input.at <= 0.0 {
        return Err(AgentError::invalid(
            "the `log` model predicts only at a load above 0",
        ));
    }
    let (chosen, other, x) = match (use_log, log) {
        (true, Some(l)) => (
            model("log", &l),
            Some(model("linear", &linear)),
            input.at.ln(),
        ),
        _ => (
            model("linear", &linear),
            log.map(|l| model("log", &l)),
            input.at,
        ),
    };
    let line = if use_log {
        log.expect("fitted")
    } else {
        linear
    };
    let predicted = line.at(x);
    let low = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let high = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Ok(Prediction {
        chosen,
        other,
        at: input.at,
        predicted,
        interval: line.interval(x).map(|h| [predicted - h, predicted + h]),
        extrapolated: input.at < low || input.at > high,
        samples: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_with_smaller_residuals_is_chosen() {
        let linear: Vec<[f64; 2]> = (1..=10)
            .map(|x| {
                [
                    f64::from(x),
                    3.0 + 2.0 * f64::from(x) + if x % 2 == 0 { 0.1 } else { -0.1 },
                ]
            })
            .collect();
        let p = predict(&PredictInput {
            samples: linear,
            at: 20.0,
            model: None,
        })
        .unwrap();
        assert_eq!(p.chosen.model, "linear");
        assert!((p.predicted - 43.0).abs() < 0.5, "{p:?}");
        let [lo, hi] = p.interval.unwrap();
        assert!(lo < p.predicted && p.predicted < hi && p.extrapolated);
        let log: Vec<[f64; 2]> = (1..=30)
            .map(|x| [f64::from(x) * 10.0, 5.0 + 4.0 * (f64::from(x) * 10.0).ln()])
            .collect();
        let p = predict(&PredictInput {
            samples: log,
            at: 100.0,
            model: None,
        })
        .unwrap();
        assert_eq!(p.chosen.model, "log");
        assert!((p.predicted - (5.0 + 4.0 * 100f64.ln())).abs() < 1e-6);
        assert!(p.chosen.r_squared > p.other.as_ref().unwrap().r_squared);
        assert!(
            predict(&PredictInput {
                samples: vec![],
                at: 1.0,
                model: None
            })
            .is_err()
        );
    }
}
