//! Fitting a trend to samples, as DEBUGGER's `leak-check` and OPTIMIZER's `predict` do: ordinary
//! least squares with R² and a prediction interval ([`least_squares`], [`Line::interval`]),
//! Theil-Sen (the median of the pairwise slopes, robust to spikes) with Sen's confidence interval
//! for its slope ([`theil_sen`]), and the Mann-Kendall test of whether there is a trend at all
//! ([`mann_kendall`]).

/// A straight line fitted by least squares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    pub slope: f64,
    pub intercept: f64,
    /// The share of the variance the line explains (1 for a perfect fit; 0 when y is constant).
    pub r_squared: f64,
    /// The sum of the squared residuals.
    pub residuals: f64,
    /// How many samples.
    pub n: usize,
    mean_x: f64,
    /// The sum of squared deviations of x from its mean.
    sxx: f64,
}

impl Line {
    /// The value of the line at `x`.
    pub fn at(&self, x: f64) -> f64 {
        self.intercept + self.slope * x
    }

    /// The 95 % prediction interval of a new sample at `x`: the value, and the half-width around it.
    /// `None` with fewer than three samples (no spread is known).
    pub fn interval(&self, x: f64) -> Option<f64> {
        if self.n < 3 || self.sxx == 0.0 {
            return None;
        }
        let df = self.n - 2;
        let s = (self.residuals / df as f64).sqrt();
        let spread = 1.0 + 1.0 / self.n as f64 + (x - self.mean_x).powi(2) / self.sxx;
        Some(t_975(df) * s * spread.sqrt())
    }
}

/// Why a fit is impossible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FitError {
    /// Fewer samples than the fit needs.
    TooFew { needed: usize, given: usize },
    /// Every sample has the same x.
    NoSpread,
    /// A value is not a finite number.
    NotFinite,
}

impl std::fmt::Display for FitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FitError::TooFew { needed, given } => {
                write!(f, "a fit needs at least {needed} samples; {given} given")
            }
            FitError::NoSpread => write!(
                f,
                "every sample is at the same point, so no trend can be fitted"
            ),
            FitError::NotFinite => write!(f, "a sample is not a finite number"),
        }
    }
}

fn check(xs: &[f64], ys: &[f64], needed: usize) -> Result<(), FitError> {
    if xs.len() < needed {
        return Err(FitError::TooFew {
            needed,
            given: xs.len(),
        });
    }
    if xs.iter().chain(ys).any(|v| !v.is_finite()) {
        return Err(FitError::NotFinite);
    }
    Ok(())
}

/// Ordinary least squares of `ys` on `xs` (the same length).
pub fn least_squares(xs: &[f64], ys: &[f64]) -> Result<Line, FitError> {
    check(xs, ys, 2)?;
    let n = xs.len() as f64;
    let mean_x = xs.iter().sum::<f64>() / n;
    let mean_y = ys.iter().sum::<f64>() / n;
    let sxx: f64 = xs.iter().map(|x| (x - mean_x).powi(2)).sum();
    if sxx == 0.0 {
        return Err(FitError::NoSpread);
    }
    let sxy: f64 = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| (x - mean_x) * (y - mean_y))
        .sum();
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let residuals: f64 = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| (y - (intercept + slope * x)).powi(2))
        .sum();
    let total: f64 = ys.iter().map(|y| (y - mean_y).powi(2)).sum();
    let r_squared = if total == 0.0 {
        0.0
    } else {
        1.0 - residuals / total
    };
    Ok(Line {
        slope,
        intercept,
        r_squared,
        residuals,
        n: xs.len(),
        mean_x,
        sxx,
    })
}

/// A Theil-Sen fit: the median of the slopes between every pair of samples, the median intercept,
/// and the 95 % confidence interval of the slope (Sen, 1968).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RobustLine {
    pub slope: f64,
    pub intercept: f64,
    pub slope_low: f64,
    pub slope_high: f64,
}

/// The most samples Theil-Sen uses: past it, evenly spaced samples are taken (the pairs grow with
/// the square).
pub const MAX_ROBUST_SAMPLES: usize = 2000;

/// The Theil-Sen fit of `ys` on `xs`.
pub fn theil_sen(xs: &[f64], ys: &[f64]) -> Result<RobustLine, FitError> {
    check(xs, ys, 2)?;
    let (xs, ys) = thin(xs, ys);
    let mut slopes = Vec::with_capacity(xs.len() * (xs.len() - 1) / 2);
    for i in 0..xs.len() {
        for j in i + 1..xs.len() {
            let dx = xs[j] - xs[i];
            if dx != 0.0 {
                slopes.push((ys[j] - ys[i]) / dx);
            }
        }
    }
    if slopes.is_empty() {
        return Err(FitError::NoSpread);
    }
    slopes.sort_by(f64::total_cmp);
    let slope = median_sorted(&slopes);
    let mut offsets: Vec<f64> = xs.iter().zip(&ys).map(|(x, y)| y - slope * x).collect();
    offsets.sort_by(f64::total_cmp);
    let intercept = median_sorted(&offsets);
    // Sen's (1968) equation 2.6, corrected for ties in x and y, with the ranks rounded as
    // `scipy.stats.theilslopes` rounds them (half to even).
    let n = xs.len() as f64;
    let pairs = slopes.len() as f64;
    let variance = (n * (n - 1.0) * (2.0 * n + 5.0) - ties(&xs) - ties(&ys)) / 18.0;
    let c = Z_975 * variance.max(0.0).sqrt();
    let last = slopes.len() - 1;
    let low = (((pairs - c) / 2.0).round_ties_even() - 1.0).max(0.0) as usize;
    let high = (((pairs + c) / 2.0).round_ties_even().max(0.0) as usize).min(last);
    Ok(RobustLine {
        slope,
        intercept,
        slope_low: slopes[low.min(last)],
        slope_high: slopes[high],
    })
}

