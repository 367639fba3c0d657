//! `mlops pipeline publish | submit | cancel | schedule | step` and `mlops train --compute`: Azure ML.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::Value;

use crate::azureml::jobs::{self, FollowEvent};
use crate::azureml::publish::{self, PublishOptions, Published, SubmitOptions};
use crate::azureml::{AzureMlClient, JobFollow, JobState, cron, schedules};
use crate::cli::{
    GlobalArgs, PipelineCancelArgs, PipelinePublishArgs, PipelineStepArgs, PipelineSubmitArgs, ScheduleCommand,
    ScheduleCreateArgs, TrainArgs,
};
use crate::error_kind::{ErrorKind, UsageError};
use crate::exit;
use crate::output;
use crate::settings::{self, AzureMlSettings};

pub async fn publish(args: &PipelinePublishArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let pipeline = crate::pipeline::load(&args.file)?;
    let settings = settings::resolve_azureml(&args.workspace, &settings::project_file()?)?;
    let client = super::connect::azureml(&settings).await?;
    let options = PublishOptions {
        image: args.image.clone().unwrap_or_else(|| settings.image.clone()),
        compute: args.compute.clone().or_else(|| settings.compute.clone()),
    };
    let published = publish::publish_pipeline(&client, &pipeline, &options).await?;
    output::emit(global.output, &published, || render_published(&published))?;
    Ok(exit::OK)
}

fn render_published(p: &Published) -> String {
    let row = |what: &str, a: &crate::azureml::assets::AssetVersion| {
        vec![
            what.to_string(),
            format!("{}:{}", a.name, a.version),
            if a.created { "registered" } else { "unchanged" }.to_string(),
            a.id.clone(),
        ]
    };
    let mut rows = vec![row("environment", &p.environment)];
    for (step, component) in &p.components {
        rows.push(row(&format!("step {step}"), component));
    }
    rows.push(row("pipeline", &p.pipeline_component));
    let changed = rows.iter().filter(|r| r[2] == "registered").count();
    format!(
        "{}\npipeline {:?} published as {}:{} ({changed} new versions)\nstudio: {}\n",
        output::table(&["ASSET", "VERSION", "STATE", "ID"], &rows),
        p.pipeline,
        p.pipeline_component.name,
        p.pipeline_component.version,
        p.studio_url
    )
}

/// What `submit` and `schedule create` name: a pipeline file (checked before anything is sent,
/// then published) or the name of a published pipeline.
enum Target {
    File(crate::pipeline::Pipeline),
    Name(String),
}

impl Target {
    fn parse(text: &str) -> anyhow::Result<Target> {
        let path = Path::new(text);
        if path.is_file() || text.ends_with(".yml") || text.ends_with(".yaml") {
            Ok(Target::File(crate::pipeline::load(path)?))
        } else {
            Ok(Target::Name(text.to_string()))
        }
    }

    async fn published(
        &self,
        client: &AzureMlClient,
        settings: &AzureMlSettings,
        image: Option<&str>,
        compute: Option<&str>,
    ) -> anyhow::Result<Published> {
        match self {
            Target::File(pipeline) => {
                let options = PublishOptions {
                    image: image.map(str::to_string).unwrap_or_else(|| settings.image.clone()),
                    compute: compute.map(str::to_string).or_else(|| settings.compute.clone()),
                };
                Ok(publish::publish_pipeline(client, pipeline, &options).await?)
            }
            Target::Name(name) => Ok(publish::load_published(client, name).await?),
        }
    }
}

pub(super) fn parse_params(params: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    params
        .iter()
        .map(|text| {
            text.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| UsageError(format!("--param {text:?}: expected KEY=VALUE")).into())
        })
        .collect()
}

#[derive(Serialize)]
struct Submitted {
    pipeline: String,
    pipeline_version: String,
    job: JobFollow,
}

