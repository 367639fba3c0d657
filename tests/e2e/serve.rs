//! `mlops serve`: both request contracts against scikit-learn and `mlflow models serve`, input
//! checks, metrics, request logs (JSON Lines and Azurite), graceful shutdown and exit codes.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::time::Duration;

use reqwest::blocking::{Body, Client};
use serde_json::{Value, json};

use crate::servers::{MlopsServer, azurite, azurite_connection_string, mlflow_models_serve};
use crate::support::{Workspace, assert_close, diabetes, floats, python_json, stderr};

const FEATURES: [&str; 10] = ["AGE", "SEX", "BMI", "BP", "S1", "S2", "S3", "S4", "S5", "S6"];

/// Trains the reference model in `ws`; returns the model directory.
pub fn train(ws: &Workspace) -> String {
    let data = diabetes().display().to_string();
    let report = ws.json(&["train", "--data", &data]);
    report["model"]["path"].as_str().expect("model path").to_string()
}

/// The diabetes feature rows.
fn diabetes_rows() -> Vec<Vec<f64>> {
    let mut reader = csv::Reader::from_path(diabetes()).expect("diabetes.csv");
    reader
        .records()
        .map(|r| {
            let r = r.expect("record");
            (0..FEATURES.len()).map(|i| r[i].parse().expect("number")).collect()
        })
        .collect()
}

/// scikit-learn's predictions for `rows` with the reference training.
fn sklearn_predictions(rows: &[Vec<f64>]) -> Vec<f64> {
    let case = json!({"data": diabetes(), "target": "Y", "alpha": 0.5, "test_size": 0.2, "seed": 0, "rows": rows});
    floats(&python_json("sklearn_predict.py", &[], Some(&case.to_string())))
}

fn post(client: &Client, url: &str, content_type: &str, body: impl Into<Body>) -> (u16, Value) {
    let response = client.post(url).header("Content-Type", content_type).body(body).send().expect("request");
    let status = response.status().as_u16();
    let text = response.text().expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

fn assert_all_close(actual: &[f64], expected: &[f64], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: number of predictions");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_close(*a, *e, 1e-9, &format!("{what}, row {i}"));
    }
}

/// The JSON and CSV bodies `/invocations` takes, each for all of `rows`.
fn invocation_bodies(rows: &[Vec<f64>]) -> Vec<(&'static str, &'static str, String)> {
    let records: Vec<Value> = rows
        .iter()
        .map(|r| {
            let map: serde_json::Map<String, Value> =
                FEATURES.iter().zip(r).map(|(f, v)| (f.to_string(), json!(v))).collect();
            Value::Object(map)
        })
        .collect();
    let columns: serde_json::Map<String, Value> = FEATURES
        .iter()
        .enumerate()
        .map(|(j, f)| (f.to_string(), json!(rows.iter().map(|r| r[j]).collect::<Vec<_>>())))
        .collect();
    // Columns in reverse order: named formats match by name, not position.
    let reversed: Vec<&str> = FEATURES.iter().rev().copied().collect();
    let reversed_rows: Vec<Vec<f64>> = rows.iter().map(|r| r.iter().rev().copied().collect()).collect();
    let mut csv = format!("{},Y\n", FEATURES.join(","));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|v| format!("{v:?}")).collect();
        csv.push_str(&format!("{},0\n", cells.join(",")));
    }
    vec![
        (
            "dataframe_split",
            "application/json",
            json!({"dataframe_split": {"columns": reversed, "data": reversed_rows}}).to_string(),
        ),
        ("dataframe_records", "application/json", json!({"dataframe_records": records}).to_string()),
        ("instances", "application/json", json!({"instances": records}).to_string()),
        ("inputs", "application/json", json!({"inputs": columns, "params": {}}).to_string()),
        ("csv", "text/csv", csv),
    ]
}

