//! Bad input to `mlops train`: a clear message naming the file (and line, column), a documented
//! exit code, never a panic, and no run left behind for input that was rejected up front.

use crate::support::{Workspace, diabetes, repo, stderr};

const INPUT: i32 = 6;
const USAGE: i32 = 2;
const TRAINING: i32 = 7;

/// Runs `train` and checks the exit code and that stderr contains every needle.
fn fails(ws: &Workspace, args: &[&str], code: i32, needles: &[&str]) {
    let mut all = vec!["train"];
    all.extend(args);
    let out = ws.run(&all);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "mlops {all:?}: stderr:\n{err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} missing from stderr:\n{err}");
    }
}

fn no_runs(ws: &Workspace) {
    let default = ws.path().join("mlruns/0");
    let runs = std::fs::read_dir(&default)
        .map(|d| d.filter_map(Result::ok).filter(|e| e.file_name().len() == 32).count())
        .unwrap_or(0);
    assert_eq!(runs, 0, "a rejected input left a run behind");
}

#[test]
fn missing_and_empty_files() {
    let ws = Workspace::new();
    fails(&ws, &["--data", "nope.csv"], INPUT, &["nope.csv", "cannot read data file"]);
    // With no --data and no data/diabetes.csv here, the default path is named.
    fails(&ws, &[], INPUT, &["data/diabetes.csv"]);
    let empty = ws.write("empty.csv", "");
    fails(&ws, &["--data", empty.to_str().expect("utf-8")], INPUT, &["empty.csv", "is empty"]);
    let header = ws.write("header.csv", "a,b,Y\n");
    fails(&ws, &["--data", header.to_str().expect("utf-8")], INPUT, &["header.csv", "no data rows"]);
    no_runs(&ws);
}

#[test]
fn malformed_rows_name_line_and_column() {
    let ws = Workspace::new();
    let cases = [
        ("dup.csv", "a,a,Y\n1,2,3\n", "column \"a\" appears twice"),
        ("ragged.csv", "a,b,Y\n1,2,3\n4,5\n", "ragged.csv:3: row has 2 fields, but the header has 3"),
        ("text.csv", "a,b,Y\n1,2,3\n4,five,6\n", "text.csv:3: column \"b\": \"five\" is not a number"),
        ("inf.csv", "a,b,Y\n1,2,3\n4,inf,6\n", "inf.csv:3: column \"b\": \"inf\" is not a finite number"),
        ("nan.csv", "a,b,Y\n1,NaN,3\n4,5,6\n", "nan.csv:2: column \"b\": \"NaN\" is not a finite number"),
    ];
    for (name, contents, needle) in cases {
        let path = ws.write(name, contents);
        fails(&ws, &["--data", path.to_str().expect("utf-8")], INPUT, &[needle]);
    }
    no_runs(&ws);
}

#[test]
fn reference_missing_values_file() {
    let ws = Workspace::new();
    let path = repo().join("data/diabetes_missing_values.csv");
    fails(
        &ws,
        &["--data", path.to_str().expect("utf-8")],
        INPUT,
        &["diabetes_missing_values.csv:2: column \"AGE\": missing value", "2 more missing cells"],
    );
}

#[test]
fn target_column_absent() {
    let ws = Workspace::new();
    let data = diabetes().display().to_string();
    fails(&ws, &["--data", &data, "--target", "price"], INPUT, &["no column named \"price\"", "AGE, SEX"]);
    let schema = repo().join("data/diabetes_bad_schema.csv");
    fails(
        &ws,
        &["--data", schema.to_str().expect("utf-8"), "--target", "AGE"],
        INPUT,
        &["diabetes_bad_schema.csv", "\"AGE\""],
    );
}

#[test]
fn split_problems() {
    let ws = Workspace::new();
    let data = diabetes().display().to_string();
    fails(&ws, &["--data", &data, "--test-size", "1.5"], USAGE, &["test size 1.5 is out of range"]);
    fails(&ws, &["--data", &data, "--test-size", "0"], USAGE, &["invalid test size \"0\""]);
    fails(&ws, &["--data", &data, "--test-size", "abc"], USAGE, &["invalid test size"]);
    fails(&ws, &["--data", &data, "--test-size", "442"], TRAINING, &["442 rows is out of range"]);
    let one = ws.write("one.csv", "a,Y\n1,2\n");
    fails(&ws, &["--data", one.to_str().expect("utf-8")], TRAINING, &["too few rows for the split"]);
    fails(&ws, &["--data", &data, "--alpha", "-1"], USAGE, &["--alpha must be a finite number >= 0"]);
}

#[test]
fn singular_system_is_reported_and_the_run_marked_failed() {
    let ws = Workspace::new();
    let mut csv = String::from("a,b,Y\n");
    for i in 0..20 {
        csv.push_str(&format!("{i},{},{}\n", 2 * i, i * 3 + i % 3));
    }
    let path = ws.write("collinear.csv", &csv);
    fails(
        &ws,
        &["--data", path.to_str().expect("utf-8"), "--alpha", "0"],
        TRAINING,
        &["singular", "\"b\"", "collinear.csv"],
    );
    let runs = ws.json(&["runs", "list"]);
    assert_eq!(runs["runs"][0]["info"]["status"], "FAILED");
    assert!(runs["runs"][0]["tags"]["mlops.error"].as_str().is_some_and(|e| e.contains("singular")));
}

#[test]
fn malformed_parameters_file() {
    let ws = Workspace::new();
    let data = diabetes().display().to_string();
    let bad = ws.write("params.json", "{\"training\": {\"alpha\": 0.4,}}");
    fails(
        &ws,
        &["--data", &data, "--params", bad.to_str().expect("utf-8")],
        INPUT,
        &["params.json:1:", "not valid JSON"],
    );
    let unknown = ws.write("unknown.json", "{\"training\": {\"alhpa\": 0.4}}");
    fails(
        &ws,
        &["--data", &data, "--params", unknown.to_str().expect("utf-8")],
        INPUT,
        &["training.alhpa", "unknown training parameter"],
    );
    fails(&ws, &["--data", &data, "--params", "absent.json"], INPUT, &["absent.json"]);
    fails(&ws, &["--data", &data, "--param", "alpha"], INPUT, &["--param \"alpha\": expected KEY=VALUE"]);
    no_runs(&ws);
}

#[test]
fn malformed_project_file() {
    let ws = Workspace::new();
    ws.write("mlops.toml", "[tracking]\nurl = \"x\"\n");
    fails(&ws, &["--data", &diabetes().display().to_string()], INPUT, &["mlops.toml", "unknown field `url`"]);
}
