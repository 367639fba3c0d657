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
  mlops infra deploy -g rg-mlops -f environment_setup/src/main.json -p @environment_setup/src/parameters.json
  mlops serve --model runs:/<run-id>/model
  mlops smoke-test --url http://127.0.0.1:5001/score
  mlops reproduce models:/diabetes-model@champion
  mlops init my-project --name churn

Exit codes: 0 ok, 1 internal, 2 usage, 3 gate not better, 4 what-if changes,
5 data check failed, 6 bad input file, 7 training impossible, 8 not found,
9 remote service, 10 authentication, 11 reproduction differs, 12 reproduction input missing or
changed, 13 gate refused: different schema or dataset, 14 rollout rolled back, 15 online
deployment failed, 130 interrupted (docs/exit-codes.md).";

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Result format on stdout.
    #[arg(short, long, global = true, value_enum, default_value_t = Format::Text, help_heading = GLOBAL_OPTIONS)]
    pub output: Format,
    /// More diagnostics on stderr (-v info, -vv debug, -vvv trace). Secrets are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL_OPTIONS)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL_OPTIONS)]
    pub quiet: bool,
}

/// The heading the global flags are listed under in every command's `--help`, apart from the
/// command's own options.
const GLOBAL_OPTIONS: &str = "Global options";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a ridge regression model and log the run.
    #[command(after_help = TRAIN_EXAMPLES)]
    Train(TrainArgs),
    /// Score a CSV file with a saved model (batch scoring).
    #[command(after_help = PREDICT_EXAMPLES)]
    Predict(PredictArgs),
    /// Build and push OCI images of a model without a container engine.
    #[command(subcommand, after_help = IMAGE_EXAMPLES)]
    Image(ImageCommand),
    /// Browse runs in the tracking store.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Model registry: register, evaluate (the gate), aliases, browse, download.
    #[command(subcommand, after_help = MODEL_EXAMPLES)]
    Model(ModelCommand),
    /// Provision Azure infrastructure from ARM/Bicep templates (build, deploy, validate, what-if, show, cancel, stacks).
    #[command(subcommand, after_help = INFRA_EXAMPLES)]
    Infra(InfraCommand),
    /// Serve a model over HTTP (MLOpsPython's /score and MLflow's /invocations).
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Check a deployed scoring service answers the reference's sample request.
    #[command(after_help = SMOKE_TEST_EXAMPLES)]
    SmokeTest(SmokeTestArgs),
    /// Profile and validate data files; register dataset versions.
    #[command(subcommand, after_help = DATA_EXAMPLES)]
    Data(DataCommand),
    /// Run or check a pipeline file (steps that are mlops commands).
    #[command(subcommand, after_help = PIPELINE_EXAMPLES)]
    Pipeline(PipelineCommand),
    /// Azure ML online endpoints: create, deploy (with safe rollout), traffic, invoke, logs, keys.
    #[command(subcommand, after_help = ENDPOINT_EXAMPLES)]
    Endpoint(EndpointCommand),
    /// Retrain a recorded model from its lineage and check it is the same model, bit for bit.
    #[command(after_help = REPRODUCE_EXAMPLES)]
    Reproduce(ReproduceArgs),
    /// Start a new project: settings, sample data, pipeline, Azure environment and CI, named after NAME.
    #[command(after_help = INIT_EXAMPLES)]
    Init(InitArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions(CompletionsArgs),
    /// Write man pages: mlops.1 and one page per subcommand (mlops-train.1, mlops-model-register.1, …).
    #[command(after_help = MAN_EXAMPLES)]
    Man(ManArgs),
}

const INIT_EXAMPLES: &str = "\
Examples:
  mlops init churn-model --name churn            a new project in ./churn-model
  mlops init --name \"Credit Risk\" --dry-run       what it would write here (names: credit-risk, creditrisk)
  mlops init . --name churn --force              rewrite the generated files, replacing your edits

Writes mlops.toml, data/NAME.csv (sample data) and its profile, pipelines/parameters.json,
pipelines/NAME.yml, environment_setup/ (Bicep, ARM, parameters, Azure DevOps pipeline),
.github/workflows/ and pipelines/azure-devops/ (CI, training, deployment, environment; the images
are built with `mlops image`), README.md and .gitignore.
NAME becomes lower-case letters, digits and '-' (starting with a letter, at most 50); Azure resources
get a base name of its first 10 letters and digits (at least 3). Existing files are kept unless --force.
Exit codes: 0 written (or nothing to write), 2 a name that cannot be made valid, 6 DIR is a file.";

/// `mlops init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory of the new project (created if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Project name: names the pipeline, model, dataset, experiment and Azure resources.
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// Overwrite files that exist with other content.
    #[arg(long)]
    pub force: bool,
    /// List what would be written, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  mlops completions bash > ~/.local/share/bash-completion/completions/mlops
  mlops completions zsh > \"${fpath[1]}/_mlops\"
  mlops completions fish > ~/.config/fish/completions/mlops.fish
  mlops completions powershell >> $PROFILE
  eval \"$(mlops completions bash)\"                 (this shell only)";

/// `mlops completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

const MAN_EXAMPLES: &str = "\
Examples:
  mlops man --out ~/.local/share/man/man1 && man mlops-reproduce
  sudo mlops man --out /usr/local/share/man/man1";

/// `mlops man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages to (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

const REPRODUCE_EXAMPLES: &str = "\
Examples:
  mlops reproduce 0c5e2b1f9a8d4e7c8b6a5f4e3d2c1b0a
  mlops reproduce models:/diabetes-model@champion -o json
  mlops reproduce models:/diabetes-model/3 --tracking-uri http://127.0.0.1:5000
  mlops reproduce <run-id> --data archive/diabetes-2026-01.csv   (the recorded file moved; checked by digest)
  mlops reproduce <pipeline-parent-run-id> --log                 (its train step; the reproduction is a run)

The data is the first of --data, the registered dataset version (its copy, then its datastore blob),
the recorded source (a path or blob URL), and the run's data parameter whose SHA-256 matches the run's.
Exit codes: 0 identical (coefficients, intercept, mse, rmse, mae, r2 bit for bit), 11 the numbers
differ (the largest difference is printed), 12 an input is missing or changed (data gone or changed,
another mlops version, trained from a dirty work tree, parameters or metrics missing), 8 no such run
or model version.";

/// `mlops reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// RUN_ID (a training run, or a pipeline run: its train step), runs:/RUN_ID/model,
    /// models:/NAME/VERSION or models:/NAME@ALIAS.
    pub target: String,
    /// Use this data file instead of the recorded location (it must still have the recorded SHA-256).
    #[arg(long, value_name = "CSV")]
    pub data: Option<PathBuf>,
    /// Log the reproduction as a run tagged mlops.reproduces=RUN_ID.
    #[arg(long)]
    pub log: bool,
    /// Experiment of the --log run [default: Default].
    #[arg(long, value_name = "NAME", env = env_vars::MLFLOW_EXPERIMENT_NAME, requires = "log")]
    pub experiment: Option<String>,
    /// The tracking store holding the run and the registry; the local store's dataset registry is
    /// searched for the data, and it journals the --log run.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Storage connection string, for data recorded as a blob.
    #[arg(long, value_name = "STRING", env = env_vars::AZURE_STORAGE_CONNECTION_STRING, hide_env_values = true)]
    pub storage_connection_string: Option<String>,
    /// SAS token (query string), for data recorded as a blob.
    #[arg(long, value_name = "SAS", env = env_vars::MLOPS_DATASTORE_SAS, hide_env_values = true)]
    pub datastore_sas: Option<String>,
}

const DATA_EXAMPLES: &str = "\
Examples:
  mlops data profile --data data/diabetes.csv --out data/diabetes.profile.json
  mlops data validate --data new.csv --profile data/diabetes.profile.json -o json
  mlops data register --name diabetes --data data/diabetes.csv --description 'sklearn diabetes'
  mlops data register --name diabetes --data data/diabetes.csv --datastore blob:datasets
  mlops data list
  mlops data show diabetes:2

Exit codes of validate: 0 every check passed, 5 a data check failed, 6 unreadable file.";

/// `mlops data …`.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Write a profile of a CSV file: per column count, missing, mean, std dev, min, max, quantiles, histogram.
    Profile(DataProfileArgs),
    /// Check a CSV file: schema, missing values, row count, and mean/std-dev shift against a profile.
    Validate(DataValidateArgs),
    /// Register a data file as a new dataset version (only when its content changed).
    Register(DataRegisterArgs),
    /// List registered datasets and their latest versions.
    List(DataListArgs),
    /// Show a dataset version: NAME (latest) or NAME:VERSION.
    Show(DataShowArgs),
}