#[test]
fn both_contracts_score_like_scikit_learn() {
    let ws = Workspace::new();
    let model = train(&ws);
    let rows = diabetes_rows();
    let expected = sklearn_predictions(&rows);
    let server = MlopsServer::start(&ws, &["--model", &model]);
    let client = Client::new();

    let (status, body) = post(&client, &server.url("/score"), "application/json", json!({"data": rows}).to_string());
    assert_eq!(status, 200, "{body}");
    assert_all_close(&floats(&body["result"]), &expected, "/score");
    // Azure ML's MLflow no-code bodies on the same route, answered with a plain list.
    let index: Vec<usize> = (0..rows.len()).collect();
    let reversed: Vec<&str> = FEATURES.iter().rev().copied().collect();
    let reversed_rows: Vec<Vec<f64>> = rows.iter().map(|r| r.iter().rev().copied().collect()).collect();
    for azure in [
        json!({"input_data": {"columns": reversed, "index": index, "data": reversed_rows}}),
        json!({"input_data": rows}),
    ] {
        let (status, body) = post(&client, &server.url("/score"), "application/json", azure.to_string());
        assert_eq!(status, 200, "{body}");
        assert_all_close(&floats(&body), &expected, "/score input_data");
    }
    let (status, body) = post(
        &client,
        &server.url("/score"),
        "application/json",
        json!({"input_data": {"columns": FEATURES, "data": rows}}).to_string(),
    );
    assert_eq!(status, 400);
    assert!(body.to_string().contains("index"), "{body}");

    for (format, content_type, text) in invocation_bodies(&rows) {
        let (status, body) = post(&client, &server.url("/invocations"), content_type, text);
        assert_eq!(status, 200, "{format}: {body}");
        assert_all_close(&floats(&body["predictions"]), &expected, format);
    }
    let (out, summary) = server.stop();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary["rows_scored"], json!(rows.len() * 8));
}

#[test]
fn invocations_answer_like_mlflow_models_serve() {
    let ws = Workspace::new();
    let model = train(&ws);
    let rows: Vec<Vec<f64>> = diabetes_rows().into_iter().step_by(17).collect();
    let mlops = MlopsServer::start(&ws, &["--model", &model]);
    let mlflow = mlflow_models_serve(std::path::Path::new(&model));
    let client = Client::new();
    let one_row: serde_json::Map<String, Value> =
        FEATURES.iter().zip(&rows[0]).map(|(f, v)| (f.to_string(), json!(v))).collect();
    let mut good = invocation_bodies(&rows);
    good.push(("inputs, one row of scalars", "application/json", json!({"inputs": one_row}).to_string()));
    let mut extra = FEATURES.to_vec();
    extra.push("EXTRA");
    let extra_rows: Vec<Vec<f64>> = rows.iter().map(|r| [r.as_slice(), &[7.0]].concat()).collect();
    good.push((
        "extra column",
        "application/json",
        json!({"dataframe_split": {"columns": extra, "data": extra_rows}}).to_string(),
    ));
    for (format, content_type, text) in good {
        let (s1, ours) = post(&client, &mlops.url("/invocations"), content_type, text.clone());
        let (s2, theirs) = post(&client, &format!("{}/invocations", mlflow.base), content_type, text);
        assert_eq!((s1, s2), (200, 200), "{format}: mlops {ours} / mlflow {theirs}");
        assert_all_close(&floats(&ours["predictions"]), &floats(&theirs["predictions"]), format);
        assert_eq!(ours.as_object().map(|o| o.len()), Some(1), "only \"predictions\": {ours}");
    }

    // Inputs both refuse, with the same status.
    let split9 = json!({"dataframe_split": {"columns": &FEATURES[..9], "data": [&rows[0][..9]]}});
    let refused = [
        ("missing column", "application/json", split9.to_string()),
        ("unnamed tensor", "application/json", json!({"inputs": [rows[0]]}).to_string()),
        ("malformed", "application/json", "{\"dataframe_split\":".to_string()),
        ("a list", "application/json", "[1, 2]".to_string()),
        ("two formats", "application/json", json!({"inputs": [], "dataframe_split": {}}).to_string()),
        ("no format", "application/json", json!({"rows": []}).to_string()),
        ("xml", "application/xml", "<a/>".to_string()),
        ("latin-1", "application/json; charset=latin-1", "{}".to_string()),
    ];
    for (what, content_type, text) in refused {
        let (s1, ours) = post(&client, &mlops.url("/invocations"), content_type, text.clone());
        let (s2, theirs) = post(&client, &format!("{}/invocations", mlflow.base), content_type, text);
        assert_eq!(s1, s2, "{what}: mlops {ours} / mlflow {theirs}");
        assert!(ours["message"].is_string() && ours["error_code"].is_string(), "{what}: {ours}");
    }
}

