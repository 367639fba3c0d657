//! Reading a CSV file as record-aligned chunks, parsed on every core, merged in file order.
//!
//! A chunk starts where the previous one ended and ends at the last record boundary within
//! `chunk_bytes` of its start (further only when one record is longer than that). Boundaries
//! therefore depend on the file's bytes and `chunk_bytes` alone, never on the number of threads,
//! and results are merged strictly in chunk order: 1 thread and 16 give bit-identical numbers.
//! Memory is bounded by the chunks in flight (`2 × threads + 2` of them), not by the file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::DataError;
use super::records::last_record_end;

/// The chunk size when none is given: large enough that per-chunk work is noise, small enough
/// that the chunks in flight stay a few MB.
pub const DEFAULT_CHUNK_BYTES: usize = 1 << 20;

/// How a file is read: how many parsing threads, and the chunk size (which fixes the numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    pub threads: usize,
    pub chunk_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        ReadOptions { threads, chunk_bytes: DEFAULT_CHUNK_BYTES }
    }
}

/// Reports how far a long read has come; the command layer decides how (or whether) to show it.
pub trait ReadProgress: Send {
    /// A pass over `total` bytes begins; `what` says which (`reading`, `training`, `testing`).
    fn begin(&mut self, what: &str, total: u64);
    /// `bytes` more bytes, holding `rows` rows, were processed.
    fn advance(&mut self, bytes: u64, rows: u64);
    /// The pass is over.
    fn end(&mut self);
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl ReadProgress for NoProgress {
    fn begin(&mut self, _: &str, _: u64) {}
    fn advance(&mut self, _: u64, _: u64) {}
    fn end(&mut self) {}
}

/// A chunk's place in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSpan {
    pub offset: u64,
    pub len: usize,
}

/// Size and modification time: a second pass over a file that changed would mix two files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl FileStamp {
    pub fn of(path: &Path) -> Result<Self, DataError> {
        let meta = std::fs::metadata(path).map_err(|source| DataError::Open { path: path.to_path_buf(), source })?;
        Ok(FileStamp { len: meta.len(), modified: meta.modified().ok() })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Fails when `path` is no longer the file this stamp was taken of.
    pub fn check(&self, path: &Path) -> Result<(), DataError> {
        if FileStamp::of(path)? == *self { Ok(()) } else { Err(DataError::Changed { path: path.to_path_buf() }) }
    }
}

