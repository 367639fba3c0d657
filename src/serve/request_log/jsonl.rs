//! The local sink: JSON Lines files in a directory, rotated by size. File names sort by creation
//! time: `requests-<UTC time>-<pid>-<sequence>.jsonl`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use super::{RequestLogError, RequestRecord};

pub struct JsonlSink {
    dir: PathBuf,
    max_file_bytes: u64,
    file: Option<(PathBuf, BufWriter<File>)>,
    file_bytes: u64,
    sequence: u64,
    line: Vec<u8>,
    /// Records appended since the last flush.
    pending: u64,
    /// Records whose write failed since the last flush.
    failed: u64,
}

impl JsonlSink {
    pub fn open(dir: PathBuf, max_file_bytes: u64) -> Result<Self, RequestLogError> {
        std::fs::create_dir_all(&dir).map_err(|source| RequestLogError::Io { path: dir.clone(), source })?;
        let mut sink = JsonlSink {
            dir,
            max_file_bytes: max_file_bytes.max(1),
            file: None,
            file_bytes: 0,
            sequence: 0,
            line: Vec::with_capacity(1024),
            pending: 0,
            failed: 0,
        };
        // Fail at startup, not on the first request, when the directory is not writable.
        sink.rotate()?;
        Ok(sink)
    }

    fn rotate(&mut self) -> Result<(), RequestLogError> {
        if let Some((path, mut file)) = self.file.take() {
            file.flush().map_err(|source| RequestLogError::Io { path, source })?;
        }
        self.sequence += 1;
        let name = format!(
            "requests-{}-{}-{:06}.jsonl",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
            std::process::id(),
            self.sequence
        );
        let path = self.dir.join(name);
        let file = File::create(&path).map_err(|source| RequestLogError::Io { path: path.clone(), source })?;
        self.file = Some((path, BufWriter::with_capacity(256 * 1024, file)));
        self.file_bytes = 0;
        Ok(())
    }

    pub fn append(&mut self, record: &RequestRecord) {
        self.line.clear();
        if serde_json::to_writer(&mut self.line, record).is_err() {
            self.failed += 1;
            return;
        }
        self.line.push(b'\n');
        let size = self.line.len() as u64;
        if self.file_bytes > 0
            && self.file_bytes + size > self.max_file_bytes
            && let Err(err) = self.rotate()
        {
            tracing::error!("{}", crate::error_kind::chain(&err));
        }
        match &mut self.file {
            Some((path, file)) => match file.write_all(&self.line) {
                Ok(()) => {
                    self.file_bytes += size;
                    self.pending += 1;
                }
                Err(err) => {
                    tracing::error!("request log: cannot write {}: {err}", path.display());
                    self.failed += 1;
                }
            },
            None => self.failed += 1,
        }
    }

    pub fn wants_flush(&self) -> bool {
        false
    }

    /// Hands buffered lines to the OS; returns (written, lost) since the last flush.
    pub fn flush(&mut self) -> (u64, u64) {
        let result = match &mut self.file {
            Some((path, file)) => file.flush().map_err(|err| {
                tracing::error!("request log: cannot write {}: {err}", path.display());
            }),
            None => Ok(()),
        };
        let counts = match result {
            Ok(()) => (self.pending, self.failed),
            Err(()) => (0, self.pending + self.failed),
        };
        self.pending = 0;
        self.failed = 0;
        counts
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::ModelInfo;
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_every_line() {
        let dir = tempfile::tempdir().expect("dir");
        let mut sink = JsonlSink::open(dir.path().to_path_buf(), 1000).expect("open");
        let model = Arc::new(ModelInfo { name: "m".into(), version: None, columns: vec!["a".into()] });
        for i in 0..50 {
            sink.append(&RequestRecord {
                request_id: format!("{i}"),
                traceparent: None,
                time: "t".into(),
                route: "/score",
                model: model.clone(),
                inputs: vec![1.0],
                predictions: vec![2.0],
            });
        }
        assert_eq!(sink.flush(), (50, 0));
        let mut files: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").map(|e| e.expect("entry").path()).collect();
        files.sort();
        assert!(files.len() > 1, "rotated: {files:?}");
        let mut ids = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).expect("read");
            assert!(text.len() <= 1000, "{} is {} bytes", file.display(), text.len());
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).expect("json line");
                ids.push(v["request_id"].as_str().expect("id").parse::<usize>().expect("n"));
            }
        }
        assert_eq!(ids, (0..50).collect::<Vec<_>>());
    }
}