pub async fn submit(args: &PipelineSubmitArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let parameters = parse_params(&args.param)?;
    let target = Target::parse(&args.pipeline)?;
    let settings = settings::resolve_azureml(&args.workspace, &settings::project_file()?)?;
    let client = super::connect::azureml(&settings).await?;
    let published = target.published(&client, &settings, args.image.as_deref(), args.compute.as_deref()).await?;
    let options = SubmitOptions {
        parameters,
        experiment: args.experiment.clone(),
        compute: args.compute.clone().or_else(|| settings.compute.clone()),
        env: lineage_env(),
        ..SubmitOptions::default()
    };
    let job = publish::submit_pipeline(&client, &published, &options).await?;
    output::note(
        global.quiet,
        format!("submitted pipeline job {} ({})", job.name, job.studio_url.as_deref().unwrap_or("-")),
    );
    let job = if args.stream {
        let experiment = job.experiment.clone().unwrap_or_else(|| published.pipeline.clone());
        let steps = super::connect::azureml_step_reader(&settings, &client, &experiment)?;
        follow(&client, &settings, job, steps, global).await?
    } else {
        job
    };
    let code = outcome_code(&job, args.stream);
    let submitted = Submitted {
        pipeline: published.pipeline.clone(),
        pipeline_version: published.pipeline_component.version.clone(),
        job,
    };
    output::emit(global.output, &submitted, || render_job(&submitted.job))?;
    Ok(code)
}

fn outcome_code(job: &JobFollow, followed: bool) -> u8 {
    if !followed {
        return exit::OK;
    }
    if job.interrupted {
        return exit::INTERRUPTED;
    }
    match job.state {
        JobState::Completed => exit::OK,
        _ => exit::code(ErrorKind::Remote),
    }
}

fn render_job(job: &JobFollow) -> String {
    let mut text = format!("job {}: {}\n", job.name, job.status);
    for step in &job.steps {
        text.push_str(&format!("  step {:<16} {:<10} run {}\n", step.name, step.status, step.run_id));
    }
    if let Some(url) = &job.studio_url {
        text.push_str(&format!("  studio: {url}\n"));
    }
    if let Some(error) = &job.error {
        text.push_str(&format!("  error: {error}\n"));
    }
    text
}

/// Follows a job to its end with progress on stderr; Ctrl-C stops following, not the job.
async fn follow(
    client: &AzureMlClient,
    settings: &AzureMlSettings,
    job: JobFollow,
    mut steps: Option<crate::azureml::steps::StepReader>,
    global: &GlobalArgs,
) -> anyhow::Result<JobFollow> {
    let name = job.name.clone();
    let mut on_event = job_progress(global.quiet);
    let mut forward = |event: FollowEvent<'_>| on_event(&name, event);
    let mut interrupt = super::signals::interrupt();
    let followed =
        jobs::follow_job(client, &job.name, settings.poll, steps.as_mut(), &mut forward, interrupt.as_mut()).await?;
    let mut followed = followed;
    if followed.interrupted {
        crate::output::to_stderr(format!(
            "stopped following: job {} goes on in Azure ML; cancel it with `mlops pipeline cancel {}`",
            followed.name, followed.name
        ));
    }
    if followed.studio_url.is_none() {
        followed.studio_url = job.studio_url;
    }
    Ok(followed)
}

/// Prints a followed job's status changes, step changes and warnings on stderr.
pub(super) fn job_progress(quiet: bool) -> impl FnMut(&str, FollowEvent<'_>) {
    let started = std::time::Instant::now();
    move |job: &str, event: FollowEvent<'_>| {
        let at = started.elapsed().as_secs_f64();
        match event {
            FollowEvent::Status(status) => output::note(quiet, format!("  [{at:>5.0}s] job {job}: {status}")),
            FollowEvent::Step(step) => {
                output::note(quiet, format!("  [{at:>5.0}s]   step {}: {}", step.name, step.status))
            }
            FollowEvent::Warning(text) => output::note(quiet, format!("  warning: {text}")),
        }
    }
}

pub async fn cancel(args: &PipelineCancelArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let settings = settings::resolve_azureml(&args.workspace, &settings::project_file()?)?;
    let client = super::connect::azureml(&settings).await?;
    let job = jobs::cancel_job(&client, &args.job).await?;
    let follow = JobFollow::from_resource(&args.job, &job);
    output::note(global.quiet, format!("cancel requested for job {}", args.job));
    output::emit(global.output, &follow, || render_job(&follow))?;
    Ok(exit::OK)
}

