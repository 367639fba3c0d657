//! Batch scoring of a CSV file, streamed: chunks are scored on every core and their predictions
//! handed out in row order, so memory does not grow with the file.

use std::path::Path;

use super::model::LinearModel;
use crate::data::DataError;
use crate::data::chunks::{Chunks, ReadOptions, ReadProgress, scan};
use crate::data::csv_table::{RowError, cell_text, open_csv, parse_number, select_columns};
use crate::data::records::RecordReader;

/// One chunk's predictions (with the id column's cells when one is named), or where its first
/// missing cell is.
struct Scored {
    predictions: Vec<f64>,
    ids: Vec<String>,
    lines: u64,
    missing: usize,
    first_missing: Option<(u64, usize)>,
}

/// A run of consecutive scored rows, as handed to the sink.
pub struct Batch<'a> {
    /// The 0-based data row number of the first prediction.
    pub first_row: usize,
    /// The id column's cells, one per prediction; empty when no id column was named.
    pub ids: &'a [String],
    pub predictions: &'a [f64],
}

/// Scores every row of `path` with `model` (columns found by name; others may hold anything)
/// and hands the predictions to `sink` in row order, a chunk at a time. Returns the row count.
/// With `id_column`, each batch also carries that column's cells (as text, unparsed).
///
/// A missing cell stops the predictions (nothing after it reaches `sink`), but the rest of the
/// file is still read so that the error can say how many cells are missing in all.
pub fn predict_file<E: From<DataError>>(
    model: &LinearModel,
    path: &Path,
    options: &ReadOptions,
    id_column: Option<&str>,
    progress: &mut dyn ReadProgress,
    mut sink: impl FnMut(Batch<'_>) -> Result<(), E>,
) -> Result<usize, E> {
    let head = open_csv(path)?;
    let wanted = select_columns(path, &head.header, &model.feature_names)?;
    let id = match id_column {
        Some(name) => Some(select_columns(path, &head.header, &[name.to_string()])?[0]),
        None => None,
    };
    let width = head.header.len();
    let (mut line, mut rows, mut missing) = (head.first_line, 0usize, 0usize);
    let mut first_missing: Option<(u64, usize)> = None;
    progress.begin("scoring", head.stamp.len());
    scan(
        path,
        Chunks::Discover { start: head.data_start, digest: None },
        options,
        progress,
        RecordReader::default,
        |reader, _, chunk| {
            let mut scored =
                Scored { predictions: Vec::new(), ids: Vec::new(), lines: 0, missing: 0, first_missing: None };
            scored.lines = reader.for_each(chunk, |at, record| {
                if record.len() != width {
                    return Err((at, RowError::Ragged { expected: width, found: record.len() }));
                }
                let mut sum = 0.0;
                for (&column, w) in wanted.iter().zip(&model.coefficients) {
                    let cell = record.get(column);
                    match parse_number(cell) {
                        Some(x) if x.is_finite() => sum += x * w,
                        Some(_) => return Err((at, RowError::NonFinite { column, value: cell_text(cell) })),
                        None if cell.is_empty() => {
                            scored.missing += 1;
                            scored.first_missing.get_or_insert((at, column));
                        }
                        None => return Err((at, RowError::NonNumeric { column, value: cell_text(cell) })),
                    }
                }
                scored.predictions.push(sum + model.intercept);
                if let Some(column) = id {
                    scored.ids.push(String::from_utf8_lossy(record.get(column)).into_owned());
                }
                Ok(())
            })?;
            Ok(scored)
        },
        |_, result: Result<Scored, (u64, RowError)>| {
            let scored = result.map_err(|(at, e)| E::from(e.at(&head, line + at)))?;
            missing += scored.missing;
            if first_missing.is_none() {
                first_missing = scored.first_missing.map(|(at, column)| (line + at, column));
                if first_missing.is_none() {
                    sink(Batch { first_row: rows, ids: &scored.ids, predictions: &scored.predictions })?;
                }
            }
            rows += scored.predictions.len();
            line += scored.lines;
            Ok::<_, E>(scored.predictions.len() as u64)
        },
    )?;
    progress.end();
    if let Some((line, column)) = first_missing {
        let column = head.header[column].clone();
        return Err(DataError::Missing { path: path.to_path_buf(), line, column, others: missing - 1 }.into());
    }
    if rows == 0 {
        return Err(DataError::HeaderOnly { path: path.to_path_buf() }.into());
    }
    Ok(rows)
}
