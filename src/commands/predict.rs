//! `mlops predict`: batch scoring of a CSV file, streamed from input to output.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;

use crate::azure::blob::BlobContainerClient;
use crate::cli::{GlobalArgs, PredictArgs};
use crate::data::datastore::{LocationFlags, container_client, split_blob_location, without_query};
use crate::error_kind::UsageError;
use crate::ml::model;
use crate::ml::predict::predict_file;
use crate::ml::predictions::{CSV_COLUMNS, CsvWriter, JsonWriter};
use crate::output::{self, Format};
use crate::progress::ReadProgressBar;
use crate::registry::ResolvedModel;
use crate::secret::Secret;
use crate::settings;

/// The `-o json` report when the predictions went to `--out`: counts and places, never the
/// predictions themselves (a 10M-row file must not become a 10M-element document).
#[derive(Serialize)]
struct PredictReport {
    model: String,
    model_version: String,
    id_column: Option<String>,
    rows: usize,
    out: String,
    columns: [&'static str; 3],
}

pub async fn run(args: &PredictArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let resolved = super::connect::model(&args.model, &args.store).await?;
    let version = model_version(&resolved);
    let model = model::load(&resolved.dir)?;
    let destination = args.out.as_deref().map(|out| Destination::parse(out, args)).transpose()?;
    let mut progress = ReadProgressBar::new(global.quiet, &args.data);
    let options = settings::read_options(&args.read);
    let id_column = args.id_column.as_deref();
    let scoring = || format!("cannot score {} with model {}", args.data.display(), args.model);
    let Some(destination) = destination else {
        let stdout = BufWriter::new(std::io::stdout().lock());
        if global.output == Format::Json {
            let mut json = JsonWriter::new(stdout, &args.model, &version, id_column)?;
            let rows = predict_file(&model, &args.data, &options, id_column, &mut progress, |batch| {
                json.write(&batch).map_err(anyhow::Error::from)
            })
            .with_context(scoring)?;
            json.finish(rows)?.flush()?;
        } else {
            let mut csv = CsvWriter::new(stdout, &version)?;
            predict_file(&model, &args.data, &options, id_column, &mut progress, |batch| {
                csv.write(&batch).map_err(anyhow::Error::from)
            })
            .with_context(scoring)?;
            csv.into_inner().flush()?;
        }
        return Ok(crate::exit::OK);
    };
    let file = PartialFile::create(destination.local_path())?;
    let mut csv = CsvWriter::new(file.writer()?, &version)?;
    let rows = predict_file(&model, &args.data, &options, id_column, &mut progress, |batch| {
        csv.write(&batch).with_context(|| format!("cannot write {}", file.partial.display()))
    })
    .with_context(scoring)?;
    csv.into_inner().flush().with_context(|| format!("cannot write {}", file.partial.display()))?;
    let shown = destination.finish(file).await?;
    output::note(global.quiet, format!("wrote {rows} predictions to {shown}"));
    if global.output == Format::Json {
        let report = PredictReport {
            model: args.model.clone(),
            model_version: version,
            id_column: args.id_column.clone(),
            rows,
            out: shown,
            columns: CSV_COLUMNS,
        };
        output::emit(Format::Json, &report, String::new)?;
    }
    Ok(crate::exit::OK)
}

/// The version written with each prediction: the registry version a `models:/` URI resolved to,
/// the run id of a `runs:/` URI; for a directory, the run its `MLmodel` records, else the
/// directory as given.
fn model_version(resolved: &ResolvedModel) -> String {
    resolved.version.clone().or_else(|| model::recorded_run_id(&resolved.dir)).unwrap_or_else(|| resolved.name.clone())
}

/// Where `--out` sends the predictions.
enum Destination {
    /// A local file, written beside itself and renamed into place.
    File(PathBuf),
    /// A blob, written to a local temporary file first and uploaded once complete.
    Blob { client: BlobContainerClient, name: String, shown: String, temp: tempfile::TempDir },
}

impl Destination {
    fn parse(out: &str, args: &PredictArgs) -> anyhow::Result<Destination> {
        let Some(split) = split_blob_location(out) else {
            return Ok(Destination::File(PathBuf::from(out)));
        };
        let shown = without_query(out).to_string();
        let invalid = |message: String| UsageError(format!("invalid --out {shown:?}: {message}"));
        let (container, name) = split.map_err(invalid)?;
        let connection = args.storage_connection_string.as_deref().map(Secret::new);
        let sas = args.out_sas.as_deref().map(Secret::new);
        let flags = LocationFlags { sas: "--out-sas or MLOPS_PREDICT_OUT_SAS" };
        let client = container_client(&container, connection.as_ref(), sas.as_ref(), &flags).map_err(invalid)?;
        let temp = tempfile::tempdir().context("cannot create a temporary directory for the predictions")?;
        Ok(Destination::Blob { client, name, shown, temp })
    }

    /// The local file the CSV is written to before it reaches its place.
    fn local_path(&self) -> PathBuf {
        match self {
            Destination::File(path) => path.clone(),
            Destination::Blob { temp, .. } => temp.path().join("predictions.csv"),
        }
    }

    /// Puts the complete file in its place; returns where it went, for people and the report.
    async fn finish(self, file: PartialFile) -> anyhow::Result<String> {
        let path = file.finish()?;
        match self {
            Destination::File(path) => Ok(path.display().to_string()),
            Destination::Blob { client, name, shown, temp: _temp } => {
                // A missing container is made when the credential may; a container SAS names one that exists.
                if client.may_create_container() {
                    client.create().await.with_context(|| format!("cannot create the container of {shown}"))?;
                }
                client
                    .upload_file(&name, &path, "text/csv")
                    .await
                    .with_context(|| format!("cannot upload the predictions to {shown}"))?;
                Ok(shown)
            }
        }
    }
}

/// An output file written under a temporary name and renamed into place when complete, so a
/// failed run never leaves half a file behind.
struct PartialFile {
    path: PathBuf,
    partial: PathBuf,
}

impl PartialFile {
    fn create(path: PathBuf) -> anyhow::Result<Self> {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".partial");
        let partial = path.with_file_name(name);
        Ok(PartialFile { path, partial })
    }

    fn writer(&self) -> anyhow::Result<BufWriter<std::fs::File>> {
        // A pipeline's output path may name a folder that does not exist yet.
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot write predictions to {}", self.path.display()))?;
        }
        let file = std::fs::File::create(&self.partial)
            .with_context(|| format!("cannot write predictions to {}", self.path.display()))?;
        Ok(BufWriter::new(file))
    }

    fn finish(self) -> anyhow::Result<PathBuf> {
        std::fs::rename(&self.partial, &self.path)
            .with_context(|| format!("cannot write predictions to {}", self.path.display()))?;
        Ok(self.path.clone())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        // After `finish` the partial file is gone and this fails harmlessly.
        let _ = std::fs::remove_file(&self.partial);
    }
}
