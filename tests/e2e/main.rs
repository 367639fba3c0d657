//! End-to-end tests: the real `mlops` binary against real peers (scikit-learn, the MLflow client).
//!
//! One test binary with a module per area keeps link times down. The Python peers come from the
//! virtualenv that `scripts/test.sh` installs (or `MLOPS_TEST_PYTHON`).

mod architecture;
mod azureml;
mod azureml_artifacts;
mod batch_score;
mod bicep;
mod bicep_avm;
mod bicep_registry;
mod bicep_template_specs;
mod cicd;
mod completions;
mod conformance;
mod data;
mod docs;
mod endpoints;
mod endpoints_cli;
mod fault_proxy;
mod faults;
mod image;
mod infra;
mod infra_auth;
mod infra_environment;
mod infra_inputs;
mod infra_stacks;
mod init;
mod inputs;
mod kill9;
mod mlflow_server;
mod notebooks;
mod online_endpoints;
mod online_scoring;
mod pipeline;
mod predict;
mod registry;
mod reproduce;
mod runs;
mod secrets;
mod serve;
mod servers;
mod smoke_test;
mod standin;
mod standin_script;
mod support;
mod tracking;
mod tracking_azureml;
mod train;
mod train_errors;
mod train_scale;
mod watch;
