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

/// Run ids of a `runs list -o json` answer, in order.
fn listed_ids(list: &serde_json::Value) -> Vec<String> {
    list["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["info"]["run_id"].as_str().expect("id").to_string())
        .collect()
}

/// The same filters and orderings on the local store and on a real MLflow server holding the
/// same runs (pushed with `runs sync`) give the same runs in the same order.
#[test]
fn local_search_matches_an_mlflow_server() {
    let server = crate::mlflow_server::MlflowServer::shared();
    let ws = Workspace::new();
    let data = diabetes().display().to_string();
    // Experiment names unique on the shared server.
    let tag = ws.path().file_name().expect("name").to_string_lossy().replace(|c: char| !c.is_alphanumeric(), "");
    let (exp_a, exp_b) = (format!("search-a-{tag}"), format!("search-b-{tag}"));
    let mut parent = String::new();
    for (exp, name, alpha) in [
        (&exp_a, "r-1", "0.5"),
        (&exp_a, "R-2", "0.1"),
        (&exp_a, "r-3", "1.0"),
        (&exp_b, "b-1", "0.5"),
        (&exp_a, "x-4", "0.05"),
    ] {
        let mut args = vec!["train", "--data", &data, "--experiment", exp, "--run-name", name, "--alpha", alpha];
        if name == "x-4" {
            args.extend(["--parent-run-id", &parent]);
        }
        let report = ws.json(&args);
        if name == "r-1" {
            parent = report["run_id"].as_str().expect("id").to_string();
        }
    }
    let synced = ws.json(&["runs", "sync", "--to", &server.uri]);
    let to_server: std::collections::HashMap<String, String> = synced["synced"]
        .as_array()
        .expect("synced")
        .iter()
        .map(|o| {
            (o["local_run_id"].as_str().expect("local").into(), o["remote_run_id"].as_str().expect("remote").into())
        })
        .collect();
    assert_eq!(to_server.len(), 5);

    let filters = [
        "",
        "metrics.mse < 3300",
        "metrics.mse >= 3000 AND params.alpha = '0.5'",
        "params.alpha != '0.5'",
        "params.alpha LIKE '0.%'",
        "run_name ILIKE 'r-%'",
        "attributes.run_name LIKE 'r-%'",
        "tags.`mlflow.runName` = 'R-2'",
        "tags.mlflow.parentRunId IS NULL",
        "tags.mlflow.parentRunId IS NOT NULL and metrics.mse > 0",
        "attributes.status = 'FINISHED' AND metrics.r2 > 0.3 AND metrics.mse <= 3500",
        "params.seed = \"0\" and attributes.start_time > 0",
        "datasets.context = 'training'",
        "metrics.rmse > 1e9",
    ];
    let orders: [&[&str]; 6] = [
        &[],
        &["params.alpha DESC"],
        &["metrics.mse ASC"],
        &["metrics.mse DESC", "start_time ASC"],
        &["attributes.run_name"],
        &["tags.`mlflow.runName` DESC"],
    ];
    let mut compared = 0;
    for exp in [&exp_a, &exp_b] {
        for filter in filters {
            for order in orders {
                let mut args = vec!["runs", "list", "--experiment", exp.as_str()];
                if !filter.is_empty() {
                    args.extend(["--filter", filter]);
                }
                for o in order {
                    args.extend(["--order-by", o]);
                }
                let local: Vec<String> = listed_ids(&ws.json(&args)).iter().map(|id| to_server[id].clone()).collect();
                args.extend(["--tracking-uri", server.uri.as_str()]);
                let remote = listed_ids(&ws.json(&args));
                assert_eq!(local, remote, "filter {filter:?} order {order:?} in {exp}");
                compared += usize::from(!local.is_empty());
            }
        }
    }
    assert!(compared > 60, "most combinations select runs ({compared})");

    // --top-level hides the child run on both.
    let args = ["runs", "list", "--experiment", exp_a.as_str(), "--top-level", "--order-by", "params.alpha"];
    let local: Vec<String> = listed_ids(&ws.json(&args)).iter().map(|id| to_server[id].clone()).collect();
    let remote = listed_ids(&ws.json(&[&args[..], &["--tracking-uri", server.uri.as_str()]].concat()));
    assert_eq!(local.len(), 3, "the three top-level runs of {exp_a}");
    assert_eq!(local, remote);
}

#[test]
fn listing_names_experiments_nests_children_and_show_takes_prefixes() {
    let ws = Workspace::new();
    let data = diabetes().display().to_string();
    let parent = ws.json(&["train", "--data", &data, "--experiment", "nest", "--run-name", "parent"]);
    let parent_id = parent["run_id"].as_str().expect("id");
    let child = ws.json(&[
        "train",
        "--data",
        &data,
        "--experiment",
        "nest",
        "--run-name",
        "child",
        "--parent-run-id",
        parent_id,
    ]);
    let latest = ws.json(&["train", "--data", &data, "--experiment", "other", "--run-name", "latest"]);

    let all = ws.json(&["runs", "list"]);
    let runs = all["runs"].as_array().expect("runs");
    let names: Vec<(&str, i64, &str)> = runs
        .iter()
        .map(|r| {
            (
                r["info"]["run_name"].as_str().expect("name"),
                r["depth"].as_i64().expect("depth"),
                r["experiment_name"].as_str().expect("experiment"),
            )
        })
        .collect();
    // Newest first, except that the child follows its parent.
    assert_eq!(names, [("latest", 0, "other"), ("parent", 0, "nest"), ("child", 1, "nest")]);
    let top = ws.json(&["runs", "list", "--top-level"]);
    assert_eq!(listed_ids(&top), [latest["run_id"].as_str().expect("id"), parent_id]);

    let table = String::from_utf8_lossy(&ws.run(&["runs", "list"]).stdout).into_owned();
    assert!(table.contains("EXPERIMENT") && table.contains("nest") && table.contains("└ child"), "{table}");

    let child_id = child["run_id"].as_str().expect("id");
    let shown = ws.json(&["runs", "show", &child_id[..8]]);
    assert_eq!(shown["info"]["run_id"], child_id);
    // A twin run whose id shares the child's first 8 characters makes that prefix ambiguous.
    let exp_dir = ws.path().join("mlruns").join(child["experiment_id"].as_str().expect("experiment id"));
    let twin_id = format!("{}{}", &child_id[..8], if &child_id[8..9] == "0" { "1" } else { "0" }.repeat(24));
    let twin_dir = exp_dir.join(&twin_id);
    std::fs::create_dir_all(&twin_dir).expect("twin dir");
    let meta = std::fs::read_to_string(exp_dir.join(child_id).join("meta.yaml")).expect("meta");
    std::fs::write(twin_dir.join("meta.yaml"), meta.replace(child_id, &twin_id)).expect("twin meta");
    let out = ws.run(&["runs", "show", &child_id[..8]]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(text.contains(child_id) && text.contains(&twin_id) && text.contains("matches 2 runs"), "{text}");
    assert_eq!(ws.json(&["runs", "show", &child_id[..9]])["info"]["run_id"], child_id);
    let ids = listed_ids(&ws.json(&["runs", "list"]));
    let unused = "0123456789abcdef".chars().find(|c| ids.iter().all(|id| !id.starts_with(*c))).expect("a free digit");
    let out = ws.run(&["runs", "show", &unused.to_string()]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
}
