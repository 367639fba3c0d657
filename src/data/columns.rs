//! Reading a CSV file column by column without rejecting it: missing and non-numeric cells are
//! counted, so that profiling and validation can report them instead of stopping at the first.

use std::path::{Path, PathBuf};

use super::DataError;
use super::csv_table::open_csv;

/// One column of a CSV file: its numeric cells, and what was wrong with the others.
#[derive(Debug, Clone, Default)]
pub struct RawColumn {
    pub name: String,
    /// The numeric cells, in row order (missing and non-numeric cells left out).
    pub values: Vec<f64>,
    pub missing: usize,
    /// The first missing cell's line number.
    pub first_missing_line: Option<u64>,
    pub non_numeric: usize,
    /// The first non-numeric cell: line and text.
    pub first_non_numeric: Option<(u64, String)>,
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
/// (no header, ragged rows, broken quoting) are errors.
pub fn read_columns(path: &Path) -> Result<RawTable, DataError> {
    let mut file = open_csv(path)?;
    let mut columns: Vec<RawColumn> =
        file.header.iter().map(|name| RawColumn { name: name.clone(), ..RawColumn::default() }).collect();
    let rows = file.for_each_row(path, |line, record| {
        for (column, cell) in columns.iter_mut().zip(record.iter()) {
            if cell.is_empty() {
                column.missing += 1;
                column.first_missing_line.get_or_insert(line);
                continue;
            }
            match cell.parse::<f64>() {
                Ok(value) if value.is_finite() => column.values.push(value),
                _ => {
                    column.non_numeric += 1;
                    column.first_non_numeric.get_or_insert_with(|| (line, cell.to_string()));
                }
            }
        }
        Ok(())
    })?;
    if rows == 0 {
        return Err(DataError::HeaderOnly { path: path.to_path_buf() });
    }
    Ok(RawTable { path: path.to_path_buf(), sha256: file.sha256, rows, columns })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn counts_missing_and_non_numeric_cells() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(b"a,b\n1,\n,x\n3,4\n").expect("write");
        let t = read_columns(f.path()).expect("readable");
        assert_eq!(t.rows, 3);
        assert_eq!(t.columns[0].values, [1.0, 3.0]);
        assert_eq!((t.columns[0].missing, t.columns[0].first_missing_line), (1, Some(3)));
        assert_eq!(t.columns[1].missing, 1);
        assert_eq!(t.columns[1].first_non_numeric, Some((3, "x".to_string())));
    }
}
