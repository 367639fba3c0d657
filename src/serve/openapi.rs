//! The OpenAPI 3 document of the scoring contract, served at `/swagger.json` (the reference's
//! Azure ML web service published one there). Built from the model so it names its features.

use serde_json::{Value, json};

use super::request_log::ModelInfo;

/// The document for a model with these features and limits.
pub fn document(model: &ModelInfo, max_batch_rows: usize) -> Value {
    let n = model.columns.len();
    let example_row: Vec<f64> = (1..=n).map(|i| i as f64).collect();
    let reversed: Vec<f64> = example_row.iter().rev().copied().collect();
    let row = json!({
        "type": "array",
        "items": {"type": "number", "format": "double"},
        "minItems": n,
        "maxItems": n,
        "description": format!("Feature values in this order: {}", model.columns.join(", ")),
    });
    let record_properties: serde_json::Map<String, Value> =
        model.columns.iter().map(|c| (c.clone(), json!({"type": "number", "format": "double"}))).collect();
    let record = json!({
        "type": "object",
        "properties": record_properties,
        "required": model.columns,
    });
    let error = json!({"$ref": "#/components/schemas/Error"});
    let error_responses = json!({
        "400": {"description": "The input does not fit the model; the message says why.", "content": {"application/json": {"schema": error}}},
        "413": {"description": "Body larger than --max-body-bytes or more rows than --max-batch-rows.", "content": {"application/json": {"schema": error}}},
        "415": {"description": "Content-Type not accepted.", "content": {"application/json": {"schema": error}}},
    });
    let with_errors = |ok: Value| {
        let mut responses = error_responses.clone();
        if let Some(map) = responses.as_object_mut() {
            map.insert("200".to_string(), ok);
        }
        responses
    };
    let predictions = json!({"type": "array", "items": {"type": "number", "format": "double"}});
    let text_ok = |description: &str| json!({"200": {"description": description}});
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": format!("mlops scoring service: {}", model.name),
            "version": model.version.clone().unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string()),
            "description": format!(
                "Linear model with {n} features ({}). At most {max_batch_rows} rows per request.",
                model.columns.join(", ")
            ),
        },
        "paths": {
            "/score": {"post": {
                "summary": "Score rows: MLOpsPython's {\"data\": …} → {\"result\": […]}, or Azure ML's MLflow no-code {\"input_data\": …} → […].",
                "parameters": [
                    {"name": "X-Ms-Request-Id", "in": "header", "required": false, "schema": {"type": "string"}, "description": "Request id; generated and returned when absent."},
                    {"name": "traceparent", "in": "header", "required": false, "schema": {"type": "string"}, "description": "W3C trace context, kept in the request log."},
                ],
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {"type": "object", "required": ["data"], "properties": {"data": {"type": "array", "minItems": 1, "maxItems": max_batch_rows, "items": row}}},
                    "example": {"data": [example_row, reversed]},
                }}},
                "responses": with_errors(json!({"description": "One prediction per row.", "content": {"application/json": {
                    "schema": {"type": "object", "properties": {"result": predictions}},
                }}})),
            }},
            "/invocations": {"post": {
                "summary": "Score rows (mlflow models serve's contract).",
                "requestBody": {"required": true, "content": {
                    "application/json": {"schema": {"oneOf": [
                        {"type": "object", "required": ["dataframe_split"], "properties": {"dataframe_split": {"type": "object", "required": ["columns", "data"], "properties": {"columns": {"type": "array", "items": {"type": "string"}}, "data": {"type": "array", "items": {"type": "array"}}}}}},
                        {"type": "object", "required": ["dataframe_records"], "properties": {"dataframe_records": {"type": "array", "items": record}}},
                        {"type": "object", "required": ["instances"], "properties": {"instances": {"type": "array", "items": record}}},
                        {"type": "object", "required": ["inputs"], "properties": {"inputs": {"oneOf": [{"type": "array", "items": record}, {"type": "object"}]}}},
                    ]}},
                    "text/csv": {"schema": {"type": "string", "description": "A header row naming the columns, then one row per prediction."}},
                }},
                "responses": with_errors(json!({"description": "One prediction per row.", "content": {"application/json": {
                    "schema": {"type": "object", "properties": {"predictions": predictions}},
                }}})),
            }},
            "/health": {"get": {"summary": "Liveness.", "responses": text_ok("The process is up.")}},
            "/ping": {"get": {"summary": "Liveness, as mlflow models serve answers it.", "responses": text_ok("The process is up.")}},
            "/ready": {"get": {"summary": "Readiness: the model is loaded.", "responses": text_ok("Ready to score.")}},
            "/version": {"get": {"summary": "The mlops version.", "responses": text_ok("Version string.")}},
            "/metrics": {"get": {"summary": "Prometheus metrics.", "responses": text_ok("Text exposition format.")}},
        },
        "components": {"schemas": {"Error": {
            "type": "object",
            "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
        }}},
    })
}
