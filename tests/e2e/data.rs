//! `mlops data`: profiles, checks on the good and the three broken reference files, dataset
//! versions (local registry and Azurite), and training on a registered version.

use serde_json::Value;

use crate::servers::{azurite, azurite_connection_string};
use crate::support::{Workspace, repo, stderr};

fn failing(report: &Value) -> Vec<(String, String, String)> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| {
            (
                c["check"].as_str().unwrap_or_default().to_string(),
                c["column"].as_str().unwrap_or_default().to_string(),
                c["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn profile_and_validate_reference_files() {
    let ws = Workspace::new();
    let data = |name: &str| repo().join("data").join(name).display().to_string();
    let profile = ws.json(&["data", "profile", "--data", &data("diabetes.csv"), "--out", "p.json"]);
    assert_eq!(profile["rows"], 442);
    let age = &profile["columns"][0];
    assert_eq!(
        (age["name"].as_str(), age["count"].as_u64(), age["missing"].as_u64()),
        (Some("AGE"), Some(442), Some(0))
    );
    // The features are scaled to unit norm: sample std dev 1/sqrt(441), not the mean the reference computed.
    let std = age["std"].as_f64().expect("std");
    assert!((std - 1.0 / 441f64.sqrt()).abs() < 1e-9, "{std}");
    let y = &profile["columns"][10];
    assert!((y["mean"].as_f64().expect("mean") - 152.133_484_162_895_9).abs() < 1e-9);
    assert_eq!(y["histogram"]["counts"].as_array().expect("counts").iter().filter_map(Value::as_u64).sum::<u64>(), 442);
    assert_eq!(y["quantiles"][2]["value"].as_f64(), Some(140.5), "median of Y");

    let validate = |file: &str| {
        let out = ws.run(&["data", "validate", "--data", &data(file), "--profile", "p.json", "-o", "json"]);
        let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        (out.status.code(), report)
    };
    let (code, report) = validate("diabetes.csv");
    assert_eq!((code, report["passed"].as_bool()), (Some(0), Some(true)), "{report:#}");

    let (code, report) = validate("diabetes_bad_dist.csv");
    assert_eq!(code, Some(5));
    let failed = failing(&report);
    assert!(failed.iter().all(|(_, column, _)| column == "AGE"), "{failed:?}");
    let (_, _, message) = failed.iter().find(|(check, _, _)| check == "mean_shift").expect("mean shift");
    assert!(message.contains("column \"AGE\"") && message.contains("> tolerance 3"), "{message}");

    let (code, report) = validate("diabetes_bad_schema.csv");
    assert_eq!(code, Some(5));
    let failed = failing(&report);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "schema");
    assert_eq!(failed[0].2, "column \"AGE\" is missing (expected as column 1)");

    let (code, report) = validate("diabetes_missing_values.csv");
    assert_eq!(code, Some(5));
    let failed = failing(&report);
    let columns: Vec<&str> = failed
        .iter()
        .map(|(check, column, _)| {
            assert_eq!(check, "missing_values");
            column.as_str()
        })
        .collect();
    assert_eq!(columns, ["AGE", "SEX", "BMI"]);
    assert!(failed[0].2.contains("first at line 2"), "{failed:?}");

    // Unreadable input is not a data-check failure.
    ws.write("ragged.csv", "a,b\n1\n");
    let out = ws.run(&["data", "validate", "--data", "ragged.csv"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("ragged.csv:2: row has 1 fields"), "{}", stderr(&out));
}

#[test]
fn dataset_versions_bump_only_on_content_change_and_train_uses_them() {
    let ws = Workspace::new();
    let original = std::fs::read_to_string(repo().join("data/diabetes.csv")).expect("data");
    ws.write("d.csv", &original);
    let first = ws.json(&["data", "register", "--name", "diabetes", "--data", "d.csv", "--description", "v1"]);
    assert_eq!((first["version"].as_u64(), first["created"].as_bool()), (Some(1), Some(true)));
    let again = ws.json(&["data", "register", "--name", "diabetes", "--data", "d.csv"]);
    assert_eq!((again["version"].as_u64(), again["created"].as_bool()), (Some(1), Some(false)));
    let fewer: String = original.lines().take(300).map(|l| format!("{l}\n")).collect();
    ws.write("d.csv", &fewer);
    let second = ws.json(&["data", "register", "--name", "diabetes", "--data", "d.csv"]);
    assert_eq!((second["version"].as_u64(), second["created"].as_bool()), (Some(2), Some(true)));
    assert!(ws.path().join("mlruns-datasets/diabetes/2/d.csv").is_file());

    let shown = ws.json(&["data", "show", "diabetes:1"]);
    assert_eq!(shown["sha256"], first["sha256"]);
    let list = ws.json(&["data", "list"]);
    assert_eq!(list[0]["version"], 2);
    let out = ws.run(&["data", "show", "diabetes:7"]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));

    // Version 1 still trains on all 442 rows although the file now has 299.
    let trained = ws.json(&["train", "--dataset", "diabetes:1"]);
    assert_eq!(
        trained["split"]["n_train"].as_u64().unwrap_or(0) + trained["split"]["n_test"].as_u64().unwrap_or(0),
        442
    );
    assert_eq!(trained["dataset"]["name"], "diabetes");
    assert_eq!(trained["dataset"]["version"], 1);
    let run = ws.json(&["runs", "show", trained["run_id"].as_str().expect("run id")]);
    assert_eq!(run["tags"]["mlops.dataset.version"], "1");
    assert_eq!(run["inputs"][0]["name"], "diabetes");
    assert_eq!(run["inputs"][0]["digest"], first["digest"]);
    // The training data's profile is saved with the model.
    let artifacts = ws.path().join("mlruns/0").join(trained["run_id"].as_str().expect("id")).join("artifacts");
    let profile: Value =
        serde_json::from_str(&std::fs::read_to_string(artifacts.join("data_profile.json")).expect("profile"))
            .expect("JSON");
    assert_eq!(profile["rows"], 442);
    assert_eq!(profile["sha256"], first["sha256"]);
}

#[test]
fn register_uploads_to_azurite_content_addressed() {
    let ws = Workspace::new();
    let azurite = azurite();
    let cs = azurite_connection_string(&azurite);
    ws.write("d.csv", "a,b\n1,2\n");
    let out = ws
        .mlops(&["data", "register", "--name", "tiny", "--data", "d.csv", "--datastore", "blob:datasets", "-o", "json"])
        .env("AZURE_STORAGE_CONNECTION_STRING", &cs)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let registered: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let sha = registered["sha256"].as_str().expect("sha");
    let expected_name = format!("datasets/tiny/sha256/{sha}/d.csv");
    assert!(registered["blob_url"].as_str().expect("url").ends_with(&expected_name), "{registered:#}");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let client = crate::servers::blob_container(&cs, "datasets");
    let body = runtime.block_on(client.download(&expected_name)).expect("blob exists");
    assert_eq!(&body[..], b"a,b\n1,2\n");
}

/// The repository's `.gitignore` covers everything `mlops` writes into a checkout: after
/// registering a dataset (whose files are copied into `mlruns-datasets/`) and training on it,
/// git sees only the files the user made.
#[test]
fn gitignore_covers_what_mlops_writes_in_a_checkout() {
    let ws = Workspace::new();
    std::fs::copy(repo().join(".gitignore"), ws.path().join(".gitignore")).expect("copy .gitignore");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").args(args).current_dir(ws.path()).output().expect("run git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    git(&["init", "-q"]);
    ws.write("d.csv", &std::fs::read_to_string(repo().join("data/diabetes.csv")).expect("data"));
    ws.json(&["data", "register", "--name", "diabetes", "--data", "d.csv"]);
    ws.json(&["train", "--dataset", "diabetes:1"]);
    assert!(ws.path().join("mlruns-datasets").is_dir() && ws.path().join("mlruns").is_dir());
    let untracked = git(&["status", "--porcelain", "--untracked-files=all"]);
    let mut files: Vec<&str> = untracked.lines().collect();
    files.sort_unstable();
    assert_eq!(files, ["?? .gitignore", "?? d.csv"], "{untracked}");
}
