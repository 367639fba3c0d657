//! Opening a CSV file: its header (checked), where its data rows begin, and its first data row;
//! and the cell-level rules every reader shares (what is missing, what is a number).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::DataError;
use super::chunks::FileStamp;
use super::records::{RecordReader, count_line_ends, last_record_end};
use crate::decode::EXCERPT_CHARS;

/// How much of the file is read to find the header before looking further.
const HEAD_BYTES: usize = 1 << 16;

/// The start of a CSV file.
#[derive(Debug, Clone)]
pub(crate) struct CsvHead {
    pub path: PathBuf,
    pub header: Vec<String>,
    /// Byte offset of the first data record (just past the header).
    pub data_start: u64,
    /// The line number of `data_start` (1-based).
    pub first_line: u64,
    /// The first data row's cells as numbers, where they are numbers.
    pub first_row: Vec<Option<f64>>,
    pub stamp: FileStamp,
}

/// Reads the header row (refusing a file with none) and checks its names.
pub(crate) fn open_csv(path: &Path) -> Result<CsvHead, DataError> {
    let stamp = FileStamp::of(path)?;
    let mut file = std::fs::File::open(path).map_err(|source| DataError::Open { path: path.to_path_buf(), source })?;
    let mut head = Vec::new();
    let mut want = HEAD_BYTES;
    loop {
        let read = (&mut file)
            .take((want - head.len()) as u64)
            .read_to_end(&mut head)
            .map_err(|source| DataError::Open { path: path.to_path_buf(), source })?;
        let eof = head.len() < want || read == 0;
        let complete = if eof { Some(head.len()) } else { last_record_end(&head, head.len() - 1) };
        if let Some(end) = complete
            && let Some(found) = parse_head(path, &head[..end])?
        {
            return Ok(CsvHead { path: path.to_path_buf(), stamp, ..found });
        }
        if eof {
            return Err(DataError::Empty { path: path.to_path_buf() });
        }
        want *= 2;
    }
}

/// The header and first row within `bytes` (complete records), or `None` if there is no header yet.
fn parse_head(path: &Path, bytes: &[u8]) -> Result<Option<CsvHead>, DataError> {
    let mut reader = RecordReader::default();
    let mut header: Option<(Vec<String>, usize)> = None;
    let mut first_row = Vec::new();
    let mut bad_name: Option<u64> = None;
    let _ = reader.for_each(bytes, |line, record| {
        if header.is_none() {
            let mut names = Vec::with_capacity(record.len());
            for i in 0..record.len() {
                match std::str::from_utf8(record.get(i)) {
                    Ok(name) => names.push(name.to_string()),
                    Err(_) => bad_name = Some(line + 1),
                }
            }
            header = Some((names, record.next));
            return if bad_name.is_some() { Err(()) } else { Ok(()) };
        }
        first_row = (0..record.len()).map(|i| parse_number(record.get(i))).collect();
        Err(())
    });
    if let Some(line) = bad_name {
        return Err(DataError::Malformed {
            path: path.to_path_buf(),
            line,
            message: "the header is not valid UTF-8".to_string(),
        });
    }
    let Some((header, data_start)) = header else { return Ok(None) };
    check_header(path, &header)?;
    Ok(Some(CsvHead {
        path: path.to_path_buf(),
        header,
        data_start: data_start as u64,
        first_line: count_line_ends(bytes, 0, data_start) + 1,
        first_row,
        stamp: FileStamp::default(),
    }))
}

/// What is wrong with one row; the reader that found it knows the line.
#[derive(Debug)]
pub(crate) enum RowError {
    Ragged { expected: usize, found: usize },
    NonNumeric { column: usize, value: String },
    NonFinite { column: usize, value: String },
}

impl RowError {
    /// The error, located at `line` of the file `head` was read from.
    pub fn at(self, head: &CsvHead, line: u64) -> DataError {
        let path = head.path.clone();
        let name = |i: usize| head.header.get(i).cloned().unwrap_or_default();
        match self {
            RowError::Ragged { expected, found } => DataError::Ragged { path, line, expected, found },
            RowError::NonNumeric { column, value } => DataError::NonNumeric { path, line, column: name(column), value },
            RowError::NonFinite { column, value } => DataError::NonFinite { path, line, column: name(column), value },
        }
    }
}

