//! Reading a CSV file column by column without rejecting it: missing and non-numeric cells are
//! counted, so that profiling and validation can report them instead of stopping at the first.
//!
//! One streamed pass, on every core, computes everything a profile needs (counts, moments,
//! quantiles, histogram) and the file's SHA-256; memory does not grow with the number of rows.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::DataError;
use super::chunks::{Chunks, ReadOptions, ReadProgress, scan};
use super::csv_table::{CsvHead, RowError, cell_text, open_csv, parse_number};
use super::quantiles::{EXACT_LIMIT, Sketch};
use super::records::RecordReader;
use super::stats::{Moments, PairwiseMerge};

/// One column of a CSV file: statistics of its numeric cells, and what was wrong with the others.
#[derive(Debug, Clone, Default)]
pub struct RawColumn {
    pub name: String,
    /// Count, mean, spread and range of the numeric cells.
    pub moments: Moments,
    pub missing: usize,
    /// The first missing cell's line number.
    pub first_missing_line: Option<u64>,
    pub non_numeric: usize,
    /// The first non-numeric cell: line and text.
    pub first_non_numeric: Option<(u64, String)>,
    /// The numeric cells in row order, kept while there are at most [`EXACT_LIMIT`].
    pub exact: Option<Vec<f64>>,
    /// The numeric cells' distribution when there are more.
    pub sketch: Option<Sketch>,
}

/// A CSV file read leniently.
#[derive(Debug, Clone)]
pub struct RawTable {
    pub path: PathBuf,
    pub sha256: String,
    pub rows: usize,
    pub columns: Vec<RawColumn>,
}

/// Reads `path` as CSV with a header row. Only problems that make the file unreadable as a table
/// (no header, ragged rows) are errors.
pub fn read_columns(
    path: &Path,
    options: &ReadOptions,
    progress: &mut dyn ReadProgress,
) -> Result<RawTable, DataError> {
    let head = open_csv(path)?;
    let width = head.header.len();
    let mut digest = Sha256::new();
    let mut merge = ColumnsMerge::new(&head);
    let mut line = head.first_line;
    progress.begin("reading", head.stamp.len());
    let (_, states) = scan(
        path,
        Chunks::Discover { start: head.data_start, digest: Some(&mut digest) },
        options,
        progress,
        || (RecordReader::default(), sketches(&head)),
        |(reader, sketches), _, chunk| {
            let mut columns = ColumnChunk::new(width);
            let lines = reader.for_each(chunk, |at, record| {
                if record.len() != width {
                    return Err((at, RowError::Ragged { expected: width, found: record.len() }));
                }
                for i in 0..width {
                    columns.cell(i, at, record.get(i));
                }
                columns.rows += 1;
                Ok(())
            })?;
            Ok((lines, columns.finish(sketches)))
        },
        |_, result: Result<(u64, ColumnSummaries), (u64, RowError)>| {
            let (lines, summaries) = result.map_err(|(at, e)| e.at(&head, line + at))?;
            let rows = summaries.rows as u64;
            merge.push(summaries, line);
            line += lines;
            Ok::<_, DataError>(rows)
        },
    )?;
    progress.end();
    head.stamp.check(path)?;
    let (rows, columns) = merge.finish(states.into_iter().map(|(_, sketches)| sketches).collect());
    if rows == 0 {
        return Err(DataError::HeaderOnly { path: path.to_path_buf() });
    }
    Ok(RawTable { path: path.to_path_buf(), sha256: hex::encode(digest.finalize()), rows, columns })
}

/// One sketch per column, shifted by the first row's value so that columns far from zero keep
/// their resolution.
pub(crate) fn sketches(head: &CsvHead) -> Vec<Sketch> {
    (0..head.header.len())
        .map(|i| Sketch::new(head.first_row.get(i).copied().flatten().filter(|v| v.is_finite()).unwrap_or(0.0)))
        .collect()
}

/// One chunk's cells, column by column.
pub(crate) struct ColumnChunk {
    values: Vec<Vec<f64>>,
    missing: Vec<usize>,
    first_missing: Vec<Option<u64>>,
    non_numeric: Vec<usize>,
    first_non_numeric: Vec<Option<(u64, String)>>,
    pub rows: usize,
}

