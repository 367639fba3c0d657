//! The command line, as clap types only. Handlers in `commands/` turn these into settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::env_vars;
use crate::output::Format;

/// MLOps for Azure in one binary: train, track, register, serve and provision.
#[derive(Debug, Parser)]
#[command(name = "mlops", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "\
Examples:
  mlops train                                  train on data/diabetes.csv, log to ./mlruns
  mlops train --alpha 0.4 -o json              the same, result as JSON
  mlops predict --model mlruns/0/<run>/artifacts/model --data data/diabetes.csv
  mlops runs list

Exit codes: 0 ok, 1 internal, 2 usage, 3 gate not better, 4 what-if changes,
5 data check failed, 6 bad input file, 7 training impossible, 8 not found,
9 remote service, 10 authentication.";

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Result format on stdout.
    #[arg(short, long, global = true, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// More diagnostics on stderr (-v info, -vv debug, -vvv trace). Secrets are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a ridge regression model and log the run.
    #[command(after_help = TRAIN_EXAMPLES)]
    Train(TrainArgs),
    /// Score a CSV file with a saved model (batch scoring).
    #[command(after_help = PREDICT_EXAMPLES)]
    Predict(PredictArgs),
    /// Browse runs in the tracking store.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Provision Azure infrastructure (Bicep and ARM templates).
    #[command(subcommand)]
    Infra(InfraCommand),
}

const TRAIN_EXAMPLES: &str = "\
Examples:
  mlops train
  mlops train --data my.csv --target price --alpha 1.0 --test-size 0.25 --seed 42
  mlops train --params pipelines/parameters.json --param alpha=0.3
  mlops train --experiment diabetes --run-name nightly -o json

Parameters are resolved flag > --param > --params file > default (alpha 0.5, test size 0.2, seed 0).";

/// `mlops train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// CSV file with a header row; every column but the target is a feature [default: data/diabetes.csv].
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// Name of the target column [default: Y].
    #[arg(long, value_name = "COL")]
    pub target: Option<String>,
    /// Ridge regularisation strength (>= 0) [default: 0.5].
    #[arg(long, value_name = "A", allow_negative_numbers = true)]
    pub alpha: Option<f64>,
    /// Test split: a fraction in (0, 1) or a whole number of rows [default: 0.2].
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    pub test_size: Option<String>,
    /// Seed of the shuffle (numpy RandomState, as scikit-learn's random_state) [default: 0].
    #[arg(long, value_name = "N")]
    pub seed: Option<u32>,
    /// Parameters file in the reference's format: {"training": {"alpha": 0.4}, ...}.
    #[arg(long, value_name = "FILE")]
    pub params: Option<PathBuf>,
    /// Override one training parameter (alpha, test_size, seed, target); repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub param: Vec<String>,
    /// Experiment to log the run under [default: Default].
    #[arg(long, value_name = "NAME", env = env_vars::MLFLOW_EXPERIMENT_NAME)]
    pub experiment: Option<String>,
    /// Name of the run [default: generated].
    #[arg(long, value_name = "NAME")]
    pub run_name: Option<String>,
    /// Tracking store: a directory, file: URI or http(s):// MLflow server [default: ./mlruns].
    #[arg(long, value_name = "URI", env = env_vars::MLFLOW_TRACKING_URI)]
    pub tracking_uri: Option<String>,
}

const PREDICT_EXAMPLES: &str = "\
Examples:
  mlops predict --model mlruns/0/<run-id>/artifacts/model --data data/diabetes.csv
  mlops predict --model runs:/<run-id>/model --data new.csv --out predictions.csv";

/// `mlops predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Model: a model directory or runs:/RUN_ID/model.
    #[arg(long, value_name = "MODEL")]
    pub model: String,
    /// CSV file with the model's feature columns (extra columns are ignored).
    #[arg(long, value_name = "CSV")]
    pub data: PathBuf,
    /// Write the predictions as CSV to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Tracking store used to resolve runs:/ URIs [default: ./mlruns].
    #[arg(long, value_name = "URI", env = env_vars::MLFLOW_TRACKING_URI)]
    pub tracking_uri: Option<String>,
}

/// `mlops runs …`.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    List(RunsListArgs),
    /// Show one run: parameters, metrics, tags and artifacts.
    Show(RunsShowArgs),
}

/// `mlops runs list`.
#[derive(Debug, Args)]
pub struct RunsListArgs {
    /// Only runs of this experiment.
    #[arg(long, value_name = "NAME")]
    pub experiment: Option<String>,
    /// At most this many runs.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub max_results: usize,
    /// Tracking store [default: ./mlruns].
    #[arg(long, value_name = "URI", env = env_vars::MLFLOW_TRACKING_URI)]
    pub tracking_uri: Option<String>,
}

/// `mlops runs show`.
#[derive(Debug, Args)]
pub struct RunsShowArgs {
    /// The run id (32 hex characters).
    pub run_id: String,
    /// Tracking store [default: ./mlruns].
    #[arg(long, value_name = "URI", env = env_vars::MLFLOW_TRACKING_URI)]
    pub tracking_uri: Option<String>,
}

/// `mlops infra …`.
#[derive(Debug, Subcommand)]
pub enum InfraCommand {
    /// Compile a .bicep file to an ARM template, natively (no az, no bicep CLI).
    #[command(after_help = INFRA_BUILD_EXAMPLES)]
    Build(InfraBuildArgs),
}

const INFRA_BUILD_EXAMPLES: &str = "\
Examples:
  mlops infra build environment_setup/src/main.bicep          writes environment_setup/src/main.json
  mlops infra build main.bicep --outfile out/azuredeploy.json
  mlops infra build main.bicep --stdout | jq .resources

Invalid or unsupported Bicep exits with code 6 and a file:line:column diagnostic.";

/// `mlops infra build`.
#[derive(Debug, Args)]
pub struct InfraBuildArgs {
    /// The .bicep file to compile.
    pub file: PathBuf,
    /// Write the template here [default: FILE with the extension .json].
    #[arg(long, value_name = "FILE", conflicts_with = "stdout")]
    pub outfile: Option<PathBuf>,
    /// Write the template to stdout instead of a file.
    #[arg(long)]
    pub stdout: bool,
}
