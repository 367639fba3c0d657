//! `mlops runs list | show | sync`.

use std::collections::HashMap;

use serde::Serialize;

use super::connect::store_tracker;
use crate::cli::{GlobalArgs, RunsCommand, RunsListArgs, RunsShowArgs, RunsSyncArgs};
use crate::error_kind::{ErrorKind, HasKind, UsageError};
use crate::output;
use crate::settings;
use crate::tracking::nest::{PARENT_RUN_ID_TAG, nest_children};
use crate::tracking::search::{RunFilter, RunOrder, sort_runs};
use crate::tracking::sync::{PushOutcome, is_synced, push_run};
use crate::tracking::{Experiment, LocalStore, Run, StoreError, Tracker, TrackingUri};

pub async fn run(command: &RunsCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    match command {
        RunsCommand::List(args) => list(args, global).await,
        RunsCommand::Show(args) => show(args, global).await,
        RunsCommand::Sync(args) => sync(args, global).await,
    }
}

/// A listed run: the run, its experiment's name, and how deep it nests under listed parents.
#[derive(Serialize)]
struct ListedRun {
    experiment_name: String,
    /// 0 for a top-level run; a child run follows its parent with the parent's depth + 1.
    depth: usize,
    #[serde(flatten)]
    run: Run,
}

#[derive(Serialize)]
struct RunList {
    runs: Vec<ListedRun>,
}

async fn list(args: &RunsListArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let (runs, experiments) = match store_tracker(&args.store)? {
        Tracker::Local(store) => list_local(&store, args)?,
        Tracker::Remote { client, .. } => {
            let remote = |source| StoreError::Remote { uri: client.endpoint().to_string(), source };
            let experiments = match &args.experiment {
                Some(name) => match client.get_experiment_by_name(name).await.map_err(remote)? {
                    Some(e) => vec![e],
                    None => {
                        return Err(StoreError::ExperimentNotFound {
                            name: name.clone(),
                            store: client.endpoint().to_string(),
                        }
                        .into());
                    }
                },
                None => client.search_experiments().await.map_err(remote)?,
            };
            let ids: Vec<String> = experiments.iter().map(|e| e.experiment_id.clone()).collect();
            let filter = match (args.filter.as_deref(), args.top_level) {
                (Some(filter), true) => Some(format!("{filter} AND {TOP_LEVEL_FILTER}")),
                (None, true) => Some(TOP_LEVEL_FILTER.to_string()),
                (filter, false) => filter.map(str::to_string),
            };
            let runs =
                client.search_runs(&ids, filter.as_deref(), &args.order_by, args.max_results).await.map_err(remote)?;
            (runs, experiments)
        }
    };
    let names: HashMap<String, String> = experiments.into_iter().map(|e| (e.experiment_id, e.name)).collect();
    let runs: Vec<ListedRun> = nest_children(runs)
        .into_iter()
        .map(|(depth, run)| ListedRun {
            experiment_name: names.get(&run.info.experiment_id).cloned().unwrap_or_default(),
            depth,
            run,
        })
        .collect();
    let result = RunList { runs };
    output::emit(global.output, &result, || {
        let rows: Vec<Vec<String>> = result
            .runs
            .iter()
            .map(|listed| {
                let r = &listed.run;
                let indent =
                    if listed.depth == 0 { String::new() } else { format!("{}└ ", "  ".repeat(listed.depth - 1)) };
                vec![
                    r.info.run_id.clone(),
                    listed.experiment_name.clone(),
                    format!("{indent}{}", r.info.run_name),
                    r.info.status.as_str().to_string(),
                    format_time(r.info.start_time),
                    r.metrics.get("mse").map_or_else(String::new, |m| format!("{:.4}", m.value)),
                ]
            })
            .collect();
        output::table(&["RUN ID", "EXPERIMENT", "NAME", "STATUS", "STARTED", "MSE"], &rows)
    })?;
    Ok(crate::exit::OK)
}

