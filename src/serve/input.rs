//! Request bodies → a batch of feature rows in the model's column order, with a 400/413/415
//! error naming the problem for anything else.
//!
//! Three contracts: the reference's `/score` (`{"data": [[f1, …, fn], …]}`, columns by position),
//! Azure ML's MLflow no-code `/score` (`{"input_data": …}`, in `azureml`), and
//! `mlflow models serve`'s `/invocations` (`dataframe_split`, `dataframe_records`, `instances`,
//! `inputs` JSON, or CSV with a header; columns by name, extra columns ignored as MLflow does).

mod azureml;

pub use azureml::{ScoreContract, score_request};

use serde_json::{Map, Value};

use super::error::ApiError;

/// Rows to score: `rows × features` values, row-major, columns in the model's feature order.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub rows: usize,
    pub values: Vec<f64>,
}

/// What a body is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Schema<'a> {
    pub features: &'a [String],
    pub max_rows: usize,
}

/// The kinds of body `/invocations` understands, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Csv,
}

/// The two scoring routes, whose bodies differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/score`: JSON only, `{"data": [[…], …]}`.
    Score,
    /// `/invocations`: MLflow's JSON formats or CSV.
    Invocations,
}

/// A body as its route reads it once its size is known to be within the limit: the batch, or
/// the error the service answers. The server and the fuzz target share this one path.
pub fn parse_request(
    route: Route,
    content_type: Option<&str>,
    body: &[u8],
    schema: Schema<'_>,
) -> Result<Batch, ApiError> {
    let kind = content_kind(content_type, route == Route::Invocations)?;
    match (route, kind) {
        (Route::Score, _) => score_request(&parse_json(body)?, schema).map(|(batch, _)| batch),
        (Route::Invocations, BodyKind::Json) => invocations_json(&parse_json(body)?, schema),
        (Route::Invocations, BodyKind::Csv) => invocations_csv(body, schema),
    }
}

/// Checks a `Content-Type` header: JSON (or CSV when `allow_csv`), UTF-8, no other parameters.
pub fn content_kind(header: Option<&str>, allow_csv: bool) -> Result<BodyKind, ApiError> {
    let accepted = if allow_csv { "application/json or text/csv" } else { "application/json" };
    let Some(header) = header else {
        return Err(ApiError::unsupported_media_type(format!("missing Content-Type: send {accepted}")));
    };
    let mut parts = header.split(';').map(str::trim);
    let mime = parts.next().unwrap_or_default().to_ascii_lowercase();
    for param in parts.filter(|p| !p.is_empty()) {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        if !key.trim().eq_ignore_ascii_case("charset") {
            return Err(ApiError::unsupported_media_type(format!(
                "unrecognized Content-Type parameter {:?} in {header:?}",
                key.trim()
            )));
        }
        if !value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8") {
            return Err(ApiError::unsupported_media_type(format!(
                "unsupported charset in {header:?}: only UTF-8 is accepted"
            )));
        }
    }
    match mime.as_str() {
        "application/json" => Ok(BodyKind::Json),
        "text/csv" if allow_csv => Ok(BodyKind::Csv),
        _ => Err(ApiError::unsupported_media_type(format!("unsupported Content-Type {header:?}: send {accepted}"))),
    }
}

/// Parses a JSON body, saying "non-finite" rather than "syntax error" for `NaN`/`Infinity`.
/// A key given twice is refused (which value would count is anyone's guess: Python keeps the
/// last, other parsers the first), as in every JSON file mlops reads.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    crate::decode::json_bytes(body).map_err(|err| {
        let at = offset_of(body, err.line, err.column);
        // serde_json points at or just past the offending byte, depending on the error.
        let non_finite = [at, at.saturating_sub(1)].iter().find_map(|&start| {
            let rest = body.get(start..).unwrap_or_default();
            ["NaN", "Infinity", "-Infinity"].iter().find(|token| rest.starts_with(token.as_bytes()))
        });
        match non_finite {
            Some(token) => ApiError::bad_request(format!(
                "non-finite value {token} at line {} column {}: features must be finite numbers",
                err.line, err.column
            )),
            None => ApiError::bad_request(format!(
                "malformed JSON: {} at line {} column {}",
                err.message, err.line, err.column
            )),
        }
    })
}

