//! Ridge regression identical to `sklearn.linear_model.Ridge(alpha, fit_intercept=True)` with its
//! default dense solver, built on linfa's `Fit` / `Predict` traits.
//!
//! scikit-learn centres X and y on their means, then solves the normal equations by Cholesky:
//! the primal `(XcᵀXc + αI) w = Xcᵀyc` when there are at least as many rows as features, the dual
//! `(XcXcᵀ + αI) a = yc, w = Xcᵀa` otherwise; the intercept is `ȳ − x̄·w`. Doing the same here
//! keeps the rounding close enough that coefficients agree to ~1e-12 relative.
//!
//! The primal system needs only the training rows' means and centred cross-products, so
//! [`solve`] takes those ([`CoMoments`]) and `mlops train` streams a file of any size into them;
//! the `p × p` system itself is small and solved here with ndarray, in memory.

use crate::error_kind::{ErrorKind, HasKind};
use linfa::dataset::{AsSingleTargets, DatasetBase, Records};
use linfa::traits::{Fit, PredictInplace};
use ndarray::{Array1, Array2, ArrayBase, Axis, Data, Ix2};

use super::comoments::CoMoments;

/// Hyper-parameters of a ridge fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ridge {
    /// Regularisation strength; 0 is ordinary least squares.
    pub alpha: f64,
}

/// A fitted ridge model: `y = x·coefficients + intercept`.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedRidge {
    pub coefficients: Array1<f64>,
    pub intercept: f64,
}

/// Why a ridge model cannot be fitted.
#[derive(Debug, thiserror::Error)]
pub enum RidgeError {
    #[error("alpha must be a finite number >= 0, got {0}")]
    InvalidAlpha(f64),
    #[error(
        "the system is singular: feature {feature:?} is constant or a linear combination of other features, \
         and alpha = {alpha} does not regularise it; use alpha > 0 or drop the feature"
    )]
    Singular { feature: String, alpha: f64 },
    #[error("no training rows")]
    NoRows,
    #[error(transparent)]
    Linfa(#[from] linfa::error::Error),
}

impl HasKind for RidgeError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Training
    }
}

impl<D, T> Fit<ArrayBase<D, Ix2>, T, RidgeError> for Ridge
where
    D: Data<Elem = f64>,
    T: AsSingleTargets<Elem = f64>,
{
    type Object = FittedRidge;

    fn fit(&self, dataset: &DatasetBase<ArrayBase<D, Ix2>, T>) -> Result<FittedRidge, RidgeError> {
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(RidgeError::InvalidAlpha(self.alpha));
        }
        let x = dataset.records();
        let y = dataset.as_single_targets();
        let (n, p) = (x.nsamples(), x.nfeatures());
        if n == 0 {
            return Err(RidgeError::NoRows);
        }
        let x_mean = x.mean_axis(Axis(0)).ok_or(RidgeError::NoRows)?;
        let y_mean = y.mean().ok_or(RidgeError::NoRows)?;
        let xc: Array2<f64> = x - &x_mean;
        let yc: Array1<f64> = &y - y_mean;

        let singular = |index: usize| {
            let names = dataset.feature_names();
            let feature = names.get(index).cloned().unwrap_or_else(|| format!("feature {}", index + 1));
            RidgeError::Singular { feature, alpha: self.alpha }
        };
        if p > n {
            let mut k = xc.dot(&xc.t());
            k.diag_mut().mapv_inplace(|v| v + self.alpha);
            // A dual pivot names a row, not a feature; the last feature is the best hint there is.
            let dual = cholesky_solve(k, &yc, self.alpha).map_err(|_| singular(p - 1))?;
            let coefficients = xc.t().dot(&dual);
            let intercept = y_mean - x_mean.dot(&coefficients);
            return Ok(FittedRidge { coefficients, intercept });
        }
        let mut rows = Vec::with_capacity(n * (p + 1));
        for (x, y) in x.rows().into_iter().zip(y.iter()) {
            rows.extend(x.iter().copied());
            rows.push(*y);
        }
        let names: Vec<String> = dataset.feature_names().iter().map(|s| s.to_string()).collect();
        let shift: Vec<f64> = rows[..p + 1].to_vec();
        solve(&CoMoments::of_rows(&rows, &shift), self.alpha, &names)
    }
}