/// What a chunk contributes to each column; lines are relative to the chunk's first line.
pub(crate) struct ColumnSummaries {
    rows: usize,
    moments: Vec<Moments>,
    values: Vec<Vec<f64>>,
    missing: Vec<usize>,
    first_missing: Vec<Option<u64>>,
    non_numeric: Vec<usize>,
    first_non_numeric: Vec<Option<(u64, String)>>,
}

impl ColumnChunk {
    pub fn new(width: usize) -> Self {
        ColumnChunk {
            values: vec![Vec::new(); width],
            missing: vec![0; width],
            first_missing: vec![None; width],
            non_numeric: vec![0; width],
            first_non_numeric: vec![None; width],
            rows: 0,
        }
    }

    /// Records one cell of column `i`; returns it when it is a finite number.
    pub fn cell(&mut self, i: usize, line: u64, cell: &[u8]) -> Option<f64> {
        if cell.is_empty() {
            self.missing[i] += 1;
            self.first_missing[i].get_or_insert(line);
            return None;
        }
        match parse_number(cell) {
            Some(value) if value.is_finite() => {
                self.values[i].push(value);
                Some(value)
            }
            _ => {
                self.non_numeric[i] += 1;
                self.first_non_numeric[i].get_or_insert_with(|| (line, cell_text(cell)));
                None
            }
        }
    }

    /// The chunk's statistics; its values also go into this thread's sketches.
    pub fn finish(self, sketches: &mut [Sketch]) -> ColumnSummaries {
        for (values, sketch) in self.values.iter().zip(sketches.iter_mut()) {
            for &v in values {
                sketch.add(v);
            }
        }
        ColumnSummaries {
            rows: self.rows,
            moments: self.values.iter().zip(sketches.iter()).map(|(v, s)| Moments::shifted(v, s.shift())).collect(),
            values: self.values,
            missing: self.missing,
            first_missing: self.first_missing,
            non_numeric: self.non_numeric,
            first_non_numeric: self.first_non_numeric,
        }
    }
}

/// Chunk summaries merged in file order.
pub(crate) struct ColumnsMerge {
    rows: usize,
    columns: Vec<RawColumn>,
    moments: Vec<PairwiseMerge<Moments>>,
}

impl ColumnsMerge {
    pub fn new(head: &CsvHead) -> Self {
        ColumnsMerge {
            rows: 0,
            columns: head
                .header
                .iter()
                .map(|name| RawColumn { name: name.clone(), exact: Some(Vec::new()), ..RawColumn::default() })
                .collect(),
            moments: head.header.iter().map(|_| PairwiseMerge::default()).collect(),
        }
    }

    /// Adds the next chunk, whose first line is `line`.
    pub fn push(&mut self, chunk: ColumnSummaries, line: u64) {
        self.rows += chunk.rows;
        let parts = chunk.moments.into_iter().zip(chunk.values).zip(chunk.missing).zip(chunk.first_missing);
        let parts = parts.zip(chunk.non_numeric).zip(chunk.first_non_numeric);
        for (i, (((((moments, values), missing), first_missing), non_numeric), first_non_numeric)) in parts.enumerate()
        {
            let column = &mut self.columns[i];
            column.missing += missing;
            column.non_numeric += non_numeric;
            if column.first_missing_line.is_none() {
                column.first_missing_line = first_missing.map(|at| line + at);
            }
            if column.first_non_numeric.is_none() {
                column.first_non_numeric = first_non_numeric.map(|(at, text)| (line + at, text));
            }
            self.moments[i].push(moments);
            if let Some(exact) = &mut column.exact {
                if exact.len() + values.len() <= EXACT_LIMIT {
                    exact.extend_from_slice(&values);
                } else {
                    column.exact = None;
                }
            }
        }
    }