fn offset_of(body: &[u8], line: usize, column: usize) -> usize {
    let line_start = body.split(|b| *b == b'\n').take(line.saturating_sub(1)).map(|l| l.len() + 1).sum::<usize>();
    line_start + column.saturating_sub(1)
}

/// The reference's contract: `{"data": [[f1, …, fn], …]}`, features by position.
pub fn score_body(doc: &Value, schema: Schema<'_>) -> Result<Batch, ApiError> {
    let n = schema.features.len();
    let expected = || format!("expected {{\"data\": [[{n} feature values], …]}}");
    let Some(object) = doc.as_object() else {
        return Err(ApiError::bad_request(format!("the body is {}, {}", kind_of(doc), expected())));
    };
    let Some(data) = object.get("data") else {
        return Err(ApiError::bad_request(format!("missing \"data\": {}", expected())));
    };
    let Some(rows) = data.as_array() else {
        return Err(ApiError::bad_request(format!("\"data\" is {}, {}", kind_of(data), expected())));
    };
    check_rows(rows.len(), "\"data\"", schema)?;
    let mut values = Vec::with_capacity(rows.len() * n);
    for (i, row) in rows.iter().enumerate() {
        positional_row(row, &format!("data[{i}]"), schema.features, &mut values)?;
    }
    Ok(Batch { rows: rows.len(), values })
}

/// `mlflow models serve`'s JSON contract.
pub fn invocations_json(doc: &Value, schema: Schema<'_>) -> Result<Batch, ApiError> {
    const FORMATS: [&str; 4] = ["dataframe_split", "dataframe_records", "instances", "inputs"];
    let object = match doc {
        Value::Object(object) => object,
        Value::Array(_) => {
            return Err(ApiError::bad_request(format!(
                "the body must be a JSON object with one of the keys {FORMATS:?}; received a list"
            )));
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "the body must be a JSON object with one of the keys {FORMATS:?}; received {}",
                kind_of(other)
            )));
        }
    };
    let present: Vec<&str> = FORMATS.into_iter().filter(|k| object.contains_key(*k)).collect();
    let [format] = present.as_slice() else {
        return Err(ApiError::bad_request(format!(
            "the body must have exactly one of the keys {FORMATS:?}; received the keys {}",
            listed(object.keys().map(String::as_str))
        )));
    };
    let value = &object[*format];
    match *format {
        "dataframe_split" => dataframe_split(value, "dataframe_split", schema),
        "dataframe_records" => records(value, "dataframe_records", schema),
        _ => tensor_input(value, format, schema),
    }
}

fn dataframe_split(value: &Value, what: &str, schema: Schema<'_>) -> Result<Batch, ApiError> {
    let expected = "expected {\"columns\": [names], \"data\": [[values], …]}";
    let Some(split) = value.as_object() else {
        return Err(ApiError::bad_request(format!("\"{what}\" is {}, {expected}", kind_of(value))));
    };
    let columns = match split.get("columns").and_then(Value::as_array) {
        Some(columns) => columns
            .iter()
            .map(|c| c.as_str())
            .collect::<Option<Vec<&str>>>()
            .ok_or_else(|| ApiError::bad_request(format!("\"{what}.columns\" must be a list of strings")))?,
        None => {
            return Err(ApiError::bad_request(format!(
                "\"{what}\" has no \"columns\": the model's signature names its inputs ({}), {expected}",
                schema.features.join(", ")
            )));
        }
    };
    let Some(rows) = split.get("data").and_then(Value::as_array) else {
        return Err(ApiError::bad_request(format!("\"{what}\" has no \"data\" list, {expected}")));
    };
    let positions = column_positions(&columns, schema.features)?;
    check_rows(rows.len(), &format!("\"{what}.data\""), schema)?;
    let mut values = Vec::with_capacity(rows.len() * schema.features.len());
    for (i, row) in rows.iter().enumerate() {
        let here = format!("{what}.data[{i}]");
        let Some(cells) = row.as_array() else {
            return Err(ApiError::bad_request(format!(
                "{here} is {}, expected a list of {} values",
                kind_of(row),
                columns.len()
            )));
        };
        if cells.len() != columns.len() {
            return Err(ApiError::bad_request(format!(
                "{here} has {} values for {} columns",
                cells.len(),
                columns.len()
            )));
        }
        for (feature, &pos) in schema.features.iter().zip(&positions) {
            values.push(number(&cells[pos], &here, feature)?);
        }
    }
    Ok(Batch { rows: rows.len(), values })
}

