//! Running a pipeline locally: each step is the `mlops` binary run with the step's arguments and
//! `-o json`, whose JSON result becomes the step's outputs. The pipeline is one parent run; each
//! step has a child run (`mlflow.parentRunId`): `train` makes its own, the runner makes the others.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PipelineError;
use super::capture::{self, truncate};
use super::expr;
use super::file::{Pipeline, Step, ancestors};
use crate::error_kind::{ErrorKind, ExitCodeOf};
use crate::tracking::{RunStatus, Tracker, now_millis};

/// The parent run's artifact holding every step's status and outputs (what `--from` reuses).
pub const OUTPUTS_ARTIFACT: &str = "pipeline_outputs.json";
/// Tag of a pipeline's parent run: the pipeline's name.
pub const TAG_PIPELINE: &str = "mlops.pipeline.name";
/// Tag of a step's child run: the step's name.
pub const TAG_STEP: &str = "mlops.pipeline.step";

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The `mlops` binary the steps run.
    pub program: PathBuf,
    pub file: PathBuf,
    pub parameters: BTreeMap<String, String>,
    pub experiment: String,
    pub user: String,
    /// Lineage tags (git, build, CI) of the parent and of the runs made for steps.
    pub lineage_tags: Vec<(String, String)>,
    /// Environment every step gets (tracking URI, local store, experiment).
    pub step_env: Vec<(String, String)>,
    /// Start at this step, reusing earlier steps' outputs from `resume` (or the latest run).
    pub from: Option<String>,
    pub resume: Option<String>,
    /// The numbers the steps' exit codes are read with (a gate's "not better").
    pub exit_code_of: ExitCodeOf,
    /// Where each line a step writes on stderr goes as it arrives (the runner keeps a tail too).
    pub echo_stderr: fn(&str),
}

/// What happened to a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    Succeeded,
    Failed,
    /// The step's gate decided the candidate is not better (exit code 3).
    NotBetter,
    /// Not run: a step it depends on failed or said not-better.
    Skipped,
    /// Not run: outputs reused from the resumed run.
    Reused,
}

/// One step in the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepReport {
    pub name: String,
    pub status: StepStatus,
    pub duration_seconds: f64,
    pub run_id: Option<String>,
    pub exit_code: Option<i32>,
    /// The step's declared key outputs.
    pub outputs: BTreeMap<String, Value>,
    pub message: Option<String>,
    /// Why a failed step failed, in its own words: each failed data check, its error and causes.
    #[serde(default)]
    pub errors: Vec<String>,
    /// The step's whole JSON result (what later steps may reference).
    #[serde(skip_serializing)]
    #[serde(default)]
    pub result: Value,
}

/// The result of `mlops pipeline run`, in the stable shape of `--output json`.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineReport {
    pub pipeline: String,
    /// `succeeded`, `failed` or `not-better`.
    pub status: &'static str,
    pub parent_run_id: String,
    pub tracking_uri: String,
    pub parameters: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
    pub duration_seconds: f64,
    /// The first failed step, when the pipeline failed.
    pub failure: Option<Failure>,
    pub steps: Vec<StepReport>,
}

/// The step a failed pipeline failed at, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub step: String,
    /// Null when the step never ran a process (e.g. a reference to a missing output).
    pub exit_code: Option<i32>,
    pub message: Option<String>,
    pub errors: Vec<String>,
}

impl PipelineReport {
    /// The exit code of the first failed step.
    pub fn failed_exit_code(&self) -> Option<i32> {
        self.steps.iter().find(|s| s.status == StepStatus::Failed).map(|s| s.exit_code.unwrap_or(1))
    }
}

#[derive(Serialize, Deserialize)]
struct Recorded {
    pipeline: String,
    steps: Vec<RecordedStep>,
}

#[derive(Serialize, Deserialize)]
struct RecordedStep {
    name: String,
    status: StepStatus,
    run_id: Option<String>,
    result: Value,
}