    /// The columns, with the threads' sketches merged where the exact values were not kept.
    pub fn finish(mut self, per_thread: Vec<Vec<Sketch>>) -> (usize, Vec<RawColumn>) {
        // Taken, not cloned: a clone would touch every page of the bucket arrays.
        let mut per_column: Vec<Vec<Sketch>> = self.columns.iter().map(|_| Vec::new()).collect();
        for sketches in per_thread {
            for (column, sketch) in per_column.iter_mut().zip(sketches) {
                column.push(sketch);
            }
        }
        for ((column, moments), sketches) in self.columns.iter_mut().zip(self.moments).zip(per_column) {
            column.moments = moments.finish().unwrap_or_default();
            if column.exact.is_none() {
                column.sketch = sketches.into_iter().reduce(|mut merged, sketch| {
                    merged.merge(&sketch);
                    merged
                });
            }
        }
        (self.rows, self.columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::chunks::NoProgress;
    use std::io::Write;

    fn read(contents: &str, chunk_bytes: usize, threads: usize) -> Result<RawTable, DataError> {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(contents.as_bytes()).expect("write");
        read_columns(f.path(), &ReadOptions { threads, chunk_bytes }, &mut NoProgress)
    }

    #[test]
    fn counts_missing_and_non_numeric_cells() {
        for eol in ["\n", "\r\n", "\r"] {
            for chunk_bytes in [1, 5, 1 << 20] {
                let t = read(&format!("a,b{eol}1,{eol},x{eol}3,4{eol}"), chunk_bytes, 2).expect("readable");
                assert_eq!(t.rows, 3);
                assert_eq!(t.columns[0].exact.as_deref(), Some(&[1.0, 3.0][..]));
                assert_eq!((t.columns[0].missing, t.columns[0].first_missing_line), (1, Some(3)), "{eol:?}");
                assert_eq!((t.columns[1].missing, t.columns[1].first_missing_line), (1, Some(2)), "{eol:?}");
                assert_eq!(t.columns[1].first_non_numeric, Some((3, "x".to_string())), "{eol:?}");
                assert_eq!(t.columns[1].moments.mean(), 4.0);
            }
        }
    }

    #[test]
    fn ragged_rows_are_errors_at_their_line() {
        for eol in ["\n", "\r\n", "\r"] {
            let err = read(&format!("a,b{eol}1,2{eol}{eol}3{eol}"), 4, 2).expect_err("ragged");
            assert!(matches!(err, DataError::Ragged { line: 4, expected: 2, found: 1, .. }), "{eol:?}: {err}");
        }
    }

    /// Found by the `csv` fuzz target (a timeout with one-byte chunks on a loaded machine; the
    /// read takes about a second under the address sanitizer): any chunk size gives the same answer.
    #[test]
    fn one_byte_chunks_give_the_same_answer() {
        let path =
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fuzz/csv-timeout-one-byte-chunks.csv"));
        let at = |chunk_bytes| read_columns(path, &ReadOptions { threads: 1, chunk_bytes }, &mut NoProgress);
        // The fuzzer's input is ragged at line 3; one-byte chunks say so just as one chunk does.
        let (whole, tiny) = (at(1 << 20).expect_err("ragged"), at(1).expect_err("ragged"));
        assert!(matches!(whole, DataError::Ragged { line: 3, expected: 11, found: 14, .. }), "{whole}");
        assert_eq!(tiny.to_string(), whole.to_string());
    }

    #[test]
    fn one_and_many_threads_agree_bit_for_bit() {
        let text: String = std::iter::once("a,b\n".to_string())
            .chain((0..5000).map(|i| format!("{},{}\n", 1e6 + (i as f64).sin(), (i * 37 % 101) as f64 / 7.0)))
            .collect();
        let one = read(&text, 997, 1).expect("valid");
        let many = read(&text, 997, 4).expect("valid");
        for (a, b) in one.columns.iter().zip(&many.columns) {
            assert_eq!(a.moments.mean().to_bits(), b.moments.mean().to_bits());
            assert_eq!(a.moments.m2.to_bits(), b.moments.m2.to_bits());
        }
        assert_eq!(one.sha256, many.sha256);
        assert_eq!(one.sha256, hex::encode(Sha256::digest(text.as_bytes())));
    }
}
