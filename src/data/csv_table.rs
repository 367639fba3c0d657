//! Reading a numeric CSV file into a row-major matrix, keeping the file's digest for lineage.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use sha2::{Digest, Sha256};

use super::DataError;

/// A numeric table read from a CSV file.
#[derive(Debug, Clone)]
pub struct Table {
    /// The file it was read from, as given.
    pub path: PathBuf,
    /// Column names in file order (only the selected ones, when a selection was asked for).
    pub columns: Vec<String>,
    /// One row per data row, one column per entry of `columns`.
    pub values: Array2<f64>,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
}

impl Table {
    /// Index of a column by exact name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Number of data rows.
    pub fn n_rows(&self) -> usize {
        self.values.nrows()
    }
}

/// A CSV file opened for reading: its checked header, its digest, and a reader over the rows.
pub(crate) struct CsvFile {
    reader: csv::Reader<std::io::Cursor<Vec<u8>>>,
    pub header: Vec<String>,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
}

/// Reads the whole file once (for its digest), refuses an empty one, and checks the header.
pub(crate) fn open_csv(path: &Path) -> Result<CsvFile, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Open { path: path.to_path_buf(), source })?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(DataError::Empty { path: path.to_path_buf() });
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(std::io::Cursor::new(bytes));
    let header: Vec<String> = reader.headers().map_err(csv_error(path))?.iter().map(str::to_string).collect();
    check_header(path, &header)?;
    Ok(CsvFile { reader, header, sha256 })
}

impl CsvFile {
    /// Calls `row` with each data row and its line number, in file order, and returns how many
    /// rows there were. Blank lines are skipped (as pandas skips them); a row with another number
    /// of fields than the header, or broken quoting, is an error naming its line.
    pub fn for_each_row(
        &mut self,
        path: &Path,
        mut row: impl FnMut(u64, &csv::StringRecord) -> Result<(), DataError>,
    ) -> Result<usize, DataError> {
        let mut rows = 0usize;
        let mut record = csv::StringRecord::new();
        while self.reader.read_record(&mut record).map_err(csv_error(path))? {
            let line = record.position().map_or(0, |p| p.line());
            if record.len() == 1 && record.get(0) == Some("") {
                continue;
            }
            if record.len() != self.header.len() {
                return Err(DataError::Ragged {
                    path: path.to_path_buf(),
                    line,
                    expected: self.header.len(),
                    found: record.len(),
                });
            }
            row(line, &record)?;
            rows += 1;
        }
        Ok(rows)
    }
}

/// A CSV parse error, located at its line in `path`.
fn csv_error(path: &Path) -> impl Fn(csv::Error) -> DataError + '_ {
    move |source: csv::Error| DataError::Csv {
        path: path.to_path_buf(),
        line: source.position().map_or(1, |p| p.line()),
        source,
    }
}

