//! `mlops init`.

use anyhow::Context;

use crate::cli::{GlobalArgs, InitArgs};
use crate::exit;
use crate::init::{Action, InitReport, init};
use crate::output;

pub fn run(args: &InitArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let report = init(&args.dir, &args.name, args.force, args.dry_run)
        .with_context(|| format!("cannot write a project into {}", args.dir.display()))?;
    output::emit(global.output, &report, || render(&report))?;
    Ok(exit::OK)
}

fn render(report: &InitReport) -> String {
    let verb = |action: Action| match (action, report.dry_run) {
        (Action::Create, false) => "created",
        (Action::Create, true) => "would create",
        (Action::Overwrite, false) => "overwrote",
        (Action::Overwrite, true) => "would overwrite",
        (Action::Unchanged, _) => "unchanged",
        (Action::Keep, _) => "kept (differs; --force overwrites)",
    };
    let n = &report.names;
    let mut text = format!(
        "project {} in {} (model {}, pipeline {}, Azure base name {})\n\n",
        n.name, report.dir, n.model, n.pipeline, n.base_name
    );
    for file in &report.files {
        text.push_str(&format!("  {:<68} {}\n", file.path, verb(file.action)));
    }
    text.push('\n');
    text.push_str(&match (report.written, report.dry_run) {
        (0, _) => {
            format!("nothing to write: all {} files exist (--force overwrites those that differ)\n", report.files.len())
        }
        (w, true) => format!("dry run: {w} files would be written\n"),
        (w, false) => {
            format!("wrote {w} files. Next: cd {} && mlops pipeline run pipelines/{}.yml\n", report.dir, n.name)
        }
    });
    text
}