/// Ridge from the co-moments of `[features…, target]` rows: `(XcᵀXc + αI) w = Xcᵀyc`,
/// intercept `ȳ − x̄·w`. `names` name the features in errors.
pub fn solve(moments: &CoMoments, alpha: f64, names: &[String]) -> Result<FittedRidge, RidgeError> {
    if !(alpha.is_finite() && alpha >= 0.0) {
        return Err(RidgeError::InvalidAlpha(alpha));
    }
    if moments.n == 0 {
        return Err(RidgeError::NoRows);
    }
    let p = moments.dim() - 1;
    let mut a = Array2::from_shape_fn((p, p), |(i, j)| moments.at(i, j));
    a.diag_mut().mapv_inplace(|v| v + alpha);
    let b = Array1::from_shape_fn(p, |i| moments.at(i, p));
    let coefficients = cholesky_solve(a, &b, alpha).map_err(|index| RidgeError::Singular {
        feature: names.get(index).cloned().unwrap_or_else(|| format!("feature {}", index + 1)),
        alpha,
    })?;
    let intercept = moments.mean(p) - (0..p).map(|j| moments.mean(j) * coefficients[j]).sum::<f64>();
    Ok(FittedRidge { coefficients, intercept })
}

impl<D: Data<Elem = f64>> PredictInplace<ArrayBase<D, Ix2>, Array1<f64>> for FittedRidge {
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<f64>) {
        *y = x.dot(&self.coefficients) + self.intercept;
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<f64> {
        Array1::zeros(x.nrows())
    }
}