/// Where the chunks come from.
pub(crate) enum Chunks<'a> {
    /// Found while reading the file sequentially from its start; records begin at `start`. Every
    /// byte read, header included, goes into `digest` when there is one.
    Discover { start: u64, digest: Option<&'a mut Sha256> },
    /// Found by an earlier pass; each worker reads its chunks itself.
    Known(&'a [ChunkSpan]),
}

enum Job {
    Bytes(usize, Vec<u8>),
    Span(usize, ChunkSpan),
}

/// Runs `work` on every chunk (on `options.threads` threads, each with its own state from
/// `init`) and hands the results to `merge` in chunk order; `merge` returns how many rows the
/// chunk held, for the progress display. Returns the chunks and the states.
///
/// `merge` stopping with an error stops the read; chunks already queued are still parsed (at
/// most the in-flight bound) but not merged.
pub(crate) fn scan<S, R, E>(
    path: &Path,
    chunks: Chunks<'_>,
    options: &ReadOptions,
    progress: &mut dyn ReadProgress,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, usize, &[u8]) -> R + Sync,
    mut merge: impl FnMut(usize, R) -> Result<u64, E>,
) -> Result<(Vec<ChunkSpan>, Vec<S>), E>
where
    S: Send,
    R: Send,
    E: From<DataError>,
{
    let threads = options.threads.max(1);
    let in_flight = 2 * threads + 2;
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(in_flight);
    let job_rx = Mutex::new(job_rx);
    let (result_tx, result_rx) = mpsc::channel::<(usize, Result<(usize, R), DataError>, Option<Vec<u8>>)>();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let result_tx = result_tx.clone();
                let (job_rx, init, work) = (&job_rx, &init, &work);
                scope.spawn(move || {
                    let mut state = init();
                    let mut own: Vec<u8> = Vec::new();
                    let mut file: Option<File> = None;
                    loop {
                        let job = match job_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => break,
                        };
                        let Ok(job) = job else { break };
                        // A panic becomes an error for its chunk: the merge waits for every
                        // index in order, so a result that never came would hang the read.
                        let mut guarded = |index: usize, bytes: &[u8]| {
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut state, index, bytes)))
                                .map_err(|_| DataError::Internal(format!("parsing chunk {index} panicked")))
                        };
                        let (index, result, returned) = match job {
                            Job::Bytes(index, bytes) => {
                                let result = guarded(index, &bytes).map(|r| (bytes.len(), r));
                                (index, result, Some(bytes))
                            }
                            Job::Span(index, span) => {
                                let read = read_span(path, &mut file, span, &mut own);
                                (index, read.and_then(|()| guarded(index, &own)).map(|r| (span.len, r)), None)
                            }
                        };
                        if result_tx.send((index, result, returned)).is_err() {
                            break;
                        }
                    }
                    state
                })
            })
            .collect();
        drop(result_tx);

        let mut driver = Driver { pending: BTreeMap::new(), next: 0, sent: 0, free: Vec::new() };
        let outcome = (|| -> Result<Vec<ChunkSpan>, E> {
            let mut receive = |driver: &mut Driver<R>, progress: &mut dyn ReadProgress| -> Result<(), E> {
                let Ok((index, result, returned)) = result_rx.recv() else {
                    return Err(DataError::Internal("a parsing thread stopped".to_string()).into());
                };
                driver.free.extend(returned);
                driver.pending.insert(index, result);
                while let Some(result) = driver.pending.remove(&driver.next) {
                    let (len, r) = result?;
                    let rows = merge(driver.next, r)?;
                    progress.advance(len as u64, rows);
                    driver.next += 1;
                }
                Ok(())
            };
            let spans = match chunks {
                Chunks::Known(spans) => {
                    for (index, span) in spans.iter().enumerate() {
                        while driver.sent - driver.next >= in_flight {
                            receive(&mut driver, progress)?;
                        }
                        send(&job_tx, Job::Span(index, *span))?;
                        driver.sent += 1;
                    }
                    spans.to_vec()
                }
                Chunks::Discover { start, mut digest } => {
                    let mut reader = Discoverer::open(path, start, options.chunk_bytes)?;
                    let mut spans = Vec::new();
                    loop {
                        while driver.sent - driver.next >= in_flight {
                            receive(&mut driver, progress)?;
                        }
                        let buffer = driver.free.pop().unwrap_or_default();
                        let Some((span, bytes)) = reader.next_chunk(buffer, digest.as_deref_mut())? else { break };
                        spans.push(span);
                        send(&job_tx, Job::Bytes(spans.len() - 1, bytes))?;
                        driver.sent += 1;
                    }
                    spans
                }
            };
            while driver.next < driver.sent {
                receive(&mut driver, progress)?;
            }
            Ok(spans)
        })();
        drop(job_tx);
        // Results still queued are dropped with the channel; workers stop at the closed queue.
        drop(result_rx);
        let states: Vec<S> = workers.into_iter().filter_map(|w| w.join().ok()).collect();
        if states.len() != threads && outcome.is_ok() {
            return Err(DataError::Internal("a parsing thread panicked".to_string()).into());
        }
        outcome.map(|spans| (spans, states))
    })
}

/// What the main thread keeps while merging: results that arrived early, and spare buffers.
struct Driver<R> {
    pending: BTreeMap<usize, Result<(usize, R), DataError>>,
    next: usize,
    sent: usize,
    free: Vec<Vec<u8>>,
}

fn send<E: From<DataError>>(tx: &mpsc::SyncSender<Job>, job: Job) -> Result<(), E> {
    tx.send(job).map_err(|_| DataError::Internal("the parsing threads stopped".to_string()).into())
}

fn read_span(path: &Path, file: &mut Option<File>, span: ChunkSpan, buf: &mut Vec<u8>) -> Result<(), DataError> {
    let io = |source| DataError::Open { path: path.to_path_buf(), source };
    if file.is_none() {
        *file = Some(File::open(path).map_err(io)?);
    }
    let Some(f) = file.as_mut() else { return Ok(()) };
    buf.resize(span.len, 0);
    f.seek(SeekFrom::Start(span.offset)).map_err(io)?;
    f.read_exact(buf).map_err(io)
}

/// Reads a file from its start and cuts it into record-aligned chunks.
struct Discoverer {
    path: PathBuf,
    file: File,
    /// Bytes read but not yet handed out, starting at `offset`.
    carry: Vec<u8>,
    offset: u64,
    skip: u64,
    eof: bool,
    chunk_bytes: usize,
}

