//! `mlops runs list | show` on the local store.

use crate::support::{Workspace, diabetes, stderr};

#[test]
fn list_and_show() {
    let ws = Workspace::new();
    let data = diabetes().display().to_string();
    let first = ws.json(&["train", "--data", &data, "--experiment", "a", "--run-name", "one"]);
    let second = ws.json(&["train", "--data", &data, "--experiment", "b", "--alpha", "0.1"]);

    let all = ws.json(&["runs", "list"]);
    let ids: Vec<&str> =
        all["runs"].as_array().expect("runs").iter().map(|r| r["info"]["run_id"].as_str().expect("id")).collect();
    assert_eq!(ids, [second["run_id"].as_str().expect("id"), first["run_id"].as_str().expect("id")], "newest first");

    let only_a = ws.json(&["runs", "list", "--experiment", "a"]);
    assert_eq!(only_a["runs"].as_array().expect("runs").len(), 1);

    let shown = ws.json(&["runs", "show", first["run_id"].as_str().expect("id")]);
    assert_eq!(shown["info"]["run_name"], "one");
    assert_eq!(shown["info"]["status"], "FINISHED");
    assert_eq!(shown["params"]["alpha"], "0.5");
    assert_eq!(shown["metrics"]["mse"]["value"], first["metrics"]["mse"]);
    assert_eq!(shown["inputs"][0]["context"], "training");

    let table = ws.run(&["runs", "list"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("RUN ID"), "{text}");
    assert!(text.contains("FINISHED"));

    let out = ws.run(&["runs", "show", &"0".repeat(32)]);
    assert_eq!(out.status.code(), Some(8));
    let out = ws.run(&["runs", "show", "not-an-id"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = ws.run(&["runs", "list", "--experiment", "zzz"]);
    assert_eq!(out.status.code(), Some(8));
}
