//! Running a pipeline step as an Azure ML command component, and the entry point that runs it
//! there (`mlops pipeline step`).
//!
//! In the component's command, `${{ parameters.X }}` becomes the component input `${{inputs.X}}`,
//! which Azure ML substitutes. A step output, `${{ steps.S.outputs.K }}`, is only known at run time:
//! it is written `$[[steps.S.outputs.K]]` (which Azure ML leaves alone), the upstream step's result
//! folder is wired in as an input, and `mlops pipeline step` resolves the reference from the
//! `result.json` the upstream step wrote there. Each step writes its own `result.json` (status,
//! exit code, JSON result). A step whose upstream failed, said not-better or was skipped is
//! skipped, as in a local run; a not-better gate ends its step successfully so that Azure ML
//! finishes the pipeline instead of failing it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error_kind::{ErrorKind, ExitCodeOf, HasKind};
use crate::pipeline::expr::{self, Expr, Piece, parse_template};
use crate::pipeline::file::Step;
use crate::pipeline::runner::{StepStatus, step_outcome};

/// The file each step writes into its `result` output folder.
pub const RESULT_FILE: &str = "result.json";

/// What a step recorded for the steps after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepResult {
    pub step: String,
    pub status: StepStatus,
    pub exit_code: Option<i32>,
    pub result: Value,
    pub message: Option<String>,
}

/// An Azure ML input name for a pipeline parameter or step (letters, digits, `_`).
pub fn input_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

/// The input that carries step `step`'s result folder.
pub fn upstream_input(step: &str) -> String {
    format!("from_{}", input_name(step))
}

/// A step as a command component: its shell command, the parameters it reads and the steps
/// whose results it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentCommand {
    pub command: String,
    pub parameters: Vec<String>,
    pub upstream: Vec<String>,
}

pub fn component_command(step: &Step) -> Result<ComponentCommand, String> {
    let mut parameters: Vec<String> = Vec::new();
    let mut upstream: Vec<String> = step.depends_on.clone();
    let mut args = Vec::new();
    for template in &step.run {
        let mut arg = String::new();
        for piece in parse_template(template)? {
            match piece {
                Piece::Text(text) => arg.push_str(&text),
                Piece::Ref { expr: Expr::Parameter(name), .. } => {
                    arg.push_str(&format!("${{{{inputs.{}}}}}", input_name(&name)));
                    if !parameters.contains(&name) {
                        parameters.push(name);
                    }
                }
                Piece::Ref { expr: Expr::StepOutput { step: other, path }, .. } => {
                    arg.push_str(&format!("$[[steps.{other}.outputs.{}]]", path.join(".")));
                    if !upstream.contains(&other) {
                        upstream.push(other);
                    }
                }
            }
        }
        args.push(arg);
    }
    let mut command = format!("mlops pipeline step --name {} --result ${{{{outputs.result}}}}", quote(&step.name));
    for up in &upstream {
        command.push_str(&format!(" --upstream {}", quote(&format!("{up}=${{{{inputs.{}}}}}", upstream_input(up)))));
    }
    command.push_str(" --");
    for arg in &args {
        command.push(' ');
        command.push_str(&quote(arg));
    }
    Ok(ComponentCommand { command, parameters, upstream })
}

/// Quotes a word for `sh` (Azure ML runs the command through a shell).
pub fn quote(word: &str) -> String {
    shell_words::quote(word).into_owned()
}

