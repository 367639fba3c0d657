//! Request logging: every scored request (id, traceparent, time, model, inputs, predictions)
//! goes through a bounded queue to a background writer, so scoring never waits on the sink. A full
//! queue drops the record and counts it; shutdown drains the queue and flushes the sink.

mod blob;
mod destination;
mod jsonl;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::ser::SerializeSeq;
use tokio::sync::{mpsc, oneshot};

use super::metrics::Metrics;
use crate::azure::blob::{BlobContainerClient, BlobError};
use crate::error_kind::{ErrorKind, HasKind};

pub use blob::BlobSink;
pub use destination::{BlobSecrets, SinkLimits, sink_config};
pub use jsonl::JsonlSink;

/// Where request records go.
#[derive(Debug, Clone)]
pub enum SinkConfig {
    /// JSON Lines files in `dir`, a new file once one reaches `max_file_bytes`.
    Jsonl { dir: PathBuf, max_file_bytes: u64 },
    /// Block blobs under `prefix` in a container: one object per `interval` (or per `max_blob_bytes`).
    Blob { client: BlobContainerClient, prefix: String, interval: Duration, max_blob_bytes: usize },
}

/// Why the request log could not start or write.
#[derive(Debug, thiserror::Error)]
pub enum RequestLogError {
    #[error("request log: cannot write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid request-log destination {dest:?}: {message}")]
    Destination { dest: String, message: String },
    #[error("request log: blob container {container}")]
    Blob {
        container: String,
        #[source]
        source: Box<BlobError>,
    },
}

impl HasKind for RequestLogError {
    fn kind(&self) -> ErrorKind {
        match self {
            RequestLogError::Io { .. } => ErrorKind::Input,
            RequestLogError::Destination { .. } => ErrorKind::Usage,
            RequestLogError::Blob { source, .. } => source.kind(),
        }
    }
}

/// The model a record was scored with.
#[derive(Debug, Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub version: Option<String>,
    pub columns: Vec<String>,
}

/// One scored request.
#[derive(Debug)]
pub struct RequestRecord {
    pub request_id: String,
    pub traceparent: Option<String>,
    /// RFC 3339, microseconds, UTC.
    pub time: String,
    pub route: &'static str,
    pub model: Arc<ModelInfo>,
    /// Row-major inputs in the model's column order.
    pub inputs: Vec<f64>,
    pub predictions: Vec<f64>,
}

impl Serialize for RequestRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("RequestRecord", 7)?;
        s.serialize_field("request_id", &self.request_id)?;
        s.serialize_field("traceparent", &self.traceparent)?;
        s.serialize_field("time", &self.time)?;
        s.serialize_field("route", self.route)?;
        s.serialize_field("model", &*self.model)?;
        s.serialize_field("inputs", &Rows { values: &self.inputs, width: self.model.columns.len().max(1) })?;
        s.serialize_field("predictions", &self.predictions)?;
        s.end()
    }
}

struct Rows<'a> {
    values: &'a [f64],
    width: usize,
}

impl Serialize for Rows<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.values.len() / self.width))?;
        for row in self.values.chunks(self.width) {
            seq.serialize_element(row)?;
        }
        seq.end()
    }
}

/// What the writer did over its life, reported at shutdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogSummary {
    pub written: u64,
    pub dropped: u64,
    pub failed: u64,
}

/// The scoring side of the queue: cheap to clone, never blocks.
#[derive(Clone)]
pub struct RequestLog {
    tx: mpsc::Sender<RequestRecord>,
    metrics: Metrics,
}

impl RequestLog {
    /// Queues a record, or drops and counts it when the queue is full.
    pub fn record(&self, record: RequestRecord) {
        if self.tx.try_send(record).is_err() {
            self.metrics.log_dropped.inc();
        }
    }

