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
    let provenance = crate::tracking::provenance::detect(settings::user(), settings::lineage_overrides());
    let resolved = settings::resolve_train(args, &project, provenance)?;
    let tracker = super::connect::tracker(&resolved.tracking)?;
    warn_if_dirty(&resolved.request.provenance.code, global.quiet);
    let mut progress = ReadProgressBar::new(global.quiet, &resolved.request.data);
    let report = train(&tracker, &resolved.request, &mut progress)
        .await
        .with_context(|| format!("training on {} failed", resolved.request.data.display()))?;
    for warning in &report.warnings {
        output::note(global.quiet, format!("warning: {warning}"));
    }
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
    if let Some(reason) = report.sync.as_ref().and_then(|s| s.artifacts.as_ref()).and_then(|a| a.reason.as_deref()) {
        output::note(global.quiet, format!("note: {reason}"));
    }
    output::emit(global.output, &report, || render(&report))?;
    Ok(crate::exit::OK)
}

fn render(report: &TrainReport) -> String {
    let m = &report.metrics;
    let sync = match &report.sync {
        Some(s) if s.state == "same-store" => {
            format!("\nlogged to {}, which reads the local store {} itself\n", s.remote_uri, report.local_store)
        }
        Some(s) if s.state == "synced" => {
            let mut text = format!(
                "\nlogged to {} (local copy: run {} in {})\n",
                s.remote_uri, s.local_run_id, report.local_store
            );
            match s.artifacts.as_ref().map(|a| (a.state, a.local_path.as_deref().unwrap_or("-"))) {
                Some(("local-only", path)) => {
                    text.push_str(&format!("artifacts and model NOT uploaded: local only, in {path}\n"))
                }
                Some(("written", path)) => text.push_str(&format!("artifacts and model written to {path}\n")),
                _ => {}
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

/// A run from uncommitted code is allowed, but its commit does not say what trained it.
pub(super) fn warn_if_dirty(code: &crate::tracking::lineage::CodeLineage, quiet: bool) {
    if code.git_dirty == Some(true) {
        output::note(
            quiet,
            format!(
                "warning: the git work tree has uncommitted changes; the run records commit {} with {}=true, \
                 and `mlops reproduce` will report it as not reproducible from its commit",
                code.git_commit.as_deref().unwrap_or("-"),
                crate::tracking::lineage::GIT_DIRTY,
            ),
        );
    }
}
