//! `mlops runs list | show`.

use serde::Serialize;

use crate::cli::{GlobalArgs, RunsCommand, RunsListArgs, RunsShowArgs};
use crate::output;
use crate::settings;
use crate::tracking::{LocalStore, Run, StoreError, TrackingUri};

pub async fn run(command: &RunsCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    match command {
        RunsCommand::List(args) => list(args, global),
        RunsCommand::Show(args) => show(args, global),
    }
}

fn open_local(flag: Option<&str>) -> anyhow::Result<LocalStore> {
    let project = settings::project_file()?;
    match project.tracking_uri(flag)? {
        TrackingUri::Local(root) => Ok(LocalStore::open(&root)?),
        TrackingUri::Http(url) => Err(crate::exit::UsageError(format!(
            "browsing runs on a tracking server ({url}) is not available in this build; use a local store"
        ))
        .into()),
    }
}

#[derive(Serialize)]
struct RunList {
    runs: Vec<Run>,
}

fn list(args: &RunsListArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let store = open_local(args.tracking_uri.as_deref())?;
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
    runs.truncate(args.max_results);
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
                    r.metrics
                        .get("mse")
                        .map_or_else(String::new, |m| format!("{:.4}", m.value)),
                ]
            })
            .collect();
        output::table(
            &["RUN ID", "EXP", "NAME", "STATUS", "STARTED", "MSE"],
            &rows,
        )
    })?;
    Ok(crate::exit::OK)
}

fn show(args: &RunsShowArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let store = open_local(args.tracking_uri.as_deref())?;
    let run = store.get_run(&args.run_id)?;
    output::emit(global.output, &run, || render_run(&run))?;
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
    section(
        &mut out,
        "params",
        run.params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    section(
        &mut out,
        "metrics",
        run.metrics
            .iter()
            .map(|(k, m)| (k.clone(), format!("{:?}", m.value)))
            .collect(),
    );
    section(
        &mut out,
        "tags",
        run.tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    section(
        &mut out,
        "inputs",
        run.inputs
            .iter()
            .map(|d| {
                (
                    d.name.clone(),
                    format!("digest {} ({})", d.digest, d.context),
                )
            })
            .collect(),
    );
    out
}

fn format_time(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis).map_or_else(
        || millis.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}
