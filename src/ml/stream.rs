//! Training data streamed from a CSV file in three passes, in memory that does not grow with the
//! file beyond the split's one bit per row:
//!
//! 1. **survey**: the header, the SHA-256 and the number of rows of each chunk (the split needs
//!    the row count before any row can be called a test row);
//! 2. **accumulate**: every cell checked, the profile of every column, and the co-moments of the
//!    training rows — all ridge needs;
//! 3. **evaluate**: the fitted model scored on the test rows.
//!
//! Passes 2 and 3 read the chunks found in pass 1 on every core. Lines and rows are numbered
//! from the chunks' row and line counts, so errors name the line wherever they are found.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::comoments::CoMoments;
use super::metrics::RegressionMetrics;
use super::split::TestMask;
use crate::data::chunks::{ChunkSpan, Chunks, ReadOptions, ReadProgress, scan};
use crate::data::columns::{ColumnChunk, ColumnsMerge, sketches};
use crate::data::csv_table::{CsvHead, RowError, cell_text, open_csv, parse_number};
use crate::data::records::RecordReader;
use crate::data::stats::{Merge, Moments, PairwiseMerge, pairwise_sum};
use crate::data::{DataError, RawTable};

/// What pass 1 learnt of a file.
#[derive(Debug, Clone)]
pub struct Survey {
    pub(crate) head: CsvHead,
    pub sha256: String,
    pub rows: usize,
    spans: Vec<ChunkSpan>,
    /// Per chunk: the index of its first row and its first line.
    starts: Vec<(usize, u64)>,
    /// The target's column, and the features' columns in file order.
    target: usize,
    features: Vec<usize>,
}

impl Survey {
    pub fn path(&self) -> &Path {
        &self.head.path
    }

    pub fn columns(&self) -> &[String] {
        &self.head.header
    }

    /// The target's column index.
    pub fn target_index(&self) -> usize {
        self.target
    }

    pub fn feature_names(&self) -> Vec<String> {
        self.features.iter().map(|&i| self.head.header[i].clone()).collect()
    }
}

/// Pass 1: the header (with the target in it), the digest and the rows of each chunk.
pub fn survey(
    path: &Path,
    target: &str,
    options: &ReadOptions,
    progress: &mut dyn ReadProgress,
) -> Result<Survey, DataError> {
    let head = open_csv(path)?;
    let Some(target_index) = head.header.iter().position(|c| c == target) else {
        return Err(DataError::ColumnMissing {
            path: path.to_path_buf(),
            column: target.to_string(),
            available: head.header.clone(),
        });
    };
    if head.header.len() < 2 {
        return Err(DataError::NoFeatures { path: path.to_path_buf(), target: target.to_string() });
    }
    let mut digest = Sha256::new();
    let mut starts = Vec::new();
    let (mut rows, mut line) = (0usize, head.first_line);
    progress.begin("reading", head.stamp.len());
    let (spans, _) = scan(
        path,
        Chunks::Discover { start: head.data_start, digest: Some(&mut digest) },
        options,
        progress,
        RecordReader::default,
        |reader, _, chunk| reader.count(chunk),
        |_, (chunk_rows, lines)| {
            starts.push((rows, line));
            rows += chunk_rows;
            line += lines;
            Ok::<_, DataError>(chunk_rows as u64)
        },
    )?;
    progress.end();
    if rows == 0 {
        return Err(DataError::HeaderOnly { path: path.to_path_buf() });
    }
    let features = (0..head.header.len()).filter(|&i| i != target_index).collect();
    Ok(Survey { head, sha256: hex::encode(digest.finalize()), rows, spans, starts, target: target_index, features })
}

/// What pass 2 gathers.
#[derive(Debug, Clone)]
pub struct Accumulated {
    /// Every column, as `mlops data profile` sees it.
    pub table: RawTable,
    /// Co-moments of the training rows' `[features…, target]` (none without a split).
    pub train: Option<CoMoments>,
    /// The first training row's features, in scikit-learn's order.
    pub example_row: Vec<f64>,
}

struct TrainChunk {
    rows: usize,
    lines: u64,
    columns: crate::data::columns::ColumnSummaries,
    train: CoMoments,
    example: Option<Vec<f64>>,
    first_missing: Option<(u64, usize)>,
    missing: usize,
}

