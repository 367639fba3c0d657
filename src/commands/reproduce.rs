//! `mlops reproduce`.

use anyhow::Context;

use crate::cli::{GlobalArgs, ReproduceArgs};
use crate::data::registry::DatasetRegistry;
use crate::exit;
use crate::output;
use crate::reproduce::{BlobAccess, LogRun, Outcome, ReproduceReport, ReproduceRequest, Target, reproduce};
use crate::secret::Secret;
use crate::settings;
use crate::tracking::TrackingUri;

pub async fn run(args: &ReproduceArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let project = settings::project_file()?;
    let target = Target::parse(&args.target)?;
    let tracking = settings::resolve_store(&args.store, &project)?;
    let tracker = super::connect::tracker(&tracking)?;
    // Registered dataset versions live beside the local store (the journal, for a server).
    let datasets = match &tracking.uri {
        TrackingUri::Local(root) => DatasetRegistry::for_store(root),
        _ => DatasetRegistry::for_store(&tracking.local_store),
    };
    let log = args.log.then(|| LogRun {
        experiment: args
            .experiment
            .clone()
            .or_else(|| project.tracking.experiment.clone())
            .unwrap_or_else(|| settings::DEFAULT_EXPERIMENT.to_string()),
        provenance: crate::tracking::provenance::detect(settings::user(), settings::lineage_overrides()),
    });
    if let Some(log) = &log {
        super::train::warn_if_dirty(&log.provenance.code, global.quiet);
    }
    let request = ReproduceRequest {
        target,
        data: args.data.clone(),
        blob: BlobAccess {
            connection_string: args.storage_connection_string.clone().map(Secret::new),
            sas: args.datastore_sas.clone().map(Secret::new),
        },
        datasets,
        cache: settings::cache_dir(),
        mlops_version: env!("CARGO_PKG_VERSION").to_string(),
        build_target: crate::tracking::provenance::BUILD_TARGET.to_string(),
        log,
    };
    let report = reproduce(&tracker, &request).await.with_context(|| format!("cannot reproduce {}", args.target))?;
    for warning in &report.warnings {
        output::note(global.quiet, format!("warning: {warning}"));
    }
    output::emit(global.output, &report, || render(&report))?;
    Ok(match report.outcome {
        Outcome::Identical => exit::OK,
        Outcome::Different => exit::NOT_REPRODUCED,
        Outcome::InputChanged => exit::REPRODUCTION_INPUT,
    })
}

fn render(report: &ReproduceReport) -> String {
    let mut text = format!("run     {}", report.run_id);
    if let Some(model) = &report.model {
        text.push_str(&format!(" (model {} version {})", model.name, model.version));
    }
    if let Some(parent) = &report.pipeline_run_id {
        text.push_str(&format!(" (training step of pipeline run {parent})"));
    }
    if let Some(p) = &report.params {
        let size = serde_json::to_value(p).map(|v| v["test_size"].to_string()).unwrap_or_default();
        text.push_str(&format!(
            "\nparams  alpha {:?}, test_size {size}, seed {}, target {}",
            p.alpha, p.seed, p.target
        ));
    }
    if let Some(data) = &report.data {
        text.push_str(&format!("\ndata    {} (sha256 {}, as recorded)", data.source, data.sha256));
    }
    let l = &report.lineage;
    text.push_str(&format!(
        "\ncode    mlops {} (recorded {}), commit {}{}",
        l.mlops_version,
        l.recorded_mlops_version.as_deref().unwrap_or("unknown"),
        l.git_commit.as_deref().unwrap_or("unknown"),
        if l.git_dirty == Some(true) { " with uncommitted changes" } else { "" },
    ));
    if let Some(run) = &report.reproduction_run_id {
        text.push_str(&format!("\nlogged  run {run}"));
    }
    if let Some(c) = &report.comparison {
        if c.identical {
            text.push_str(&format!(
                "\n\nIDENTICAL: all {} numbers (coefficients, intercept, test metrics) are bit for bit the same",
                c.values.len()
            ));
        } else if let Some(features) = &c.features_differ {
            text.push_str(&format!("\n\nDIFFERENT: {features}"));
        } else {
            let at = c.max_difference_at.as_deref().unwrap_or("-");
            let worst = c.values.iter().find(|v| v.name == at);
            text.push_str(&format!(
                "\n\nDIFFERENT: {} of {} numbers differ; largest difference {:e} at {at}",
                c.values.iter().filter(|v| !v.identical).count(),
                c.values.len(),
                c.max_difference,
            ));
            if let Some(v) = worst {
                text.push_str(&format!(" (recorded {:?}, reproduced {:?})", v.recorded, v.reproduced));
            }
        }
    }
    if !report.problems.is_empty() {
        text.push_str("\n\nNOT REPRODUCIBLE AS RECORDED: an input is missing or changed");
        for p in &report.problems {
            text.push_str(&format!("\n  {}: {}", p.kind, p.message));
        }
    }
    text.push('\n');
    text
}
