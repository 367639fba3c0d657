//! `mlops pipeline run | validate` (`watch` is in `watch.rs`, the Azure ML subcommands
//! in `azureml.rs`).

use anyhow::Context;
use serde::Serialize;

use crate::cli::{AzureArgs, GlobalArgs, PipelineCommand, PipelineRunArgs, TrackingArgs};
use crate::env_vars;
use crate::exit;
use crate::output;
use crate::pipeline::{self, Pipeline, PipelineReport, RunOptions, StepReport, StepStatus};
use crate::settings::{self, DEFAULT_EXPERIMENT};

mod watch;
use crate::tracking::{Tracker, TrackingUri};

pub async fn run(command: &PipelineCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    match command {
        PipelineCommand::Validate(args) => {
            let pipeline = pipeline::load(&args.file)?;
            pipeline::resolve_parameters(&pipeline, &args.param, &args.file)?;
            let summary = Summary::of(&pipeline);
            output::emit(global.output, &summary, || {
                let mut text =
                    format!("{}: pipeline {:?} is valid\nsteps in order:\n", args.file.display(), pipeline.name);
                for step in &pipeline.steps {
                    text.push_str(&format!("  {:<16} mlops {}\n", step.name, step.run.join(" ")));
                }
                text
            })?;
            Ok(exit::OK)
        }
        PipelineCommand::Run(args) => run_pipeline(args, global).await,
        PipelineCommand::Watch(args) => watch::run(args, global).await,
        PipelineCommand::Publish(args) => super::azureml::publish(args, global).await,
        PipelineCommand::Submit(args) => super::azureml::submit(args, global).await,
        PipelineCommand::Cancel(args) => super::azureml::cancel(args, global).await,
        PipelineCommand::Schedule(command) => super::azureml::schedule(command, global).await,
        PipelineCommand::Step(args) => super::azureml::step(args, global),
    }
}

/// `pipeline validate --output json`.
#[derive(Serialize)]
struct Summary {
    pipeline: String,
    valid: bool,
    parameters: Vec<ParameterSummary>,
    steps: Vec<StepSummary>,
}

#[derive(Serialize)]
struct ParameterSummary {
    name: String,
    default: Option<String>,
    description: Option<String>,
}

#[derive(Serialize)]
struct StepSummary {
    name: String,
    run: Vec<String>,
    depends_on: Vec<String>,
}

impl Summary {
    fn of(p: &Pipeline) -> Self {
        Summary {
            pipeline: p.name.clone(),
            valid: true,
            parameters: p
                .parameters
                .iter()
                .map(|(k, v)| ParameterSummary {
                    name: k.clone(),
                    default: v.default.clone(),
                    description: v.description.clone(),
                })
                .collect(),
            steps: p
                .steps
                .iter()
                .map(|s| StepSummary { name: s.name.clone(), run: s.run.clone(), depends_on: s.depends_on.clone() })
                .collect(),
        }
    }
}

async fn run_pipeline(args: &PipelineRunArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let pipeline = pipeline::load(&args.file)?;
    let parameters = pipeline::resolve_parameters(&pipeline, &args.param, &args.file)?;
    let (tracker, mut options) =
        local_runner(&args.file, &args.store.tracking, &args.store.azure, args.experiment.as_ref())?;
    options.parameters = parameters;
    options.from = args.from.clone();
    options.resume = args.resume.clone();
    let report = pipeline::run(&pipeline, &tracker, &options, &mut step_progress(global.quiet)).await?;
    output::emit(global.output, &report, || render(&report))?;
    Ok(match report.status {
        "failed" => u8::try_from(report.failed_exit_code().unwrap_or(1)).unwrap_or(exit::INTERNAL),
        "not-better" if args.fail_on_not_better => exit::GATE_NOT_BETTER,
        _ => exit::OK,
    })
}