/// `mlops data profile`.
#[derive(Debug, Args)]
pub struct DataProfileArgs {
    /// The CSV file to profile.
    #[arg(long, value_name = "CSV")]
    pub data: PathBuf,
    /// Write the profile (JSON) to this file; it is also the result on stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// How a data file is read.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Threads that parse the data file [default: the number of CPUs]. The numbers do not depend on it.
    #[arg(long, value_name = "N", env = env_vars::MLOPS_THREADS, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

/// `mlops data validate`.
#[derive(Debug, Args)]
pub struct DataValidateArgs {
    /// The CSV file to check.
    #[arg(long, value_name = "CSV")]
    pub data: PathBuf,
    /// Reference profile (from `mlops data profile` or a run's data_profile.json); without it,
    /// only schema (numeric columns), missing values and row count are checked.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Largest accepted relative change of a column's mean or standard deviation.
    #[arg(long, value_name = "T", default_value_t = crate::data::validate::DEFAULT_TOLERANCE)]
    pub tolerance: f64,
    /// Fewest data rows accepted.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub min_rows: usize,
    /// Most data rows accepted.
    #[arg(long, value_name = "N")]
    pub max_rows: Option<usize>,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Where the dataset registry lives.
#[derive(Debug, Args)]
pub struct DatasetStoreArgs {
    /// Local tracking store the registry belongs to (the registry is the directory STORE-datasets
    /// beside it) [default: ./mlruns].
    #[arg(long, value_name = "DIR", env = env_vars::MLOPS_LOCAL_STORE)]
    pub local_store: Option<PathBuf>,
}

/// `mlops data register`.
#[derive(Debug, Args)]
pub struct DataRegisterArgs {
    /// Dataset name.
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// The file to register.
    #[arg(long, value_name = "PATH")]
    pub data: PathBuf,
    /// Description of this version.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Also upload to Azure Blob Storage: blob:CONTAINER (with a connection string) or a container
    /// URL https://ACCOUNT.blob.core.windows.net/CONTAINER (with a SAS or a connection string).
    #[arg(long, value_name = "DEST")]
    pub datastore: Option<String>,
    /// Storage connection string for --datastore.
    #[arg(long, value_name = "STRING", env = env_vars::AZURE_STORAGE_CONNECTION_STRING, hide_env_values = true)]
    pub storage_connection_string: Option<String>,
    /// SAS token (query string) for an https:// --datastore.
    #[arg(long, value_name = "SAS", env = env_vars::MLOPS_DATASTORE_SAS, hide_env_values = true)]
    pub datastore_sas: Option<String>,
    #[command(flatten)]
    pub store: DatasetStoreArgs,
}

/// `mlops data list`.
#[derive(Debug, Args)]
pub struct DataListArgs {
    #[command(flatten)]
    pub store: DatasetStoreArgs,
}

/// `mlops data show`.
#[derive(Debug, Args)]
pub struct DataShowArgs {
    /// NAME, NAME:latest or NAME:VERSION.
    pub dataset: String,
    #[command(flatten)]
    pub store: DatasetStoreArgs,
}

const PIPELINE_EXAMPLES: &str = "\
Examples:
  mlops pipeline validate pipelines/diabetes-train.yml
  mlops pipeline run pipelines/diabetes-train.yml
  mlops pipeline run pipelines/diabetes-train.yml --param alpha=0.3 -o json
  mlops pipeline run pipelines/diabetes-train.yml --from train
  mlops pipeline watch pipelines/diabetes-train.yml --source incoming/ --interval 300
  mlops pipeline watch pipelines/diabetes-train.yml --source blob:incoming --prefix diabetes/ --once -o json

Exit codes: 0 the pipeline succeeded (or the gate said not-better), 3 not-better with
--fail-on-not-better, 6 malformed pipeline file, 5/7/8/9 the code of the step that failed.
watch --once exits with the code of the first failed trigger (0 when none failed).";

/// `mlops pipeline …`.
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Run a pipeline locally: steps in dependency order, one parent run with a child run per step.
    Run(PipelineRunArgs),
    /// Check a pipeline file without running it.
    Validate(PipelineValidateArgs),
    /// Retrain on new data: poll a directory or blob container, register each new content as a
    /// dataset version and run the pipeline with it (once per content, across restarts).
    #[command(after_help = WATCH_EXAMPLES)]
    Watch(PipelineWatchArgs),
    /// Publish a pipeline to Azure ML: environment, one component per step, pipeline component.
    #[command(after_help = PIPELINE_PUBLISH_EXAMPLES)]
    Publish(PipelinePublishArgs),
    /// Submit a pipeline (a file, published first, or a published name) as an Azure ML pipeline job.
    #[command(after_help = PIPELINE_SUBMIT_EXAMPLES)]
    Submit(PipelineSubmitArgs),
    /// Cancel an Azure ML job.
    Cancel(PipelineCancelArgs),
    /// Azure ML schedules that submit a published pipeline.
    #[command(subcommand, after_help = PIPELINE_SCHEDULE_EXAMPLES)]
    Schedule(ScheduleCommand),
    /// Run one step inside an Azure ML pipeline job (the command of the components `publish` registers).
    Step(PipelineStepArgs),
}

const PIPELINE_PUBLISH_EXAMPLES: &str = "\
Examples:
  mlops pipeline publish pipelines/diabetes-train.yml -w mlw-mlops -g rg-mlops --compute cpu-cluster
  mlops pipeline publish pipelines/diabetes-train.yml --image myacr.azurecr.io/mlops:0.1.0 -o json

Publishing again with the same content registers nothing new; a changed step gets a new component version.";

const PIPELINE_SUBMIT_EXAMPLES: &str = "\
Examples:
  mlops pipeline submit pipelines/diabetes-train.yml --param alpha=0.3 --stream
  mlops pipeline submit diabetes-train --compute cpu-cluster --experiment nightly
  mlops pipeline cancel diabetes_train_1a2b3c4d5e

Exit codes with --stream: 0 completed, 9 failed or canceled, 130 stopped following (the job goes on).";

const PIPELINE_SCHEDULE_EXAMPLES: &str = "\
Examples:
  mlops pipeline schedule create nightly --pipeline diabetes-train --cron \"0 3 * * *\" --time-zone UTC
  mlops pipeline schedule create hourly --pipeline diabetes-train --every 1hour
  mlops pipeline schedule disable nightly
  mlops pipeline schedule delete nightly";

/// Which Azure ML workspace (flags, environment, or `[azureml]` in mlops.toml).
#[derive(Debug, Args)]
#[command(next_help_heading = "Azure ML workspace")]
pub struct WorkspaceArgs {
    /// Azure ML workspace name.
    #[arg(short = 'w', long, value_name = "NAME", env = env_vars::AZUREML_WORKSPACE_NAME)]
    pub workspace: Option<String>,
    /// Resource group of the workspace.
    #[arg(short = 'g', long, value_name = "RG", env = env_vars::AZURE_RESOURCE_GROUP)]
    pub resource_group: Option<String>,
    /// Azure ML REST api-version [default: 2025-09-01].
    #[arg(long, value_name = "VERSION", env = env_vars::MLOPS_AZUREML_API_VERSION)]
    pub azureml_api_version: Option<String>,
    #[command(flatten)]
    pub azure: AzureArgs,
}

/// `mlops pipeline publish`.
#[derive(Debug, Args)]
pub struct PipelinePublishArgs {
    /// The pipeline file (YAML).
    pub file: PathBuf,
    /// Compute cluster the pipeline runs on by default.
    #[arg(long, value_name = "NAME")]
    pub compute: Option<String>,
    /// Container image holding `mlops` [default: mlops:VERSION, or `[azureml] image`].
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}

/// `mlops pipeline submit`.
#[derive(Debug, Args)]
pub struct PipelineSubmitArgs {
    /// A pipeline file (published first, idempotently) or the name of a published pipeline.
    pub pipeline: String,
    /// Set a pipeline parameter; repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub param: Vec<String>,
    /// Experiment of the job [default: the pipeline's name].
    #[arg(long, value_name = "NAME")]
    pub experiment: Option<String>,
    /// Compute cluster [default: the one given at publish time, or `[azureml] compute`].
    #[arg(long, value_name = "NAME")]
    pub compute: Option<String>,
    /// Container image holding `mlops`, when publishing a file [default: mlops:VERSION].
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Follow the job until it ends; the exit code reflects the outcome.
    #[arg(long)]
    pub stream: bool,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}

/// `mlops pipeline cancel`.
#[derive(Debug, Args)]
pub struct PipelineCancelArgs {
    /// The job name.
    pub job: String,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}

/// `mlops pipeline schedule …`.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Create (or replace) a schedule that submits a published pipeline.
    Create(ScheduleCreateArgs),
    /// Show a schedule.
    Show(ScheduleNameArgs),
    /// Turn a schedule on.
    Enable(ScheduleNameArgs),
    /// Turn a schedule off (it stays defined).
    Disable(ScheduleNameArgs),
    /// Delete a schedule.
    Delete(ScheduleNameArgs),
}