/// Solves `a · x = b` for symmetric positive definite `a` by Cholesky (`a = L·Lᵀ`).
///
/// Fails with the index of the first pivot that is not clearly positive. Without regularisation
/// (`alpha` 0), a pivot within rounding error of zero relative to the largest diagonal entry means
/// the matrix is (numerically) singular. With `alpha > 0` the matrix is positive definite by
/// construction, and as LAPACK's `potrf` (scikit-learn's solver) only a non-positive pivot fails:
/// a relative test would refuse well-posed systems whose scales differ by 1e15 (a 10M-row file
/// with a near-duplicate column next to one scaled by 1e3).
fn cholesky_solve(mut a: Array2<f64>, b: &Array1<f64>, alpha: f64) -> Result<Array1<f64>, usize> {
    let n = a.nrows();
    let max_diag = a.diag().iter().fold(0.0f64, |m, &v| m.max(v.abs()));
    let tolerance = if alpha > 0.0 { 0.0 } else { max_diag * f64::EPSILON * n as f64 };
    for j in 0..n {
        let mut d = a[[j, j]];
        for k in 0..j {
            d -= a[[j, k]] * a[[j, k]];
        }
        if d.is_nan() || d <= tolerance {
            return Err(j);
        }
        let d = d.sqrt();
        a[[j, j]] = d;
        for i in j + 1..n {
            let mut s = a[[i, j]];
            for k in 0..j {
                s -= a[[i, k]] * a[[j, k]];
            }
            a[[i, j]] = s / d;
        }
    }
    // Forward substitution L·z = b, then back substitution Lᵀ·x = z.
    let mut x = b.clone();
    for i in 0..n {
        let mut s = x[i];
        for k in 0..i {
            s -= a[[i, k]] * x[k];
        }
        x[i] = s / a[[i, i]];
    }
    for i in (0..n).rev() {
        let mut s = x[i];
        for k in i + 1..n {
            s -= a[[k, i]] * x[k];
        }
        x[i] = s / a[[i, i]];
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::Dataset;
    use linfa::traits::Predict;
    use ndarray::array;

    #[test]
    fn recovers_exact_plane_with_alpha_zero() {
        let x = array![[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 3.0]];
        let y = x.dot(&array![2.0, -1.0]) + 5.0;
        let fitted = Ridge { alpha: 0.0 }.fit(&Dataset::new(x.clone(), y.clone())).expect("fits");
        assert!((fitted.intercept - 5.0).abs() < 1e-12);
        assert!((fitted.coefficients[0] - 2.0).abs() < 1e-12);
        let predicted = fitted.predict(&x);
        assert!((predicted - y).iter().all(|d| d.abs() < 1e-12));
    }

    #[test]
    fn alpha_zero_agrees_with_linfa_ordinary_least_squares() {
        use linfa_linear::LinearRegression;
        let x = array![
            [0.5, 1.0, -2.0],
            [1.5, 0.2, 0.3],
            [2.0, -1.0, 1.0],
            [3.1, 0.7, 0.9],
            [-1.0, 2.0, 0.4],
            [0.0, 0.0, 1.0]
        ];
        let y = array![1.0, 2.5, -0.5, 3.3, 0.8, 1.2];
        let data = Dataset::new(x, y);
        let ours = Ridge { alpha: 0.0 }.fit(&data).expect("fits");
        let ols = LinearRegression::new().fit(&data).expect("fits");
        for (a, b) in ours.coefficients.iter().zip(ols.params()) {
            assert!((a - b).abs() < 1e-9 * b.abs().max(1.0), "{a} vs {b}");
        }
        assert!((ours.intercept - ols.intercept()).abs() < 1e-9);
    }

    #[test]
    fn collinear_columns_with_alpha_zero_are_singular() {
        let x = array![[1.0, 2.0], [2.0, 4.0], [3.0, 6.0], [4.0, 8.0]];
        let y = array![1.0, 2.0, 3.0, 5.0];
        let data = Dataset::new(x, y).with_feature_names(vec!["a", "b"]);
        let err = Ridge { alpha: 0.0 }.fit(&data).expect_err("singular");
        assert!(matches!(err, RidgeError::Singular { ref feature, .. } if feature == "b"), "{err}");
        assert!(Ridge { alpha: 0.1 }.fit(&data).is_ok());
    }

    #[test]
    fn badly_scaled_but_regularised_systems_are_solved() {
        // Column 2 is 1e7 times the others and column 1 nearly repeats column 0: a pivot test
        // relative to the largest diagonal entry called this singular, though alpha > 0 makes it
        // positive definite (scikit-learn solves it).
        let x = Array2::from_shape_fn((200, 3), |(i, j)| {
            let t = i as f64;
            match j {
                0 => (t * 0.7).sin(),
                1 => (t * 0.7).sin() + 1e-9 * (t * 1.3).cos(),
                _ => 1e7 * (t * 0.3).cos(),
            }
        });
        let y = Array1::from_shape_fn(200, |i| x[[i, 0]] + 2e-7 * x[[i, 2]] + (i as f64 * 0.1).sin());
        let fitted = Ridge { alpha: 0.5 }.fit(&Dataset::new(x.clone(), y.clone())).expect("positive definite");
        let xc = &x - &x.mean_axis(Axis(0)).expect("rows");
        let yc = &y - y.mean().expect("rows");
        let mut a = xc.t().dot(&xc);
        a.diag_mut().mapv_inplace(|v| v + 0.5);
        let residual = a.dot(&fitted.coefficients) - xc.t().dot(&yc);
        let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
            * fitted.coefficients.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(residual.iter().all(|r| r.abs() <= 1e-12 * scale), "{residual}");
        assert!(Ridge { alpha: 0.0 }.fit(&Dataset::new(x, y)).is_err(), "without alpha it is numerically singular");
    }

    #[test]
    fn more_features_than_rows_uses_the_dual() {
        let x = array![[1.0, 2.0, 3.0], [2.0, 1.0, 0.0]];
        let y = array![1.0, 2.0];
        let fitted = Ridge { alpha: 1.0 }.fit(&Dataset::new(x.clone(), y.clone())).expect("fits");
        // The primal solution of the same problem, by hand: centre, then (XcᵀXc + I) w = Xcᵀyc.
        let xc = &x - &x.mean_axis(Axis(0)).expect("rows");
        let yc = &y - y.mean().expect("rows");
        let mut a = xc.t().dot(&xc);
        a.diag_mut().mapv_inplace(|v| v + 1.0);
        let w = cholesky_solve(a, &xc.t().dot(&yc), 1.0).expect("spd");
        assert!((fitted.coefficients - w).iter().all(|d| d.abs() < 1e-12));
    }
}