/// The Mann-Kendall test: its statistic S, and the two-sided p-value of "no monotonic trend"
/// (normal approximation with the variance corrected for ties).
pub fn mann_kendall(xs: &[f64], ys: &[f64]) -> Result<(f64, f64), FitError> {
    check(xs, ys, 3)?;
    let (xs, ys) = thin(xs, ys);
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|a, b| xs[*a].total_cmp(&xs[*b]));
    let ys: Vec<f64> = order.iter().map(|i| ys[*i]).collect();
    let n = ys.len();
    let mut s = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            s += (ys[j] - ys[i]).signum() * f64::from(u8::from(ys[j] != ys[i]));
        }
    }
    let ties = ties(&ys);
    let nf = n as f64;
    let variance = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0;
    if variance <= 0.0 {
        return Ok((s, 1.0));
    }
    let z = if s > 0.0 {
        (s - 1.0) / variance.sqrt()
    } else if s < 0.0 {
        (s + 1.0) / variance.sqrt()
    } else {
        0.0
    };
    Ok((s, 2.0 * (1.0 - normal_cdf(z.abs()))))
}

/// The 97.5th percentile of the standard normal distribution.
const Z_975: f64 = 1.959_963_984_540_054;

/// The sum of t(t-1)(2t+5) over the runs of t equal values: the tie correction of Kendall's S.
fn ties(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut total = 0.0;
    let mut run = 1.0;
    for w in sorted.windows(2) {
        if w[0] == w[1] {
            run += 1.0;
        } else {
            total += run * (run - 1.0) * (2.0 * run + 5.0);
            run = 1.0;
        }
    }
    total + run * (run - 1.0) * (2.0 * run + 5.0)
}

/// At most [`MAX_ROBUST_SAMPLES`] evenly spaced samples.
fn thin(xs: &[f64], ys: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let step = xs.len().div_ceil(MAX_ROBUST_SAMPLES).max(1);
    (
        xs.iter().step_by(step).copied().collect(),
        ys.iter().step_by(step).copied().collect(),
    )
}

/// The median of sorted values (not empty).
pub fn median_sorted(values: &[f64]) -> f64 {
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The standard normal distribution function (Abramowitz and Stegun 7.1.26, error below 1.5e-7).
pub fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// The 97.5th percentile of Student's t with `df` degrees of freedom (two-sided 95 %): exact to
/// three decimals from the table up to 30, then interpolated in 1/df towards the normal's 1.960.
pub fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        _ => 1.960 + (2.042 - 1.960) * 30.0 / df as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_matches_a_hand_computed_fit() {
        // y = 2x + 1 with residuals +-1: slope 2, intercept 1.
        let xs = [0.0, 1.0, 2.0, 3.0];
        let ys = [2.0, 2.0, 6.0, 6.0];
        let line = least_squares(&xs, &ys).unwrap();
        assert!((line.slope - 1.6).abs() < 1e-12, "{line:?}");
        assert!((line.intercept - 1.6).abs() < 1e-12);
        assert!((line.r_squared - 0.8).abs() < 1e-12);
        assert!(line.interval(1.5).unwrap() > 0.0);
        assert_eq!(
            least_squares(&[1.0, 1.0], &[1.0, 2.0]),
            Err(FitError::NoSpread)
        );
        assert_eq!(
            least_squares(&[], &[]),
            Err(FitError::TooFew {
                needed: 2,
                given: 0
            })
        );
    }

    #[test]
    fn theil_sen_ignores_a_spike_least_squares_follows() {
        let xs: Vec<f64> = (0..20).map(f64::from).collect();
        let mut ys: Vec<f64> = xs.iter().map(|x| 10.0 + 0.5 * x).collect();
        ys[10] = 1000.0;
        let robust = theil_sen(&xs, &ys).unwrap();
        assert!((robust.slope - 0.5).abs() < 1e-9, "{robust:?}");
        assert!(robust.slope_low <= 0.5 && robust.slope_high >= 0.5);
        let ols = least_squares(&xs, &ys).unwrap();
        assert!((ols.slope - 0.5).abs() > 0.1, "{ols:?}");
    }

    #[test]
    fn mann_kendall_tells_a_trend_from_noise() {
        let xs: Vec<f64> = (0..30).map(f64::from).collect();
        let rising: Vec<f64> = xs
            .iter()
            .map(|x| x + if *x as i32 % 2 == 0 { 3.0 } else { 0.0 })
            .collect();
        let (s, p) = mann_kendall(&xs, &rising).unwrap();
        assert!(s > 0.0 && p < 0.001, "{s} {p}");
        let flat: Vec<f64> = xs
            .iter()
            .map(|x| if *x as i32 % 2 == 0 { 5.0 } else { 6.0 })
            .collect();
        let (_, p) = mann_kendall(&xs, &flat).unwrap();
        assert!(p > 0.5, "{p}");
        assert!((normal_cdf(1.96) - 0.975).abs() < 1e-4);
    }
}