/// Runs `pipeline`; `progress` hears about each step as it finishes.
pub async fn run(
    pipeline: &Pipeline,
    tracker: &Tracker,
    options: &RunOptions,
    progress: &mut dyn FnMut(&StepReport),
) -> Result<PipelineReport, PipelineError> {
    let store = tracker.journal();
    let (reuse, resumed_from) = match &options.from {
        Some(from) => {
            let (parent, recorded) = previous_run(pipeline, tracker, options.resume.as_deref())?;
            (reused_steps(pipeline, from, &parent, recorded)?, Some(parent))
        }
        None => (BTreeMap::new(), None),
    };
    let experiment = store.get_or_create_experiment(&options.experiment)?;
    let started = Instant::now();
    let mut tags = vec![
        (TAG_PIPELINE.to_string(), pipeline.name.clone()),
        ("mlops.pipeline.file".to_string(), options.file.display().to_string()),
        ("mlflow.user".to_string(), options.user.clone()),
        ("mlflow.source.name".to_string(), "mlops pipeline".to_string()),
        ("mlflow.source.type".to_string(), "LOCAL".to_string()),
    ];
    tags.extend(options.lineage_tags.iter().cloned());
    if let Some(previous) = &resumed_from {
        tags.push(("mlops.pipeline.resumed_from".to_string(), previous.clone()));
    }
    let parent = store.create_run(&experiment.experiment_id, &pipeline.name, &options.user, now_millis(), &tags)?;
    let params: Vec<(String, String)> = options.parameters.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    store.log_params(&parent.run_id, &params)?;
    // On a server, the parent must exist there before its children, so they can point at it.
    tracker.publish(&parent.run_id).await?;

    let mut reports: Vec<StepReport> = Vec::new();
    for step in &pipeline.steps {
        let report = if let Some(previous) = reuse.get(&step.name) {
            StepReport {
                name: step.name.clone(),
                status: StepStatus::Reused,
                duration_seconds: 0.0,
                run_id: previous.run_id.clone(),
                exit_code: None,
                outputs: key_outputs(step, &previous.result),
                message: Some(format!("outputs reused from run {}", resumed_from.as_deref().unwrap_or("?"))),
                errors: Vec::new(),
                result: previous.result.clone(),
            }
        } else if let Some(blocker) = blocked_by(step, pipeline, &reports) {
            StepReport {
                name: step.name.clone(),
                status: StepStatus::Skipped,
                duration_seconds: 0.0,
                run_id: None,
                exit_code: None,
                outputs: BTreeMap::new(),
                message: Some(blocker),
                errors: Vec::new(),
                result: Value::Null,
            }
        } else {
            run_step(step, tracker, options, &experiment.experiment_id, &parent.run_id, &reports).await?
        };
        progress(&report);
        reports.push(report);
        record(tracker, &parent.run_id, pipeline, &reports)?;
    }

    let status = if reports.iter().any(|s| s.status == StepStatus::Failed) {
        "failed"
    } else if reports.iter().any(|s| s.status == StepStatus::NotBetter) {
        "not-better"
    } else {
        "succeeded"
    };
    store.set_tag(&parent.run_id, "mlops.pipeline.status", status)?;
    let run_status = if status == "failed" { RunStatus::Failed } else { RunStatus::Finished };
    store.update_run(&parent.run_id, run_status, now_millis())?;
    let sync = tracker.publish(&parent.run_id).await?;
    let parent_run_id = sync.and_then(|s| s.remote_run_id).unwrap_or(parent.run_id);
    Ok(PipelineReport {
        pipeline: pipeline.name.clone(),
        status,
        parent_run_id,
        tracking_uri: tracker.uri(),
        parameters: options.parameters.clone(),
        resumed_from,
        duration_seconds: started.elapsed().as_secs_f64(),
        failure: reports.iter().find(|s| s.status == StepStatus::Failed).map(|s| Failure {
            step: s.name.clone(),
            exit_code: s.exit_code,
            message: s.message.clone(),
            errors: s.errors.clone(),
        }),
        steps: reports,
    })
}

/// Why a step cannot run: a step it depends on did not succeed.
fn blocked_by(step: &Step, pipeline: &Pipeline, done: &[StepReport]) -> Option<String> {
    let deps = ancestors(&pipeline.steps, &step.name);
    done.iter().filter(|r| deps.contains(&r.name)).find_map(|r| match r.status {
        StepStatus::Failed => Some(format!("step {:?} failed", r.name)),
        StepStatus::NotBetter => Some(format!("step {:?} decided the model is not better", r.name)),
        StepStatus::Skipped => Some(format!("step {:?} was skipped", r.name)),
        StepStatus::Succeeded | StepStatus::Reused => None,
    })
}

/// What a step's `mlops` child process said with its exit code.
pub fn step_outcome(code: Option<i32>, command: &str, exit_code_of: ExitCodeOf) -> (StepStatus, Option<String>) {
    match code {
        Some(0) => (StepStatus::Succeeded, None),
        Some(c) if c == i32::from(exit_code_of(ErrorKind::GateNotBetter)) => {
            (StepStatus::NotBetter, Some("the gate decided the model is not better".to_string()))
        }
        Some(c) => (StepStatus::Failed, Some(format!("mlops {command} exited with code {c}"))),
        None => (StepStatus::Failed, Some(format!("mlops {command} was killed by a signal"))),
    }
}