/// Reads `path` as CSV with a header row; every selected cell must be a finite number.
///
/// With `select`, only those columns are parsed, in that order (others may hold anything);
/// without it, every column is. Numbers are parsed with Rust's correctly rounded `f64` parser,
/// which gives the same value as pandas' round-trip parser for every decimal literal.
pub fn read_numeric_csv(path: &Path, select: Option<&[String]>) -> Result<Table, DataError> {
    let mut file = open_csv(path)?;
    let header = file.header.clone();

    let wanted: Vec<usize> = match select {
        None => (0..header.len()).collect(),
        Some(names) => names
            .iter()
            .map(|name| {
                header.iter().position(|h| h == name).ok_or_else(|| DataError::ColumnMissing {
                    path: path.to_path_buf(),
                    column: name.clone(),
                    available: header.clone(),
                })
            })
            .collect::<Result<_, _>>()?,
    };

    let mut values: Vec<f64> = Vec::new();
    let mut first_missing: Option<(u64, String)> = None;
    let mut missing_count = 0usize;
    let n_rows = file.for_each_row(path, |line, record| {
        for &col in &wanted {
            let cell = record.get(col).unwrap_or_default();
            if cell.is_empty() {
                missing_count += 1;
                if first_missing.is_none() {
                    first_missing = Some((line, header[col].clone()));
                }
                values.push(f64::NAN);
                continue;
            }
            let value: f64 = cell.parse().map_err(|_| DataError::NonNumeric {
                path: path.to_path_buf(),
                line,
                column: header[col].clone(),
                value: cell.to_string(),
            })?;
            if !value.is_finite() {
                return Err(DataError::NonFinite {
                    path: path.to_path_buf(),
                    line,
                    column: header[col].clone(),
                    value: cell.to_string(),
                });
            }
            values.push(value);
        }
        Ok(())
    })?;
    if let Some((line, column)) = first_missing {
        return Err(DataError::Missing { path: path.to_path_buf(), line, column, others: missing_count - 1 });
    }
    if n_rows == 0 {
        return Err(DataError::HeaderOnly { path: path.to_path_buf() });
    }
    let columns: Vec<String> = wanted.iter().map(|&i| header[i].clone()).collect();
    let values = Array2::from_shape_vec((n_rows, columns.len()), values)
        .expect("one value was pushed per selected column of every row");
    Ok(Table { path: path.to_path_buf(), columns, values, sha256: file.sha256 })
}

pub(crate) fn check_header(path: &Path, header: &[String]) -> Result<(), DataError> {
    for (i, name) in header.iter().enumerate() {
        if name.is_empty() {
            return Err(DataError::EmptyColumnName { path: path.to_path_buf(), index: i + 1 });
        }
        if let Some(j) = header[..i].iter().position(|earlier| earlier == name) {
            return Err(DataError::DuplicateColumn {
                path: path.to_path_buf(),
                column: name.clone(),
                first: j + 1,
                second: i + 1,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(contents: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(contents.as_bytes()).expect("write");
        f
    }

    fn read(contents: &str) -> Result<Table, DataError> {
        let f = file(contents);
        read_numeric_csv(f.path(), None)
    }

    #[test]
    fn reads_numbers_exactly() {
        let t = read("a,b\n0.1,2\n-3e-2,4.5\n").expect("valid");
        assert_eq!(t.columns, ["a", "b"]);
        assert_eq!(t.values.row(0).to_vec(), [0.1, 2.0]);
        assert_eq!(t.values.row(1).to_vec(), [-0.03, 4.5]);
    }

    #[test]
    fn errors_name_line_and_column() {
        assert!(matches!(read(""), Err(DataError::Empty { .. })));
        assert!(matches!(read("a,b\n"), Err(DataError::HeaderOnly { .. })));
        assert!(matches!(read("a,a\n1,2\n"), Err(DataError::DuplicateColumn { first: 1, second: 2, .. })));
        assert!(matches!(read("a,b\n1,2\n3\n"), Err(DataError::Ragged { line: 3, expected: 2, found: 1, .. })));
        let err = read("a,b\n1,x\n").expect_err("non-numeric");
        assert!(err.to_string().ends_with(":2: column \"b\": \"x\" is not a number"), "{err}");
        assert!(matches!(read("a,b\n1,\n,2\n"), Err(DataError::Missing { line: 2, others: 1, .. })));
        assert!(matches!(read("a,b\n1,inf\n"), Err(DataError::NonFinite { line: 2, .. })));
    }

    #[test]
    fn selection_ignores_other_columns() {
        let f = file("id,a,b\nx,1,2\n");
        let t = read_numeric_csv(f.path(), Some(&["b".to_string(), "a".to_string()])).expect("valid");
        assert_eq!(t.columns, ["b", "a"]);
        assert_eq!(t.values.row(0).to_vec(), [2.0, 1.0]);
        let err = read_numeric_csv(f.path(), Some(&["c".to_string()])).expect_err("missing");
        assert!(matches!(err, DataError::ColumnMissing { .. }));
    }
}
