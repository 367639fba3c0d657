//! Comparing a retrained model with the recorded one, bit for bit: every coefficient, the
//! intercept and the test metrics must be the same `f64`, not merely close.

use serde::Serialize;

use crate::ml::metrics::RegressionMetrics;

/// One number of the model or its evaluation, recorded and reproduced.
#[derive(Debug, Clone, Serialize)]
pub struct Value {
    /// `coefficient NAME`, `intercept` or `metric NAME`.
    pub name: String,
    pub recorded: f64,
    pub reproduced: f64,
    /// `|reproduced - recorded|`.
    pub difference: f64,
    pub identical: bool,
}

/// The comparison, in the stable shape of `--output json`.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub identical: bool,
    /// The largest `difference`, 0 when identical.
    pub max_difference: f64,
    /// The value with the largest difference (the first that differs, on ties).
    pub max_difference_at: Option<String>,
    /// Set when the models have different features, so their numbers cannot be paired.
    pub features_differ: Option<String>,
    pub values: Vec<Value>,
}

/// The recorded side: the model's numbers and the metrics logged on its run.
#[derive(Debug, Clone)]
pub struct Numbers {
    pub feature_names: Vec<String>,
    pub coefficients: Vec<f64>,
    pub intercept: f64,
    /// (name, value) in the order `RegressionMetrics::pairs` gives them.
    pub metrics: Vec<(String, f64)>,
}

impl Numbers {
    pub fn from_fit(
        feature_names: &[String],
        coefficients: &[f64],
        intercept: f64,
        metrics: &RegressionMetrics,
    ) -> Self {
        Numbers {
            feature_names: feature_names.to_vec(),
            coefficients: coefficients.to_vec(),
            intercept,
            metrics: metrics.pairs().iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }
}

/// Pairs up every number of `recorded` with `reproduced` and compares their bits.
pub fn compare(recorded: &Numbers, reproduced: &Numbers) -> Comparison {
    if recorded.feature_names != reproduced.feature_names {
        return Comparison {
            identical: false,
            max_difference: f64::INFINITY,
            max_difference_at: None,
            features_differ: Some(format!(
                "recorded features [{}], reproduced [{}]",
                recorded.feature_names.join(", "),
                reproduced.feature_names.join(", ")
            )),
            values: Vec::new(),
        };
    }
    let mut values: Vec<Value> = recorded
        .feature_names
        .iter()
        .zip(recorded.coefficients.iter().zip(&reproduced.coefficients))
        .map(|(name, (a, b))| value(format!("coefficient {name}"), *a, *b))
        .collect();
    values.push(value("intercept".to_string(), recorded.intercept, reproduced.intercept));
    for (name, a) in &recorded.metrics {
        let b = reproduced.metrics.iter().find(|(n, _)| n == name).map_or(f64::NAN, |(_, v)| *v);
        values.push(value(format!("metric {name}"), *a, b));
    }
    let identical = values.iter().all(|v| v.identical);
    let worst = values.iter().filter(|v| !v.identical).fold(None::<&Value>, |worst, v| match worst {
        // NaN (a value missing on one side) is the worst difference there is.
        Some(w) if !(v.difference > w.difference || (v.difference.is_nan() && !w.difference.is_nan())) => Some(w),
        _ => Some(v),
    });
    Comparison {
        identical,
        max_difference: worst.map_or(0.0, |w| w.difference),
        max_difference_at: worst.map(|w| w.name.clone()),
        features_differ: None,
        values,
    }
}

fn value(name: String, recorded: f64, reproduced: f64) -> Value {
    Value {
        name,
        recorded,
        reproduced,
        difference: (reproduced - recorded).abs(),
        identical: recorded.to_bits() == reproduced.to_bits(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(coefficients: [f64; 2], intercept: f64, mse: f64) -> Numbers {
        Numbers {
            feature_names: vec!["a".into(), "b".into()],
            coefficients: coefficients.to_vec(),
            intercept,
            metrics: vec![("mse".into(), mse)],
        }
    }

    #[test]
    fn identical_means_the_same_bits() {
        let a = numbers([0.1 + 0.2, -1.0], 3.0, 10.0);
        let same = compare(&a, &a.clone());
        assert!(same.identical);
        assert_eq!(same.max_difference, 0.0);
        assert_eq!(same.max_difference_at, None);
        assert_eq!(same.values.len(), 4);

        // One ulp apart is a difference, and it is reported where it is.
        let b = numbers([0.1 + 0.2, -1.0], 3.0, f64::from_bits(10.0f64.to_bits() + 1));
        let differs = compare(&a, &b);
        assert!(!differs.identical);
        assert_eq!(differs.max_difference_at.as_deref(), Some("metric mse"));
        assert!(differs.max_difference > 0.0 && differs.max_difference < 1e-14);
    }

    #[test]
    fn reports_the_largest_difference() {
        let a = numbers([1.0, 2.0], 3.0, 10.0);
        let b = numbers([1.5, 2.0], 3.25, 10.0);
        let c = compare(&a, &b);
        assert_eq!(c.max_difference_at.as_deref(), Some("coefficient a"));
        assert_eq!(c.max_difference, 0.5);
    }

    #[test]
    fn negative_zero_is_not_zero() {
        let c = compare(&numbers([0.0, 1.0], 0.0, 1.0), &numbers([-0.0, 1.0], 0.0, 1.0));
        assert!(!c.identical, "bit for bit means -0.0 differs from 0.0");
    }

    #[test]
    fn different_features_cannot_be_paired() {
        let mut b = numbers([1.0, 2.0], 3.0, 10.0);
        b.feature_names = vec!["a".into(), "c".into()];
        let c = compare(&numbers([1.0, 2.0], 3.0, 10.0), &b);
        assert!(!c.identical);
        assert!(c.features_differ.is_some_and(|m| m.contains("c")));
    }
}