    /// Records waiting in the queue.
    pub fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// The writing side: stop it with [`LogWriter::finish`] after the server has stopped.
pub struct LogWriter {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<LogSummary>,
}

impl LogWriter {
    /// Drains the queue, flushes the sink and reports the totals.
    pub async fn finish(self) -> LogSummary {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

/// A sink that takes records one by one and writes them out on [`Sink::flush`].
enum Sink {
    Jsonl(JsonlSink),
    Blob(BlobSink),
}

impl Sink {
    fn append(&mut self, record: &RequestRecord) {
        match self {
            Sink::Jsonl(sink) => sink.append(record),
            Sink::Blob(sink) => sink.append(record),
        }
    }

    fn wants_flush(&self) -> bool {
        match self {
            Sink::Jsonl(sink) => sink.wants_flush(),
            Sink::Blob(sink) => sink.wants_flush(),
        }
    }

    /// Writes what is buffered; returns (records written, records lost).
    async fn flush(&mut self) -> (u64, u64) {
        match self {
            Sink::Jsonl(sink) => sink.flush(),
            Sink::Blob(sink) => sink.flush().await,
        }
    }

    fn interval(&self) -> Duration {
        match self {
            Sink::Jsonl(_) => Duration::from_secs(1),
            Sink::Blob(sink) => sink.interval(),
        }
    }
}

/// Opens the sink (creating the directory or container) and starts the writer task.
pub async fn start(
    config: SinkConfig,
    queue: usize,
    metrics: Metrics,
) -> Result<(RequestLog, LogWriter), RequestLogError> {
    let sink = match config {
        SinkConfig::Jsonl { dir, max_file_bytes } => Sink::Jsonl(JsonlSink::open(dir, max_file_bytes)?),
        SinkConfig::Blob { client, prefix, interval, max_blob_bytes } => {
            Sink::Blob(BlobSink::open(client, prefix, interval, max_blob_bytes).await?)
        }
    };
    let (tx, rx) = mpsc::channel(queue.max(1));
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(write_loop(rx, sink, stopped, metrics.clone()));
    Ok((RequestLog { tx, metrics }, LogWriter { stop, task }))
}

async fn write_loop(
    mut rx: mpsc::Receiver<RequestRecord>,
    mut sink: Sink,
    mut stopped: oneshot::Receiver<()>,
    metrics: Metrics,
) -> LogSummary {
    let mut summary = LogSummary::default();
    let account = |(written, lost): (u64, u64), summary: &mut LogSummary| {
        summary.written += written;
        summary.failed += lost;
        metrics.log_written.inc_by(written);
        metrics.log_failed.inc_by(lost);
    };
    let mut ticker = tokio::time::interval(sink.interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(1024);
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            received = rx.recv_many(&mut batch, 1024) => {
                if received == 0 {
                    break;
                }
                for record in batch.drain(..) {
                    sink.append(&record);
                }
                if sink.wants_flush() {
                    account(sink.flush().await, &mut summary);
                }
            }
            _ = ticker.tick() => account(sink.flush().await, &mut summary),
        }
    }
    rx.close();
    while let Some(record) = rx.recv().await {
        sink.append(&record);
        if sink.wants_flush() {
            account(sink.flush().await, &mut summary);
        }
    }
    account(sink.flush().await, &mut summary);
    summary.dropped = metrics.log_dropped.get();
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: usize, model: &Arc<ModelInfo>) -> RequestRecord {
        RequestRecord {
            request_id: format!("r{id}"),
            traceparent: None,
            time: "2026-01-01T00:00:00.000000Z".into(),
            route: "/score",
            model: model.clone(),
            inputs: vec![1.0, 2.0, 3.0, 4.0],
            predictions: vec![0.5, 1.5],
        }
    }

    #[test]
    fn records_serialise_rows() {
        let model =
            Arc::new(ModelInfo { name: "m".into(), version: Some("1".into()), columns: vec!["a".into(), "b".into()] });
        let text = serde_json::to_string(&record(1, &model)).expect("json");
        assert_eq!(
            text,
            r#"{"request_id":"r1","traceparent":null,"time":"2026-01-01T00:00:00.000000Z","route":"/score","model":{"name":"m","version":"1","columns":["a","b"]},"inputs":[[1.0,2.0],[3.0,4.0]],"predictions":[0.5,1.5]}"#
        );
    }

    #[tokio::test]
    async fn full_queue_drops_and_counts_and_finish_flushes_the_rest() {
        let dir = tempfile::tempdir().expect("dir");
        let metrics = Metrics::new().expect("metrics");
        let config = SinkConfig::Jsonl { dir: dir.path().to_path_buf(), max_file_bytes: 1 << 20 };
        let model = Arc::new(ModelInfo { name: "m".into(), version: None, columns: vec!["a".into(), "b".into()] });
        // Queue of 10 on a current-thread runtime: the writer cannot run until we yield.
        let (log, writer) = start(config, 10, metrics.clone()).await.expect("start");
        for i in 0..25 {
            log.record(record(i, &model));
        }
        assert_eq!(log.depth(), 10);
        let summary = writer.finish().await;
        assert_eq!(summary, LogSummary { written: 10, dropped: 15, failed: 0 });
        let lines: usize = std::fs::read_dir(dir.path())
            .expect("read dir")
            .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read").lines().count())
            .sum();
        assert_eq!(lines, 10);
    }
}