/// `mlops pipeline schedule create`.
#[derive(Debug, Args)]
pub struct ScheduleCreateArgs {
    /// Schedule name.
    pub name: String,
    /// The published pipeline (or a pipeline file, published first).
    #[arg(long, value_name = "NAME|FILE")]
    pub pipeline: String,
    /// Five-field cron expression: minute hour day-of-month month day-of-week.
    #[arg(long, value_name = "EXPR", required_unless_present = "every", conflicts_with = "every")]
    pub cron: Option<String>,
    /// Recurrence: N followed by minute, hour, day or week (e.g. 30minute, 1day).
    #[arg(long, value_name = "N(minute|hour|day|week)")]
    pub every: Option<String>,
    /// Time zone of the trigger.
    #[arg(long, value_name = "TZ", default_value = "UTC")]
    pub time_zone: String,
    /// Set a pipeline parameter of the jobs; repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub param: Vec<String>,
    /// Experiment of the jobs [default: the pipeline's name].
    #[arg(long, value_name = "NAME")]
    pub experiment: Option<String>,
    /// Compute cluster [default: the one given at publish time].
    #[arg(long, value_name = "NAME")]
    pub compute: Option<String>,
    /// Container image holding `mlops`, when publishing a file.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Create the schedule turned off.
    #[arg(long)]
    pub disabled: bool,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}

/// `mlops pipeline schedule show | enable | disable | delete`.
#[derive(Debug, Args)]
pub struct ScheduleNameArgs {
    /// Schedule name.
    pub name: String,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}

/// `mlops pipeline step` (inside Azure ML).
#[derive(Debug, Args)]
pub struct PipelineStepArgs {
    /// The step's name.
    #[arg(long, value_name = "STEP")]
    pub name: String,
    /// Folder to write the step's result.json into (the component's `result` output).
    #[arg(long, value_name = "DIR")]
    pub result: PathBuf,
    /// An upstream step's result folder; repeatable.
    #[arg(long, value_name = "STEP=DIR")]
    pub upstream: Vec<String>,
    /// The step's mlops arguments, with `$[[steps.S.outputs.K]]` references.
    #[arg(last = true, required = true)]
    pub args: Vec<String>,
}

const WATCH_EXAMPLES: &str = "\
The pipeline gets the new version through its parameters dataset_name, dataset_version and
data_path (those it declares). Files named .*, *.tmp, *.part are skipped: write elsewhere, then rename.

Examples:
  mlops pipeline watch pipelines/diabetes-train.yml --source incoming/
  mlops pipeline watch pipelines/diabetes-train.yml --source incoming/ --once -o json   (from cron)
  AZURE_STORAGE_CONNECTION_STRING=... mlops pipeline watch pipelines/diabetes-train.yml \\
      --source blob:landing --prefix diabetes/ --interval 600
  mlops pipeline watch pipelines/diabetes-train.yml \\
      --source https://acct.blob.core.windows.net/landing --source-sas \"$SAS\" --once
  mlops pipeline watch pipelines/diabetes-train.yml --target azureml -w mlw -g rg-ml \\
      --compute cpu-cluster --source https://acct.blob.core.windows.net/landing --source-sas \"$SAS\"

--target azureml publishes the pipeline (idempotently) and submits it as an Azure ML pipeline job
per new file, followed to its end; the file's blob URL is the job's data_path input (a parameter
of `type: data`), and the job carries the dataset version and digest as tags.

Output: progress on stderr; one line per trigger on stdout (-o json: one JSON object per line).
Ctrl-C or SIGTERM stops the watch after the pipeline that is running (exit 0); with --target
azureml, Ctrl-C stops following the job, which goes on.
Exit codes of --once: 0 nothing failed, else the code of the first failed pipeline (9 a failed
Azure ML job); 2 bad flags; 6 unreadable source or state; 8 unknown workspace or compute;
9/10 the blob or Azure ML service failed or refused.";

/// Where `pipeline watch` runs the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WatchTarget {
    /// The local runner (`mlops pipeline run`).
    Local,
    /// A pipeline job in Azure Machine Learning.
    Azureml,
}

/// `mlops pipeline watch`.
#[derive(Debug, Args)]
pub struct PipelineWatchArgs {
    /// The pipeline file (YAML).
    pub file: PathBuf,
    /// Where new data arrives: a directory, blob:CONTAINER (with a connection string) or a container
    /// URL https://ACCOUNT.blob.core.windows.net/CONTAINER (with --source-sas or a connection string).
    #[arg(long, value_name = "DIR|CONTAINER")]
    pub source: String,
    /// Only blobs whose name starts with this (blob sources).
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Only files (blobs) whose name matches this pattern (* and ?).
    #[arg(long, value_name = "GLOB", default_value = "*.csv")]
    pub pattern: String,
    /// Dataset the new files are registered under [default: the pipeline's dataset_name default].
    #[arg(long, value_name = "NAME")]
    pub dataset: Option<String>,
    /// Seconds between polls.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// Poll once, trigger what is new, and exit (for cron and CI schedules).
    #[arg(long)]
    pub once: bool,
    /// Where the pipeline runs.
    #[arg(long, value_enum, default_value_t = WatchTarget::Local)]
    pub target: WatchTarget,
    /// Set a pipeline parameter for every run; repeatable (not the dataset parameters).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub param: Vec<String>,
    /// What the watch has triggered [default: STORE-watch/PIPELINE--DATASET.json beside the local store].
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    #[command(flatten)]
    pub tracking: TrackingArgs,
    /// Experiment of the pipeline's runs [default: Default].
    #[arg(long, value_name = "NAME", env = env_vars::MLFLOW_EXPERIMENT_NAME)]
    pub experiment: Option<String>,
    /// Storage connection string for a blob source.
    #[arg(long, value_name = "STRING", env = env_vars::AZURE_STORAGE_CONNECTION_STRING, hide_env_values = true)]
    pub storage_connection_string: Option<String>,
    /// SAS token (query string) for an https:// blob source.
    #[arg(long, value_name = "SAS", env = env_vars::MLOPS_WATCH_SOURCE_SAS, hide_env_values = true)]
    pub source_sas: Option<String>,
    /// Compute cluster of the Azure ML jobs (--target azureml) [default: `[azureml] compute`].
    #[arg(long, value_name = "NAME", help_heading = "Azure ML (--target azureml)")]
    pub compute: Option<String>,
    /// Container image holding `mlops`, for publishing the pipeline (--target azureml).
    #[arg(long, value_name = "IMAGE", help_heading = "Azure ML (--target azureml)")]
    pub image: Option<String>,
    #[command(flatten, next_help_heading = "Azure ML (--target azureml)")]
    pub workspace: WorkspaceArgs,
}

/// `mlops pipeline run`.
#[derive(Debug, Args)]
pub struct PipelineRunArgs {
    /// The pipeline file (YAML).
    pub file: PathBuf,
    /// Set a pipeline parameter; repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub param: Vec<String>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Experiment of the pipeline's runs [default: Default].
    #[arg(long, value_name = "NAME", env = env_vars::MLFLOW_EXPERIMENT_NAME)]
    pub experiment: Option<String>,
    /// Resume: start at this step, reusing the outputs the earlier steps recorded in the last run of
    /// this pipeline (or the run given by --resume).
    #[arg(long = "from", value_name = "STEP")]
    pub from: Option<String>,
    /// The parent run id of the pipeline run to resume [with --from; default: the latest].
    #[arg(long, value_name = "RUN_ID", requires = "from")]
    pub resume: Option<String>,
    /// Exit 3 (instead of 0) when the evaluation gate says the new model is not better.
    #[arg(long)]
    pub fail_on_not_better: bool,
}

/// `mlops pipeline validate`.
#[derive(Debug, Args)]
pub struct PipelineValidateArgs {
    /// The pipeline file (YAML).
    pub file: PathBuf,
    /// Parameters the run would get; missing required parameters are reported.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub param: Vec<String>,
}

const TRAIN_EXAMPLES: &str = "\
Examples:
  mlops train
  mlops train --data my.csv --target price --alpha 1.0 --test-size 0.25 --seed 42
  mlops train --params pipelines/parameters.json --param alpha=0.3
  mlops train --experiment diabetes --run-name nightly -o json
  mlops train --compute cpu-cluster -w mlw-mlops -g rg-mlops --alpha 0.4

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
    #[command(flatten)]
    pub tracking: TrackingArgs,
    /// Train on a registered dataset version (NAME, NAME:latest or NAME:VERSION) instead of --data.
    #[arg(long, value_name = "NAME[:VERSION]", conflicts_with = "data")]
    pub dataset: Option<String>,
    /// Record the run as a child of this run (mlflow.parentRunId); set by `mlops pipeline run`.
    #[arg(long, value_name = "RUN_ID", hide = true)]
    pub parent_run_id: Option<String>,
    /// Train on this Azure ML compute cluster instead of here: the same arguments, as a command job.
    #[arg(long, value_name = "NAME")]
    pub compute: Option<String>,
    /// Container image holding `mlops`, with --compute [default: mlops:VERSION].
    #[arg(long, value_name = "IMAGE", requires = "compute")]
    pub image: Option<String>,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub azureml: WorkspaceArgs,
}