pub async fn schedule(command: &ScheduleCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    enum Action {
        Show,
        Enable,
        Disable,
        Delete,
    }
    let (args, action) = match command {
        ScheduleCommand::Create(args) => return schedule_create(args, global).await,
        ScheduleCommand::Show(a) => (a, Action::Show),
        ScheduleCommand::Enable(a) => (a, Action::Enable),
        ScheduleCommand::Disable(a) => (a, Action::Disable),
        ScheduleCommand::Delete(a) => (a, Action::Delete),
    };
    let settings = settings::resolve_azureml(&args.workspace, &settings::project_file()?)?;
    let client = super::connect::azureml(&settings).await?;
    let quiet = global.quiet;
    let mut on_status = |status: &str| output::note(quiet, format!("  operation: {status}"));
    let name = &args.name;
    let schedule = match action {
        Action::Show => schedules::get(&client, name).await?,
        Action::Enable => schedules::set_enabled(&client, name, true, &mut on_status).await?,
        Action::Disable => schedules::set_enabled(&client, name, false, &mut on_status).await?,
        Action::Delete => {
            schedules::delete(&client, name, &mut on_status).await?;
            let deleted = serde_json::json!({"name": name, "deleted": true});
            output::emit(global.output, &deleted, || format!("schedule {name} deleted"))?;
            return Ok(exit::OK);
        }
    };
    output::emit(global.output, &schedule, || render_schedule(&schedule))?;
    Ok(exit::OK)
}

async fn schedule_create(args: &ScheduleCreateArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    // Checked before signing in: a bad trigger is a usage error, not a remote one.
    let every = args.every.as_deref().map(cron::parse_every).transpose().map_err(UsageError)?;
    let trigger = cron::trigger(args.cron.as_deref(), every, &args.time_zone).map_err(UsageError)?;
    let parameters = parse_params(&args.param)?;
    let target = Target::parse(&args.pipeline)?;
    let settings = settings::resolve_azureml(&args.workspace, &settings::project_file()?)?;
    let client = super::connect::azureml(&settings).await?;
    let published = target.published(&client, &settings, args.image.as_deref(), args.compute.as_deref()).await?;
    let compute = args.compute.clone().or_else(|| published.compute.clone()).or_else(|| settings.compute.clone());
    let compute = compute.ok_or_else(|| UsageError("no compute: pass --compute NAME".to_string()))?;
    let compute_id = client.compute_id(&compute).await?;
    let options = SubmitOptions {
        parameters,
        experiment: args.experiment.clone(),
        env: lineage_env(),
        ..SubmitOptions::default()
    };
    let job = publish::pipeline_job(&published, &compute_id, &options)?;
    let properties = serde_json::json!({
        "displayName": args.name,
        "description": format!("submits pipeline {} ({})", published.pipeline, published.pipeline_component.id),
        "isEnabled": !args.disabled,
        "trigger": trigger,
        "action": {"actionType": "CreateJob", "jobDefinition": job},
        "tags": {publish::TAG_PIPELINE: published.pipeline},
    });
    let quiet = global.quiet;
    let mut on_status = |status: &str| output::note(quiet, format!("  operation: {status}"));
    let schedule = schedules::create_or_update(&client, &args.name, properties, &mut on_status).await?;
    output::emit(global.output, &schedule, || render_schedule(&schedule))?;
    Ok(exit::OK)
}

