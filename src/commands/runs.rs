//! `mlops runs list | show | sync`.

use serde::Serialize;

use super::connect::store_tracker;
use crate::cli::{GlobalArgs, RunsCommand, RunsListArgs, RunsShowArgs, RunsSyncArgs};
use crate::error_kind::UsageError;
use crate::output;
use crate::settings;
use crate::tracking::sync::{PushOutcome, is_synced, push_run};
use crate::tracking::{LocalStore, Run, RunStatus, StoreError, Tracker, TrackingUri};

pub async fn run(command: &RunsCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    match command {
        RunsCommand::List(args) => list(args, global).await,
        RunsCommand::Show(args) => show(args, global).await,
        RunsCommand::Sync(args) => sync(args, global).await,
    }
}

#[derive(Serialize)]
struct RunList {
    runs: Vec<Run>,
}

async fn list(args: &RunsListArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let runs = match store_tracker(&args.store)? {
        Tracker::Local(store) => list_local(&store, args)?,
        Tracker::Remote { client, .. } => {
            let experiment_ids = match &args.experiment {
                Some(name) => {
                    match client.get_experiment_by_name(name).await.map_err(|source| remote(&client, source))? {
                        Some(e) => vec![e.experiment_id],
                        None => {
                            return Err(StoreError::ExperimentNotFound {
                                name: name.clone(),
                                store: client.endpoint().to_string(),
                            }
                            .into());
                        }
                    }
                }
                None => client
                    .search_experiments()
                    .await
                    .map_err(|source| remote(&client, source))?
                    .into_iter()
                    .map(|e| e.experiment_id)
                    .collect(),
            };
            client
                .search_runs(&experiment_ids, args.filter.as_deref(), &args.order_by, args.max_results)
                .await
                .map_err(|source| remote(&client, source))?
        }
    };
    let result = RunList { runs };
    output::emit(global.output, &result, || {
        let rows: Vec<Vec<String>> = result
            .runs
            .iter()
            .map(|r| {
                vec![
                    r.info.run_id.clone(),
                    r.info.experiment_id.clone(),
                    r.info.run_name.clone(),
                    r.info.status.as_str().to_string(),
                    format_time(r.info.start_time),
                    r.metrics.get("mse").map_or_else(String::new, |m| format!("{:.4}", m.value)),
                ]
            })
            .collect();
        output::table(&["RUN ID", "EXP", "NAME", "STATUS", "STARTED", "MSE"], &rows)
    })?;
    Ok(crate::exit::OK)
}

fn remote(client: &crate::tracking::mlflow::MlflowClient, source: crate::http::HttpError) -> StoreError {
    StoreError::Remote { uri: client.endpoint().to_string(), source }
}

fn list_local(store: &LocalStore, args: &RunsListArgs) -> anyhow::Result<Vec<Run>> {
    if args.filter.is_some() {
        return Err(UsageError(
            "--filter is passed to a tracking server's search; the local store cannot evaluate it (use --experiment and --order-by)".to_string(),
        )
        .into());
    }
    let experiment_ids = match &args.experiment {
        Some(name) => match store.find_experiment(name)? {
            Some(e) => Some(vec![e.experiment_id]),
            None => {
                return Err(StoreError::ExperimentNotFound {
                    name: name.clone(),
                    store: store.root().display().to_string(),
                }
                .into());
            }
        },
        None => None,
    };
    let mut runs = store.list_runs(experiment_ids.as_deref())?;
    // Stable sorts applied from the last key to the first give "first key wins".
    for order in args.order_by.iter().rev() {
        sort_local(&mut runs, order)?;
    }
    runs.truncate(args.max_results);
    Ok(runs)
}

/// The orderings the local store supports: `metrics.<key>` and `start_time`, ASC or DESC.
fn sort_local(runs: &mut [Run], order: &str) -> anyhow::Result<()> {
    let mut parts = order.split_whitespace();
    let field = parts.next().unwrap_or_default();
    let descending = match parts.next().map(str::to_ascii_uppercase).as_deref() {
        None | Some("ASC") => false,
        Some("DESC") => true,
        Some(other) => {
            return Err(UsageError(format!("--order-by {order:?}: expected ASC or DESC, got {other:?}")).into());
        }
    };
    let key = |run: &Run| -> Option<f64> {
        match field {
            "start_time" | "attributes.start_time" => Some(run.info.start_time as f64),
            f => f.strip_prefix("metrics.").and_then(|m| run.metrics.get(m.trim_matches('`'))).map(|m| m.value),
        }
    };
    if field != "start_time" && field != "attributes.start_time" && !field.starts_with("metrics.") {
        return Err(
            UsageError(format!("--order-by {order:?}: the local store orders by metrics.<key> or start_time")).into()
        );
    }
    // Runs without the metric go last, as in MLflow.
    runs.sort_by(|a, b| match (key(a), key(b)) {
        (Some(x), Some(y)) => {
            if descending {
                y.total_cmp(&x)
            } else {
                x.total_cmp(&y)
            }
        }
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    Ok(())
}

async fn show(args: &RunsShowArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let run = match store_tracker(&args.store)? {
        Tracker::Local(store) => store.get_run(&args.run_id)?,
        Tracker::Remote { client, .. } => {
            client.get_run(&args.run_id).await.map_err(|source| remote(&client, source))?
        }
    };
    output::emit(global.output, &run, || render_run(&run))?;
    Ok(crate::exit::OK)
}

#[derive(Serialize)]
struct SyncResult {
    synced: Vec<PushOutcome>,
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
    let run_ids: Vec<String> = if args.run_ids.is_empty() {
        local
            .list_runs(None)?
            .into_iter()
            .filter(|r| {
                !matches!(r.info.status, RunStatus::Running | RunStatus::Scheduled) && !is_synced(r, client.endpoint())
            })
            .map(|r| r.info.run_id)
            .rev()
            .collect()
    } else {
        args.run_ids.clone()
    };
    let mut synced = Vec::new();
    for run_id in &run_ids {
        let outcome = push_run(&local, &client, run_id).await?;
        if let Some(path) = outcome.artifact_upload.local_path.as_deref() {
            output::note(
                global.quiet,
                format!(
                    "note: {} takes no artifact uploads from mlops; the artifacts and model of {run_id} stay in {path}",
                    outcome.remote_uri
                ),
            );
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
    let result = SyncResult { synced };
    output::emit(global.output, &result, || {
        let rows: Vec<Vec<String>> = result
            .synced
            .iter()
            .map(|o| {
                vec![
                    o.local_run_id.clone(),
                    o.remote_run_id.clone(),
                    match (o.uploaded, o.artifact_upload.is_local_only()) {
                        (true, false) => "uploaded",
                        (true, true) => "uploaded (artifacts local-only)",
                        (false, _) => "already synced",
                    }
                    .to_string(),
                ]
            })
            .collect();
        if rows.is_empty() {
            format!("nothing to sync to {}", client.endpoint())
        } else {
            output::table(&["LOCAL RUN", "SERVER RUN", "RESULT"], &rows)
        }
    })?;
    Ok(crate::exit::OK)
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