fn remote(client: &crate::tracking::mlflow::MlflowClient, source: crate::http::HttpError) -> StoreError {
    StoreError::Remote { uri: client.endpoint().to_string(), source }
}

/// MLflow's filter for runs that are nobody's child.
const TOP_LEVEL_FILTER: &str = "tags.mlflow.parentRunId IS NULL";

/// Runs of the local store matching the filter, in MLflow's order, and the experiments searched.
fn list_local(store: &LocalStore, args: &RunsListArgs) -> anyhow::Result<(Vec<Run>, Vec<Experiment>)> {
    let filter = args.filter.as_deref().map(RunFilter::parse).transpose()?.unwrap_or_default();
    let orders = args.order_by.iter().map(|o| RunOrder::parse(o)).collect::<Result<Vec<_>, _>>()?;
    let experiments = match &args.experiment {
        Some(name) => match store.find_experiment(name)? {
            Some(e) => vec![e],
            None => {
                return Err(StoreError::ExperimentNotFound {
                    name: name.clone(),
                    store: store.root().display().to_string(),
                }
                .into());
            }
        },
        None => store.list_experiments()?,
    };
    let ids: Vec<String> = experiments.iter().map(|e| e.experiment_id.clone()).collect();
    let mut runs: Vec<Run> = store
        .list_runs(Some(&ids))?
        .into_iter()
        .filter(|run| filter.matches(run) && !(args.top_level && run.tags.contains_key(PARENT_RUN_ID_TAG)))
        .collect();
    sort_runs(&mut runs, &orders);
    runs.truncate(args.max_results);
    Ok((runs, experiments))
}

async fn show(args: &RunsShowArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let tracker = store_tracker(&args.store)?;
    let run_id = tracker.resolve_run_id(&args.run_id).await?;
    let run = match &tracker {
        Tracker::Local(store) => store.get_run(&run_id)?,
        Tracker::Remote { client, .. } => client.get_run(&run_id).await.map_err(|source| remote(client, source))?,
    };
    output::emit(global.output, &run, || render_run(&run))?;
    Ok(crate::exit::OK)
}

#[derive(Serialize)]
struct SyncResult {
    synced: Vec<PushOutcome>,
    /// Runs that could not be pushed, with why; the others were pushed all the same.
    failed: Vec<FailedRun>,
    /// Local runs left RUNNING by a process that is gone, ended as KILLED before pushing.
    marked_killed: Vec<String>,
}

#[derive(Serialize)]
struct FailedRun {
    local_run_id: String,
    error: String,
}

