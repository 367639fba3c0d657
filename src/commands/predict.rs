//! `mlops predict`: batch scoring of a CSV file.

use std::io::Write;

use anyhow::Context;
use serde::Serialize;

use crate::cli::{GlobalArgs, PredictArgs};
use crate::data::read_numeric_csv;
use crate::ml::model;
use crate::output::{self, Format};

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
    let table = read_numeric_csv(&args.data, Some(&model.feature_names))
        .with_context(|| format!("cannot score {} with model {}", args.data.display(), args.model))?;
    let predictions = model.predict(&table.values).to_vec();

    let mut csv_text = String::from("prediction\n");
    for p in &predictions {
        csv_text.push_str(&format!("{p:?}\n"));
    }
    if let Some(out) = &args.out {
        std::fs::write(out, &csv_text).with_context(|| format!("cannot write predictions to {}", out.display()))?;
        output::note(global.quiet, format!("wrote {} predictions to {}", predictions.len(), out.display()));
    }
    let report = PredictReport {
        model: model_dir.display().to_string(),
        rows: predictions.len(),
        predictions,
        out: args.out.as_ref().map(|p| p.display().to_string()),
    };
    match (global.output, &args.out) {
        (Format::Text, None) => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(csv_text.as_bytes())?;
            stdout.flush()?;
        }
        (Format::Text, Some(_)) => {}
        (Format::Json, _) => output::emit(Format::Json, &report, String::new)?,
    }
    Ok(crate::exit::OK)
}
