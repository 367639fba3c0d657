//! `mlops data profile | validate | register | list | show`.

use anyhow::Context;

use crate::cli::{DataCommand, DataRegisterArgs, DataValidateArgs, DatasetStoreArgs, GlobalArgs};
use crate::data::datastore::{datastore_client, upload_dataset};
use crate::data::profile::{DataProfile, profile_file, read_profile};
use crate::data::read_columns;
use crate::data::registry::{DatasetRef, DatasetRegistry, DatasetVersion};
use crate::data::validate::{CheckStatus, ValidateOptions, ValidationReport, validate};
use crate::error_kind::UsageError;
use crate::exit;
use crate::output;
use crate::progress::ReadProgressBar;
use crate::secret::Secret;
use crate::settings;

pub async fn run(command: &DataCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    match command {
        DataCommand::Profile(args) => {
            let mut progress = ReadProgressBar::new(global.quiet, &args.data);
            let profile = profile_file(&args.data, &settings::read_options(&args.read), &mut progress)?;
            if let Some(out) = &args.out {
                let text = serde_json::to_string_pretty(&profile)?;
                std::fs::write(out, text + "\n").with_context(|| format!("cannot write {}", out.display()))?;
                output::note(global.quiet, format!("profile written to {}", out.display()));
            }
            output::emit(global.output, &profile, || render_profile(&profile))?;
            Ok(exit::OK)
        }
        DataCommand::Validate(args) => validate_command(args, global),
        DataCommand::Register(args) => register(args, global).await,
        DataCommand::List(args) => {
            let registry = registry(&args.store)?;
            let mut latest = Vec::new();
            for name in registry.names()? {
                if let Some(version) = registry.versions(&name)?.pop() {
                    latest.push(version);
                }
            }
            output::emit(global.output, &latest, || {
                let rows: Vec<Vec<String>> = latest
                    .iter()
                    .map(|d| vec![d.name.clone(), d.version.to_string(), d.digest.clone(), d.created_at.clone()])
                    .collect();
                if rows.is_empty() {
                    format!("no datasets registered in {}", registry.root().display())
                } else {
                    output::table(&["NAME", "LATEST", "DIGEST", "CREATED"], &rows)
                }
            })?;
            Ok(exit::OK)
        }
        DataCommand::Show(args) => {
            let dataset = registry(&args.store)?.get(&DatasetRef::parse(&args.dataset)?)?;
            output::emit(global.output, &dataset, || render_dataset(&dataset))?;
            Ok(exit::OK)
        }
    }
}

fn validate_command(args: &DataValidateArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    if !(args.tolerance.is_finite() && args.tolerance >= 0.0) {
        return Err(UsageError(format!("--tolerance must be a finite number >= 0, got {}", args.tolerance)).into());
    }
    let options = ValidateOptions { tolerance: args.tolerance, min_rows: args.min_rows, max_rows: args.max_rows };
    let mut progress = ReadProgressBar::new(global.quiet, &args.data);
    let table = read_columns(&args.data, &settings::read_options(&args.read), &mut progress)?;
    let profile: Option<DataProfile> = args.profile.as_deref().map(read_profile).transpose()?;
    let reference = profile.as_ref().zip(args.profile.as_ref().map(|p| p.display().to_string()));
    let report = validate(&table, reference, &options);
    output::emit(global.output, &report, || render_report(&report))?;
    Ok(if report.passed { exit::OK } else { exit::DATA_CHECK_FAILED })
}

async fn register(args: &DataRegisterArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let registry = registry(&args.store)?;
    let client = match &args.datastore {
        Some(dest) => Some(datastore_client(
            dest,
            args.storage_connection_string.clone().map(Secret::new).as_ref(),
            args.datastore_sas.clone().map(Secret::new).as_ref(),
        )?),
        None => None,
    };
    let mut registration = registry.register(&args.name, &args.data, args.description.as_deref())?;
    if let Some(client) = client {
        let url = upload_dataset(&client, &registration.dataset).await?;
        if registration.dataset.blob_url.as_deref() != Some(url.as_str()) {
            registration.dataset = registry.set_blob_url(&registration.dataset, &url)?;
        }
    }
    output::emit(global.output, &registration, || {
        let what = if registration.created { "registered" } else { "unchanged (same content as the latest version)" };
        format!("{what}\n{}", render_dataset(&registration.dataset))
    })?;
    Ok(exit::OK)
}

fn registry(args: &DatasetStoreArgs) -> anyhow::Result<DatasetRegistry> {
    let project = settings::project_file()?;
    Ok(DatasetRegistry::for_store(&settings::local_store_path(args.local_store.as_deref(), &project)))
}

fn render_dataset(d: &DatasetVersion) -> String {
    format!(
        "dataset      {}:{}\nsha256       {}\ndescription  {}\ncreated      {}\nfile         {}\nregistered   {}\nblob         {}\n",
        d.name,
        d.version,
        d.sha256,
        d.description.as_deref().unwrap_or("-"),
        d.created_at,
        d.path,
        d.original_path,
        d.blob_url.as_deref().unwrap_or("-"),
    )
}

fn render_profile(p: &DataProfile) -> String {
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.6}"));
    let rows: Vec<Vec<String>> = p
        .columns
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.dtype.clone(),
                c.count.to_string(),
                c.missing.to_string(),
                fmt(c.mean),
                fmt(c.std),
                fmt(c.min),
                fmt(c.max),
            ]
        })
        .collect();
    format!(
        "{} rows of {}\n\n{}",
        p.rows,
        p.source,
        output::table(&["COLUMN", "TYPE", "COUNT", "MISSING", "MEAN", "STD", "MIN", "MAX"], &rows)
    )
}

fn render_report(r: &ValidationReport) -> String {
    let mut text = String::new();
    for check in r.checks.iter().filter(|c| c.status != CheckStatus::Pass) {
        let tag = if check.status == CheckStatus::Fail { "FAIL" } else { "skip" };
        text.push_str(&format!("{tag}  {:<15} {}\n", check.check, check.message));
    }
    let passed = r.checks.iter().filter(|c| c.status == CheckStatus::Pass).count();
    text.push_str(&format!(
        "{}: {} of {} checks passed, {} failed ({} rows of {})\n",
        if r.passed { "PASSED" } else { "FAILED" },
        passed,
        r.checks.len(),
        r.failed,
        r.rows,
        r.data
    ));
    text
}
