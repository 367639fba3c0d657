//! `mlops train`.

use anyhow::Context;

use crate::cli::{GlobalArgs, TrainArgs};
use crate::ml::train::{TrainReport, train_with_local_store};
use crate::output;
use crate::settings;
use crate::tracking::{LocalStore, TrackingUri};

pub async fn run(args: &TrainArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let project = settings::project_file()?;
    let resolved = settings::resolve_train(args, &project)?;
    let report = match &resolved.tracking {
        TrackingUri::Local(root) => {
            let store = LocalStore::open(root)?;
            train_with_local_store(&store, &resolved.request).with_context(|| {
                format!("training on {} failed", resolved.request.data.display())
            })?
        }
        TrackingUri::Http(url) => {
            return Err(crate::exit::UsageError(format!(
                "tracking server {url}: logging to an MLflow server is not available in this build; \
                 use a local store (a directory or file: URI)"
            ))
            .into());
        }
    };
    output::emit(global.output, &report, || render(&report))?;
    Ok(crate::exit::OK)
}

fn render(report: &TrainReport) -> String {
    let m = &report.metrics;
    format!(
        "Trained ridge (alpha {}) on {} rows, tested on {} rows of {}\n\
         \n  mse   {:.6}\n  rmse  {:.6}\n  mae   {:.6}\n  r2    {:.6}\n\n\
         run    {} (experiment {:?}, {})\n\
         model  {}\n",
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