async fn run_step(
    step: &Step,
    tracker: &Tracker,
    options: &RunOptions,
    experiment_id: &str,
    parent_id: &str,
    done: &[StepReport],
) -> Result<StepReport, PipelineError> {
    let store = tracker.journal();
    let started = Instant::now();
    let failed = |message: String| StepReport {
        name: step.name.clone(),
        status: StepStatus::Failed,
        duration_seconds: started.elapsed().as_secs_f64(),
        run_id: None,
        exit_code: None,
        outputs: BTreeMap::new(),
        message: Some(message),
        errors: Vec::new(),
        result: Value::Null,
    };
    let args = match substitute(step, &options.parameters, done) {
        Ok(args) => args,
        Err(message) => return Ok(failed(message)),
    };
    // `train` records its own run as the child; every other step gets a run made here.
    let trains = args.first().map(String::as_str) == Some("train");
    let child = if trains {
        None
    } else {
        let mut tags = vec![
            ("mlflow.parentRunId".to_string(), parent_id.to_string()),
            (TAG_STEP.to_string(), step.name.clone()),
            ("mlops.pipeline.command".to_string(), truncate(&format!("mlops {}", args.join(" ")), 5000)),
            ("mlflow.user".to_string(), options.user.clone()),
            ("mlflow.source.name".to_string(), "mlops pipeline".to_string()),
            ("mlflow.source.type".to_string(), "LOCAL".to_string()),
        ];
        tags.extend(options.lineage_tags.iter().cloned());
        Some(store.create_run(experiment_id, &step.name, &options.user, now_millis(), &tags)?)
    };
    let mut command = Command::new(&options.program);
    command.args(&args);
    if trains {
        command.args(["--parent-run-id", parent_id]);
    }
    command.args(["-o", "json"]).envs(options.step_env.iter().cloned());
    let output = capture::run(&mut command, options.echo_stderr).map_err(|source| PipelineError::Spawn {
        step: step.name.clone(),
        program: options.program.display().to_string(),
        source,
    })?;
    let code = output.code;
    let result = output.result;
    let (status, message) = step_outcome(code, &args[0], options.exit_code_of);
    let errors =
        if status == StepStatus::Failed { capture::error_lines(&result, &output.stderr_tail) } else { Vec::new() };
    let run_id = match &child {
        Some(run) => {
            finish_child(tracker, &run.run_id, status, code, &result, &errors).await?;
            Some(tracker_run_id(tracker, &run.run_id))
        }
        None => result.get("run_id").and_then(Value::as_str).map(str::to_string),
    };
    Ok(StepReport {
        name: step.name.clone(),
        status,
        duration_seconds: started.elapsed().as_secs_f64(),
        run_id,
        exit_code: code,
        outputs: key_outputs(step, &result),
        message,
        errors,
        result,
    })
}

async fn finish_child(
    tracker: &Tracker,
    run_id: &str,
    status: StepStatus,
    code: Option<i32>,
    result: &Value,
    errors: &[String],
) -> Result<(), PipelineError> {
    let store = tracker.journal();
    let path = store.artifact_dir(run_id)?.join("outputs.json");
    write_json(&path, result)?;
    if !errors.is_empty() {
        // The same tag a failed `mlops train` run carries; MLflow caps tag values at 8000 characters.
        // The store is read by other tools and shown by the UI: no secret goes into it either.
        let errors = crate::secret::mask(&errors.join("\n")).into_owned();
        store.set_tag(run_id, "mlops.error", &truncate(&errors, 7000))?;
    }
    store.set_tag(
        run_id,
        "mlops.pipeline.step_status",
        serde_json::to_value(status).unwrap_or_default().as_str().unwrap_or(""),
    )?;
    if let Some(code) = code {
        store.set_tag(run_id, "mlops.pipeline.exit_code", &code.to_string())?;
    }
    let run_status = if status == StepStatus::Failed { RunStatus::Failed } else { RunStatus::Finished };
    store.update_run(run_id, run_status, now_millis())?;
    tracker.publish(run_id).await?;
    Ok(())
}

/// The id a run is known by where it was tracked (the server's id once pushed there).
fn tracker_run_id(tracker: &Tracker, local_id: &str) -> String {
    tracker
        .journal()
        .get_run(local_id)
        .ok()
        .and_then(|r| r.tags.get(crate::tracking::sync::TAG_REMOTE_RUN_ID).cloned())
        .unwrap_or_else(|| local_id.to_string())
}