const PREDICT_EXAMPLES: &str = "\
Examples:
  mlops predict --model mlruns/0/<run-id>/artifacts/model --data data/diabetes.csv
  mlops predict --model models:/diabetes-model@champion --data new.csv --id-column patient --out predictions.csv
  AZURE_STORAGE_CONNECTION_STRING=... mlops predict --model runs:/<run-id>/model --data new.csv \\
      --out blob:predictions/2024-06-01.csv -o json

Each output row is row_id,prediction,model_version: row_id is the --id-column cell (or the 0-based
data row number), model_version the registry version a models:/ URI resolved to, the run id of a
runs:/ URI, or for a directory the run id its MLmodel records (else the directory as given).
Rows are scored in parallel chunks (--threads) and written in input order; the numbers do not depend
on the thread count. Memory does not grow with the rows in any output mode: -o json streams the
predictions, and with --out reports only the row count and where they went.";

/// `mlops predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Model: a model directory, runs:/RUN_ID/model or models:/NAME/VERSION|@ALIAS.
    #[arg(long, value_name = "MODEL")]
    pub model: String,
    /// CSV file with the model's feature columns (extra columns are ignored).
    #[arg(long, value_name = "CSV")]
    pub data: PathBuf,
    /// Column whose cells identify the rows in the output [default: the 0-based data row number].
    #[arg(long, value_name = "COLUMN")]
    pub id_column: Option<String>,
    /// Write the predictions as CSV here instead of stdout: a file (written whole or not at all),
    /// blob:CONTAINER/PATH (with a connection string) or https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH
    /// (with --out-sas or a connection string), uploaded only once complete.
    #[arg(long, value_name = "DEST")]
    pub out: Option<String>,
    /// Storage connection string for a blob --out.
    #[arg(long, value_name = "STRING", env = env_vars::AZURE_STORAGE_CONNECTION_STRING, hide_env_values = true)]
    pub storage_connection_string: Option<String>,
    /// SAS token (query string) for an https:// --out.
    #[arg(long, value_name = "SAS", env = env_vars::MLOPS_PREDICT_OUT_SAS, hide_env_values = true)]
    pub out_sas: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// `mlops runs …`.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first (or as --order-by says).
    #[command(after_help = RUNS_LIST_EXAMPLES)]
    List(RunsListArgs),
    /// Show one run: parameters, metrics, tags and dataset inputs.
    Show(RunsShowArgs),
    /// Upload local runs to a tracking server; idempotent and resumable.
    #[command(after_help = RUNS_SYNC_EXAMPLES)]
    Sync(RunsSyncArgs),
}

const RUNS_LIST_EXAMPLES: &str = "\
Examples:
  mlops runs list
  mlops runs list --experiment diabetes --order-by 'metrics.mse ASC' --max-results 5
  mlops runs list --filter \"metrics.mse < 3300 AND params.alpha = '0.5'\" --order-by 'params.alpha DESC'
  mlops runs list --top-level --tracking-uri http://127.0.0.1:5000 -o json

Child runs (pipeline steps, tag mlflow.parentRunId) are listed under their parent run.";

const RUNS_SYNC_EXAMPLES: &str = "\
Examples:
  mlops runs sync --to http://127.0.0.1:5000          every local run not yet on the server
  mlops runs sync --to http://127.0.0.1:5000 <run-id>  one run
  mlops runs sync --to \"$AML_TRACKING_URI\"          an Azure ML workspace (azureml://…; artifacts stay local)";

/// `mlops runs list`.
#[derive(Debug, Args)]
pub struct RunsListArgs {
    /// Only runs of this experiment.
    #[arg(long, value_name = "NAME")]
    pub experiment: Option<String>,
    /// MLflow search filter, e.g. "metrics.mse < 3000 AND params.alpha = '0.5'" (MLflow's grammar, on every store).
    #[arg(long, value_name = "FILTER")]
    pub filter: Option<String>,
    /// Ordering such as "metrics.mse ASC", "params.alpha DESC" or "start_time DESC"; repeatable.
    #[arg(long, value_name = "ORDER")]
    pub order_by: Vec<String>,
    /// Only top-level runs: hide child runs (pipeline steps).
    #[arg(long)]
    pub top_level: bool,
    /// At most this many runs.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub max_results: usize,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `mlops runs show`.
#[derive(Debug, Args)]
pub struct RunsShowArgs {
    /// The run id, or a prefix of it that only one run has.
    pub run_id: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `mlops runs sync`.
#[derive(Debug, Args)]
pub struct RunsSyncArgs {
    /// Local run ids to upload [default: every finished local run not yet on the server].
    pub run_ids: Vec<String>,
    /// The tracking server to upload to.
    #[arg(long, value_name = "URI", env = env_vars::MLFLOW_TRACKING_URI)]
    pub to: Option<String>,
    /// The local store to upload from [default: ./mlruns].
    #[arg(long = "from", value_name = "DIR", env = env_vars::MLOPS_LOCAL_STORE)]
    pub from: Option<PathBuf>,
    #[command(flatten, next_help_heading = "Azure sign-in (azureml:// tracking URIs)")]
    pub azure: AzureArgs,
}

const INFRA_EXAMPLES: &str = "\
Examples:
  mlops infra deploy -g rg-mlops -f environment_setup/src/main.json -p @environment_setup/src/parameters.json
  mlops infra what-if -g rg-mlops -f main.json -p @parameters.json baseName=mlops --exit-code
  mlops infra deploy --scope subscription -l westeurope -f rg.json -p rgName=rg-mlops
  mlops infra show main -g rg-mlops -o json
  mlops infra cancel main -g rg-mlops

Deployment stacks (tear-down: the stack manages what it deployed):
  mlops infra deploy --stack mlops-env -g rg-mlops -f environment_setup/src/main.json -p @environment_setup/src/parameters.json
  mlops infra deploy --stack mlops-env -g rg-mlops -f main.json --action-on-unmanage deleteResources
  mlops infra stack show mlops-env -g rg-mlops -o json
  mlops infra delete --stack mlops-env -g rg-mlops --action-on-unmanage deleteAll --yes

Sign-in: --auth, or the first configured of client-secret, client-certificate, workload-identity,
github-oidc, azure-pipelines, managed-identity, azure-cli.";

/// `mlops infra …`.
#[derive(Debug, Subcommand)]
pub enum InfraCommand {
    /// Compile a .bicep file to an ARM template, natively (no az, no bicep CLI).
    #[command(after_help = INFRA_BUILD_EXAMPLES)]
    Build(InfraBuildArgs),
    /// Fetch the registry modules (`br:`, `br/<alias>:`) a .bicep file uses into the module cache.
    #[command(after_help = INFRA_RESTORE_EXAMPLES)]
    Restore(InfraRestoreArgs),
    /// Push a .bicep file (compiled) or an ARM .json template to a registry as a Bicep module.
    #[command(after_help = INFRA_PUBLISH_EXAMPLES)]
    Publish(InfraPublishArgs),
    /// Deploy a template (PUT the deployment and wait for it, like `az deployment group create`),
    /// or as a deployment stack with --stack (like `az stack group create`).
    Deploy(InfraDeployArgs),
    /// Ask ARM whether a deployment would be accepted, without deploying.
    Validate(InfraTemplateArgs),
    /// Show what a deployment would create, change or delete.
    WhatIf(InfraWhatIfArgs),
    /// Show a deployment: state, timestamps, outputs.
    Show(InfraNameArgs),
    /// Cancel a deployment that is still running.
    Cancel(InfraNameArgs),
    /// Delete a deployment stack, detaching or deleting the resources it manages.
    #[command(after_help = INFRA_DELETE_EXAMPLES)]
    Delete(InfraDeleteArgs),
    /// Deployment stacks: show one, list them.
    #[command(subcommand)]
    Stack(InfraStackCommand),
}

const INFRA_DELETE_EXAMPLES: &str = "\
Examples:
  mlops infra delete --stack mlops-env -g rg-mlops --action-on-unmanage deleteAll --yes
  mlops infra delete --stack mlops-env -g rg-mlops                 asks; keeps (detaches) the resources
  mlops infra delete --stack env --action-on-unmanage deleteAll    subscription stack: its resource groups too

--action-on-unmanage takes az's names: detachAll (default: nothing is deleted), deleteResources
(resources deleted, resource groups kept), deleteAll (resources and resource groups deleted).
Without a terminal to ask on, --yes is required (exit 2). A stack that does not exist exits 8.";

/// `mlops infra stack …`.
#[derive(Debug, Subcommand)]
pub enum InfraStackCommand {
    /// Show a deployment stack: state, managed, detached and deleted resources, outputs.
    Show(InfraNameArgs),
    /// List the deployment stacks of a resource group (or of the subscription without -g).
    List(InfraStackListArgs),
}

/// `mlops infra stack list`.
#[derive(Debug, Args)]
pub struct InfraStackListArgs {
    /// Resource group whose stacks to list; without it, the subscription's stacks.
    #[arg(short = 'g', long, value_name = "RG")]
    pub resource_group: Option<String>,
    #[command(flatten)]
    pub azure: AzureArgs,
}

/// az's `--action-on-unmanage` names (`detach` and `delete` are short for detachAll and deleteAll).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UnmanageArg {
    /// Keep every resource and resource group the stack stops managing.
    #[value(name = "detachAll", alias = "detach")]
    DetachAll,
    /// Delete resources; keep resource groups.
    #[value(name = "deleteResources")]
    DeleteResources,
    /// Delete resources and resource groups.
    #[value(name = "deleteAll", alias = "delete")]
    DeleteAll,
}

/// `denySettings.mode` for `--deny-settings-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DenyModeArg {
    #[value(name = "none")]
    None,
    #[value(name = "denyDelete")]
    DenyDelete,
    #[value(name = "denyWriteAndDelete")]
    DenyWriteAndDelete,
}