/// Why `mlops pipeline step` could not run its step.
#[derive(Debug, thiserror::Error)]
pub enum RemoteStepError {
    #[error("--upstream {0:?}: expected STEP=DIR")]
    Upstream(String),
    #[error("cannot read the result of step {step:?} from {}: {message}", path.display())]
    ReadUpstream { step: String, path: PathBuf, message: String },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

impl HasKind for RemoteStepError {
    fn kind(&self) -> ErrorKind {
        match self {
            RemoteStepError::Upstream(_) => ErrorKind::Usage,
            RemoteStepError::ReadUpstream { .. } => ErrorKind::Input,
            _ => ErrorKind::Internal,
        }
    }
}

/// Runs one step with upstream results read from their folders, writes `result.json` into
/// `result_dir`, and returns what it wrote.
pub fn run_step(
    program: &Path,
    name: &str,
    result_dir: &Path,
    upstream: &[String],
    args: &[String],
    exit_code_of: ExitCodeOf,
) -> Result<StepResult, RemoteStepError> {
    let mut results: BTreeMap<String, StepResult> = BTreeMap::new();
    for text in upstream {
        let (step, dir) = text.split_once('=').ok_or_else(|| RemoteStepError::Upstream(text.clone()))?;
        let path = Path::new(dir).join(RESULT_FILE);
        let read = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<StepResult>(&t).map_err(|e| e.to_string()));
        let result = read.map_err(|message| RemoteStepError::ReadUpstream { step: step.to_string(), path, message })?;
        results.insert(step.to_string(), result);
    }
    let blocked = results.values().find_map(|r| match r.status {
        StepStatus::Failed => Some(format!("step {:?} failed", r.step)),
        StepStatus::NotBetter => Some(format!("step {:?} decided the model is not better", r.step)),
        StepStatus::Skipped => Some(format!("step {:?} was skipped", r.step)),
        StepStatus::Succeeded | StepStatus::Reused => None,
    });
    let outcome = match blocked {
        Some(message) => skipped(name, message),
        None => match resolve(args, &results) {
            Ok(resolved) => execute(program, name, &resolved, exit_code_of)?,
            Err(message) => StepResult {
                step: name.to_string(),
                status: StepStatus::Failed,
                exit_code: None,
                result: Value::Null,
                message: Some(message),
            },
        },
    };
    std::fs::create_dir_all(result_dir)
        .map_err(|source| RemoteStepError::Write { path: result_dir.to_path_buf(), source })?;
    let path = result_dir.join(RESULT_FILE);
    let text = serde_json::to_string_pretty(&outcome).unwrap_or_default();
    std::fs::write(&path, text).map_err(|source| RemoteStepError::Write { path, source })?;
    Ok(outcome)
}

fn skipped(name: &str, message: String) -> StepResult {
    StepResult {
        step: name.to_string(),
        status: StepStatus::Skipped,
        exit_code: None,
        result: Value::Null,
        message: Some(message),
    }
}

/// Replaces each `$[[steps.S.outputs.K]]` with the value step S recorded.
fn resolve(args: &[String], results: &BTreeMap<String, StepResult>) -> Result<Vec<String>, String> {
    let outputs = |step: &str| results.get(step).map(|r| &r.result);
    args.iter().map(|arg| expr::substitute(&arg.replace("$[[", "${{").replace("]]", "}}"), None, outputs)).collect()
}

fn execute(
    program: &Path,
    name: &str,
    args: &[String],
    exit_code_of: ExitCodeOf,
) -> Result<StepResult, RemoteStepError> {
    let output = Command::new(program)
        .args(args)
        .args(["-o", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| RemoteStepError::Spawn { program: program.display().to_string(), source })?;
    let code = output.status.code();
    let result: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    let command = args.first().cloned().unwrap_or_default();
    let (status, message) = step_outcome(code, &command, exit_code_of);
    Ok(StepResult { step: name.to_string(), status, exit_code: code, result, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, run: &[&str], deps: &[&str]) -> Step {
        Step {
            name: name.to_string(),
            run: run.iter().map(|s| s.to_string()).collect(),
            depends_on: deps.iter().map(|s| s.to_string()).collect(),
            outputs: vec![],
            line: 1,
        }
    }

    #[test]
    fn component_commands_wire_parameters_and_upstream_results() {
        let s = step(
            "evaluate",
            &[
                "model",
                "evaluate",
                "--run-id",
                "${{ steps.train.outputs.run_id }}",
                "--name",
                "${{ parameters.model-name }}",
            ],
            &["train"],
        );
        let c = component_command(&s).expect("valid");
        assert_eq!(c.parameters, ["model-name"]);
        assert_eq!(c.upstream, ["train"]);
        assert_eq!(
            c.command,
            "mlops pipeline step --name evaluate --result ${{outputs.result}} --upstream 'train=${{inputs.from_train}}' \
             -- model evaluate --run-id '$[[steps.train.outputs.run_id]]' --name '${{inputs.model_name}}'"
        );
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn resolves_step_outputs_from_upstream_results() {
        let mut results = BTreeMap::new();
        results.insert(
            "train".to_string(),
            StepResult {
                step: "train".into(),
                status: StepStatus::Succeeded,
                exit_code: Some(0),
                result: serde_json::json!({"run_id": "abc", "metrics": {"mse": 2.5}}),
                message: None,
            },
        );
        let args = vec![
            "--run-id".to_string(),
            "$[[steps.train.outputs.run_id]]".to_string(),
            "m=$[[steps.train.outputs.metrics.mse]]".to_string(),
        ];
        assert_eq!(resolve(&args, &results).expect("resolved"), ["--run-id", "abc", "m=2.5"]);
        let missing = vec!["$[[steps.train.outputs.nope]]".to_string()];
        assert!(resolve(&missing, &results).expect_err("missing output").contains("has no output \"nope\""));
    }
}
