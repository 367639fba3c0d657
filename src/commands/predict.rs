//! `mlops predict`: batch scoring of a CSV file, streamed from input to output.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::cli::{GlobalArgs, PredictArgs};
use crate::ml::model;
use crate::ml::predict::predict_file;
use crate::output::{self, Format};
use crate::progress::ReadProgressBar;
use crate::settings;

#[derive(Serialize)]
struct PredictReport {
    model: String,
    rows: usize,
    predictions: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    out: Option<String>,
}

pub async fn run(args: &PredictArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let model_dir = super::connect::model(&args.model, &args.store).await?.dir;
    let model = model::load(&model_dir)?;
    // CSV goes to --out (written beside it, renamed when complete) or, in text mode, to stdout.
    let mut file = args.out.as_deref().map(PartialFile::create).transpose()?;
    let mut stdout =
        (global.output == Format::Text && args.out.is_none()).then(|| BufWriter::new(std::io::stdout().lock()));
    let json = global.output == Format::Json;
    let mut collected = Vec::new();
    let write_csv = |w: &mut dyn Write, predictions: &[f64]| -> std::io::Result<()> {
        for p in predictions {
            writeln!(w, "{p:?}")?;
        }
        Ok(())
    };
    for w in
        file.iter_mut().map(|f| &mut f.writer as &mut dyn Write).chain(stdout.iter_mut().map(|w| w as &mut dyn Write))
    {
        writeln!(w, "prediction")?;
    }
    let mut progress = ReadProgressBar::new(global.quiet, &args.data);
    let rows = predict_file(&model, &args.data, &settings::read_options(&args.read), &mut progress, |predictions| {
        if let Some(f) = &mut file {
            write_csv(&mut f.writer, predictions).with_context(|| format!("cannot write {}", f.path.display()))?;
        }
        if let Some(w) = &mut stdout {
            write_csv(w, predictions)?;
        }
        if json {
            collected.extend_from_slice(predictions);
        }
        anyhow::Ok(())
    })
    .with_context(|| format!("cannot score {} with model {}", args.data.display(), args.model))?;
    if let Some(w) = &mut stdout {
        w.flush()?;
    }
    if let Some(f) = file {
        let path = f.finish()?;
        output::note(global.quiet, format!("wrote {rows} predictions to {}", path.display()));
    }
    if json {
        let report = PredictReport {
            model: model_dir.display().to_string(),
            rows,
            predictions: collected,
            out: args.out.as_ref().map(|p| p.display().to_string()),
        };
        output::emit(Format::Json, &report, String::new)?;
    }
    Ok(crate::exit::OK)
}

/// An output file written under a temporary name and renamed into place when complete, so a
/// failed run never leaves half a file behind.
struct PartialFile {
    path: PathBuf,
    partial: PathBuf,
    writer: BufWriter<std::fs::File>,
}

impl PartialFile {
    fn create(path: &Path) -> anyhow::Result<Self> {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".partial");
        let partial = path.with_file_name(name);
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("cannot write predictions to {}", path.display()))?;
        Ok(PartialFile { path: path.to_path_buf(), partial, writer: BufWriter::new(file) })
    }

    fn finish(mut self) -> anyhow::Result<PathBuf> {
        self.writer.flush().with_context(|| format!("cannot write predictions to {}", self.path.display()))?;
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