/// The tracker and run options of the local runner (parameters, `--from` and `--resume` unset).
pub(super) fn local_runner(
    file: &std::path::Path,
    tracking: &TrackingArgs,
    azure: &AzureArgs,
    experiment: Option<&String>,
) -> anyhow::Result<(Tracker, RunOptions)> {
    let project = settings::project_file()?;
    let tracking = settings::resolve_tracking(tracking, azure, &project)?;
    let tracker = super::connect::tracker(&tracking)?;
    let experiment = experiment
        .cloned()
        .or_else(|| project.tracking.experiment.clone())
        .unwrap_or_else(|| DEFAULT_EXPERIMENT.to_string());
    // Steps inherit the pipeline's tracking store, so every child run lands beside the parent.
    let step_env = vec![
        (env_vars::MLFLOW_EXPERIMENT_NAME.to_string(), experiment.clone()),
        (env_vars::MLOPS_LOCAL_STORE.to_string(), tracker.journal().root().display().to_string()),
        (
            env_vars::MLFLOW_TRACKING_URI.to_string(),
            match &tracking.uri {
                TrackingUri::Local(root) => root.display().to_string(),
                TrackingUri::Http(url) => url.clone(),
                other => other.to_string(),
            },
        ),
    ];
    let provenance = crate::tracking::provenance::detect(settings::user(), settings::lineage_overrides());
    let options = RunOptions {
        program: std::env::current_exe().context("cannot find the mlops binary the steps run")?,
        file: file.to_path_buf(),
        parameters: Default::default(),
        experiment,
        user: provenance.user,
        lineage_tags: provenance.code.tags(),
        step_env,
        from: None,
        resume: None,
        exit_code_of: exit::code,
        echo_stderr: output::echo_stderr,
    };
    Ok((tracker, options))
}

/// Prints each finished step on stderr.
pub(super) fn step_progress(quiet: bool) -> impl FnMut(&StepReport) {
    move |step: &StepReport| {
        output::note(
            quiet,
            format!(
                "==> {} {}{}",
                step.name,
                status_text(step.status),
                step.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
            ) + &step.errors.iter().map(|e| format!("\n      {e}")).collect::<String>(),
        )
    }
}

fn status_text(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Succeeded => "succeeded",
        StepStatus::Failed => "FAILED",
        StepStatus::NotBetter => "not-better",
        StepStatus::Skipped => "skipped",
        StepStatus::Reused => "reused",
    }
}

fn render(report: &PipelineReport) -> String {
    let rows: Vec<Vec<String>> = report
        .steps
        .iter()
        .map(|s| {
            let outputs: Vec<String> = s
                .outputs
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                .collect();
            vec![
                s.name.clone(),
                status_text(s.status).to_string(),
                crate::duration::seconds(s.duration_seconds),
                s.run_id.clone().unwrap_or_else(|| "-".to_string()),
                if outputs.is_empty() { s.message.clone().unwrap_or_default() } else { outputs.join(" ") },
            ]
        })
        .collect();
    let table = output::table(&["STEP", "STATUS", "DURATION", "RUN", "OUTPUTS"], &rows);
    let took = crate::duration::seconds(report.duration_seconds);
    let run = format!("run {}, {}", report.parent_run_id, report.tracking_uri);
    let mut text = match (&report.failure, report.status) {
        (Some(f), _) => format!(
            "{table}\npipeline {:?} FAILED at step {:?} ({}) after {took} ({run})\n",
            report.pipeline,
            f.step,
            f.exit_code.map_or_else(|| "it did not run".to_string(), |c| format!("exit code {c}"))
        ),
        (None, "not-better") => format!(
            "{table}\npipeline {:?} finished in {took} ({run}): the new model is not better than the champion, so nothing was registered\n",
            report.pipeline
        ),
        (None, _) => format!("{table}\npipeline {:?} succeeded in {took} ({run})\n", report.pipeline),
    };
    if let Some(failure) = &report.failure {
        for line in failure.message.iter().chain(&failure.errors) {
            text.push_str(&format!("  {line}\n"));
        }
    }
    text
}
