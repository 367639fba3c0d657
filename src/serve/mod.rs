//! The scoring service: an HTTP server around a loaded model, answering MLOpsPython's `/score`
//! and `mlflow models serve`'s `/invocations`, logging requests to a sink in the background, and
//! shutting down without losing in-flight requests or queued request records.

mod app;
mod error;
pub mod input;
mod metrics;
mod openapi;
pub mod request_log;
pub mod smoke;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::Serialize;

pub use app::REQUEST_ID;
pub use error::ApiError;
pub use request_log::{LogSummary, ModelInfo, SinkConfig};

use crate::error_kind::{ErrorKind, HasKind};
use crate::ml::model::LinearModel;

/// Everything `serve` needs besides the model.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    pub max_batch_rows: usize,
    pub max_body_bytes: usize,
    pub request_log: Option<SinkConfig>,
    /// Capacity of the request-log queue; records beyond it are dropped and counted.
    pub log_queue: usize,
    /// Time a client has to send its request headers, and again its body; a slower connection is
    /// closed so that half-sent requests (slowloris) cannot hold the server's sockets.
    pub request_timeout: std::time::Duration,
}

/// The model to serve and what it is called in request records.
#[derive(Debug, Clone)]
pub struct ServedModel {
    pub model: LinearModel,
    pub name: String,
    pub version: Option<String>,
}

/// What a server did, reported when it stops.
#[derive(Debug, Clone, Serialize)]
pub struct ServeSummary {
    pub address: String,
    pub rows_scored: u64,
    pub request_log: Option<LogSummary>,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the server failed")]
    Io(#[source] std::io::Error),
    #[error("cannot set up the metrics")]
    Metrics(#[source] prometheus::Error),
    #[error(transparent)]
    RequestLog(#[from] request_log::RequestLogError),
}

impl HasKind for ServeError {
    fn kind(&self) -> ErrorKind {
        match self {
            ServeError::Bind { .. } => ErrorKind::Usage,
            ServeError::RequestLog(err) => err.kind(),
            ServeError::Io(_) | ServeError::Metrics(_) => ErrorKind::Internal,
        }
    }
}

/// Serves `model` until `shutdown` resolves, then lets in-flight requests finish, drains the
/// request log and returns. `on_listening` is told the bound address (useful with port 0).
pub async fn serve(
    served: ServedModel,
    options: ServeOptions,
    on_listening: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<ServeSummary, ServeError> {
    let metrics = metrics::Metrics::new().map_err(ServeError::Metrics)?;
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|source| ServeError::Bind { addr: options.addr, source })?;
    let addr = listener.local_addr().map_err(ServeError::Io)?;
    let (log, writer) = match options.request_log {
        Some(config) => {
            let (log, writer) = request_log::start(config, options.log_queue, metrics.clone()).await?;
            (Some(log), Some(writer))
        }
        None => (None, None),
    };
    let info =
        Arc::new(ModelInfo { name: served.name, version: served.version, columns: served.model.feature_names.clone() });
    let openapi = openapi::document(&info, options.max_batch_rows).to_string();
    let state = Arc::new(app::AppState {
        model: served.model,
        info,
        max_batch_rows: options.max_batch_rows.max(1),
        max_body_bytes: options.max_body_bytes.max(1),
        body_timeout: options.request_timeout,
        metrics: metrics.clone(),
        log,
        openapi: openapi.into(),
    });
    let router = app::router(state.clone());
    drop(state);
    on_listening(addr);
    accept(listener, router, options.request_timeout, &metrics, shutdown).await;
    let request_log = match writer {
        Some(writer) => Some(writer.finish().await),
        None => None,
    };
    Ok(ServeSummary { address: addr.to_string(), rows_scored: metrics.rows_scored.get(), request_log })
}

/// Serves connections until `shutdown`, then lets in-flight requests finish.
///
/// Written out rather than `axum::serve`, which cannot bound the time a client takes to send its
/// headers: here hyper closes a connection whose headers (of its first or next request) have not
/// all arrived within `header_timeout`, and the closure is counted. The body has its own bound
/// in the handlers (`app::read_body`).
async fn accept(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    header_timeout: std::time::Duration,
    metrics: &metrics::Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(err) => {
                    // Out of file descriptors, usually: wait for connections to close.
                    tracing::warn!("cannot accept a connection: {err}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Replies are small and written at once: Nagle's algorithm would only add latency.
        let _ = tcp.set_nodelay(true);
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(router.clone()));
        let connection = graceful.watch(connection);
        let metrics = metrics.clone();
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                if err.is_timeout() {
                    metrics.timed_out.with_label_values(&["headers"]).inc();
                }
                tracing::debug!("connection closed: {err}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
