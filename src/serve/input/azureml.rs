//! Azure ML's MLflow no-code scoring body on `/score`: `{"input_data": …, "params": {…}?}`
//! with `input_data` a split DataFrame (`columns`, `index` and `data`, all three), a tensor
//! (`[[f1, …, fn], …]`) or named tensors (`{column: [values]}`), answered with a plain JSON list
//! of predictions (oci-acr-endpoints.md §5, "MLflow no-code request and response").

use serde_json::Value;

use super::{ApiError, Batch, Schema, check_rows, dataframe_split, kind_of, positional_row, score_body, tensor_input};

/// Which contract a `/score` body used, so that the answer has the shape its caller expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreContract {
    /// `{"data": …}` → `{"result": [...]}`.
    Reference,
    /// `{"input_data": …}` → `[...]`.
    AzureMl,
}

/// Reads a `/score` body in either contract: `input_data` marks Azure ML's, anything else is
/// the reference's `{"data": …}`.
pub fn score_request(doc: &Value, schema: Schema<'_>) -> Result<(Batch, ScoreContract), ApiError> {
    match doc.as_object().and_then(|o| o.get("input_data")) {
        Some(input) => input_data(input, schema).map(|batch| (batch, ScoreContract::AzureMl)),
        None => score_body(doc, schema).map(|batch| (batch, ScoreContract::Reference)),
    }
}

const SPLIT_KEYS: [&str; 3] = ["columns", "index", "data"];

fn input_data(value: &Value, schema: Schema<'_>) -> Result<Batch, ApiError> {
    match value {
        Value::Array(rows) => {
            check_rows(rows.len(), "\"input_data\"", schema)?;
            let mut values = Vec::with_capacity(rows.len() * schema.features.len());
            for (i, row) in rows.iter().enumerate() {
                positional_row(row, &format!("input_data[{i}]"), schema.features, &mut values)?;
            }
            Ok(Batch { rows: rows.len(), values })
        }
        Value::Object(object) => {
            let present: Vec<&str> = SPLIT_KEYS.into_iter().filter(|k| object.contains_key(*k)).collect();
            match present.len() {
                // Azure ML reads a dict as a split DataFrame only when all three keys are there;
                // with some of them it would take the dict as named tensors and fail later on,
                // so the missing key is named here instead.
                3 => {
                    let batch = dataframe_split(value, "input_data", schema)?;
                    check_index(&object["index"], batch.rows)?;
                    Ok(batch)
                }
                0 => tensor_input(value, "input_data", schema),
                _ => {
                    let missing: Vec<&str> = SPLIT_KEYS.into_iter().filter(|k| !object.contains_key(*k)).collect();
                    Err(ApiError::bad_request(format!(
                        "\"input_data\" has {present:?} but no {missing:?}: a split DataFrame needs \"columns\", \"index\" and \"data\""
                    )))
                }
            }
        }
        other => Err(ApiError::bad_request(format!(
            "\"input_data\" is {}, expected a split DataFrame {{\"columns\": […], \"index\": […], \"data\": [[…], …]}} or a list of rows",
            kind_of(other)
        ))),
    }
}

fn check_index(index: &Value, rows: usize) -> Result<(), ApiError> {
    match index.as_array() {
        Some(labels) if labels.len() == rows => Ok(()),
        Some(labels) => Err(ApiError::bad_request(format!(
            "\"input_data.index\" has {} labels for {rows} rows of \"input_data.data\"",
            labels.len()
        ))),
        None => Err(ApiError::bad_request(format!("\"input_data.index\" is {}, expected a list", kind_of(index)))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn features() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    fn schema(features: &[String]) -> Schema<'_> {
        Schema { features, max_rows: 3 }
    }

    fn refused(body: Value) -> String {
        let f = features();
        score_request(&body, schema(&f)).expect_err("refused").message
    }

    #[test]
    fn split_dataframes_and_tensors_give_the_batch_and_the_azure_contract() {
        let f = features();
        let want = Batch { rows: 2, values: vec![1.0, 2.0, 3.0, 4.5] };
        let bodies = [
            json!({"input_data": {"columns": ["b", "a"], "index": [0, 1], "data": [[2, 1], [4.5, 3]]}}),
            json!({"input_data": [[1, 2], [3, 4.5]], "params": {}}),
            json!({"input_data": {"a": [1, 3], "b": [2, 4.5]}}),
        ];
        for body in bodies {
            assert_eq!(score_request(&body, schema(&f)), Ok((want.clone(), ScoreContract::AzureMl)), "{body}");
        }
        let reference = json!({"data": [[1, 2], [3, 4.5]]});
        assert_eq!(score_request(&reference, schema(&f)), Ok((want, ScoreContract::Reference)));
    }

    #[test]
    fn bad_shapes_name_the_field() {
        let no_index = refused(json!({"input_data": {"columns": ["a", "b"], "data": [[1, 2]]}}));
        assert!(no_index.contains("[\"index\"]") && no_index.contains("split DataFrame"), "{no_index}");
        let short_index = refused(json!({"input_data": {"columns": ["a", "b"], "index": [0, 1], "data": [[1, 2]]}}));
        assert!(
            short_index.contains("input_data.index") && short_index.contains("2 labels for 1 rows"),
            "{short_index}"
        );
        let text = refused(json!({"input_data": "1,2"}));
        assert!(text.contains("\"input_data\" is a string"), "{text}");
        let row = refused(json!({"input_data": [[1, 2], [3]]}));
        assert!(row.contains("input_data[1] has 1 values"), "{row}");
        let cell = refused(json!({"input_data": {"columns": ["a", "b"], "index": [0], "data": [[1, "x"]]}}));
        assert!(cell.contains("input_data.data[0], feature b"), "{cell}");
        let missing = refused(json!({"input_data": {"columns": ["a"], "index": [0], "data": [[1]]}}));
        assert!(missing.contains("\"b\""), "{missing}");
        let empty = refused(json!({"input_data": []}));
        assert!(empty.contains("empty batch: \"input_data\""), "{empty}");
    }
}