fn render_schedule(schedule: &Value) -> String {
    let props = schedule.get("properties").cloned().unwrap_or_default();
    let text = |p: &str| props.pointer(p).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
    let trigger = match text("/trigger/triggerType").as_deref() {
        Some("Cron") => format!("cron {:?}", text("/trigger/expression").unwrap_or_default()),
        Some("Recurrence") => format!(
            "every {} {}",
            text("/trigger/interval").unwrap_or_default(),
            text("/trigger/frequency").unwrap_or_default().to_lowercase()
        ),
        other => other.unwrap_or("-").to_string(),
    };
    format!(
        "schedule {}: {} ({}), {trigger}, time zone {}\n",
        schedule.get("name").and_then(Value::as_str).unwrap_or("?"),
        if props.get("isEnabled").and_then(Value::as_bool).unwrap_or(false) { "enabled" } else { "disabled" },
        text("/provisioningState").unwrap_or_else(|| "-".to_string()),
        text("/trigger/timeZone").unwrap_or_else(|| "UTC".to_string()),
    )
}

pub fn step(args: &PipelineStepArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let program = std::env::current_exe().context("cannot find the mlops binary the step runs")?;
    let result = crate::azureml::step::run_step(
        &program,
        &args.name,
        &args.result,
        &args.upstream,
        &args.args,
        exit::code,
        output::echo_stderr,
    )?;
    output::emit(global.output, &result, || {
        format!(
            "step {}: {:?}{}\n",
            result.step,
            result.status,
            result.message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
        )
    })?;
    // The job's log in Azure ML ends with why the step failed, in its own words.
    if !result.errors.is_empty() {
        output::note(
            false,
            format!(
                "step {:?} failed:\n{}",
                result.step,
                result.errors.iter().map(|e| format!("  {e}\n")).collect::<String>().trim_end()
            ),
        );
    }
    Ok(match result.status {
        crate::pipeline::StepStatus::Failed => {
            result.exit_code.and_then(|c| u8::try_from(c).ok()).filter(|c| *c != 0).unwrap_or(1)
        }
        _ => exit::OK,
    })
}

/// `mlops train --compute NAME`: the same training arguments as an Azure ML command job, followed.
pub async fn train_remote(args: &TrainArgs, compute: &str, global: &GlobalArgs) -> anyhow::Result<u8> {
    let project = settings::project_file()?;
    let settings = settings::resolve_azureml(&args.azureml, &project)?;
    let argv = train_argv(args);
    let client = super::connect::azureml(&settings).await?;
    let image = args.image.clone().unwrap_or_else(|| settings.image.clone());
    let experiment = args.experiment.clone().unwrap_or_else(|| settings::DEFAULT_EXPERIMENT.to_string());
    let lineage: Vec<(String, String)> = lineage_env().into_iter().collect();
    let job = publish::submit_command(&client, &argv, &image, compute, &experiment, &lineage).await?;
    output::note(
        global.quiet,
        format!("submitted training job {} ({})", job.name, job.studio_url.as_deref().unwrap_or("-")),
    );
    let job = follow(&client, &settings, job, None, global).await?;
    let code = outcome_code(&job, true);
    output::emit(global.output, &job, || render_job(&job))?;
    Ok(code)
}

/// This machine's lineage as the `MLOPS_GIT_*`/`MLOPS_CI_*` variables of an Azure ML job, whose
/// containers have no git work tree or CI variables.
pub(super) fn lineage_env() -> std::collections::BTreeMap<String, String> {
    let code = crate::tracking::provenance::code_lineage(settings::lineage_overrides());
    settings::lineage_env(&code).into_iter().collect()
}

/// The `mlops train` arguments that mean the same thing on the compute.
fn train_argv(args: &TrainArgs) -> Vec<String> {
    let mut argv = vec!["train".to_string()];
    let mut push = |flag: &str, value: Option<String>| {
        if let Some(value) = value {
            argv.push(flag.to_string());
            argv.push(value);
        }
    };
    push("--data", args.data.as_ref().map(|p| p.display().to_string()));
    push("--dataset", args.dataset.clone());
    push("--target", args.target.clone());
    push("--alpha", args.alpha.map(|a| a.to_string()));
    push("--test-size", args.test_size.clone());
    push("--seed", args.seed.map(|s| s.to_string()));
    push("--params", args.params.as_ref().map(|p| p.display().to_string()));
    for p in &args.param {
        push("--param", Some(p.clone()));
    }
    push("--experiment", args.experiment.clone());
    push("--run-name", args.run_name.clone());
    argv
}
