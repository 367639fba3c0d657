//! The `mlops` binary: parse the command line, run it, turn the outcome into an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = mlops::cli::Cli::parse();
    mlops::logging::init(cli.global.verbose, cli.global.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(mlops::exit::INTERNAL);
        }
    };
    match runtime.block_on(mlops::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            mlops::exit::report(&err);
            ExitCode::from(mlops::exit::code_for(&err))
        }
    }
}