impl Discoverer {
    fn open(path: &Path, start: u64, chunk_bytes: usize) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|source| DataError::Open { path: path.to_path_buf(), source })?;
        Ok(Discoverer {
            path: path.to_path_buf(),
            file,
            carry: Vec::new(),
            offset: start,
            skip: start,
            eof: false,
            chunk_bytes: chunk_bytes.max(1),
        })
    }

    /// Reads until `carry` holds more than `want` bytes or the file ends.
    fn fill(&mut self, want: usize, mut digest: Option<&mut Sha256>) -> Result<(), DataError> {
        let mut block = vec![0u8; (1 << 16).max(want.saturating_sub(self.carry.len()) + 1).min(1 << 22)];
        while !self.eof && self.carry.len() <= want {
            let n = match self.file.read(&mut block) {
                Ok(n) => n,
                // The CSV may be a pipe; a signal that interrupts a read loses nothing.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(DataError::Open { path: self.path.clone(), source }),
            };
            if n == 0 {
                self.eof = true;
                break;
            }
            if let Some(d) = digest.as_deref_mut() {
                d.update(&block[..n]);
            }
            let skipped = (self.skip.min(n as u64)) as usize;
            self.skip -= skipped as u64;
            self.carry.extend_from_slice(&block[skipped..n]);
        }
        Ok(())
    }

    /// The next chunk, in `buffer` (reused), or `None` at the end of the file.
    fn next_chunk(
        &mut self,
        mut buffer: Vec<u8>,
        mut digest: Option<&mut Sha256>,
    ) -> Result<Option<(ChunkSpan, Vec<u8>)>, DataError> {
        let mut limit = self.chunk_bytes;
        let end = loop {
            self.fill(limit, digest.as_deref_mut())?;
            if self.eof && self.carry.len() <= limit {
                break self.carry.len();
            }
            if let Some(end) = last_record_end(&self.carry, limit) {
                break end;
            }
            // One record longer than a chunk: look further rather than cut it.
            limit *= 2;
        };
        if end == 0 {
            return Ok(None);
        }
        buffer.clear();
        buffer.extend_from_slice(&self.carry[..end]);
        self.carry.drain(..end);
        let span = ChunkSpan { offset: self.offset, len: end };
        self.offset += end as u64;
        Ok(Some((span, buffer)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::records::RecordReader;
    use std::io::Write;

    /// Every record with its absolute line, read in chunks of `chunk_bytes` on `threads` threads.
    fn records(
        path: &Path,
        start: u64,
        chunk_bytes: usize,
        threads: usize,
    ) -> (Vec<(u64, Vec<String>)>, Vec<ChunkSpan>) {
        let mut all = Vec::new();
        let mut line = 2u64;
        let (spans, _) = scan(
            path,
            Chunks::Discover { start, digest: None },
            &ReadOptions { threads, chunk_bytes },
            &mut NoProgress,
            RecordReader::default,
            |reader, _, chunk| {
                let mut seen = Vec::new();
                let lines = reader
                    .for_each(chunk, |at, r| {
                        seen.push((at, (0..r.len()).map(|i| String::from_utf8_lossy(r.get(i)).into_owned()).collect()));
                        Ok::<_, ()>(())
                    })
                    .expect("no error");
                (seen, lines)
            },
            |_, (seen, lines): (Vec<(u64, Vec<String>)>, u64)| {
                let rows = seen.len() as u64;
                all.extend(seen.into_iter().map(|(at, fields)| (line + at, fields)));
                line += lines;
                Ok::<_, DataError>(rows)
            },
        )
        .expect("readable");
        (all, spans)
    }

    #[test]
    fn any_chunk_size_gives_the_same_records_and_lines() {
        // Quoted fields holding separators and line ends of every kind, CRLF, a lone CR, a blank
        // line, and no final line end.
        let text = "h1,h2\r\n\"a,\r\nb\",1\r\n\r\n\"say \"\"x\"\"\",2\rplain,3\n\"\n\",4\r\nlast,5";
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        let start = "h1,h2\r\n".len() as u64;
        let (expected, _) = records(f.path(), start, 1 << 20, 1);
        assert_eq!(expected.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [2, 5, 6, 7, 9]);
        assert_eq!(expected[0].1, ["a,\r\nb", "1"]);
        assert_eq!(expected[4].1, ["last", "5"]);
        for chunk_bytes in 1..text.len() {
            for threads in [1, 3] {
                let (got, spans) = records(f.path(), start, chunk_bytes, threads);
                assert_eq!(got, expected, "chunk_bytes {chunk_bytes}, threads {threads}");
                let mut offset = start;
                for span in &spans {
                    assert_eq!(span.offset, offset, "chunks are contiguous");
                    offset += span.len as u64;
                }
                assert_eq!(offset, text.len() as u64);
            }
        }
    }

    #[test]
    fn a_panicking_chunk_is_an_error_not_a_hang() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all("h\n".repeat(100).as_bytes()).expect("write");
        let result = scan(
            f.path(),
            Chunks::Discover { start: 0, digest: None },
            &ReadOptions { threads: 2, chunk_bytes: 10 },
            &mut NoProgress,
            || (),
            |_, index, _| {
                assert!(index != 3, "chunk 3 fails");
            },
            |_, ()| Ok::<_, DataError>(0),
        );
        assert!(matches!(result, Err(DataError::Internal(ref m)) if m.contains("chunk 3")), "{:?}", result.err());
    }
}