/// A list of `{column: value}` objects.
fn records(value: &Value, what: &str, schema: Schema<'_>) -> Result<Batch, ApiError> {
    let Some(rows) = value.as_array() else {
        return Err(ApiError::bad_request(format!(
            "\"{what}\" is {}, expected a list of {{column: value}} objects",
            kind_of(value)
        )));
    };
    check_rows(rows.len(), &format!("\"{what}\""), schema)?;
    let mut values = Vec::with_capacity(rows.len() * schema.features.len());
    for (i, row) in rows.iter().enumerate() {
        let here = format!("{what}[{i}]");
        let Some(record) = row.as_object() else {
            return Err(ApiError::bad_request(match row {
                Value::Array(_) => unnamed_input(&here, schema),
                other => format!("{here} is {}, expected a {{column: value}} object", kind_of(other)),
            }));
        };
        record_row(record, &here, schema.features, &mut values)?;
    }
    Ok(Batch { rows: rows.len(), values })
}

/// `instances` / `inputs`: records, `{column: [values]}` columns, or `{column: value}` for one row.
fn tensor_input(value: &Value, what: &str, schema: Schema<'_>) -> Result<Batch, ApiError> {
    let Some(columns) = value.as_object() else {
        return records(value, what, schema);
    };
    let missing = missing_features(columns, schema.features);
    if !missing.is_empty() {
        return Err(missing_error(what, &missing, schema.features));
    }
    if columns.values().all(|v| !v.is_array()) {
        let mut values = Vec::with_capacity(schema.features.len());
        record_row(columns, what, schema.features, &mut values)?;
        return Ok(Batch { rows: 1, values });
    }
    let mut lists = Vec::with_capacity(schema.features.len());
    for feature in schema.features {
        let Some(list) = columns[feature.as_str()].as_array() else {
            return Err(ApiError::bad_request(format!(
                "\"{what}.{feature}\" is {}, expected a list like the other columns",
                kind_of(&columns[feature.as_str()])
            )));
        };
        lists.push(list);
    }
    let rows = lists.first().map_or(0, |l| l.len());
    if let Some((feature, list)) = schema.features.iter().zip(&lists).find(|(_, l)| l.len() != rows) {
        return Err(ApiError::bad_request(format!(
            "\"{what}\" columns differ in length: {} has {rows} values, {feature} has {}",
            schema.features[0],
            list.len()
        )));
    }
    check_rows(rows, &format!("\"{what}\""), schema)?;
    let mut values = Vec::with_capacity(rows * schema.features.len());
    for i in 0..rows {
        let here = format!("{what}[{i}]");
        for (feature, list) in schema.features.iter().zip(&lists) {
            values.push(number(&list[i], &here, feature)?);
        }
    }
    Ok(Batch { rows, values })
}

/// CSV with a header row, as `pandas.DataFrame.to_csv(index=False)` writes it.
pub fn invocations_csv(body: &[u8], schema: Schema<'_>) -> Result<Batch, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::bad_request(format!("the CSV body is not valid UTF-8: {e}")))?;
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| ApiError::bad_request(format!("malformed CSV header: {e}")))?.clone();
    if header.is_empty() || text.trim().is_empty() {
        return Err(ApiError::bad_request("empty batch: the CSV body has no header row and no data rows"));
    }
    let columns: Vec<&str> = header.iter().map(str::trim).collect();
    let positions = column_positions(&columns, schema.features)?;
    let mut values = Vec::new();
    let mut rows = 0;
    for record in reader.records() {
        let record = record.map_err(|e| ApiError::bad_request(format!("malformed CSV: {e}")))?;
        rows += 1;
        if rows > schema.max_rows {
            check_rows(rows, "the CSV body", schema)?;
        }
        let line = record.position().map_or(rows + 1, |p| p.line() as usize);
        for (feature, &pos) in schema.features.iter().zip(&positions) {
            let field = record.get(pos).unwrap_or_default().trim();
            let value: f64 = field.parse().map_err(|_| {
                let field = crate::decode::cut(field);
                ApiError::bad_request(format!("CSV line {line}, column {feature}: {field:?} is not a number"))
            })?;
            if !value.is_finite() {
                return Err(ApiError::bad_request(format!(
                    "CSV line {line}, column {feature}: {} is not a finite number",
                    crate::decode::cut(field)
                )));
            }
            values.push(value);
        }
    }
    check_rows(rows, "the CSV body", schema)?;
    Ok(Batch { rows, values })
}

