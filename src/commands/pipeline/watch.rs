//! `mlops pipeline watch`: retrain when new data arrives.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::{local_runner, step_progress};
use crate::azureml::publish::{self, PublishOptions, SubmitOptions};
use crate::azureml::watch::AzureMlTrigger;
use crate::cli::{GlobalArgs, PipelineWatchArgs, WatchTarget};
use crate::data::registry::{DatasetRef, DatasetRegistry};
use crate::error_kind::UsageError;
use crate::exit;
use crate::output;
use crate::pipeline;
use crate::pipeline::watch::{
    self, Event, LocalTrigger, Source, Trigger, TriggerReport, TriggerStatus, WatchOptions, WatchState,
};
use crate::secret::Secret;
use crate::settings;

pub async fn run(args: &PipelineWatchArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let pipeline = pipeline::load(&args.file)?;
    watch::check_pipeline(&pipeline, &args.param, &args.file)?;
    if args.target == WatchTarget::Azureml {
        crate::azureml::watch::check_azureml_pipeline(&pipeline)?;
    }
    let dataset = match args.dataset.clone().or_else(|| watch::default_dataset(&pipeline)) {
        Some(name) => name,
        None => {
            return Err(UsageError(format!(
                "pipeline {:?} has no default for dataset_name: pass --dataset NAME",
                pipeline.name
            ))
            .into());
        }
    };
    DatasetRef::parse(&dataset)?;
    let source = Source::parse(
        &args.source,
        args.prefix.as_deref(),
        args.storage_connection_string.clone().map(Secret::new).as_ref(),
        args.source_sas.clone().map(Secret::new).as_ref(),
    )?;
    if args.target == WatchTarget::Azureml && matches!(source, Source::Dir(_)) {
        return Err(UsageError(format!(
            "--target azureml: Azure ML cannot read files in the local directory {}; watch the blob container \
             the data lands in (--source https://ACCOUNT.blob.core.windows.net/CONTAINER or blob:CONTAINER)",
            args.source
        ))
        .into());
    }
    let (tracker, run_options) =
        local_runner(&args.file, &args.tracking, &args.workspace.azure, args.experiment.as_ref())?;
    let store = tracker.journal().root().to_path_buf();
    let watched = Watched {
        registry: DatasetRegistry::for_store(&store),
        state: WatchState::open(
            &args.state.clone().unwrap_or_else(|| default_state_path(&store, &pipeline.name, &dataset)),
            &pipeline.name,
            &dataset,
        )?,
        options: WatchOptions {
            pipeline: pipeline.name.clone(),
            dataset,
            pattern: args.pattern.clone(),
            interval: Duration::from_secs(args.interval),
            once: args.once,
            exit_code_of: exit::code,
        },
        source,
        pipeline,
    };
    let quiet = global.quiet;
    match args.target {
        WatchTarget::Local => {
            let trigger = LocalTrigger::new(
                watched.pipeline.clone(),
                tracker,
                run_options,
                args.param.clone(),
                Box::new(step_progress(quiet)),
            );
            drive(watched, trigger, args, global).await
        }
        WatchTarget::Azureml => {
            let trigger = azureml_trigger(&watched.pipeline, args, quiet).await?;
            drive(watched, trigger, args, global).await
        }
    }
}

/// What is watched and where the watch keeps its records.
struct Watched {
    pipeline: pipeline::Pipeline,
    source: Source,
    registry: DatasetRegistry,
    state: WatchState,
    options: WatchOptions,
}

/// Connects to the workspace and publishes the pipeline (a no-op when it is unchanged).
async fn azureml_trigger<'a>(
    pipeline: &pipeline::Pipeline,
    args: &PipelineWatchArgs,
    quiet: bool,
) -> anyhow::Result<AzureMlTrigger<'a>> {
    let parameters = super::super::azureml::parse_params(&args.param)?;
    let settings = settings::resolve_azureml(&args.workspace, &settings::project_file()?)?;
    let client = super::super::connect::azureml(&settings).await?;
    let compute = args.compute.clone().or_else(|| settings.compute.clone());
    let publish_options = PublishOptions {
        image: args.image.clone().unwrap_or_else(|| settings.image.clone()),
        compute: compute.clone(),
    };
    let published = publish::publish_pipeline(&client, pipeline, &publish_options).await?;
    output::note(
        quiet,
        format!(
            "pipeline {:?} is published as {}:{} ({})",
            pipeline.name,
            published.pipeline_component.name,
            published.pipeline_component.version,
            published.studio_url
        ),
    );
    let options = SubmitOptions {
        parameters,
        experiment: args.experiment.clone(),
        compute,
        env: super::super::azureml::lineage_env(),
        ..SubmitOptions::default()
    };
    let experiment = options.experiment.clone().unwrap_or_else(|| published.pipeline.clone());
    let steps = super::super::connect::azureml_step_reader(&settings, &client, &experiment)?;
    Ok(AzureMlTrigger {
        client,
        published,
        options,
        interval: settings.poll,
        steps,
        interrupt: Box::new(super::super::signals::interrupt),
        on_event: Box::new(super::super::azureml::job_progress(quiet)),
        exit_code_of: exit::code,
    })
}

