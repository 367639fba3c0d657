//! `mlops serve`: load a model, serve it until SIGTERM or Ctrl-C, report what was served.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use crate::cli::{GlobalArgs, ServeArgs};
use crate::error_kind::UsageError;
use crate::ml::model;
use crate::output;
use crate::registry::ResolvedModel;
use crate::secret::Secret;
use crate::serve::request_log::{BlobSecrets, SinkLimits, sink_config};
use crate::serve::{self, ServeOptions, ServeSummary, ServedModel};

pub async fn run(args: &ServeArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let resolved = match &args.azureml_model_dir {
        // Azure ML mounted the deployment's model asset: that is the model the deployment
        // records, whatever the image carries (see docs/endpoints.md).
        Some(mounted) => {
            let dir = model::find_in(mounted).with_context(|| {
                format!("cannot serve the model Azure ML mounted at AZUREML_MODEL_DIR={}", mounted.display())
            })?;
            if !global.quiet {
                eprintln!(
                    "mlops serve: serving the deployment's model from {} (AZUREML_MODEL_DIR), not {}",
                    dir.display(),
                    args.model
                );
            }
            ResolvedModel { name: dir.display().to_string(), dir, version: None }
        }
        None => super::connect::model(&args.model, &args.store).await?,
    };
    let model = model::load(&resolved.dir).with_context(|| format!("cannot serve model {}", resolved.name))?;
    if !(args.request_log_interval.is_finite() && args.request_log_interval > 0.0) {
        return Err(UsageError(format!(
            "--request-log-interval must be a positive number of seconds, got {}",
            args.request_log_interval
        ))
        .into());
    }
    let request_log = match &args.request_log {
        Some(dest) => {
            let secrets = BlobSecrets {
                connection_string: args.storage_connection_string.clone().map(Secret::new),
                sas: args.request_log_sas.clone().map(Secret::new),
            };
            let limits = SinkLimits {
                interval: Duration::from_secs_f64(args.request_log_interval),
                max_bytes: args.request_log_max_bytes,
            };
            Some(sink_config(dest, &secrets, limits)?)
        }
        None => None,
    };
    let options = ServeOptions {
        addr: SocketAddr::new(args.host, args.port),
        max_batch_rows: usize::try_from(args.max_batch_rows).unwrap_or(usize::MAX),
        max_body_bytes: usize::try_from(args.max_body_bytes).unwrap_or(usize::MAX),
        request_log,
        log_queue: usize::try_from(args.request_log_queue).unwrap_or(usize::MAX),
        request_timeout: request_timeout(args.request_timeout)?,
    };
    let served = ServedModel { name: resolved.name, version: resolved.version, model };
    let workers = args
        .workers
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get));
    let quiet = global.quiet;
    let features = served.model.feature_names.len();
    let name = served.name.clone();
    // The server gets a runtime of its own so --workers sets its thread count.
    let summary = tokio::task::spawn_blocking(move || -> anyhow::Result<ServeSummary> {
        // One worker runs on this thread with no work-stealing scheduler: no cross-thread wake-ups.
        let mut builder = if workers == 1 {
            tokio::runtime::Builder::new_current_thread()
        } else {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(workers);
            builder
        };
        let runtime =
            builder.thread_name("mlops-serve").enable_all().build().context("cannot start the server runtime")?;
        runtime.block_on(async move {
            let shutdown = super::signals::shutdown().context("cannot install signal handlers")?;
            let on_listening = |addr: SocketAddr| {
                output::note(
                    quiet,
                    format!(
                        "mlops serve: listening on http://{addr} (model {name}, {features} features, {workers} workers)"
                    ),
                );
            };
            Ok(serve::serve(served, options, on_listening, shutdown).await?)
        })
    })
    .await
    .context("the server thread failed")??;
    output::emit(global.output, &summary, || {
        let mut text = format!("served {} rows on {}", summary.rows_scored, summary.address);
        if let Some(log) = &summary.request_log {
            text.push_str(&format!(
                "; request log: {} written, {} dropped, {} failed",
                log.written, log.dropped, log.failed
            ));
        }
        text
    })?;
    Ok(crate::exit::OK)
}

/// `--request-timeout` as a duration: a positive number of seconds.
fn request_timeout(seconds: f64) -> anyhow::Result<std::time::Duration> {
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(crate::error_kind::UsageError(format!(
            "--request-timeout must be a positive number of seconds, got {seconds}"
        ))
        .into());
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}