fn check_rows(rows: usize, what: &str, schema: Schema<'_>) -> Result<(), ApiError> {
    if rows == 0 {
        return Err(ApiError::bad_request(format!("empty batch: {what} has no rows")));
    }
    if rows > schema.max_rows {
        return Err(ApiError::too_large(format!(
            "{what} has {rows} rows, more than the limit of {} (--max-batch-rows)",
            schema.max_rows
        )));
    }
    Ok(())
}

fn positional_row(row: &Value, what: &str, features: &[String], out: &mut Vec<f64>) -> Result<(), ApiError> {
    let n = features.len();
    let Some(cells) = row.as_array() else {
        return Err(ApiError::bad_request(format!("{what} is {}, expected a list of {n} numbers", kind_of(row))));
    };
    if cells.len() != n {
        return Err(ApiError::bad_request(format!(
            "{what} has {} values, the model expects {n} features ({})",
            cells.len(),
            features.join(", ")
        )));
    }
    for (cell, feature) in cells.iter().zip(features) {
        out.push(number(cell, what, feature)?);
    }
    Ok(())
}

fn record_row(
    record: &Map<String, Value>,
    what: &str,
    features: &[String],
    out: &mut Vec<f64>,
) -> Result<(), ApiError> {
    for feature in features {
        match record.get(feature.as_str()) {
            Some(cell) => out.push(number(cell, what, feature)?),
            None => {
                return Err(missing_error(what, &missing_features(record, features), features));
            }
        }
    }
    Ok(())
}

fn number(cell: &Value, what: &str, feature: &str) -> Result<f64, ApiError> {
    match cell.as_f64() {
        Some(v) if v.is_finite() => Ok(v),
        Some(v) => Err(ApiError::bad_request(format!("{what}, feature {feature}: {v} is not a finite number"))),
        None => Err(ApiError::bad_request(format!("{what}, feature {feature}: {} is not a number", short(cell)))),
    }
}

/// Where each model feature sits among the request's columns.
fn column_positions(columns: &[&str], features: &[String]) -> Result<Vec<usize>, ApiError> {
    for (i, column) in columns.iter().enumerate() {
        if columns[..i].contains(column) {
            let column = crate::decode::cut(column);
            return Err(ApiError::bad_request(format!("column {column:?} appears more than once")));
        }
    }
    let mut positions = Vec::with_capacity(features.len());
    let mut missing = Vec::new();
    for feature in features {
        match columns.iter().position(|c| c == feature) {
            Some(pos) => positions.push(pos),
            None => missing.push(feature.as_str()),
        }
    }
    if missing.is_empty() {
        Ok(positions)
    } else {
        let mut err = missing_error("the request", &missing, features);
        err.message.push_str(&format!("; it has the columns {}", listed(columns.iter().copied())));
        Err(err)
    }
}

/// Names a request sent, for a message: `["a", "b", …]`, cut short.
fn listed<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    format!("[{}]", crate::decode::listed(names, true))
}

fn missing_features<'a>(record: &Map<String, Value>, features: &'a [String]) -> Vec<&'a str> {
    features.iter().filter(|f| !record.contains_key(f.as_str())).map(String::as_str).collect()
}

fn missing_error(what: &str, missing: &[&str], features: &[String]) -> ApiError {
    ApiError::bad_request(format!(
        "{what} is missing the model's input column(s) {missing:?}; the signature is {features:?}"
    ))
}

fn unnamed_input(what: &str, schema: Schema<'_>) -> String {
    format!(
        "{what} is an unnamed list, but the model's signature names its inputs: send {{column: value}} records with the columns {:?}, or use dataframe_split",
        schema.features
    )
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A value as it appeared, cut short so an error message stays one line.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests;