/// The step's arguments with every `${{ … }}` replaced.
fn substitute(step: &Step, parameters: &BTreeMap<String, String>, done: &[StepReport]) -> Result<Vec<String>, String> {
    let outputs = |name: &str| done.iter().find(|r| r.name == name).map(|r| &r.result);
    step.run.iter().map(|template| expr::substitute(template, Some(parameters), outputs)).collect()
}

fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

fn key_outputs(step: &Step, result: &Value) -> BTreeMap<String, Value> {
    let path = |p: &String| p.split('.').map(str::to_string).collect::<Vec<_>>();
    step.outputs.iter().filter_map(|p| lookup(result, &path(p)).map(|v| (p.clone(), v.clone()))).collect()
}

fn record(
    tracker: &Tracker,
    parent_id: &str,
    pipeline: &Pipeline,
    reports: &[StepReport],
) -> Result<(), PipelineError> {
    let recorded = Recorded {
        pipeline: pipeline.name.clone(),
        steps: reports
            .iter()
            .map(|r| RecordedStep {
                name: r.name.clone(),
                status: r.status,
                run_id: r.run_id.clone(),
                result: r.result.clone(),
            })
            .collect(),
    };
    let path = tracker.journal().artifact_dir(parent_id)?.join(OUTPUTS_ARTIFACT);
    write_json(&path, &serde_json::to_value(&recorded).unwrap_or_default())
}

fn write_json(path: &std::path::Path, value: &Value) -> Result<(), PipelineError> {
    let io = |source| crate::tracking::StoreError::Io { path: path.to_path_buf(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    std::fs::write(path, text).map_err(io)?;
    Ok(())
}

/// The parent run to resume and what it recorded.
fn previous_run(
    pipeline: &Pipeline,
    tracker: &Tracker,
    resume: Option<&str>,
) -> Result<(String, Recorded), PipelineError> {
    let store = tracker.journal();
    let run = match resume {
        Some(id) => store.get_run(id)?,
        None => {
            store.list_runs(None)?.into_iter().find(|r| r.tags.get(TAG_PIPELINE) == Some(&pipeline.name)).ok_or_else(
                || {
                    PipelineError::Resume(format!(
                        "no earlier run of pipeline {:?} in {}",
                        pipeline.name,
                        store.root().display()
                    ))
                },
            )?
        }
    };
    let path = store.artifact_dir(&run.info.run_id)?.join(OUTPUTS_ARTIFACT);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        PipelineError::Resume(format!("run {} is not a pipeline run (it has no {OUTPUTS_ARTIFACT})", run.info.run_id))
    })?;
    let recorded: Recorded =
        serde_json::from_str(&text).map_err(|e| PipelineError::Resume(format!("{}: {e}", path.display())))?;
    if recorded.pipeline != pipeline.name {
        return Err(PipelineError::Resume(format!(
            "run {} is a run of pipeline {:?}, not {:?}",
            run.info.run_id, recorded.pipeline, pipeline.name
        )));
    }
    Ok((run.info.run_id, recorded))
}

/// The steps before `from` (those it does not lead to), each with the outputs it recorded.
fn reused_steps(
    pipeline: &Pipeline,
    from: &str,
    parent: &str,
    recorded: Recorded,
) -> Result<BTreeMap<String, RecordedStep>, PipelineError> {
    if !pipeline.steps.iter().any(|s| s.name == from) {
        let names: Vec<&str> = pipeline.steps.iter().map(|s| s.name.as_str()).collect();
        return Err(PipelineError::UnknownStep(from.to_string(), names.join(", ")));
    }
    let mut by_name: BTreeMap<String, RecordedStep> = recorded.steps.into_iter().map(|s| (s.name.clone(), s)).collect();
    let mut reuse = BTreeMap::new();
    for step in &pipeline.steps {
        let reruns = step.name == from || ancestors(&pipeline.steps, &step.name).iter().any(|a| a == from);
        if reruns {
            continue;
        }
        match by_name.remove(&step.name) {
            Some(prev) if matches!(prev.status, StepStatus::Succeeded | StepStatus::Reused) => {
                reuse.insert(step.name.clone(), prev);
            }
            _ => {
                return Err(PipelineError::Resume(format!(
                    "step {:?} did not succeed in run {parent}; resume from it (--from {}) instead",
                    step.name, step.name
                )));
            }
        }
    }
    Ok(reuse)
}
