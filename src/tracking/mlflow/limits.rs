//! The server's limits on what one `log-batch` carries and on the values it keeps whole.

use super::super::Metric;

/// The server's batch limits (`mlflow/utils/validation.py`).
pub const MAX_METRICS_PER_BATCH: usize = 1000;
pub const MAX_PARAMS_PER_BATCH: usize = 100;
pub const MAX_TAGS_PER_BATCH: usize = 100;
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;
/// Values the server would silently truncate; the client refuses them instead.
pub const MAX_PARAM_VALUE: usize = 6000;
pub const MAX_TAG_VALUE: usize = 8000;
pub const MAX_KEY: usize = 250;

/// A value the server would truncate or mangle.
#[derive(Debug, thiserror::Error)]
#[error("{what} {key:?}: {message}")]
pub struct ValueError {
    pub what: &'static str,
    pub key: String,
    pub message: String,
}

/// Refuses values the server would truncate (params > 6000, tags > 8000 characters), over-long
/// keys, and infinite metrics. NaN is kept: MLflow's SQL store records it as such (an `is_nan`
/// flag) and gives NaN back, as scikit-learn's R² on one sample needs; infinity it would clamp to
/// ±1.8e308.
pub fn check_values(
    metrics: &[(String, Metric)],
    params: &[(String, String)],
    tags: &[(String, String)],
) -> Result<(), ValueError> {
    let key_check = |what: &'static str, key: &str| {
        if key.chars().count() > MAX_KEY {
            return Err(ValueError {
                what,
                key: key.chars().take(40).collect::<String>() + "…",
                message: format!("key longer than {MAX_KEY} characters"),
            });
        }
        Ok(())
    };
    for (key, metric) in metrics {
        key_check("metric", key)?;
        if metric.value.is_infinite() {
            return Err(ValueError {
                what: "metric",
                key: key.clone(),
                message: format!("value {} is infinite; MLflow would store it as a sentinel", metric.value),
            });
        }
    }
    for (what, entries, limit) in [("param", params, MAX_PARAM_VALUE), ("tag", tags, MAX_TAG_VALUE)] {
        for (key, value) in entries {
            key_check(what, key)?;
            let length = value.chars().count();
            if length > limit {
                return Err(ValueError {
                    what,
                    key: key.clone(),
                    message: format!("value is {length} characters; the server keeps only {limit}"),
                });
            }
        }
    }
    Ok(())
}

/// One `log-batch` request's worth of entities.
#[derive(Debug, Default, PartialEq)]
pub struct Batch<'a> {
    pub metrics: &'a [(String, Metric)],
    pub params: &'a [(String, String)],
    pub tags: &'a [(String, String)],
}

/// Splits entities into batches within every per-kind limit and the total limit.
pub fn batches<'a>(
    metrics: &'a [(String, Metric)],
    params: &'a [(String, String)],
    tags: &'a [(String, String)],
) -> Vec<Batch<'a>> {
    let mut out = Vec::new();
    let (mut m, mut p, mut t) = (metrics, params, tags);
    while !(m.is_empty() && p.is_empty() && t.is_empty()) {
        let np = p.len().min(MAX_PARAMS_PER_BATCH);
        let nt = t.len().min(MAX_TAGS_PER_BATCH).min(MAX_ENTITIES_PER_BATCH - np);
        let nm = m.len().min(MAX_METRICS_PER_BATCH).min(MAX_ENTITIES_PER_BATCH - np - nt);
        out.push(Batch { metrics: &m[..nm], params: &p[..np], tags: &t[..nt] });
        (m, p, t) = (&m[nm..], &p[np..], &t[nt..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(n: usize) -> Vec<(String, String)> {
        (0..n).map(|i| (format!("k{i}"), "v".to_string())).collect()
    }

    #[test]
    fn batches_respect_every_limit() {
        let metrics: Vec<(String, Metric)> =
            (0..2500).map(|i| (format!("m{i}"), Metric { value: 1.0, timestamp: 0, step: 0 })).collect();
        let params = kv(250);
        let tags = kv(120);
        let chunks = batches(&metrics, &params, &tags);
        for c in &chunks {
            assert!(c.metrics.len() <= 1000 && c.params.len() <= 100 && c.tags.len() <= 100);
            assert!(c.metrics.len() + c.params.len() + c.tags.len() <= 1000);
        }
        assert_eq!(chunks.iter().map(|c| c.metrics.len()).sum::<usize>(), 2500);
        assert_eq!(chunks.iter().map(|c| c.params.len()).sum::<usize>(), 250);
        assert_eq!(chunks.iter().map(|c| c.tags.len()).sum::<usize>(), 120);
        assert!(batches(&[], &[], &[]).is_empty());
    }

    #[test]
    fn value_checks() {
        assert!(check_values(&[], &[("a".into(), "x".repeat(6001))], &[]).is_err());
        assert!(check_values(&[], &[("a".into(), "x".repeat(6000))], &[]).is_ok());
        assert!(check_values(&[], &[], &[("t".into(), "x".repeat(8001))]).is_err());
        assert!(check_values(&[], &[("k".repeat(251), "v".into())], &[]).is_err());
        assert!(
            check_values(&[("m".into(), Metric { value: f64::INFINITY, timestamp: 0, step: 0 })], &[], &[]).is_err()
        );
        assert!(check_values(&[("m".into(), Metric { value: f64::NAN, timestamp: 0, step: 0 })], &[], &[]).is_ok());
    }
}
