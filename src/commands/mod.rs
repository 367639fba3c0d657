//! Command handlers: each turns parsed arguments into settings, calls the domain, prints the result.

mod azureml;
mod connect;
mod data;
mod docs;
mod endpoint;
mod image;
mod infra;
mod infra_build;
mod infra_common;
mod infra_restore;
mod infra_stack;
mod init;
mod model;
mod pipeline;
mod predict;
mod reproduce;
mod runs;
mod serve;
mod signals;
mod smoke_test;
mod train;

use crate::cli::{Cli, Command};

/// Runs the parsed command; returns the exit code of a completed command.
pub async fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    let global = &cli.global;
    match &cli.command {
        Command::Train(args) => train::run(args, global).await,
        Command::Predict(args) => predict::run(args, global).await,
        Command::Image(command) => image::run(command, global).await,
        Command::Runs(command) => runs::run(command, global).await,
        Command::Model(command) => model::run(command, global).await,
        Command::Infra(command) => infra::run(command, global).await,
        Command::Serve(args) => serve::run(args, global).await,
        Command::SmokeTest(args) => smoke_test::run(args, global).await,
        Command::Data(command) => data::run(command, global).await,
        Command::Pipeline(command) => pipeline::run(command, global).await,
        Command::Endpoint(command) => endpoint::run(command, global).await,
        Command::Reproduce(args) => reproduce::run(args, global).await,
        Command::Init(args) => init::run(args, global),
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args, global),
    }
}