/// `mlops infra delete`.
#[derive(Debug, Args)]
pub struct InfraDeleteArgs {
    /// The deployment stack to delete.
    #[arg(long, value_name = "NAME")]
    pub stack: String,
    /// Resource group of the stack; without it, a subscription stack.
    #[arg(short = 'g', long, value_name = "RG")]
    pub resource_group: Option<String>,
    /// What happens to the resources the stack manages [default: detachAll].
    #[arg(long, value_enum, value_name = "ACTION")]
    pub action_on_unmanage: Option<UnmanageArg>,
    /// Delete without asking (required without a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Return right after ARM accepted the delete.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub azure: AzureArgs,
}

/// Where runs, models and the offline journal are: shared by every command that uses the store.
#[derive(Debug, Args)]
#[command(next_help_heading = "Tracking")]
pub struct TrackingArgs {
    /// Tracking store: a directory, file: URI, http(s):// MLflow server or azureml:// workspace [default: ./mlruns].
    #[arg(long, value_name = "URI", env = env_vars::MLFLOW_TRACKING_URI)]
    pub tracking_uri: Option<String>,
    /// Local store that journals runs bound for a server [default: ./mlruns].
    #[arg(long, value_name = "DIR", env = env_vars::MLOPS_LOCAL_STORE)]
    pub local_store: Option<PathBuf>,
}

/// The store flags of commands that have no Azure flags of their own: tracking, and the Azure
/// sign-in an `azureml://` tracking URI needs.
#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(flatten)]
    pub tracking: TrackingArgs,
    #[command(flatten, next_help_heading = "Azure sign-in (azureml:// tracking URIs)")]
    pub azure: AzureArgs,
}

/// How `mlops` signs in to Azure and which cloud and subscription it talks to.
#[derive(Debug, Args)]
pub struct AzureArgs {
    /// Subscription id.
    #[arg(long, value_name = "ID", env = env_vars::AZURE_SUBSCRIPTION_ID)]
    pub subscription: Option<String>,
    /// Credential to use instead of the automatic chain.
    #[arg(long, value_enum, value_name = "KIND", env = env_vars::MLOPS_AZURE_AUTH)]
    pub auth: Option<AuthArg>,
    /// Azure cloud: AzureCloud, AzureChinaCloud or AzureUSGovernment [default: AzureCloud].
    #[arg(long, value_name = "NAME", env = env_vars::AZURE_CLOUD)]
    pub cloud: Option<String>,
    /// Azure Resource Manager endpoint, overriding the cloud's.
    #[arg(long, value_name = "URL", env = env_vars::AZURE_RESOURCE_MANAGER_ENDPOINT)]
    pub arm_endpoint: Option<String>,
    /// Token audience for ARM [default: the ARM endpoint's origin].
    #[arg(long, value_name = "URI", env = env_vars::AZURE_RESOURCE_MANAGER_AUDIENCE)]
    pub arm_audience: Option<String>,
}

/// A credential kind for `--auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthArg {
    /// The automatic chain.
    Auto,
    /// Service principal with AZURE_CLIENT_SECRET.
    ClientSecret,
    /// Service principal with the PEM file AZURE_CLIENT_CERTIFICATE_PATH.
    ClientCertificate,
    /// Federated token from AZURE_FEDERATED_TOKEN_FILE (Kubernetes workload identity).
    WorkloadIdentity,
    /// GitHub Actions OIDC token exchanged for an Entra token.
    GithubOidc,
    /// Azure Pipelines service connection with workload identity federation.
    AzurePipelines,
    /// Managed identity of the machine.
    ManagedIdentity,
    /// The signed-in Azure CLI (`az account get-access-token`).
    AzureCli,
}

/// Bicep compiler choice for `--bicep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BicepArg {
    Native,
    External,
    Check,
}

/// Deployment scope for `--scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScopeArg {
    ResourceGroup,
    Subscription,
}

/// Deployment mode for `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    #[value(name = "Incremental", alias = "incremental")]
    Incremental,
    #[value(name = "Complete", alias = "complete")]
    Complete,
}

/// Template, parameters and target shared by deploy, validate and what-if.
#[derive(Debug, Args)]
pub struct InfraTemplateArgs {
    /// Resource group to deploy into (resource-group scope).
    #[arg(short = 'g', long, value_name = "RG")]
    pub resource_group: Option<String>,
    /// Deployment scope [default: from the template's $schema].
    #[arg(long, value_enum)]
    pub scope: Option<ScopeArg>,
    /// Location: required at subscription scope; at resource-group scope, creates a missing group there.
    #[arg(short = 'l', long, value_name = "LOC")]
    pub location: Option<String>,
    /// ARM JSON template, or a .bicep file (compiled natively unless --bicep says otherwise).
    #[arg(short = 'f', long, alias = "template-file", value_name = "FILE")]
    pub template: PathBuf,
    /// How a .bicep template is compiled: native, external (`bicep`/`az bicep` on PATH), or check
    /// (both, failing on any difference).
    #[arg(long, value_enum, default_value_t = BicepArg::Native)]
    pub bicep: BicepArg,
    /// Parameters: @FILE (deploymentParameters or plain object), inline JSON, or NAME=VALUE; later ones win.
    #[arg(short = 'p', long = "parameters", value_name = "PARAMS", num_args = 1.., action = clap::ArgAction::Append)]
    pub parameters: Vec<String>,
    /// Deployment name [default: the template file's name without extension].
    #[arg(short = 'n', long, value_name = "NAME")]
    pub name: Option<String>,
    /// Incremental keeps resources the template does not mention; Complete deletes them.
    #[arg(long, value_enum, default_value = "Incremental")]
    pub mode: ModeArg,
    #[command(flatten)]
    pub azure: AzureArgs,
}

/// `mlops infra deploy`.
#[derive(Debug, Args)]
pub struct InfraDeployArgs {
    #[command(flatten)]
    pub template: InfraTemplateArgs,
    /// Return right after ARM accepted the deployment.
    #[arg(long)]
    pub no_wait: bool,
    /// Only show what the deployment would change (same as `mlops infra what-if`).
    #[arg(long, conflicts_with = "confirm_with_what_if")]
    pub what_if: bool,
    /// Show what would change, then ask before deploying.
    #[arg(short = 'c', long)]
    pub confirm_with_what_if: bool,
    /// Answer yes to the confirmation (required without a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[command(flatten, next_help_heading = "Deployment stack")]
    pub stack: InfraStackArgs,
}

/// What makes `mlops infra deploy` deploy a stack (`--stack NAME`) instead of a plain deployment.
#[derive(Debug, Args)]
pub struct InfraStackArgs {
    /// Deploy as the deployment stack NAME, which manages what it deploys (tear it down with
    /// `mlops infra delete --stack NAME`).
    #[arg(id = "stack", long = "stack", value_name = "NAME", conflicts_with_all = ["what_if", "confirm_with_what_if", "name"])]
    pub name: Option<String>,
    /// What happens to resources a re-deploy leaves out [default: detachAll].
    #[arg(long, value_enum, value_name = "ACTION", requires = "stack")]
    pub action_on_unmanage: Option<UnmanageArg>,
    /// Deny assignments on the managed resources [default: none].
    #[arg(long, value_enum, value_name = "MODE", requires = "stack")]
    pub deny_settings_mode: Option<DenyModeArg>,
    /// Principal ids the deny settings do not apply to.
    #[arg(long, value_name = "ID", num_args = 1.., requires = "stack")]
    pub deny_settings_excluded_principals: Vec<String>,
    /// Operations the deny settings allow (e.g. Microsoft.Storage/storageAccounts/write).
    #[arg(long, value_name = "ACTION", num_args = 1.., requires = "stack")]
    pub deny_settings_excluded_actions: Vec<String>,
    /// Apply the deny settings to child resources too.
    #[arg(long, requires = "stack")]
    pub deny_settings_apply_to_child_scopes: bool,
    /// The stack's description.
    #[arg(long, value_name = "TEXT", requires = "stack")]
    pub description: Option<String>,
}

/// `mlops infra what-if`.
#[derive(Debug, Args)]
pub struct InfraWhatIfArgs {
    #[command(flatten)]
    pub template: InfraTemplateArgs,
    /// Exit with code 4 when the deployment would change something.
    #[arg(long)]
    pub exit_code: bool,
}

