//! How batch predictions are written, a batch at a time so that nothing grows with the rows: CSV
//! `row_id,prediction,model_version`, or a JSON document whose `predictions` array is streamed.

use std::io::Write;

use super::predict::Batch;

/// The CSV header of `mlops predict`'s output.
pub const CSV_COLUMNS: [&str; 3] = ["row_id", "prediction", "model_version"];

/// Writes predictions as CSV rows, each with its row id and the model version.
pub struct CsvWriter<W: Write> {
    out: W,
    version: String,
}

impl<W: Write> CsvWriter<W> {
    /// Writes the header; `model_version` is repeated on every row.
    pub fn new(mut out: W, model_version: &str) -> std::io::Result<Self> {
        writeln!(out, "{}", CSV_COLUMNS.join(","))?;
        Ok(CsvWriter { out, version: csv_field(model_version) })
    }

    pub fn write(&mut self, batch: &Batch<'_>) -> std::io::Result<()> {
        for (i, p) in batch.predictions.iter().enumerate() {
            match batch.ids.get(i) {
                Some(id) => write!(self.out, "{},", csv_field(id))?,
                None => write!(self.out, "{},", batch.first_row + i)?,
            }
            // `{:?}` is the shortest text that reads back as the same f64.
            writeln!(self.out, "{p:?},{}", self.version)?;
        }
        Ok(())
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Writes `{"model": …, "model_version": …, "id_column": …, "predictions": [{"row_id": …,
/// "prediction": …}, …], "rows": N}`, the array streamed as the batches come.
pub struct JsonWriter<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> JsonWriter<W> {
    pub fn new(mut out: W, model: &str, model_version: &str, id_column: Option<&str>) -> std::io::Result<Self> {
        let head = serde_json::json!({"model": model, "model_version": model_version, "id_column": id_column});
        let head = serde_json::to_string(&head)?;
        // The object without its closing brace, to which the streamed fields are added.
        write!(out, "{},\"predictions\":[", &head[..head.len() - 1])?;
        Ok(JsonWriter { out, first: true })
    }

    pub fn write(&mut self, batch: &Batch<'_>) -> std::io::Result<()> {
        for (i, p) in batch.predictions.iter().enumerate() {
            let comma = if std::mem::take(&mut self.first) { "" } else { "," };
            let id = match batch.ids.get(i) {
                Some(id) => serde_json::to_string(id)?,
                None => (batch.first_row + i).to_string(),
            };
            // JSON has no infinity: an overflowing prediction is null, as serde_json writes it.
            let p = if p.is_finite() { format!("{p:?}") } else { "null".to_string() };
            write!(self.out, "{comma}{{\"row_id\":{id},\"prediction\":{p}}}")?;
        }
        Ok(())
    }

    /// Closes the document with the row count.
    pub fn finish(mut self, rows: usize) -> std::io::Result<W> {
        writeln!(self.out, "],\"rows\":{rows}}}")?;
        Ok(self.out)
    }
}

/// A CSV field, quoted when it holds a separator, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_carry_ids_and_the_version() {
        let mut w = CsvWriter::new(Vec::new(), "3").expect("header");
        w.write(&Batch { first_row: 5, ids: &[], predictions: &[1.5, 0.1] }).expect("write");
        let ids = ["a,b".to_string(), "c".to_string()];
        w.write(&Batch { first_row: 7, ids: &ids, predictions: &[2.0, -1e-300] }).expect("write");
        let text = String::from_utf8(w.into_inner()).expect("utf-8");
        assert_eq!(text, "row_id,prediction,model_version\n5,1.5,3\n6,0.1,3\n\"a,b\",2.0,3\nc,-1e-300,3\n");
    }

    #[test]
    fn json_is_one_valid_document() {
        let mut w = JsonWriter::new(Vec::new(), "models:/m@champion", "2", None).expect("head");
        w.write(&Batch { first_row: 0, ids: &[], predictions: &[1.0, f64::INFINITY] }).expect("write");
        w.write(&Batch { first_row: 2, ids: &[], predictions: &[3.25] }).expect("write");
        let text = w.finish(3).expect("finish");
        let value: serde_json::Value = serde_json::from_slice(&text).expect("valid JSON");
        assert_eq!(
            value,
            serde_json::json!({"model": "models:/m@champion", "model_version": "2", "id_column": null, "rows": 3,
                "predictions": [{"row_id": 0, "prediction": 1.0}, {"row_id": 1, "prediction": null},
                    {"row_id": 2, "prediction": 3.25}]})
        );
        let ids = ["x\"y".to_string()];
        let mut w = JsonWriter::new(Vec::new(), "m", "v", Some("id")).expect("head");
        w.write(&Batch { first_row: 0, ids: &ids, predictions: &[1.0] }).expect("write");
        let value: serde_json::Value = serde_json::from_slice(&w.finish(1).expect("finish")).expect("valid JSON");
        assert_eq!(value["predictions"][0]["row_id"], "x\"y");
        assert_eq!(value["id_column"], "id");
    }
}
