//! The CSV dialect `mlops` reads, record by record, over a byte slice: comma-separated, `"`
//! quoting with `""` escapes, records ended by `\n`, `\r\n` or a lone `\r`, every field trimmed
//! of ASCII whitespace, blank lines skipped.
//!
//! This is the dialect of the `csv` crate as the previous reader used it (its parsing core,
//! `csv-core`, still reads every record that holds a quote). Records without quotes — nearly all
//! numeric data — take a fast path that splits on commas with `memchr` and never copies a byte.
//!
//! Line numbers count physical lines the way an editor does: `\n`, `\r\n` and a lone `\r` each
//! end one line (the `csv` crate counts only `\n`, hence issue 19's "one line too low" for CRLF
//! files and "always line 1" for CR files). A record is reported at the line it starts on.

use memchr::{memchr, memchr_iter, memchr2};

/// One record: its fields, trimmed, as byte slices.
pub(crate) struct Record<'a> {
    data: &'a [u8],
    bounds: &'a [(u32, u32)],
    /// Offset in the chunk just past this record (where the next one may start).
    pub next: usize,
}

impl<'a> Record<'a> {
    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    /// Field `i`, trimmed; empty when there is no such field.
    pub fn get(&self, i: usize) -> &'a [u8] {
        self.bounds.get(i).map_or(&[], |&(s, e)| self.data[s as usize..e as usize].trim_ascii())
    }

    /// A record of a single empty field is a blank line (spaces only, or nothing but `""`).
    fn is_blank(&self) -> bool {
        self.len() == 1 && self.get(0).is_empty()
    }
}

/// Reusable buffers for reading records, so that no field costs an allocation.
pub(crate) struct RecordReader {
    bounds: Vec<(u32, u32)>,
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl Default for RecordReader {
    fn default() -> Self {
        RecordReader { bounds: Vec::with_capacity(64), out: vec![0; 4096], ends: vec![0; 64] }
    }
}

/// Lines before a record's first line, counted from the start of its chunk.
pub(crate) type LineOffset = u64;

impl RecordReader {
    /// Calls `row(line, record)` for every non-blank record of `chunk`, where `line` counts the
    /// lines before the record's first line within `chunk` (0 for the first). `chunk` must start
    /// at a record boundary and end at one (or at the end of the file). Returns the number of
    /// lines the chunk holds, so that callers can number the next chunk's lines.
    pub fn for_each<E>(
        &mut self,
        chunk: &[u8],
        mut row: impl FnMut(LineOffset, &Record<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        if memchr(b'"', chunk).is_none() {
            self.for_each_unquoted(chunk, &mut row)
        } else {
            self.for_each_quoted(chunk, &mut row)
        }
    }

    /// The number of non-blank records in `chunk`, and its lines (as [`Self::for_each`]).
    pub fn count(&mut self, chunk: &[u8]) -> (usize, u64) {
        let mut records = 0usize;
        if memchr(b'"', chunk).is_some() {
            let lines = self.for_each_quoted(chunk, &mut |_, _: &Record<'_>| {
                records += 1;
                Ok::<_, ()>(())
            });
            return (records, lines.unwrap_or(0));
        }
        let (mut line, mut pos) = (0u64, 0usize);
        while pos < chunk.len() {
            let end = memchr2(b'\n', b'\r', &chunk[pos..]).map_or(chunk.len(), |i| pos + i);
            records += usize::from(!chunk[pos..end].iter().all(u8::is_ascii_whitespace));
            line += u64::from(end < chunk.len());
            pos = match chunk.get(end) {
                Some(b'\r') if chunk.get(end + 1) == Some(&b'\n') => end + 2,
                _ => end + 1,
            };
        }
        (records, line + u64::from(chunk.last().is_some_and(|&b| b != b'\n' && b != b'\r')))
    }