/// `mlops infra show | cancel`.
#[derive(Debug, Args)]
pub struct InfraNameArgs {
    /// Deployment name.
    pub name: String,
    /// Resource group of the deployment; without it, the subscription's deployments.
    #[arg(short = 'g', long, value_name = "RG")]
    pub resource_group: Option<String>,
    #[command(flatten)]
    pub azure: AzureArgs,
}

const INFRA_BUILD_EXAMPLES: &str = "\
Examples:
  mlops infra build environment_setup/src/main.bicep          writes environment_setup/src/main.json
  mlops infra build main.bicep --outfile out/azuredeploy.json
  mlops infra build main.bicep --stdout | jq .resources

Registry modules (br:, br/public:, br/<alias>: from bicepconfig.json) and template specs (ts:,
ts/<alias>:) are restored first into the module cache (~/.bicep, bicepconfig.json
cacheRootDirectory, or MLOPS_BICEP_CACHE); a cached module needs no network. --no-restore
compiles from the cache only.

Invalid or unsupported Bicep exits with code 6 and a file:line:column diagnostic.";

const INFRA_RESTORE_EXAMPLES: &str = "\
Examples:
  mlops infra restore main.bicep                      fetch missing br: modules and ts: specs into the cache
  mlops infra restore main.bicep --force -o json      fetch all again; list what came from where
  mlops infra restore main.bicep --plain-http         a registry on this machine (br:localhost:5000/...)
  MLOPS_BICEP_CACHE=/tmp/bicep mlops infra restore main.bicep

Aliases: br/public: is mcr.microsoft.com/bicep; others come from moduleAliases.br and
moduleAliases.ts in the nearest bicepconfig.json above the file. Registry sign-in: anonymous,
--username with MLOPS_REGISTRY_PASSWORD, or Entra ID exchanged for ACR tokens (default for
*.azurecr.*). Template specs (ts:<subscription>/<group>/<name>:<version>) are read from ARM,
signed in as every `mlops infra` command is; only a file with a template spec to fetch signs in.
Exit codes: 6 bad reference or unknown alias, 8 module or template spec version not found, 9
registry or ARM unreachable, or not a Bicep module, 10 sign-in refused or no Azure credential.";

const INFRA_PUBLISH_EXAMPLES: &str = "\
Examples:
  mlops infra publish storage.bicep --target br:myreg.azurecr.io/bicep/storage:1.0.0
  mlops infra publish main.json --target br:localhost:5000/mods/vnet:0.5.2 --plain-http
  mlops infra publish storage.bicep --target br/mine:storage:v2      alias from bicepconfig.json

The artifact is laid out as `bicep publish` writes it (module artifact type, `{}` config, one
ARM template layer), so the official tool and `mlops infra restore` both read it.";

/// `mlops infra publish`.
#[derive(Debug, Args)]
pub struct InfraPublishArgs {
    /// A .bicep file (compiled natively) or an ARM .json template (published byte for byte).
    pub file: PathBuf,
    /// The module reference to publish as: br:<registry>/<repository>:<tag> or br/<alias>:<path>:<tag>.
    #[arg(long, value_name = "REF")]
    pub target: String,
    #[command(flatten, next_help_heading = "Registry")]
    pub registry: RegistryArgs,
    #[command(flatten, next_help_heading = "Azure sign-in (ACR registries)")]
    pub azure: AzureArgs,
}

/// `mlops infra restore`.
#[derive(Debug, Args)]
pub struct InfraRestoreArgs {
    /// The .bicep file whose registry modules and template specs to restore.
    pub file: PathBuf,
    /// Fetch modules that are already cached again.
    #[arg(long)]
    pub force: bool,
    #[command(flatten, next_help_heading = "Registry")]
    pub registry: RegistryArgs,
    #[command(flatten, next_help_heading = "Azure sign-in (ACR registries, template specs)")]
    pub azure: AzureArgs,
}

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
    /// Do not fetch registry modules; use only what the module cache holds.
    #[arg(long)]
    pub no_restore: bool,
    #[command(flatten, next_help_heading = "Registry")]
    pub registry: RegistryArgs,
    #[command(flatten, next_help_heading = "Azure sign-in (ACR registries, template specs)")]
    pub azure: AzureArgs,
}

const SERVE_EXAMPLES: &str = "\
Examples:
  mlops serve --model mlruns/0/<run-id>/artifacts/model
  mlops serve --model runs:/<run-id>/model --host 0.0.0.0 --port 8080 --workers 4
  mlops serve --model /model --request-log /var/log/mlops
  AZURE_STORAGE_CONNECTION_STRING=... mlops serve --model /model --request-log blob:requests/diabetes
  MLOPS_REQUEST_LOG_SAS='sv=...&sig=...' mlops serve --model /model \\
      --request-log https://acct.blob.core.windows.net/requests/diabetes

Routes: POST /score, POST /invocations, GET /health, /ready, /ping, /version, /metrics, /swagger.json.
SIGTERM or Ctrl-C stops accepting, finishes in-flight requests and flushes the request log.";

/// `mlops serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Model: a directory, runs:/RUN_ID/model, models:/NAME@ALIAS, models:/NAME/VERSION or models:/NAME/latest.
    #[arg(long, value_name = "MODEL", env = env_vars::MLOPS_MODEL)]
    pub model: String,
    /// The model Azure ML mounted for this online deployment (set by Azure ML in the container):
    /// served instead of --model, so a deployment serves the model asset it names, not the one
    /// baked into its image.
    #[arg(long, value_name = "DIR", env = env_vars::AZUREML_MODEL_DIR, hide = true)]
    pub azureml_model_dir: Option<std::path::PathBuf>,
    /// Address to listen on (0.0.0.0 in a container).
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port to listen on (0 picks a free one; the address is printed on stderr).
    #[arg(long, value_name = "PORT", default_value_t = 5001)]
    pub port: u16,
    /// Worker threads [default: the number of CPUs].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: Option<u16>,
    /// Most rows one request may score (more is refused with 413).
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_batch_rows: u64,
    /// Largest request body in bytes (larger is refused with 413).
    #[arg(long, value_name = "N", default_value_t = 10 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_body_bytes: u64,
    /// Seconds a client has to send a whole request, headers and body; slower connections are closed
    /// (and counted in `mlops_requests_timed_out_total`).
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub request_timeout: f64,
    /// Log every scored request to DIR (JSON Lines), blob:CONTAINER[/PREFIX] (with a connection
    /// string) or https://ACCOUNT.blob.core.windows.net/CONTAINER[/PREFIX] (with a SAS or a
    /// connection string).
    #[arg(long, value_name = "DEST", env = env_vars::MLOPS_REQUEST_LOG)]
    pub request_log: Option<String>,
    /// Request records that may wait for the writer; more are dropped and counted in /metrics.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_log_queue: u64,
    /// Seconds between blob uploads (one blob per interval).
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub request_log_interval: f64,
    /// JSON Lines files rotate, and blobs are cut, at this many bytes.
    #[arg(long, value_name = "N", default_value_t = 16 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_log_max_bytes: u64,
    /// Storage connection string for blob request logs.
    #[arg(long, value_name = "STRING", env = env_vars::AZURE_STORAGE_CONNECTION_STRING, hide_env_values = true)]
    pub storage_connection_string: Option<String>,
    /// SAS token (query string) for an https:// blob request log.
    #[arg(long, value_name = "SAS", env = env_vars::MLOPS_REQUEST_LOG_SAS, hide_env_values = true)]
    pub request_log_sas: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

const SMOKE_TEST_EXAMPLES: &str = "\
Examples:
  mlops smoke-test --url http://127.0.0.1:5001/score
  mlops smoke-test --url https://<service>.azurecontainer.io/score --key \"$SCORING_KEY\" --timeout 300
  mlops smoke-test --get --url http://127.0.0.1:5001/ready --timeout 4     (container HEALTHCHECK)