/// A cell as a number: `None` unless it parses as one (correctly rounded, as `str::parse` and
/// pandas' round-trip parser read decimals).
pub(crate) fn parse_number(cell: &[u8]) -> Option<f64> {
    fast_float2::parse::<f64, _>(cell).ok()
}

/// A cell's text for an error message or a report: at most [`EXCERPT_CHARS`] characters, `…`
/// marking a cut (a 50 MB cell must not become a 50 MB message).
pub(crate) fn cell_text(cell: &[u8]) -> String {
    // Four bytes per character at most: enough bytes for the excerpt, without decoding the rest.
    let head = &cell[..cell.len().min(4 * EXCERPT_CHARS + 4)];
    let text = String::from_utf8_lossy(head);
    let mut shown: String = text.chars().take(EXCERPT_CHARS).collect();
    if shown.len() < cell.len() {
        shown.push('…');
    }
    shown
}

/// The indices of `names` in `header`, in the order of `names`.
pub(crate) fn select_columns(path: &Path, header: &[String], names: &[String]) -> Result<Vec<usize>, DataError> {
    names
        .iter()
        .map(|name| {
            header.iter().position(|h| h == name).ok_or_else(|| DataError::ColumnMissing {
                path: path.to_path_buf(),
                column: name.clone(),
                available: header.to_vec(),
            })
        })
        .collect()
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

    fn open(contents: &[u8]) -> Result<CsvHead, DataError> {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(contents).expect("write");
        open_csv(f.path())
    }

    #[test]
    fn header_data_start_and_first_line() {
        for eol in ["\n", "\r\n", "\r"] {
            let text = format!("{eol} a ,\"b\"{eol}1,x{eol}");
            let head = open(text.as_bytes()).expect("valid");
            assert_eq!(head.header, ["a", "b"], "{eol:?}");
            // Data may start at the \n of the header's \r\n; either way the first row is on line 3.
            let mut first = None;
            let _ = RecordReader::default().for_each(&text.as_bytes()[head.data_start as usize..], |at, r| {
                first.get_or_insert((at, r.len()));
                Ok::<_, ()>(())
            });
            assert_eq!(first.map(|(at, len)| (head.first_line + at, len)), Some((3, 2)), "{eol:?}");
            assert_eq!(head.first_row, [Some(1.0), None]);
        }
    }

    #[test]
    fn cell_text_is_bounded() {
        assert_eq!(cell_text(b"five"), "five");
        let huge = vec![b'x'; 5_000_000];
        let shown = cell_text(&huge);
        assert_eq!(shown.chars().count(), EXCERPT_CHARS + 1);
        assert!(shown.ends_with('…'));
        let accents = "é".repeat(EXCERPT_CHARS);
        assert_eq!(cell_text(accents.as_bytes()), accents, "exactly the limit is not cut");
        assert_eq!(cell_text(b"\xff"), "\u{fffd}");
    }

    #[test]
    fn bad_headers() {
        assert!(matches!(open(b""), Err(DataError::Empty { .. })));
        assert!(matches!(open(b" \n\n"), Err(DataError::Empty { .. })));
        assert!(matches!(open(b"a,a\n1,2\n"), Err(DataError::DuplicateColumn { first: 1, second: 2, .. })));
        assert!(matches!(open(b"a,,b\n"), Err(DataError::EmptyColumnName { index: 2, .. })));
        assert!(matches!(open(b"\xff\n1\n"), Err(DataError::Malformed { line: 1, .. })));
        let long = format!("{}\n1\n", (0..20_000).map(|i| format!("c{i}")).collect::<Vec<_>>().join(","));
        assert_eq!(open(long.as_bytes()).expect("long header").header.len(), 20_000);
    }

    #[test]
    fn numbers_parse_like_str_parse() {
        for text in ["0.1", "-3e-2", "1.", ".5", "+2", "1e5", "inf", "NaN", "-infinity", "1e", "1,0", "0x10", "", "1 2"]
        {
            // NaN payloads may differ; NaN-ness may not.
            let bits = |v: Option<f64>| v.map(|v| if v.is_nan() { u64::MAX } else { v.to_bits() });
            assert_eq!(bits(parse_number(text.as_bytes())), bits(text.parse::<f64>().ok()), "{text:?}");
        }
    }
}
