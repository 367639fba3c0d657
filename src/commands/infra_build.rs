//! `mlops infra build`: compile a .bicep file to an ARM template with the native compiler.

use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;

use crate::cli::{GlobalArgs, InfraBuildArgs};
use crate::exit;
use crate::infra::bicep;
use crate::output;

#[derive(Debug, Serialize)]
struct BuildResult {
    input: PathBuf,
    output: PathBuf,
    resources: usize,
    bytes: usize,
    /// What `bicep build` would also warn about (the template is written all the same).
    warnings: Vec<bicep::Warning>,
}

pub async fn run(args: &InfraBuildArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    if !args.no_restore {
        super::infra_restore::restore(&args.file, false, &args.registry, &args.azure).await?;
    }
    let bicep::Compiled { template, warnings } = bicep::build_file(&args.file)?;
    output::note_each(global.quiet, &warnings);
    let text = bicep::to_pretty_json(&template);
    if args.stdout {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.context("writing the template to stdout")?,
        }
        return Ok(exit::OK);
    }
    let out = args.outfile.clone().unwrap_or_else(|| args.file.with_extension("json"));
    std::fs::write(&out, &text).with_context(|| format!("writing {}", out.display()))?;
    let result = BuildResult {
        input: args.file.clone(),
        output: out,
        resources: template["resources"].as_array().map_or(0, Vec::len),
        bytes: text.len(),
        warnings,
    };
    output::emit(global.output, &result, || {
        format!(
            "compiled {} -> {} ({} top-level resources)",
            result.input.display(),
            result.output.display(),
            result.resources
        )
    })?;
    Ok(exit::OK)
}
