//! Data profiles: per-column statistics of a CSV file, saved as JSON so later data can be
//! checked against the data a model was trained on.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::DataError;
use super::columns::{RawColumn, RawTable, read_columns};

/// The `format` field of every profile this version writes.
pub const PROFILE_FORMAT: &str = "mlops-data-profile/1";

/// The quantiles a profile records.
const QUANTILES: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];
/// Bins of each column's histogram.
const HISTOGRAM_BINS: usize = 10;

/// A profile of a whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataProfile {
    pub format: String,
    pub source: String,
    pub sha256: String,
    pub rows: usize,
    pub columns: Vec<ColumnProfile>,
}

/// Statistics of one column. Numbers are over the column's numeric cells; `std` is the sample
/// standard deviation (n − 1 in the denominator, as pandas computes it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    pub name: String,
    /// `double` when every present cell is a number, else `string`.
    #[serde(rename = "type")]
    pub dtype: String,
    pub count: usize,
    pub missing: usize,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub quantiles: Vec<Quantile>,
    pub histogram: Option<Histogram>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantile {
    pub q: f64,
    pub value: f64,
}

/// Equal-width bins between min and max; the last bin includes max.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub counts: Vec<usize>,
}

/// Profiles a CSV file.
pub fn profile_file(path: &Path) -> Result<DataProfile, DataError> {
    Ok(profile_table(&read_columns(path)?))
}

/// Profiles a table already read.
pub fn profile_table(table: &RawTable) -> DataProfile {
    DataProfile {
        format: PROFILE_FORMAT.to_string(),
        source: table.path.display().to_string(),
        sha256: table.sha256.clone(),
        rows: table.rows,
        columns: table.columns.iter().map(profile_column).collect(),
    }
}

/// Reads a profile written by `mlops data profile` (or saved with a training run).
pub fn read_profile(path: &Path) -> Result<DataProfile, DataError> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Open { path: path.to_path_buf(), source })?;
    let profile: DataProfile = serde_json::from_str(&text)
        .map_err(|e| DataError::Profile { path: path.to_path_buf(), message: format!("line {}: {e}", e.line()) })?;
    if profile.format != PROFILE_FORMAT {
        return Err(DataError::Profile {
            path: path.to_path_buf(),
            message: format!("format {:?} is not {PROFILE_FORMAT:?}", profile.format),
        });
    }
    Ok(profile)
}

fn profile_column(column: &RawColumn) -> ColumnProfile {
    let numeric = column.non_numeric == 0;
    let values = &column.values;
    let stats = numeric && !values.is_empty();
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    ColumnProfile {
        name: column.name.clone(),
        dtype: if numeric { "double" } else { "string" }.to_string(),
        count: values.len() + column.non_numeric,
        missing: column.missing,
        mean: stats.then(|| mean(values)),
        std: if numeric { sample_std(values) } else { None },
        min: stats.then(|| sorted[0]),
        max: stats.then(|| sorted[sorted.len() - 1]),
        quantiles: if stats {
            QUANTILES.iter().map(|&q| Quantile { q, value: quantile(&sorted, q) }).collect()
        } else {
            Vec::new()
        },
        histogram: stats.then(|| histogram(&sorted)),
    }
}

/// Arithmetic mean, summed in order (as numpy does for short arrays it is not bit-identical, but
/// within a few ulps).
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample standard deviation (n − 1); `None` with fewer than two values.
pub fn sample_std(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values);
    let ss: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
    Some((ss / (values.len() - 1) as f64).sqrt())
}

/// Quantile with linear interpolation between order statistics (numpy's default method).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let lower = position.floor() as usize;
    let upper = position.ceil() as usize;
    let fraction = position - lower as f64;
    sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
}

fn histogram(sorted: &[f64]) -> Histogram {
    let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
    let width = (max - min) / HISTOGRAM_BINS as f64;
    let edges: Vec<f64> =
        (0..=HISTOGRAM_BINS).map(|i| if i == HISTOGRAM_BINS { max } else { min + width * i as f64 }).collect();
    let mut counts = vec![0usize; HISTOGRAM_BINS];
    for &v in sorted {
        let bin = if width > 0.0 { (((v - min) / width) as usize).min(HISTOGRAM_BINS - 1) } else { 0 };
        counts[bin] += 1;
    }
    Histogram { edges, counts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_match_numpy() {
        let values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(mean(&values), 5.0);
        // numpy.std(values, ddof=1)
        assert!((sample_std(&values).expect("std") - 2.138_089_935_299_395).abs() < 1e-15);
        assert_eq!(sample_std(&[1.0]), None);
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        // numpy.quantile(values, [0.25, 0.5, 0.95])
        assert_eq!(quantile(&sorted, 0.25), 4.0);
        assert_eq!(quantile(&sorted, 0.5), 4.5);
        assert!((quantile(&sorted, 0.95) - 8.3).abs() < 1e-12);
        let h = histogram(&sorted);
        assert_eq!(h.counts.iter().sum::<usize>(), 8);
        assert_eq!(h.edges.len(), 11);
        assert_eq!((h.edges[0], h.edges[10]), (2.0, 9.0));
        assert_eq!(h.counts[9], 1, "max lands in the last bin");
    }
}