/// (route, content type, body, status, words the message must contain)
type Case = (&'static str, Option<&'static str>, String, u16, &'static str);

#[test]
fn bad_inputs_get_their_status_and_message_and_metrics_count_them() {
    let ws = Workspace::new();
    let model = train(&ws);
    let server = MlopsServer::start(&ws, &["--model", &model, "--max-batch-rows", "5", "--max-body-bytes", "4000"]);
    let client = Client::new();
    let row = json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    let json_ct = Some("application/json");
    let cases: Vec<Case> = vec![
        (
            "/score",
            json_ct,
            json!({"data": [[1, 2, 3]]}).to_string(),
            400,
            "data[0] has 3 values, the model expects 10 features (AGE, SEX, BMI",
        ),
        (
            "/score",
            json_ct,
            json!({"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, "ten"]]}).to_string(),
            400,
            "data[0], feature S6: \"ten\" is not a number",
        ),
        (
            "/score",
            json_ct,
            json!({"data": [[null, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}).to_string(),
            400,
            "feature AGE: null is not a number",
        ),
        ("/score", json_ct, "{\"data\": [[NaN, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}".to_string(), 400, "non-finite value NaN"),
        ("/score", json_ct, "{\"data\": [[1e999, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}".to_string(), 400, "malformed JSON"),
        ("/score", json_ct, json!({"data": []}).to_string(), 400, "empty batch"),
        (
            "/score",
            json_ct,
            json!({"data": [row, row, row, row, row, row]}).to_string(),
            413,
            "6 rows, more than the limit of 5 (--max-batch-rows)",
        ),
        ("/score", json_ct, "{\"data\": [[1, 2".to_string(), 400, "malformed JSON: EOF while parsing"),
        ("/score", json_ct, json!({"rows": [row]}).to_string(), 400, "missing \"data\""),
        (
            "/score",
            Some("text/plain"),
            json!({"data": [row]}).to_string(),
            415,
            "unsupported Content-Type \"text/plain\": send application/json",
        ),
        ("/score", None, json!({"data": [row]}).to_string(), 415, "missing Content-Type"),
        (
            "/score",
            json_ct,
            format!("{{\"data\": [{}]}}", " ".repeat(5000)),
            413,
            "larger than the limit of 4000 bytes (--max-body-bytes)",
        ),
        (
            "/invocations",
            json_ct,
            json!({"dataframe_split": {"columns": ["AGE", "SEX"], "data": [[1, 2]]}}).to_string(),
            400,
            "missing the model's input column(s) [\"BMI\", \"BP\", \"S1\"",
        ),
        (
            "/invocations",
            json_ct,
            json!({"dataframe_records": [{"age": 1}]}).to_string(),
            400,
            "dataframe_records[0] is missing the model's input column(s) [\"AGE\"",
        ),
        (
            "/invocations",
            json_ct,
            json!({"inputs": [row]}).to_string(),
            400,
            "unnamed list, but the model's signature names its inputs",
        ),
        ("/invocations", json_ct, json!({"instances": []}).to_string(), 400, "empty batch"),
        (
            "/invocations",
            Some("text/csv"),
            "AGE,SEX,BMI,BP,S1,S2,S3,S4,S5,S6\n1,2,3,4,5,6,7,8,9,inf\n".to_string(),
            400,
            "CSV line 2, column S6: inf is not a finite number",
        ),
        ("/invocations", Some("text/csv"), "AGE,SEX\n1,2\n".to_string(), 400, "missing the model's input column(s)"),
        (
            "/invocations",
            Some("application/xml"),
            "<a/>".to_string(),
            415,
            "unsupported Content-Type \"application/xml\"",
        ),
        ("/invocations", Some("application/json; charset=latin-1"), "{}".to_string(), 415, "only UTF-8"),
        ("/invocations", json_ct, "[1]".to_string(), 400, "received a list"),
    ];
    let mut expected_counts: HashMap<(String, u16), u64> = HashMap::new();
    for (route, content_type, body, status, words) in &cases {
        let mut request = client.post(server.url(route)).body(body.clone());
        if let Some(ct) = content_type {
            request = request.header("Content-Type", *ct);
        }
        let response = request.send().expect("request");
        let got = response.status().as_u16();
        let text = response.text().expect("text");
        assert_eq!(got, *status, "{route} {body:.80}: {text}");
        let error: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{route} {body:.80}: {message}");
        *expected_counts.entry((route.to_string(), *status)).or_default() += 1;
    }
    // A body over the limit without Content-Length (chunked) is cut off too.
    let chunked = Body::new(std::io::Cursor::new(format!("{{\"data\": [{}]}}", " ".repeat(5000)).into_bytes()));
    let (status, body) = post(&client, &server.url("/score"), "application/json", chunked);
    assert_eq!(status, 413, "{body}");
    *expected_counts.entry(("/score".into(), 413)).or_default() += 1;

    // Good requests, with and without a request id.
    let response = client
        .post(server.url("/score"))
        .header("Content-Type", "application/json")
        .header("X-Ms-Request-Id", "my-id-1")
        .body(json!({"data": [row, row, row]}).to_string())
        .send()
        .expect("score");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["x-ms-request-id"], "my-id-1");
    let (status, _) = post(
        &client,
        &server.url("/invocations"),
        "text/csv",
        format!("{}\n1,2,3,4,5,6,7,8,9,10\n", FEATURES.join(",")),
    );
    assert_eq!(status, 200);
    *expected_counts.entry(("/score".into(), 200)).or_default() += 1;
    *expected_counts.entry(("/invocations".into(), 200)).or_default() += 1;
    let generated = client.get(server.url("/health")).send().expect("health");
    assert_eq!(generated.status().as_u16(), 200);
    let id = generated.headers()["x-ms-request-id"].to_str().expect("id").to_string();
    assert_eq!(id.len(), 36, "a generated UUID: {id}");
    *expected_counts.entry(("/health".into(), 200)).or_default() += 1;

    let metrics = client.get(server.url("/metrics")).send().expect("metrics").text().expect("text");
    for ((route, status), n) in &expected_counts {
        let line = format!("mlops_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        assert!(metrics.contains(&line), "expected {line} in:\n{metrics}");
    }
    let total: u64 = expected_counts.values().sum();
    let counted: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("mlops_http_requests_total{"))
        .map(|l| l.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok()).expect("count"))
        .sum();
    assert_eq!(counted, total, "{metrics}");
    assert!(metrics.contains("mlops_rows_scored_total 4"), "{metrics}");
    assert!(
        metrics.contains(&format!(
            "mlops_http_request_duration_seconds_count{{route=\"/score\"}} {}",
            expected_counts.iter().filter(|((r, _), _)| r == "/score").map(|(_, n)| n).sum::<u64>()
        )),
        "{metrics}"
    );
    assert!(metrics.contains("mlops_request_log_dropped_total 0"), "{metrics}");
    assert!(metrics.contains("mlops_request_log_queue_depth 0"), "{metrics}");
    let (out, summary) = server.stop();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary["rows_scored"], json!(4));
}

#[test]
fn service_routes() {
    let ws = Workspace::new();
    let model = train(&ws);
    let server = MlopsServer::start(&ws, &["--model", &model]);
    let client = Client::new();
    for path in ["/ping", "/health"] {
        let r = client.get(server.url(path)).send().expect("get");
        assert_eq!((r.status().as_u16(), r.text().expect("text")), (200, "\n".to_string()), "{path}");
    }
    let ready: Value = client.get(server.url("/ready")).send().expect("ready").json().expect("json");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["model"]["columns"], json!(FEATURES));
    let version = client.get(server.url("/version")).send().expect("version").text().expect("text");
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    let doc: Value = client.get(server.url("/swagger.json")).send().expect("swagger").json().expect("json");
    assert_eq!(doc["openapi"], "3.0.3");
    let row = &doc["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]["data"]
        ["items"];
    assert_eq!((row["minItems"].as_u64(), row["maxItems"].as_u64()), (Some(10), Some(10)), "{row}");
    // The example in the document is accepted by the service it describes.
    let example = &doc["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]["example"];
    let (status, body) = post(&client, &server.url("/score"), "application/json", example.to_string());
    assert_eq!(status, 200, "{body}");
    assert!(doc["paths"]["/invocations"]["post"]["requestBody"]["content"]["text/csv"].is_object());
    let r = client.get(server.url("/nope")).send().expect("404");
    assert_eq!(r.status().as_u16(), 404);
    drop(server);
}

/// Sends `n` single-row /score requests from `threads` threads; returns id → (row, prediction).
fn burst(server: &MlopsServer, n: usize, threads: usize) -> HashMap<String, (Vec<f64>, f64)> {
    let rows = diabetes_rows();
    let url = server.url("/score");
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (rows, url) = (&rows, &url);
                scope.spawn(move || {
                    let client = Client::new();
                    let mut sent = HashMap::new();
                    for i in (t..n).step_by(threads) {
                        let id = format!("burst-{i}");
                        let row = rows[i % rows.len()].clone();
                        let response = client
                            .post(url)
                            .header("Content-Type", "application/json")
                            .header("X-Ms-Request-Id", &id)
                            .header("traceparent", format!("00-{:032x}-{:016x}-01", i, i))
                            .body(json!({"data": [row]}).to_string())
                            .send()
                            .expect("score");
                        assert_eq!(response.status().as_u16(), 200);
                        let body: Value = response.json().expect("json");
                        sent.insert(id, (row, body["result"][0].as_f64().expect("prediction")));
                    }
                    sent
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("burst thread")).collect()
    })
}

/// Checks request records against what was sent; returns how many there were.
fn check_records(lines: &[String], sent: &HashMap<String, (Vec<f64>, f64)>) -> usize {
    let mut seen = HashSet::new();
    for line in lines {
        let record: Value = serde_json::from_str(line).expect("JSON line");
        let id = record["request_id"].as_str().expect("request_id");
        let (row, prediction) = sent.get(id).unwrap_or_else(|| panic!("unknown id {id}"));
        assert!(seen.insert(id.to_string()), "{id} logged twice");
        assert_eq!(floats(&record["inputs"][0]), *row, "{id} inputs");
        assert_eq!(floats(&record["predictions"]), vec![*prediction], "{id} predictions");
        let n: u64 = id.trim_start_matches("burst-").parse().expect("n");
        assert_eq!(record["traceparent"], json!(format!("00-{n:032x}-{n:016x}-01")));
        assert_eq!(record["route"], "/score");
        assert_eq!(record["model"]["columns"], json!(FEATURES));
        assert!(record["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    seen.len()
}

fn dropped(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("mlops_request_log_dropped_total "))
        .and_then(|n| n.parse().ok())
        .expect("dropped counter")
}

#[test]
fn request_log_jsonl_accounts_for_every_request_of_a_burst() {
    let ws = Workspace::new();
    let model = train(&ws);
    let dir = ws.path().join("requests");
    let dir_arg = dir.display().to_string();
    // Small files, so the burst rotates through many of them.
    let server =
        MlopsServer::start(&ws, &["--model", &model, "--request-log", &dir_arg, "--request-log-max-bytes", "200000"]);
    let n = 10_000;
    let sent = burst(&server, n, 8);
    let metrics = Client::new().get(server.url("/metrics")).send().expect("metrics").text().expect("text");
    let dropped_before_stop = dropped(&metrics);
    let (out, summary) = server.stop();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("dir").map(|e| e.expect("entry").path()).collect();
    files.sort();
    assert!(files.len() > 5, "rotated by size: {} files", files.len());
    let mut lines = Vec::new();
    for file in &files {
        assert!(std::fs::metadata(file).expect("meta").len() <= 200_000);
        lines.extend(std::fs::read_to_string(file).expect("read").lines().map(str::to_string));
    }
    let logged = check_records(&lines, &sent) as u64;
    let log = &summary["request_log"];
    assert_eq!(log["dropped"].as_u64(), Some(dropped_before_stop));
    assert_eq!(logged + dropped_before_stop, n as u64, "logged {logged}, dropped {dropped_before_stop}");
    assert_eq!(log["written"].as_u64(), Some(logged));
    assert_eq!(log["failed"].as_u64(), Some(0));
}

#[test]
fn request_log_counts_drops_when_the_queue_is_full() {
    let ws = Workspace::new();
    let model = train(&ws);
    let dir = ws.path().join("requests");
    let dir_arg = dir.display().to_string();
    // Storage that cannot be reached fails at startup, not on the first request.
    let port = crate::servers::free_port().to_string();
    let cs =
        format!("AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1");
    let out = ws
        .mlops(&["serve", "--model", &model, "--port", "0", "--request-log", "blob:requests"])
        .env("AZURE_STORAGE_CONNECTION_STRING", &cs)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(9), "unreachable storage is a remote failure: {}", stderr(&out));
    assert!(stderr(&out).contains("cannot reach the storage service"), "{}", stderr(&out));

    // A queue of 5 under 8 clients: whatever is dropped must be counted exactly.
    let server = MlopsServer::start(&ws, &["--model", &model, "--request-log", &dir_arg, "--request-log-queue", "5"]);
    let sent = burst(&server, 2000, 8);
    let metrics = Client::new().get(server.url("/metrics")).send().expect("metrics").text().expect("text");
    let dropped = dropped(&metrics);
    let (out, summary) = server.stop();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .flat_map(|e| {
            let text = std::fs::read_to_string(e.expect("entry").path()).expect("read");
            text.lines().map(str::to_string).collect::<Vec<_>>()
        })
        .collect();
    let logged = check_records(&lines, &sent) as u64;
    assert_eq!(logged + dropped, 2000, "logged {logged} + dropped {dropped}");
    assert_eq!(summary["request_log"]["dropped"].as_u64(), Some(dropped));
}

#[test]
fn request_log_lands_in_azurite() {
    let ws = Workspace::new();
    let model = train(&ws);
    let azurite = azurite();
    let cs = azurite_connection_string(&azurite);
    let server = MlopsServer::start_with_env(
        &ws,
        &["--model", &model, "--request-log", "blob:requests/diabetes", "--request-log-interval", "0.5"],
        &[("AZURE_STORAGE_CONNECTION_STRING", &cs)],
    );
    let n = 10_000;
    let sent = burst(&server, n, 8);
    let (out, summary) = server.stop();
    assert!(out.status.success(), "{}", stderr(&out));

    let blobs = blob_log(&azurite, "requests", "diabetes/");
    assert!(blobs.len() > 1, "one blob per interval: {}", blobs.len());
    assert!(blobs.iter().all(|(name, _)| name.ends_with(".jsonl")));
    let lines: Vec<String> = blobs.iter().flat_map(|(_, text)| text.lines().map(str::to_string)).collect();
    let logged = check_records(&lines, &sent) as u64;
    let log = &summary["request_log"];
    let dropped = log["dropped"].as_u64().expect("dropped");
    assert_eq!(logged + dropped, n as u64, "logged {logged} + dropped {dropped}");
    assert_eq!(log["written"].as_u64(), Some(logged));
    assert_eq!(log["failed"].as_u64(), Some(0));

    // A wrong account key is an authentication failure at startup.
    let bad = cs.replace("Eby8", "Xby8");
    let out = ws
        .mlops(&["serve", "--model", &model, "--port", "0", "--request-log", "blob:requests"])
        .env("AZURE_STORAGE_CONNECTION_STRING", &bad)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(stderr(&out).contains("HTTP 403"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("Xby8"), "the key must not be printed");
}

/// The same sink signed with a SAS token the official SDK made: Azurite checks its signature and
/// permissions on every request, and the token never shows in what mlops prints.
#[test]
fn request_log_with_a_sas_token_lands_in_azurite() {
    let ws = Workspace::new();
    let model = train(&ws);
    let azurite = azurite();
    let sas = |args: &[&str]| {
        let doc = python_json("blob_sas.py", args, None);
        doc["sas"].as_str().expect("sas").to_string()
    };
    let with_sas = |token: &str| format!("BlobEndpoint={};SharedAccessSignature={token}", azurite.base);
    let server = MlopsServer::start_with_env(
        &ws,
        &["--model", &model, "--request-log", "blob:signed/diabetes", "--request-log-interval", "0.3"],
        &[("AZURE_STORAGE_CONNECTION_STRING", &with_sas(&sas(&["rwlac"])))],
    );
    let n = 300;
    let sent = burst(&server, n, 4);
    let (out, summary) = server.stop();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("sig="), "the SAS must not be printed: {}", stderr(&out));

    // Read back with the account key: what landed is what was sent.
    let lines = blob_log_lines(&azurite, "signed", "diabetes/");
    let logged = check_records(&lines, &sent) as u64;
    let log = &summary["request_log"];
    assert_eq!(logged + log["dropped"].as_u64().expect("dropped"), n as u64);
    assert_eq!(log["written"].as_u64(), Some(logged));
    assert_eq!(log["failed"].as_u64(), Some(0));

    // A read-only token cannot write the log: an authorization failure at startup, token unprinted.
    let out = ws
        .mlops(&["serve", "--model", &model, "--port", "0", "--request-log", "blob:signed/diabetes"])
        .env("AZURE_STORAGE_CONNECTION_STRING", with_sas(&sas(&["rl"])))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(stderr(&out).contains("HTTP 403"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("sig="), "the SAS must not be printed: {}", stderr(&out));

    // Least privilege: a SAS scoped to the existing container, allowed only to write blobs.
    let server = MlopsServer::start_with_env(
        &ws,
        &["--model", &model, "--request-log", "blob:signed/scoped", "--request-log-interval", "0.3"],
        &[("AZURE_STORAGE_CONNECTION_STRING", &with_sas(&sas(&["cw", "signed"])))],
    );
    let sent = burst(&server, 50, 2);
    let (out, summary) = server.stop();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = blob_log_lines(&azurite, "signed", "scoped/");
    let logged = check_records(&lines, &sent) as u64;
    assert_eq!(logged + summary["request_log"]["dropped"].as_u64().expect("dropped"), 50);
    assert_eq!(summary["request_log"]["failed"].as_u64(), Some(0));
}

/// The blobs below `prefix` in an Azurite container, read with the account key: (name, text),
/// each checked to be as long as the listing says.
fn blob_log(azurite: &crate::servers::Peer, container: &str, prefix: &str) -> Vec<(String, String)> {
    let client = crate::servers::blob_container(&azurite_connection_string(azurite), container);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut blobs = Vec::new();
        for blob in client.list_blobs(prefix).await.expect("list") {
            let bytes = client.download(&blob.name).await.expect("download");
            assert_eq!(bytes.len() as u64, blob.size, "{}", blob.name);
            blobs.push((blob.name, String::from_utf8(bytes.to_vec()).expect("utf-8")));
        }
        blobs
    })
}

/// Every line of the blobs below `prefix`.
fn blob_log_lines(azurite: &crate::servers::Peer, container: &str, prefix: &str) -> Vec<String> {
    blob_log(azurite, container, prefix).iter().flat_map(|(_, text)| text.lines().map(str::to_string)).collect()
}

#[test]
fn graceful_shutdown_finishes_the_request_in_flight() {
    graceful_shutdown(&[]);
}

/// One worker runs on a single-threaded runtime: the same guarantees hold there.
#[test]
fn graceful_shutdown_finishes_the_request_in_flight_with_one_worker() {
    graceful_shutdown(&["--workers", "1"]);
}

fn graceful_shutdown(extra: &[&str]) {
    let ws = Workspace::new();
    let model = train(&ws);
    let dir = ws.path().join("requests");
    let dir_arg = dir.display().to_string();
    let mut args = vec!["--model", model.as_str(), "--request-log", dir_arg.as_str()];
    args.extend_from_slice(extra);
    let server = MlopsServer::start(&ws, &args);
    let addr = server.base.trim_start_matches("http://").to_string();
    let body = json!({"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}).to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    write!(
        stream,
        "POST /score HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nX-Ms-Request-Id: in-flight\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{head}",
        body.len()
    )
    .expect("send head");
    stream.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(300));
    crate::servers::terminate_pid(server.pid());
    // Shutting down: soon no new connections are accepted (however busy the machine is).
    let signalled = std::time::Instant::now();
    while std::net::TcpStream::connect(&addr).is_ok() {
        assert!(signalled.elapsed() < Duration::from_secs(10), "still accepting 10 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    stream.write_all(tail.as_bytes()).expect("send tail");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("{\"result\":["), "{response}");
    let (out, summary) = server.stop_after_signal();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary["rows_scored"], json!(1));
    assert_eq!(summary["request_log"]["written"], json!(1));
    let logged = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
        .collect::<String>();
    assert!(logged.contains("\"request_id\":\"in-flight\""), "{logged}");
}

#[test]
fn serve_refuses_what_it_cannot_serve() {
    let ws = Workspace::new();
    let out = ws.run(&["serve", "--model", "no-such-dir", "--port", "0"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("model directory no-such-dir does not exist"), "{}", stderr(&out));

    // A model that does not exist is named as such, not as a missing alias.
    let out = ws.run(&["serve", "--model", "models:/nope@champion", "--port", "0"]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains("registered model \"nope\" not found"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("alias"), "{}", stderr(&out));

    let model = train(&ws);
    // An existing model without the alias is a missing alias.
    // The model is `mlruns/<experiment>/<run>/artifacts/model`.
    let run_id = std::path::Path::new(&model).ancestors().nth(2).and_then(|p| p.file_name()).expect("run dir");
    ws.json(&["model", "register", "--run-id", run_id.to_str().expect("utf-8"), "--name", "diabetes"]);
    let out = ws.run(&["serve", "--model", "models:/diabetes@champion", "--port", "0"]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains("model \"diabetes\" has no alias \"champion\""), "{}", stderr(&out));

    let out = ws.run(&["serve", "--model", &model, "--port", "0", "--request-log", "blob:requests"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("needs a storage connection string"), "{}", stderr(&out));

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = ws.run(&["serve", "--model", &model, "--port", &port]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("cannot listen on 127.0.0.1:{port}")), "{}", stderr(&out));
}

/// The value of `mlops_requests_timed_out_total{phase="…"}` in a metrics page.
fn timed_out(metrics: &str, phase: &str) -> u64 {
    let prefix = format!("mlops_requests_timed_out_total{{phase=\"{phase}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// Reads from `stream` until the server closes it (or resets it); returns how long that took.
/// A generous read timeout turns "never closed" into a failure instead of a hang.
fn wait_closed(stream: &mut std::net::TcpStream) -> Duration {
    let start = std::time::Instant::now();
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionReset) => return start.elapsed(),
            // A socket read with a timeout is never restarted after a signal handler runs
            // (signal(7)), and other tests in this process spawn children (SIGCHLD): read again.
            Err(e) if matches!(e.kind(), std::io::ErrorKind::Interrupted) => continue,
            Err(e) => panic!("the server kept a half-sent request open: {e} after {:?}", start.elapsed()),
        }
    }
}

#[test]
fn slowloris_connections_are_closed_and_counted_while_others_are_served() {
    let ws = Workspace::new();
    let model = train(&ws);
    let server = MlopsServer::start(&ws, &["--model", &model, "--request-timeout", "2"]);
    let addr = server.base.trim_start_matches("http://").trim_end_matches('/').to_string();
    // A new connection per request: the server closes a keep-alive connection idle for the 2 s
    // timeout, and this test waits longer than that between requests, so a pooled connection
    // could be reused just as the server closes it (a client-side race, not the server's fault).
    let client = Client::builder().pool_max_idle_per_host(0).build().expect("client");
    // Half-sent headers: a request line and one header, never the blank line.
    let mut slow_headers: Vec<std::net::TcpStream> = (0..20)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).expect("connect");
            s.write_all(b"POST /score HTTP/1.1\r\nHost: x\r\nX-Slow: 1").expect("write");
            s
        })
        .collect();
    // Half-sent body: the headers promise 1000 bytes, ten arrive.
    let mut slow_bodies: Vec<std::net::TcpStream> = (0..5)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).expect("connect");
            s.write_all(
                b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"data\": [",
            )
            .expect("write");
            s
        })
        .collect();
    // Meanwhile, normal requests are answered.
    let row = diabetes_rows()[0].clone();
    let (status, body) = post(&client, &server.url("/score"), "application/json", json!({"data": [row]}).to_string());
    assert_eq!(status, 200, "{body}");
    for s in slow_headers.iter_mut().chain(slow_bodies.iter_mut()) {
        // Closed within the 2 s timeout plus a generous margin for a loaded machine.
        let took = wait_closed(s);
        assert!(took < Duration::from_secs(30), "closed after {took:?}");
    }
    // A header timeout is counted when the connection task ends, which is just after the client
    // sees the close: wait for the counts, with a generous deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = client.get(server.url("/metrics")).send().expect("metrics").text().expect("text");
        if timed_out(&metrics, "headers") >= 20 && timed_out(&metrics, "body") == 5 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, _) = post(&client, &server.url("/score"), "application/json", json!({"data": [row]}).to_string());
    assert_eq!(status, 200, "still serving");
    drop(server);
}
