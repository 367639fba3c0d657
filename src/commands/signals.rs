//! Signals the long-running commands stop on. Handlers are installed when these functions are
//! called, not when the futures are first polled, so a signal that arrives right after a command
//! says it is waiting is caught rather than killing the process.

use std::future::Future;
use std::pin::Pin;

/// Resolves on SIGTERM or SIGINT (a server or a watch: both mean "stop cleanly").
pub(super) fn shutdown() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// Resolves on Ctrl-C (SIGINT): stop waiting on something that goes on without us (a deployment,
/// a job). If the handler cannot be installed, it never resolves and Ctrl-C keeps its default.
pub(super) fn interrupt() -> Pin<Box<dyn Future<Output = ()> + Send>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::interrupt()) {
            Ok(mut int) => Box::pin(async move {
                int.recv().await;
            }),
            Err(_) => Box::pin(std::future::pending()),
        }
    }
    #[cfg(not(unix))]
    {
        Box::pin(async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}
