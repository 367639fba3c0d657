//! `mlops completions` and `mlops man`: shell completion scripts and man pages, generated from the
//! same clap definitions that parse the command line, so they cannot fall behind it.

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;
use serde::Serialize;

use crate::cli::{Cli, CompletionsArgs, GlobalArgs, ManArgs};
use crate::exit;
use crate::output;

pub fn completions(args: &CompletionsArgs) -> anyhow::Result<u8> {
    use std::io::Write;
    let mut command = Cli::command();
    // clap_complete panics when its writer fails; a buffer cannot, and stdout errors stay ours.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "mlops", &mut script);
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&script).and_then(|()| stdout.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err).context("cannot write to stdout"),
        _ => Ok(exit::OK),
    }
}

/// What `mlops man` wrote, in `--output json`.
#[derive(Debug, Serialize)]
struct ManReport {
    dir: String,
    pages: Vec<String>,
}

pub fn man(args: &ManArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut command = Cli::command();
    command.build();
    let mut pages = Vec::new();
    write_pages(&command, &args.out, &mut pages)?;
    let report = ManReport { dir: args.out.display().to_string(), pages };
    output::emit(global.output, &report, || format!("wrote {} man pages to {}\n", report.pages.len(), report.dir))?;
    Ok(exit::OK)
}

/// Writes `NAME.1` for `command`, then one page for each visible subcommand, recursively. A built
/// command's subcommands have display names like `mlops-model-register`, which name their pages.
fn write_pages(command: &clap::Command, dir: &Path, pages: &mut Vec<String>) -> anyhow::Result<()> {
    let name = command.get_display_name().unwrap_or_else(|| command.get_name());
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page).context("cannot render a man page")?;
    let file = format!("{name}.1");
    let path = dir.join(&file);
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    pages.push(file);
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        write_pages(sub, dir, pages)?;
    }
    Ok(())
}