async fn drive<T: Trigger>(
    mut watched: Watched,
    mut trigger: T,
    args: &PipelineWatchArgs,
    global: &GlobalArgs,
) -> anyhow::Result<u8> {
    let stop = super::super::signals::shutdown().context("cannot install signal handlers")?;
    let quiet = global.quiet;
    let source = &watched.source;
    output::note(
        quiet,
        format!(
            "watching {} for {} (dataset {}, pipeline {:?}, {}, state {}){}",
            source.describe(),
            args.pattern,
            watched.options.dataset,
            watched.pipeline.name,
            match trigger.target() {
                "azureml" => "runs as Azure ML jobs",
                _ => "runs locally",
            },
            watched.state.path().display(),
            if args.once { String::new() } else { format!(", every {}s; Ctrl-C stops", args.interval) }
        ),
    );
    let file = args.file.display().to_string();
    let target = trigger.target();
    let format = global.output;
    let mut write_failed: Option<anyhow::Error> = None;
    let mut events = |event: Event<'_>| match event {
        Event::Interrupted(record) => output::note(
            quiet,
            format!(
                "warning: the trigger for {} (dataset {}:{}, started {}) never finished: the watch stopped while \
                 the pipeline ran. It is not retried; {}",
                record.source_file,
                record.dataset,
                record.dataset_version,
                record.started_at,
                if target == "azureml" {
                    format!(
                        "look for its job in Azure ML (tag mlops.dataset.sha256={}), or submit it again by hand",
                        record.sha256
                    )
                } else {
                    format!(
                        "run it by hand: mlops pipeline run {file} --param dataset_version={}",
                        record.dataset_version
                    )
                }
            ),
        ),
        Event::Idle { files } => tracing::info!("no new data ({files} data files checked)"),
        Event::AlreadyTriggered { source_file, record } => tracing::debug!(
            "{source_file}: content already triggered (dataset {}:{}, {:?})",
            record.dataset,
            record.dataset_version,
            record.status
        ),
        Event::Triggering { source_file, dataset } => output::note(
            quiet,
            format!("==> new data in {source_file}: dataset {}:{}; running {file}", dataset.name, dataset.version),
        ),
        Event::Triggered(report) => {
            if let Err(err) = output::emit_line(format, report, || render(report)) {
                write_failed.get_or_insert(err);
            }
        }
        Event::PollFailed(err) => output::note(
            quiet,
            format!("warning: poll failed, trying again in {}s: {}", args.interval, crate::error_kind::chain(err)),
        ),
    };
    let summary = watch::watch(
        &watched.pipeline,
        source,
        &mut watched.state,
        &watched.registry,
        &mut trigger,
        &watched.options,
        &mut events,
        Box::pin(stop),
    )
    .await
    .with_context(|| format!("watching {}", source.describe()))?;
    if let Some(err) = write_failed {
        return Err(err);
    }
    output::note(
        quiet,
        if args.once && summary.triggers == 0 {
            format!("no new data in {}", source.describe())
        } else {
            format!("watch stopped: {} polls, {} triggers, {} failed", summary.polls, summary.triggers, summary.failed)
        },
    );
    Ok(match summary.first_failure_exit_code {
        Some(code) if args.once => u8::try_from(code).unwrap_or(exit::INTERNAL),
        _ => exit::OK,
    })
}

fn render(report: &TriggerReport) -> String {
    let outcome = match report.status {
        TriggerStatus::Succeeded => "succeeded".to_string(),
        TriggerStatus::NotBetter => "not-better (the gate kept the champion)".to_string(),
        _ => format!("FAILED (exit {})", report.exit_code.unwrap_or(1)),
    };
    let mut text = format!(
        "{} {}:{} {} {outcome} run {}",
        report.source_file,
        report.dataset,
        report.dataset_version,
        report.pipeline,
        report.run_id.as_deref().unwrap_or("-")
    );
    if report.status == TriggerStatus::Failed {
        for line in report.message.iter().chain(&report.errors) {
            text.push_str(&format!("\n  {line}"));
        }
    }
    text
}

fn default_state_path(store: &Path, pipeline: &str, dataset: &str) -> PathBuf {
    let name = store.file_name().map_or_else(|| "mlruns".into(), |n| n.to_string_lossy().into_owned());
    let parent = store.parent().map(Path::to_path_buf).unwrap_or_default();
    // Pipeline names are free text; the file name keeps only what is safe in a path.
    let safe = |text: &str| -> String {
        text.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
    };
    parent.join(format!("{name}-watch")).join(format!("{}--{}.json", safe(pipeline), safe(dataset)))
}
