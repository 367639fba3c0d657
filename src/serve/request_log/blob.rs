//! The Blob Storage sink: records collect in memory as JSON Lines and go out as one block blob per
//! interval (sooner when the buffer reaches its size cap), named
//! `<prefix>YYYY/MM/DD/HH/<UTC time>-<pid>-<sequence>.jsonl` so listings sort by time.

use std::time::Duration;

use bytes::Bytes;

use super::{RequestLogError, RequestRecord};
use crate::azure::blob::BlobContainerClient;

pub struct BlobSink {
    client: BlobContainerClient,
    prefix: String,
    interval: Duration,
    max_blob_bytes: usize,
    buffer: Vec<u8>,
    pending: u64,
    failed: u64,
    sequence: u64,
}

impl BlobSink {
    /// Creates the container if needed, so bad credentials fail at startup. A SAS scoped to the
    /// container cannot create it (and says it exists): then the first write is the check.
    pub async fn open(
        client: BlobContainerClient,
        prefix: String,
        interval: Duration,
        max_blob_bytes: usize,
    ) -> Result<Self, RequestLogError> {
        if client.may_create_container() {
            client.create().await.map_err(|source| RequestLogError::Blob {
                container: client.url().to_string(),
                source: Box::new(source),
            })?;
        }
        let prefix = match prefix.trim_matches('/') {
            "" => String::new(),
            p => format!("{p}/"),
        };
        Ok(BlobSink {
            client,
            prefix,
            interval: interval.max(Duration::from_millis(10)),
            max_blob_bytes: max_blob_bytes.max(1),
            buffer: Vec::new(),
            pending: 0,
            failed: 0,
            sequence: 0,
        })
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn append(&mut self, record: &RequestRecord) {
        let start = self.buffer.len();
        match serde_json::to_writer(&mut self.buffer, record) {
            Ok(()) => {
                self.buffer.push(b'\n');
                self.pending += 1;
            }
            Err(_) => {
                self.buffer.truncate(start);
                self.failed += 1;
            }
        }
    }

    pub fn wants_flush(&self) -> bool {
        self.buffer.len() >= self.max_blob_bytes
    }

    /// Uploads the buffer as one blob, retrying; returns (written, lost).
    pub async fn flush(&mut self) -> (u64, u64) {
        let failed = std::mem::take(&mut self.failed);
        if self.buffer.is_empty() {
            return (0, failed);
        }
        let body = Bytes::from(std::mem::take(&mut self.buffer));
        let records = std::mem::take(&mut self.pending);
        self.sequence += 1;
        let now = chrono::Utc::now();
        let name = format!(
            "{}{}/{}-{}-{:06}.jsonl",
            self.prefix,
            now.format("%Y/%m/%d/%H"),
            now.format("%Y%m%dT%H%M%S%.6fZ"),
            std::process::id(),
            self.sequence
        );
        // The client retries what may heal, under the one retry policy.
        match self.client.upload(&name, body, "application/x-ndjson").await {
            Ok(()) => (records, failed),
            Err(err) => {
                tracing::error!("request log: {records} records lost, upload of {name} failed: {err}");
                (0, records + failed)
            }
        }
    }
}
