//! Data profiles: per-column statistics of a CSV file, saved as JSON so later data can be
//! checked against the data a model was trained on.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::DataError;
use super::chunks::{ReadOptions, ReadProgress};
use super::columns::{RawColumn, RawTable, read_columns};
use super::quantiles::{SKETCH_RELATIVE_ERROR, bin, exact_quantile};

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
    /// Present when the column had more values than are kept for exact quantiles: quantiles and
    /// histogram then come from a sketch, each quantile within this fraction of (max − min) of
    /// the exact one (see `data::quantiles`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile_error: Option<f64>,
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

/// Profiles a CSV file in one streamed pass.
pub fn profile_file(
    path: &Path,
    options: &ReadOptions,
    progress: &mut dyn ReadProgress,
) -> Result<DataProfile, DataError> {
    Ok(profile_table(&read_columns(path, options, progress)?))
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
    let bytes = std::fs::read(path).map_err(|source| DataError::Open { path: path.to_path_buf(), source })?;
    let at = |e: crate::decode::DecodeError| DataError::Profile {
        path: path.to_path_buf(),
        message: format!("line {}, column {}: {}", e.line, e.column, e.message),
    };
    // Decoded to a value first, so that a key given twice is refused rather than read as its last.
    let value = crate::decode::json_bytes(&bytes).map_err(at)?;
    let profile: DataProfile = serde_json::from_value(value)
        .map_err(|e| DataError::Profile { path: path.to_path_buf(), message: e.to_string() })?;
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
    let m = &column.moments;
    let stats = numeric && m.n > 0;
    let mut profile = ColumnProfile {
        name: column.name.clone(),
        dtype: if numeric { "double" } else { "string" }.to_string(),
        count: m.n as usize + column.non_numeric,
        missing: column.missing,
        mean: stats.then_some(m.mean()),
        std: if numeric { m.sample_std() } else { None },
        min: stats.then_some(m.min),
        max: stats.then_some(m.max),
        quantiles: Vec::new(),
        histogram: None,
        quantile_error: None,
    };
    if !stats {
        return profile;
    }
    let edges: Vec<f64> = (0..=HISTOGRAM_BINS)
        .map(|i| if i == HISTOGRAM_BINS { m.max } else { m.min + (m.max - m.min) / HISTOGRAM_BINS as f64 * i as f64 })
        .collect();
    let width = (m.max - m.min) / HISTOGRAM_BINS as f64;
    if let Some(values) = &column.exact {
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        profile.quantiles = QUANTILES.iter().map(|&q| Quantile { q, value: exact_quantile(&sorted, q) }).collect();
        let mut counts = vec![0usize; HISTOGRAM_BINS];
        for &v in &sorted {
            counts[bin(v, m.min, width, HISTOGRAM_BINS)] += 1;
        }
        profile.histogram = Some(Histogram { edges, counts });
    } else if let Some(sketch) = &column.sketch {
        profile.quantiles =
            QUANTILES.iter().map(|&q| Quantile { q, value: sketch.quantile(q, m.n, m.min, m.max) }).collect();
        profile.histogram = Some(Histogram { edges, counts: sketch.histogram(HISTOGRAM_BINS, m.min, m.max) });
        profile.quantile_error = Some(SKETCH_RELATIVE_ERROR);
    }
    profile
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::RawColumn;
    use crate::data::stats::Moments;

    #[test]
    fn exact_statistics_match_numpy() {
        let values = vec![2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let column =
            RawColumn { name: "a".into(), moments: Moments::of(&values), exact: Some(values), ..RawColumn::default() };
        let p = profile_column(&column);
        assert_eq!(p.mean, Some(5.0));
        // numpy.std(values, ddof=1), numpy.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95])
        assert!((p.std.expect("std") - 2.138_089_935_299_395).abs() < 1e-15);
        let q: Vec<f64> = p.quantiles.iter().map(|q| q.value).collect();
        assert_eq!(&q[1..3], [4.0, 4.5]);
        assert!((q[4] - 8.3).abs() < 1e-12);
        let h = p.histogram.expect("histogram");
        assert_eq!(h.counts.iter().sum::<usize>(), 8);
        assert_eq!((h.edges[0], h.edges[10]), (2.0, 9.0));
        assert_eq!(h.counts[9], 1, "max lands in the last bin");
        assert_eq!(p.quantile_error, None);
    }
}