Sends {\"data\": [[1,2,3,4,5,6,7,8,9,10],[10,9,8,7,6,5,4,3,2,1]]} with a traceparent until the
service answers, and passes when it returns {\"result\": [two finite numbers]}. Exit codes: 0 passed,
9 the service failed, timed out or answered wrongly, 10 the key was refused.";

/// `mlops smoke-test`.
#[derive(Debug, Args)]
pub struct SmokeTestArgs {
    /// Scoring URL; a URL without a path gets /score.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// Key sent as `Authorization: Bearer KEY` (Azure ML endpoint key).
    #[arg(long, value_name = "KEY", env = env_vars::MLOPS_SCORING_KEY, hide_env_values = true)]
    pub key: Option<String>,
    /// Seconds to wait for the service to answer.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub timeout: f64,
    /// Only GET the URL as given and expect a 2xx (a container health check for any model).
    #[arg(long, conflicts_with = "model")]
    pub get: bool,
    /// The model being served (directory, runs:/…, models:/…): the sample rows are built from its
    /// signature. Without it they come from the service's /swagger.json example, else the
    /// reference's 10-feature sample.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Send `azureml-model-deployment: NAME`: an Azure ML endpoint then routes the requests to
    /// that deployment whatever its traffic (test a deployment before it takes traffic).
    #[arg(long, value_name = "NAME")]
    pub deployment: Option<String>,
    /// Where runs:/ and models:/ URIs of --model are looked up.
    #[command(flatten)]
    pub store: StoreArgs,
}

const MODEL_EXAMPLES: &str = "\
Examples:
  mlops model evaluate --run-id <run> --name diabetes            # exit 3: not better than champion
  mlops model register --run-id <run> --name diabetes --if-better  # gate, register, move champion
  mlops model register --run-id <run> --name diabetes --alias staging --tag team=ml
  mlops model alias set diabetes champion 3                      # roll back to version 3
  mlops model list
  mlops model show diabetes@champion
  mlops model download diabetes@champion --dest ./model

Exit codes: 0 registered or gate passed; 3 the gate said not better (nothing registered),
0 instead with --on-not-better skip; other failures keep the general codes.";

/// `mlops model …`.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Register a run's model as a new version (with --if-better: only if it beats the champion).
    Register(ModelRegisterArgs),
    /// Compare a run with the champion on one metric: first, better or not-better.
    Evaluate(ModelEvaluateArgs),
    /// Set or delete an alias.
    #[command(subcommand)]
    Alias(ModelAliasCommand),
    /// List registered models.
    List(ModelListArgs),
    /// Show a model with its versions, or one version: NAME, NAME/VERSION, NAME/latest or NAME@ALIAS.
    Show(ModelShowArgs),
    /// Copy a version's model directory: NAME/VERSION, NAME/latest or NAME@ALIAS.
    Download(ModelDownloadArgs),
}

/// The evaluation gate's settings.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// Metric to compare.
    #[arg(long, value_name = "NAME", default_value = "mse")]
    pub metric: String,
    /// Whether lower or higher is better.
    #[arg(long, value_enum, default_value_t = DirectionArg::Minimize)]
    pub direction: DirectionArg,
    /// Alias of the current champion.
    #[arg(long, value_name = "ALIAS", default_value = "champion")]
    pub against: String,
    /// What a "not better" decision does: fail (exit 3) or skip (exit 0, decision still reported).
    #[arg(long, value_enum, default_value_t = OnNotBetter::Fail)]
    pub on_not_better: OnNotBetter,
    /// Also write the gate's JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Compare even if the candidate was trained on other features, feature types, target or
    /// dataset than the champion (otherwise exit 13); a version registered so gets the tag
    /// `mlops.schema_change` saying what changed.
    #[arg(long)]
    pub allow_schema_change: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DirectionArg {
    Minimize,
    Maximize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnNotBetter {
    Fail,
    Skip,
}

/// `mlops model register`.
#[derive(Debug, Args)]
pub struct ModelRegisterArgs {
    /// The run whose model is registered.
    #[arg(long, value_name = "RUN")]
    pub run_id: String,
    /// Registered model name.
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// Alias to point at the new version; repeatable (with --if-better the default is `champion`).
    #[arg(long = "alias", value_name = "ALIAS")]
    pub aliases: Vec<String>,
    /// Extra version tag; repeatable.
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// Version description.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Register even if this run already has a version under this name.
    #[arg(long)]
    pub allow_duplicate: bool,
    /// Run the evaluation gate first; register only on `first` or `better`.
    #[arg(long)]
    pub if_better: bool,
    #[command(flatten)]
    pub gate: GateArgs,
    /// Parameters file whose `registration.tags` names the metrics copied as tags [default: mse].
    #[arg(long, value_name = "FILE")]
    pub params: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `mlops model evaluate`.
#[derive(Debug, Args)]
pub struct ModelEvaluateArgs {
    /// The candidate run.
    #[arg(long, value_name = "RUN")]
    pub run_id: String,
    /// Registered model name.
    #[arg(long, value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub gate: GateArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `mlops model alias …`.
#[derive(Debug, Subcommand)]
pub enum ModelAliasCommand {
    /// Point ALIAS at VERSION (moving it if it exists); rollback = set it to an older version.
    Set {
        name: String,
        alias: String,
        version: u64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove ALIAS.
    Delete {
        name: String,
        alias: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `mlops model list`.
#[derive(Debug, Args)]
pub struct ModelListArgs {
    /// Only this model: list its versions.
    pub name: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `mlops model show`.
#[derive(Debug, Args)]
pub struct ModelShowArgs {
    /// NAME, NAME/VERSION, NAME/latest or NAME@ALIAS.
    pub model: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `mlops model download`.
#[derive(Debug, Args)]
pub struct ModelDownloadArgs {
    /// NAME/VERSION, NAME/latest or NAME@ALIAS.
    pub model: String,
    /// Directory to write the model to.
    #[arg(long, value_name = "DIR")]
    pub dest: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// In every command's `--help`, `-o`, `-v` and `-q` are under their own heading, not among
    /// the command's options.
    #[test]
    fn global_flags_have_their_own_heading_everywhere() {
        let mut root = super::Cli::command();
        // Building propagates the global flags into every subcommand, as parsing does.
        root.build();
        let mut stack = vec![root];
        let mut checked = 0;
        while let Some(mut command) = stack.pop() {
            let help = command.render_long_help().to_string();
            let name = command.get_name().to_string();
            stack.extend(command.get_subcommands().filter(|c| c.get_name() != "help").cloned());
            let global = help.find("Global options:").unwrap_or_else(|| panic!("{name}: no heading\n{help}"));
            for flag in ["--output", "--verbose", "--quiet"] {
                let at = help.find(flag).unwrap_or_else(|| panic!("{name}: {flag} missing"));
                assert!(at > global, "{name}: {flag} is listed before the global heading\n{help}");
            }
            checked += 1;
        }
        assert!(checked > 20, "only {checked} commands seen");
    }
}

const IMAGE_EXAMPLES: &str = "\
Examples:
  mlops image build --model models:/diabetes@champion --out image/       an OCI image layout
  mlops image build --model runs:/<run-id>/model --tag myacr.azurecr.io/diabetes:1 --push
  mlops image push image/ --tag localhost:5000/diabetes:1 --plain-http
  mlops image build --base debian:12-slim --tag myacr.azurecr.io/mlops-job:1 --push   a job image (no model)

The scoring image runs `mlops serve` on /model at port 5001 as user 65532 (routes: POST /score,
/invocations; GET /health, /ready, /version, /metrics). Same model and binary, same digest.
Registries: anonymous, Basic (--username with MLOPS_REGISTRY_PASSWORD or --password-stdin),
Bearer token services, and Azure Container Registry with an Entra ID token (the --auth chain).
Exit codes: 0 built or pushed, 2 bad flags or reference, 6 a model, binary or layout that cannot
be read, 8 the model or base image not found, 9 a registry that failed, 10 credentials refused.";

/// `mlops image …`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build an OCI image of a model (mlops, its runtime, CA certificates, the model).
    Build(ImageBuildArgs),
    /// Push an image layout (written by `image build --out`) to a registry.
    Push(ImagePushArgs),
}

/// `mlops image build`.
#[derive(Debug, Args)]
pub struct ImageBuildArgs {
    /// Model: a directory, runs:/RUN_ID/model, models:/NAME@ALIAS or models:/NAME/VERSION.
    /// Without one, the image is mlops alone (for jobs, on a --base with a shell).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Base image: scratch (nothing), distroless (gcr.io/distroless/cc-debian12:nonroot) or a reference.
    #[arg(long, value_name = "BASE", default_value = "scratch")]
    pub base: String,
    /// Where the image goes: REGISTRY/REPOSITORY:TAG (with --push), and its name in the layout.
    #[arg(long, value_name = "REF")]
    pub tag: Option<String>,
    /// Write the image as an OCI image layout in DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Push the image to --tag.
    #[arg(long)]
    pub push: bool,
    /// Target platform; only linux/amd64 is built.
    #[arg(long, value_name = "OS/ARCH", default_value = "linux/amd64")]
    pub platform: String,
    /// The mlops binary to put in the image [default: this one].
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// CA certificates (PEM) for the image's /etc/ssl/certs/ca-certificates.crt.
    #[arg(long, value_name = "PATH", default_value = "/etc/ssl/certs/ca-certificates.crt")]
    pub ca_certs: PathBuf,
    /// Port `mlops serve` listens on in the container.
    #[arg(long, value_name = "PORT", default_value_t = 5001)]
    pub port: u16,
    #[command(flatten, next_help_heading = "Registry")]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `mlops image push`.
#[derive(Debug, Args)]
pub struct ImagePushArgs {
    /// An OCI image layout directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// REGISTRY/REPOSITORY:TAG [default: the name the layout gives the image].
    #[arg(long, value_name = "REF")]
    pub tag: Option<String>,
    #[command(flatten, next_help_heading = "Registry")]
    pub registry: RegistryArgs,
    #[command(flatten, next_help_heading = "Azure sign-in (Azure Container Registry)")]
    pub azure: AzureArgs,
}

/// How `mlops` talks to a container registry.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// How to sign in to the registry [default: basic with --username, azure for *.azurecr.*, else anonymous].
    #[arg(long, value_enum, value_name = "KIND")]
    pub registry_auth: Option<RegistryAuthArg>,
    /// User name for Basic sign-in; the password is MLOPS_REGISTRY_PASSWORD or --password-stdin.
    #[arg(long, value_name = "USER", env = env_vars::MLOPS_REGISTRY_USERNAME)]
    pub username: Option<String>,
    /// Read the registry password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Talk plain HTTP to the registry (a registry on this machine).
    #[arg(long)]
    pub plain_http: bool,
}

/// A registry sign-in for `--registry-auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RegistryAuthArg {
    Anonymous,
    Basic,
    /// An Entra ID token from the Azure credential chain, exchanged for ACR tokens.
    Azure,
}

const ENDPOINT_EXAMPLES: &str = "\
Examples:
  mlops endpoint create diabetes-ep --auth-mode key
  mlops endpoint deploy diabetes-ep --deployment blue --model models:/diabetes@champion
  mlops endpoint deploy diabetes-ep --deployment green --model models:/diabetes/4 --rollout 10,50,100
  mlops endpoint traffic diabetes-ep blue=90 green=10 --mirror green=0
  mlops endpoint invoke diabetes-ep --data request.json --deployment green
  mlops endpoint logs diabetes-ep --deployment green --lines 100
  mlops endpoint keys diabetes-ep                 # the only command that prints keys or tokens
  mlops endpoint delete diabetes-ep --yes

Exit codes: 8 unknown endpoint, deployment, model or compute; 14 a rollout stage failed and
traffic was put back as it was; 15 the deployment ended Failed (traffic untouched); 2 bad
--rollout, traffic, --mirror, --compute or sizes, --regenerate without keys; 6 a bad --settings
or --data file; 130 Ctrl-C (stops waiting; a rollout already in a stage puts traffic back first).";

/// `mlops endpoint`.
#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// Create an online endpoint (or update its auth mode; its traffic is kept).
    Create(EndpointCreateArgs),
    /// Show an endpoint: state, auth mode, scoring URI, traffic, deployments (never its keys).
    Show(EndpointNameArgs),
    /// List the workspace's online endpoints.
    List(EndpointListArgs),
    /// Delete an endpoint and its deployments.
    Delete(EndpointDeleteArgs),
    /// Print the endpoint's keys (an aml_token endpoint's token), or regenerate a key.
    Keys(EndpointKeysArgs),
    /// Deploy a workspace model to an endpoint, optionally in safe-rollout stages.
    #[command(after_help = ENDPOINT_DEPLOY_EXAMPLES)]
    Deploy(EndpointDeployArgs),
    /// Set live (and mirrored) traffic: DEPLOYMENT=PERCENT, summing to 100.
    Traffic(EndpointTrafficArgs),
    /// Send a request file to the scoring URI and print the answer.
    Invoke(EndpointInvokeArgs),
    /// Print a deployment's container log.
    Logs(EndpointLogsArgs),
}

const ENDPOINT_DEPLOY_EXAMPLES: &str = "\
Examples:
  mlops endpoint deploy ep --deployment blue --model models:/diabetes@champion
  mlops endpoint deploy ep --deployment green --model models:/diabetes/4 --rollout 10,50,100
  mlops endpoint deploy ep --deployment blue --model models:/diabetes/4 \\
      --image myacr.azurecr.io/diabetes:4 --settings deploy/settings.yml

Without --image the MLflow model asset is deployed without code; with it, the container built by
`mlops image build` serves it (liveness /health, readiness /ready, scoring /score on --port).
--settings takes az ml's deployment YAML keys: environment_variables, request_settings
(request_timeout_ms, max_concurrent_requests_per_instance, max_queue_wait_ms), liveness_probe and
readiness_probe (initial_delay, period, timeout, success_threshold, failure_threshold).
--rollout 10,50,100 deploys with no traffic, then per stage smoke-tests the new deployment alone
(azureml-model-deployment header) and gives it that percent, the rest split among the deployments
that had traffic; any failure puts traffic back as it was and exits 14. A deployment that ends
Failed exits 15 and leaves traffic untouched.";

/// An endpoint name.
#[derive(Debug, Args)]
pub struct EndpointNameArgs {
    /// Endpoint name.
    pub name: String,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}

/// `mlops endpoint list`.
#[derive(Debug, Args)]
pub struct EndpointListArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}

/// How callers of an endpoint authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EndpointAuthArg {
    /// Keys from `mlops endpoint keys`.
    Key,
    /// Azure ML tokens that expire.
    #[value(name = "aml_token")]
    AmlToken,
}

/// Where an endpoint's deployments run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EndpointKindArg {
    Managed,
    Kubernetes,
}

/// `mlops endpoint create`.
#[derive(Debug, Args)]
pub struct EndpointCreateArgs {
    /// Endpoint name (unique in the region).
    pub name: String,
    /// How scoring callers authenticate (`--auth` is taken: it picks how mlops signs in to Azure).
    #[arg(long, value_enum, default_value_t = EndpointAuthArg::Key)]
    pub auth_mode: EndpointAuthArg,
    #[arg(long, value_enum, default_value_t = EndpointKindArg::Managed)]
    pub kind: EndpointKindArg,
    /// The attached Kubernetes compute (with --kind kubernetes).
    #[arg(long, value_name = "AKS_NAME", required_if_eq("kind", "kubernetes"))]
    pub compute: Option<String>,
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}

/// `mlops endpoint delete`.
#[derive(Debug, Args)]
pub struct EndpointDeleteArgs {
    /// Endpoint name.
    pub name: String,
    /// Delete without asking (required when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}

/// Which endpoint key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EndpointKeyArg {
    Primary,
    Secondary,
}

/// `mlops endpoint keys`.
#[derive(Debug, Args)]
pub struct EndpointKeysArgs {
    /// Endpoint name.
    pub name: String,
    /// Replace this key with a new random one first.
    #[arg(long, value_enum, value_name = "KEY")]
    pub regenerate: Option<EndpointKeyArg>,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}

/// `mlops endpoint deploy`.
#[derive(Debug, Args)]
pub struct EndpointDeployArgs {
    /// Endpoint name.
    pub name: String,
    /// Deployment name (blue, green, …).
    #[arg(long, value_name = "NAME")]
    pub deployment: String,
    /// A model asset of the workspace: models:/NAME@ALIAS or models:/NAME/VERSION.
    #[arg(long, value_name = "MODEL")]
    pub model: String,
    /// VM size of a managed endpoint (default Standard_DS3_v2); on a Kubernetes endpoint an
    /// instance type the cluster defines (default: the cluster's default instance type).
    #[arg(long, value_name = "SKU")]
    pub instance_type: Option<String>,
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub instance_count: u32,
    /// The scoring container built by `mlops image build` (default: no-code MLflow deployment).
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// The port `mlops serve` listens on in --image.
    #[arg(long, value_name = "PORT", default_value_t = 5001, requires = "image")]
    pub port: u16,
    /// YAML or JSON: environment_variables, request_settings, liveness_probe, readiness_probe.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// Safe rollout stages, percents of live traffic, increasing and ending at 100 (e.g. 10,50,100).
    #[arg(long, value_name = "P1,P2,…,100")]
    pub rollout: Option<String>,
    /// Seconds each rollout stage's smoke test waits for the deployment to answer.
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    pub smoke_timeout: f64,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}

/// `mlops endpoint traffic`.
#[derive(Debug, Args)]
pub struct EndpointTrafficArgs {
    /// Endpoint name.
    pub name: String,
    /// DEPLOYMENT=PERCENT, summing to 100.
    #[arg(value_name = "DEPLOYMENT=PERCENT", required = true)]
    pub traffic: Vec<String>,
    /// DEPLOYMENT=PERCENT copied to one deployment without live traffic (at most 50).
    #[arg(long, value_name = "DEPLOYMENT=PERCENT")]
    pub mirror: Vec<String>,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}

/// `mlops endpoint invoke`.
#[derive(Debug, Args)]
pub struct EndpointInvokeArgs {
    /// Endpoint name.
    pub name: String,
    /// The request body (JSON), sent as is.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Send to this deployment whatever the traffic (azureml-model-deployment).
    #[arg(long, value_name = "NAME")]
    pub deployment: Option<String>,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}

/// Which container of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogContainerArg {
    InferenceServer,
    StorageInitializer,
}

/// `mlops endpoint logs`.
#[derive(Debug, Args)]
pub struct EndpointLogsArgs {
    /// Endpoint name.
    pub name: String,
    #[arg(long, value_name = "NAME")]
    pub deployment: String,
    /// The last N lines.
    #[arg(long, value_name = "N")]
    pub lines: Option<u32>,
    #[arg(long, value_enum, default_value_t = LogContainerArg::InferenceServer)]
    pub container: LogContainerArg,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}