    fn for_each_unquoted<E>(
        &mut self,
        chunk: &[u8],
        row: &mut impl FnMut(LineOffset, &Record<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let mut line = 0u64;
        let mut pos = 0usize;
        while pos < chunk.len() {
            let end = memchr2(b'\n', b'\r', &chunk[pos..]).map_or(chunk.len(), |i| pos + i);
            self.bounds.clear();
            let mut start = pos;
            for comma in memchr_iter(b',', &chunk[pos..end]) {
                self.bounds.push((start as u32, (pos + comma) as u32));
                start = pos + comma + 1;
            }
            self.bounds.push((start as u32, end as u32));
            let next = match chunk.get(end) {
                None => end,
                Some(b'\r') if chunk.get(end + 1) == Some(&b'\n') => end + 2,
                Some(_) => end + 1,
            };
            let record = Record { data: chunk, bounds: &self.bounds, next };
            if !record.is_blank() {
                row(line, &record)?;
            }
            line += u64::from(end < chunk.len());
            pos = next;
        }
        Ok(line + u64::from(chunk.last().is_some_and(|&b| b != b'\n' && b != b'\r')))
    }

    fn for_each_quoted<E>(
        &mut self,
        chunk: &[u8],
        row: &mut impl FnMut(LineOffset, &Record<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        use csv_core::ReadRecordResult;
        let mut core = csv_core::Reader::new();
        let mut line = 0u64;
        let mut pos = 0usize;
        loop {
            // Blank lines are consumed here, so the record's first line is known before it is read.
            while pos < chunk.len() && (chunk[pos] == b'\n' || chunk[pos] == b'\r') {
                line += u64::from(ends_line(chunk, pos));
                pos += 1;
            }
            let start_line = line;
            let (mut n_out, mut n_ends) = (0usize, 0usize);
            let result = loop {
                let (result, n_in, o, e) =
                    core.read_record(&chunk[pos..], &mut self.out[n_out..], &mut self.ends[n_ends..]);
                line += count_line_ends(chunk, pos, pos + n_in);
                pos += n_in;
                n_out += o;
                n_ends += e;
                match result {
                    ReadRecordResult::OutputFull => self.out.resize(self.out.len() * 2, 0),
                    ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                    // At the chunk's end, the next call's empty input tells csv-core it has all of it.
                    ReadRecordResult::InputEmpty => {}
                    other => break other,
                }
            };
            if matches!(result, ReadRecordResult::End) {
                break;
            }
            self.bounds.clear();
            let mut start = 0usize;
            for &end in &self.ends[..n_ends] {
                self.bounds.push((start as u32, end as u32));
                start = end;
            }
            let record = Record { data: &self.out[..n_out], bounds: &self.bounds, next: pos };
            if !record.is_blank() {
                row(start_line, &record)?;
            }
        }
        Ok(line + u64::from(chunk.last().is_some_and(|&b| b != b'\n' && b != b'\r')))
    }
}

/// Whether the byte at `i` ends a line: every `\n`, and a `\r` not followed by `\n`.
fn ends_line(bytes: &[u8], i: usize) -> bool {
    bytes[i] == b'\n' || (bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
}

/// Line ends in `bytes[from..to]`, looking one byte past `to` to pair `\r\n`.
pub(crate) fn count_line_ends(bytes: &[u8], from: usize, to: usize) -> u64 {
    let lf = memchr_iter(b'\n', &bytes[from..to]).count();
    let lone_cr = memchr_iter(b'\r', &bytes[from..to]).filter(|&i| bytes.get(from + i + 1) != Some(&b'\n')).count();
    (lf + lone_cr) as u64
}

/// Where the last record of `bytes[..limit]` ends: the offset just past its terminator, or
/// `None` when no record ends there. `bytes` must start at a record boundary; the byte at
/// `limit` (when present) is looked at only to keep a `\r\n` pair together.
///
/// Quotes are followed as csv-core follows them: a `"` opens a quoted field only as a field's
/// first byte, and a terminator inside a quoted field is part of the field.
pub(crate) fn last_record_end(bytes: &[u8], limit: usize) -> Option<usize> {
    let limit = limit.min(bytes.len());
    let region = &bytes[..limit];
    let end_after = |i: usize| if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') { i + 2 } else { i + 1 };
    if memchr(b'"', region).is_none() {
        return memchr::memrchr2(b'\n', b'\r', region).map(end_after);
    }
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut state = State::FieldStart;
    let mut last = None;
    for (i, &b) in region.iter().enumerate() {
        state = match (state, b) {
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) => State::Quoted,
            (State::QuoteInQuoted, b'"') => State::Quoted,
            (_, b'\n' | b'\r') => {
                last = Some(end_after(i));
                State::FieldStart
            }
            (_, b',') => State::FieldStart,
            (State::FieldStart, b'"') => State::Quoted,
            _ => State::Unquoted,
        };
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> (Vec<(u64, Vec<String>)>, u64) {
        let mut reader = RecordReader::default();
        let mut seen = Vec::new();
        let lines = reader
            .for_each(text.as_bytes(), |line, r| {
                let fields = (0..r.len()).map(|i| String::from_utf8_lossy(r.get(i)).into_owned()).collect();
                seen.push((line, fields));
                Ok::<_, ()>(())
            })
            .expect("no error");
        (seen, lines)
    }

    fn fields(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn line_numbers_for_lf_crlf_and_cr() {
        for eol in ["\n", "\r\n", "\r"] {
            let text = format!("1,2{eol}{eol}3, 4 {eol}5,6");
            let (seen, lines) = records(&text);
            assert_eq!(seen, [(0, fields(&["1", "2"])), (2, fields(&["3", "4"])), (3, fields(&["5", "6"]))], "{eol:?}");
            assert_eq!(lines, 4, "{eol:?}");
            let (_, lines) = records(&format!("{text}{eol}"));
            assert_eq!(lines, 4, "a final terminator ends the last line, it does not add one: {eol:?}");
        }
    }

    #[test]
    fn quoted_fields_keep_separators_and_count_their_lines() {
        for eol in ["\n", "\r\n", "\r"] {
            let text = format!("\"a,{eol}b\",\"say \"\"hi\"\"\"{eol}  {eol}x,\"\"{eol}");
            let (seen, lines) = records(&text);
            assert_eq!(
                seen,
                [(0, vec![format!("a,{eol}b"), "say \"hi\"".to_string()]), (3, fields(&["x", ""]))],
                "{eol:?}"
            );
            assert_eq!(lines, 4, "{eol:?}");
        }
    }

    #[test]
    fn unquoted_and_quoted_paths_agree() {
        let text = "a, b ,c\r\n\r\n1,,3\r4,5,6\n";
        let (plain, plain_lines) = records(text);
        let mut reader = RecordReader::default();
        let mut quoted = Vec::new();
        let quoted_lines = reader
            .for_each_quoted(text.as_bytes(), &mut |line, r: &Record<'_>| {
                quoted.push((line, (0..r.len()).map(|i| String::from_utf8_lossy(r.get(i)).into_owned()).collect()));
                Ok::<_, ()>(())
            })
            .expect("no error");
        assert_eq!(plain, quoted);
        assert_eq!(plain_lines, quoted_lines);
    }

    #[test]
    fn record_ends_skip_quoted_terminators_and_keep_crlf_together() {
        let text = b"1,\"x\ny\"\r\n2,3\r\n4";
        assert_eq!(last_record_end(text, text.len()), Some(14));
        assert_eq!(last_record_end(text, 13), Some(14), "the \\n after a \\r at the limit stays with it");
        assert_eq!(last_record_end(text, 6), None, "the only terminator so far is quoted");
        assert_eq!(last_record_end(b"a\"b\nc", 5), Some(4), "a quote inside an unquoted field is a plain byte");
        assert_eq!(last_record_end(b"\"a\"\"\nb\"\nc", 9), Some(8));
    }
}