/// Pass 2: checks every cell (a number, finite, present), profiles every column and gathers the
/// training rows' co-moments. `mask` is `None` when the split could not be made; the data is
/// still checked, so bad data is reported before a bad split.
pub fn accumulate(
    survey: &Survey,
    mask: Option<&TestMask>,
    options: &ReadOptions,
    progress: &mut dyn ReadProgress,
) -> Result<Accumulated, DataError> {
    let head = &survey.head;
    let width = head.header.len();
    let order: Vec<usize> = survey.features.iter().copied().chain([survey.target]).collect();
    let shift: Vec<f64> = order.iter().map(|&i| head.first_row.get(i).copied().flatten().unwrap_or(0.0)).collect();
    let mut columns = ColumnsMerge::new(head);
    let mut train = PairwiseMerge::default();
    let mut example_row = Vec::new();
    let mut first_missing: Option<(u64, usize)> = None;
    let mut missing = 0usize;
    progress.begin("training", head.stamp.len());
    let (_, states) = scan(
        &head.path,
        Chunks::Known(&survey.spans),
        options,
        progress,
        || (RecordReader::default(), sketches(head), Vec::<f64>::new(), vec![0.0; width]),
        |(reader, sketches, rows, cells), index, chunk| {
            let mut row_index = survey.starts[index].0;
            let mut chunk_columns = ColumnChunk::new(width);
            let (mut example, mut first_missing, mut missing) = (None, None, 0usize);
            rows.clear();
            let lines = reader.for_each(chunk, |at, record| {
                if record.len() != width {
                    return Err((at, RowError::Ragged { expected: width, found: record.len() }));
                }
                let mut complete = true;
                for (i, cell) in cells.iter_mut().enumerate() {
                    let text = record.get(i);
                    match chunk_columns.cell(i, at, text) {
                        Some(v) => *cell = v,
                        None if text.is_empty() => {
                            complete = false;
                            missing += 1;
                            first_missing.get_or_insert((at, i));
                        }
                        None if parse_number(text).is_some() => {
                            return Err((at, RowError::NonFinite { column: i, value: cell_text(text) }));
                        }
                        None => return Err((at, RowError::NonNumeric { column: i, value: cell_text(text) })),
                    }
                }
                chunk_columns.rows += 1;
                if complete && let Some(mask) = mask {
                    if !mask.is_test(row_index) {
                        rows.extend(order.iter().map(|&i| cells[i]));
                    }
                    if row_index == mask.first_train {
                        example = Some(survey.features.iter().map(|&i| cells[i]).collect());
                    }
                }
                row_index += 1;
                Ok(())
            })?;
            let rows_seen = chunk_columns.rows;
            Ok(TrainChunk {
                rows: rows_seen,
                lines,
                columns: chunk_columns.finish(sketches),
                train: CoMoments::of_rows(rows, &shift),
                example,
                first_missing,
                missing,
            })
        },
        |index, result: Result<TrainChunk, (u64, RowError)>| {
            let (first_row, line) = survey.starts[index];
            let chunk = result.map_err(|(at, e)| e.at(head, line + at))?;
            let expected_rows = survey.starts.get(index + 1).map_or(survey.rows, |s| s.0) - first_row;
            if chunk.rows != expected_rows || survey.starts.get(index + 1).is_some_and(|s| s.1 != line + chunk.lines) {
                return Err(DataError::Changed { path: head.path.clone() });
            }
            missing += chunk.missing;
            if first_missing.is_none() {
                first_missing = chunk.first_missing.map(|(at, column)| (line + at, column));
            }
            columns.push(chunk.columns, line);
            train.push(chunk.train);
            if let Some(example) = chunk.example {
                example_row = example;
            }
            Ok(chunk.rows as u64)
        },
    )?;
    progress.end();
    head.stamp.check(&head.path)?;
    if let Some((line, column)) = first_missing {
        return Err(DataError::Missing {
            path: head.path.clone(),
            line,
            column: head.header[column].clone(),
            others: missing - 1,
        });
    }
    let (rows, columns) = columns.finish(states.into_iter().map(|s| s.1).collect());
    let table = RawTable { path: head.path.clone(), sha256: survey.sha256.clone(), rows, columns };
    Ok(Accumulated { table, train: mask.and(train.finish()), example_row })
}

/// A chunk's share of the test metrics.
struct TestSums {
    n: u64,
    squared: f64,
    absolute: f64,
    y: Moments,
}

impl Merge for TestSums {
    fn merge(&mut self, later: Self) {
        self.n += later.n;
        self.squared += later.squared;
        self.absolute += later.absolute;
        self.y.merge(later.y);
    }
}

/// Pass 3: the metrics of `predict` (features in file order) on the test rows.
pub fn evaluate(
    survey: &Survey,
    mask: &TestMask,
    predict: impl Fn(&[f64]) -> f64 + Sync,
    options: &ReadOptions,
    progress: &mut dyn ReadProgress,
) -> Result<RegressionMetrics, DataError> {
    let head = &survey.head;
    let y_shift = head.first_row.get(survey.target).copied().flatten().unwrap_or(0.0);
    let mut sums = PairwiseMerge::default();
    progress.begin("testing", head.stamp.len());
    scan(
        &head.path,
        Chunks::Known(&survey.spans),
        options,
        progress,
        || (RecordReader::default(), Vec::new(), Vec::new(), Vec::new()),
        |(reader, x, residuals, ys): &mut (RecordReader, Vec<f64>, Vec<f64>, Vec<f64>), index, chunk| {
            let mut row_index = survey.starts[index].0;
            residuals.clear();
            ys.clear();
            reader
                .for_each(chunk, |_, record| {
                    if mask.is_test(row_index) {
                        x.clear();
                        x.extend(survey.features.iter().map(|&i| parse_number(record.get(i)).unwrap_or(f64::NAN)));
                        let y = parse_number(record.get(survey.target)).unwrap_or(f64::NAN);
                        residuals.push(y - predict(x));
                        ys.push(y);
                    }
                    row_index += 1;
                    Ok::<_, ()>(())
                })
                .ok();
            TestSums {
                n: ys.len() as u64,
                squared: pairwise_sum(0..residuals.len(), &|i| residuals[i] * residuals[i]),
                absolute: pairwise_sum(0..residuals.len(), &|i| residuals[i].abs()),
                y: Moments::shifted(ys, y_shift),
            }
        },
        |index, chunk: TestSums| {
            sums.push(chunk);
            let first = survey.starts[index].0;
            Ok::<_, DataError>((survey.starts.get(index + 1).map_or(survey.rows, |s| s.0) - first) as u64)
        },
    )?;
    progress.end();
    head.stamp.check(&head.path)?;
    let sums = sums.finish().unwrap_or(TestSums { n: 0, squared: 0.0, absolute: 0.0, y: Moments::default() });
    if sums.n as usize != mask.n_test || !sums.squared.is_finite() {
        return Err(DataError::Changed { path: head.path.clone() });
    }
    Ok(RegressionMetrics::from_sums(sums.n, sums.squared, sums.absolute, sums.y.m2))
}
