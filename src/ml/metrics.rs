//! Regression metrics with scikit-learn's definitions.

use ndarray::ArrayView1;
use serde::Serialize;

/// scikit-learn's `UndefinedMetricWarning` for R² on fewer than two samples.
pub const R2_UNDEFINED: &str = "R^2 score is not well-defined with less than two samples.";

/// The four metrics `mlops train` reports on the test split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RegressionMetrics {
    pub mse: f64,
    pub rmse: f64,
    pub mae: f64,
    pub r2: f64,
}

impl RegressionMetrics {
    /// `mean_squared_error`, its root, `mean_absolute_error` and `r2_score` of `predicted` against `actual`.
    ///
    /// R² follows scikit-learn: NaN for fewer than two samples (where scikit-learn warns that it
    /// is not well-defined, see [`R2_UNDEFINED`]); with `force_finite`, a constant `actual` gives
    /// 1.0 for a perfect fit, else 0.0.
    pub fn compute(actual: ArrayView1<f64>, predicted: ArrayView1<f64>) -> Self {
        let n = actual.len() as f64;
        let residuals = &actual - &predicted;
        let ss_res: f64 = residuals.iter().map(|r| r * r).sum();
        let abs: f64 = residuals.iter().map(|r| r.abs()).sum();
        let mean = actual.sum() / n;
        let ss_tot: f64 = actual.iter().map(|a| (a - mean) * (a - mean)).sum();
        Self::from_sums(actual.len() as u64, ss_res, abs, ss_tot)
    }

    /// The metrics from `n` residuals' sum of squares and of absolute values, and the sum of
    /// squared deviations of the actual values from their mean (R² as in [`Self::compute`]).
    pub fn from_sums(n: u64, ss_res: f64, abs: f64, ss_tot: f64) -> Self {
        let samples = n;
        let n = n as f64;
        let mse = ss_res / n;
        let mae = abs / n;
        let r2 = if samples < 2 {
            f64::NAN
        } else if ss_tot != 0.0 {
            1.0 - ss_res / ss_tot
        } else if ss_res == 0.0 {
            1.0
        } else {
            0.0
        };
        RegressionMetrics { mse, rmse: mse.sqrt(), mae, r2 }
    }

    /// Name and value pairs, in the order they are logged.
    pub fn pairs(&self) -> [(&'static str, f64); 4] {
        [("mse", self.mse), ("rmse", self.rmse), ("mae", self.mae), ("r2", self.r2)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn known_values() {
        let m = RegressionMetrics::compute(array![3.0, -0.5, 2.0, 7.0].view(), array![2.5, 0.0, 2.0, 8.0].view());
        assert!((m.mse - 0.375).abs() < 1e-15);
        assert!((m.mae - 0.5).abs() < 1e-15);
        assert!((m.r2 - 0.948_608_137_044_967_9).abs() < 1e-12);
    }

    #[test]
    fn constant_target() {
        let m = RegressionMetrics::compute(array![1.0, 1.0].view(), array![1.0, 1.0].view());
        assert_eq!(m.r2, 1.0);
        let m = RegressionMetrics::compute(array![1.0, 1.0].view(), array![1.0, 2.0].view());
        assert_eq!(m.r2, 0.0);
    }

    /// One test sample: scikit-learn's r2_score is NaN (with a warning), not 0.0.
    #[test]
    fn one_sample_r2_is_nan() {
        let m = RegressionMetrics::compute(array![5.0].view(), array![3.0].view());
        assert!(m.r2.is_nan());
        assert_eq!(m.mse, 4.0);
    }
}
