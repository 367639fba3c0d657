//! `mlops train`.

use anyhow::Context;

use crate::cli::{GlobalArgs, TrainArgs};
use crate::ml::train::{TrainReport, train};
use crate::output;
use crate::progress::ReadProgressBar;
use crate::settings;

pub async fn run(args: &TrainArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    if let Some(compute) = &args.compute {
        return super::azureml::train_remote(args, compute, global).await;
    }
    let project = settings::project_file()?;
    let provenance = crate::tracking::provenance::detect(settings::user());
    let resolved = settings::resolve_train(args, &project, provenance)?;
    let tracker = super::connect::tracker(&resolved.tracking)?;
    let mut progress = ReadProgressBar::new(global.quiet, &resolved.request.data);
    let report = train(&tracker, &resolved.request, &mut progress)
        .await
        .with_context(|| format!("training on {} failed", resolved.request.data.display()))?;
    if let Some(sync) = report.sync.as_ref().filter(|s| s.state == "pending") {
        output::note(
            global.quiet,
            format!(
                "warning: the tracking server {} did not take the run ({}).\n\
                 The run is complete in {} (local run {}); upload it later with: mlops runs sync --to {}",
                sync.remote_uri,
                sync.error.as_deref().unwrap_or("unreachable"),
                report.local_store,
                sync.local_run_id,
                sync.remote_uri,
            ),
        );
    }
    if let Some(sync) = &report.sync
        && let Some(path) = sync.artifacts.as_ref().and_then(|a| a.local_path.as_deref())
    {
        output::note(
            global.quiet,
            format!(
                "note: {} takes no artifact uploads from mlops (it gave the artifact location {}).\n\
                 The run's params, metrics, tags and dataset are on the server; the model and artifacts stay in {path}",
                sync.remote_uri,
                sync.remote_artifact_uri.as_deref().unwrap_or("-"),
            ),
        );
    }
    output::emit(global.output, &report, || render(&report))?;
    Ok(crate::exit::OK)
}

fn render(report: &TrainReport) -> String {
    let m = &report.metrics;
    let sync = match &report.sync {
        Some(s) if s.state == "synced" => {
            let mut text = format!(
                "\nlogged to {} (local copy: run {} in {})\n",
                s.remote_uri, s.local_run_id, report.local_store
            );
            if let Some(path) = s.artifacts.as_ref().and_then(|a| a.local_path.as_deref()) {
                text.push_str(&format!("artifacts and model NOT uploaded: local only, in {path}\n"));
            }
            text
        }
        Some(s) => format!("\nNOT yet on {}: pending sync (mlops runs sync)\n", s.remote_uri),
        None => String::new(),
    };
    format!(
        "Trained ridge (alpha {}) on {} rows, tested on {} rows of {}\n\
         \n  mse   {:.6}\n  rmse  {:.6}\n  mae   {:.6}\n  r2    {:.6}\n\n\
         run    {} (experiment {:?}, {})\n\
         model  {}\n{sync}",
        report.params.alpha,
        report.split.n_train,
        report.split.n_test,
        report.params.data,
        m.mse,
        m.rmse,
        m.mae,
        m.r2,
        report.run_id,
        report.experiment_name,
        report.tracking_uri,
        report.model.path,
    )
}
