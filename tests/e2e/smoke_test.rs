//! `mlops smoke-test`: passes against `mlops serve` and an Azure ML-style endpoint, waits for a
//! service that is still starting, and fails with the documented exit code when it should.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::serve::train;
use crate::servers::{MlopsServer, aml_like_endpoint, free_port};
use crate::support::{Workspace, floats, stderr};

#[test]
fn passes_against_mlops_serve_and_matches_its_answer() {
    let ws = Workspace::new();
    let model = train(&ws);
    let server = MlopsServer::start(&ws, &["--model", &model]);
    let report = ws.json(&["smoke-test", "--url", &server.url("/score")]);
    let results = floats(&report["results"]);
    assert_eq!(results.len(), 2);
    let direct: Value = reqwest::blocking::Client::new()
        .post(server.url("/score"))
        .json(&serde_json::json!({"data": [[1,2,3,4,5,6,7,8,9,10],[10,9,8,7,6,5,4,3,2,1]]}))
        .send()
        .expect("score")
        .json()
        .expect("json");
    assert_eq!(results, floats(&direct["result"]));
    assert!(report["traceparent"].as_str().is_some_and(|t| t.starts_with("00-")));
    assert!(report["request_id"].is_string());
    // --get only checks the URL answers 2xx, as the image's HEALTHCHECK does.
    let out = ws.run(&["smoke-test", "--get", "--url", &server.url("/ready")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("/ready is up"));
    let out = ws.run(&["smoke-test", "--get", "--url", &server.url("/score")]);
    assert_eq!(out.status.code(), Some(9), "GET /score is 405: {}", stderr(&out));
    // A URL without a path means /score; text output says it passed.
    let out = ws.run(&["smoke-test", "--url", &server.base]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("smoke test passed"));
}

#[test]
fn waits_for_a_service_that_is_starting() {
    let ws = Workspace::new();
    let model = train(&ws);
    let port = free_port().to_string();
    let url = format!("http://127.0.0.1:{port}/score");
    let smoke = ws
        .mlops(&["smoke-test", "--url", &url, "--timeout", "60", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start smoke test");
    std::thread::sleep(Duration::from_millis(1500));
    let server = MlopsServer::start(&ws, &["--model", &model, "--port", &port]);
    let out = smoke.wait_with_output().expect("smoke test");
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(report["attempts"].as_u64().is_some_and(|n| n > 1), "{report}");
    drop(server);
}

#[test]
fn works_against_an_azure_ml_style_endpoint_with_a_key() {
    let ws = Workspace::new();
    let endpoint = aml_like_endpoint("s3cret", "ok");
    let url = format!("{}/score", endpoint.base);
    let report = ws.json(&["smoke-test", "--url", &url, "--key", "s3cret"]);
    assert_eq!(floats(&report["results"]), vec![55.0, 55.0]);

    let out = ws.run(&["smoke-test", "--url", &url, "--key", "wrong"]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(stderr(&out).contains("HTTP 401"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("wrong"), "the key must not be printed: {}", stderr(&out));

    let starting = aml_like_endpoint("k", "starting");
    let report = ws.json(&["smoke-test", "--url", &format!("{}/score", starting.base), "--key", "k"]);
    assert_eq!(report["attempts"], 4, "three 503s, then success");

    let wrong = aml_like_endpoint("k", "wrong");
    let out = ws.run(&["smoke-test", "--url", &format!("{}/score", wrong.base), "--key", "k"]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert!(stderr(&out).contains("\"result\" has 1 values for 2 rows"), "{}", stderr(&out));
}

#[test]
fn fails_when_it_should() {
    let ws = Workspace::new();
    // Nothing listens.
    let url = format!("http://127.0.0.1:{}/score", free_port());
    let out = ws.run(&["smoke-test", "--url", &url, "--timeout", "1"]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    // The wait is shown as people read it (e.g. "1.0s"), not as "1.002345678s".
    let waited = stderr(&out);
    let after = waited.split("did not answer within ").nth(1).expect("the wait").split(' ').next().expect("duration");
    assert!(after.ends_with('s') && after.split('.').nth(1).is_none_or(|d| d.len() <= 2), "{waited}");

    // A 3-feature model passes: the sample comes from its service's /swagger.json.
    ws.write("three.csv", "a,b,c,y\n1,2,3,4\n2,3,1,5\n3,1,2,6\n4,4,4,8\n5,2,2,7\n6,1,5,9\n");
    let report = ws.json(&["train", "--data", "three.csv", "--target", "y", "--test-size", "2"]);
    let model = report["model"]["path"].as_str().expect("path").to_string();
    let server = MlopsServer::start(&ws, &["--model", &model]);
    let out = ws.run(&["smoke-test", "--url", &server.url("/score")]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Told to expect another model (the 10-feature diabetes one), the service refuses the sample.
    let other = train(&ws);
    let out = ws.run(&["smoke-test", "--url", &server.url("/score"), "--model", &other]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert!(stderr(&out).contains("refused the sample request: HTTP 400"), "{}", stderr(&out));
    assert!(stderr(&out).contains("the model expects 3 features"), "{}", stderr(&out));

    let out = ws.run(&["smoke-test", "--url", "ftp://x/score"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// The sample fits the model being served, whatever its features: here a 9-feature model. The
/// rows come from the service's own /swagger.json, or from the model's signature with --model.
#[test]
fn builds_its_sample_from_the_models_signature() {
    let ws = Workspace::new();
    let data = crate::support::repo().join("tests/fixtures/schema/diabetes.csv").display().to_string();
    let report = ws.json(&["train", "--data", &data]);
    let model = report["model"]["path"].as_str().expect("model path").to_string();
    let server = MlopsServer::start(&ws, &["--model", &model]);

    let from_service = ws.json(&["smoke-test", "--url", &server.url("/score")]);
    assert_eq!(from_service["sample_source"], "service");
    assert_eq!(from_service["features"], 9);
    let from_model = ws.json(&["smoke-test", "--url", &server.url("/score"), "--model", &model]);
    assert_eq!(from_model["sample_source"], "model");
    assert_eq!(from_model["features"], 9);
    // Both sent rows 1..9 and 9..1, so the service answered the same.
    let direct: Value = reqwest::blocking::Client::new()
        .post(server.url("/score"))
        .json(&serde_json::json!({"data": [[1,2,3,4,5,6,7,8,9],[9,8,7,6,5,4,3,2,1]]}))
        .send()
        .expect("score")
        .json()
        .expect("json");
    assert_eq!(floats(&from_service["results"]), floats(&direct["result"]));
    assert_eq!(floats(&from_model["results"]), floats(&direct["result"]));
    let out = ws.run(&["smoke-test", "--url", &server.base]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2 rows of 9 features"), "{text}");
}