async fn sync(args: &RunsSyncArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let project = settings::project_file()?;
    let uri = match args.to.as_deref().or(project.tracking.uri.as_deref()) {
        Some(uri) => TrackingUri::parse(uri)?,
        None => {
            return Err(UsageError(
                "mlops runs sync needs a tracking server: --to http(s)://…, azureml://… or MLFLOW_TRACKING_URI"
                    .to_string(),
            )
            .into());
        }
    };
    let target = settings::tracking_for(uri.clone(), args.from.as_deref(), &args.azure, &project)?;
    let Some(client) = super::connect::remote_client(&target)? else {
        return Err(UsageError(format!(
            "--to {uri}: runs are synced to a tracking server (http://, https:// or azureml://)"
        ))
        .into());
    };
    let local = LocalStore::open(&target.local_store)?;
    let marked_killed = local.end_abandoned_runs()?;
    for run_id in &marked_killed {
        output::note(global.quiet, format!("{run_id} was left RUNNING by a process that is gone: marked KILLED"));
    }
    let run_ids: Vec<String> = if args.run_ids.is_empty() {
        local
            .list_runs(None)?
            .into_iter()
            .filter(|r| r.info.status.is_terminal() && !is_synced(r, client.endpoint()))
            .map(|r| r.info.run_id)
            .rev()
            .collect()
    } else {
        args.run_ids.clone()
    };
    let mut synced = Vec::new();
    let mut failed = Vec::new();
    let mut first_failure: Option<anyhow::Error> = None;
    for run_id in &run_ids {
        let outcome = match push_run(&local, &client, run_id).await {
            Ok(outcome) => outcome,
            Err(err) => {
                // One run the server refuses (or that is malformed locally) does not hold back the
                // others; a server that cannot be reached or refuses the credentials would refuse
                // them all, so sync stops there.
                let stop = err.is_offline() || err.kind() == ErrorKind::Auth;
                let message = crate::error_kind::chain(&err);
                output::note(false, format!("error: run {run_id} was not synced: {message}"));
                failed.push(FailedRun { local_run_id: run_id.clone(), error: message });
                first_failure.get_or_insert_with(|| anyhow::Error::new(err));
                if stop {
                    break;
                }
                continue;
            }
        };
        if let Some(reason) = outcome.artifact_upload.reason.as_deref() {
            output::note(global.quiet, format!("note: {run_id}: {reason}"));
        }
        output::note(
            global.quiet,
            if outcome.uploaded {
                format!(
                    "synced {} → {} ({} metric points, {} files)",
                    run_id, outcome.remote_run_id, outcome.metric_points, outcome.artifacts
                )
            } else {
                format!("{run_id} is already on {} as {}", outcome.remote_uri, outcome.remote_run_id)
            },
        );
        synced.push(outcome);
    }
    let result = SyncResult { synced, failed, marked_killed };
    output::emit(global.output, &result, || {
        let mut rows: Vec<Vec<String>> = result
            .synced
            .iter()
            .map(|o| {
                vec![
                    o.local_run_id.clone(),
                    o.remote_run_id.clone(),
                    match (o.uploaded, o.artifact_upload.state) {
                        (true, "local-only") => "uploaded (artifacts local-only)",
                        (true, "written") => "uploaded (artifacts written to a local path)",
                        (true, _) => "uploaded",
                        (false, "in-place") => "the server reads this store",
                        (false, _) => "already synced",
                    }
                    .to_string(),
                ]
            })
            .collect();
        rows.extend(result.failed.iter().map(|f| vec![f.local_run_id.clone(), "-".to_string(), "FAILED".to_string()]));
        if rows.is_empty() {
            format!("nothing to sync to {}", client.endpoint())
        } else {
            output::table(&["LOCAL RUN", "SERVER RUN", "RESULT"], &rows)
        }
    })?;
    match first_failure {
        None => Ok(crate::exit::OK),
        Some(err) => {
            let n = result.failed.len();
            output::note(
                false,
                format!(
                    "{n} of {} run(s) were not synced; `mlops runs sync` again retries them",
                    result.synced.len() + n
                ),
            );
            Ok(crate::exit::code_for(&err))
        }
    }
}

fn render_run(run: &Run) -> String {
    let info = &run.info;
    let mut out = format!(
        "run        {}\nname       {}\nexperiment {}\nstatus     {}\nstarted    {}\nended      {}\nartifacts  {}\n",
        info.run_id,
        info.run_name,
        info.experiment_id,
        info.status.as_str(),
        format_time(info.start_time),
        info.end_time.map_or_else(|| "-".to_string(), format_time),
        info.artifact_uri,
    );
    let section = |out: &mut String, title: &str, rows: Vec<(String, String)>| {
        if !rows.is_empty() {
            out.push_str(&format!("\n{title}\n"));
            for (k, v) in rows {
                out.push_str(&format!("  {k} = {v}\n"));
            }
        }
    };
    section(&mut out, "params", run.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    section(&mut out, "metrics", run.metrics.iter().map(|(k, m)| (k.clone(), format!("{:?}", m.value))).collect());
    section(&mut out, "tags", run.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    section(
        &mut out,
        "inputs",
        run.inputs.iter().map(|d| (d.name.clone(), format!("digest {} ({})", d.digest, d.context))).collect(),
    );
    out
}

fn format_time(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map_or_else(|| millis.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}
