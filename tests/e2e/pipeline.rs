//! `mlops pipeline`: the diabetes pipeline end to end on the local store (parent and child runs,
//! gate, registry), failure and resume, and malformed pipeline files.

use serde_json::Value;

use crate::support::{Workspace, repo, stderr};

/// A workspace with the repository's data and pipeline files, as a project checkout has them.
pub fn project() -> Workspace {
    let ws = Workspace::new();
    for dir in ["data", "pipelines"] {
        std::fs::create_dir_all(ws.path().join(dir)).expect("mkdir");
        for entry in std::fs::read_dir(repo().join(dir)).expect("read dir") {
            let path = entry.expect("entry").path();
            if !path.is_file() {
                continue; // pipelines/azure-devops/ holds CI definitions, not pipeline files
            }
            std::fs::copy(&path, ws.path().join(dir).join(path.file_name().expect("name"))).expect("copy");
        }
    }
    ws
}

fn run(ws: &Workspace, extra: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec!["pipeline", "run", "pipelines/diabetes-train.yml", "-o", "json"];
    args.extend_from_slice(extra);
    let out = ws.run(&args);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stderr:\n{}", stderr(&out)));
    (out.status.code(), report)
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (s["name"].as_str().unwrap_or_default().to_string(), s["status"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

fn step<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["steps"].as_array().expect("steps").iter().find(|s| s["name"] == name).expect("step")
}

fn tag(ws: &Workspace, run_id: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(ws.path().join("mlruns/0").join(run_id).join("tags").join(key)).ok()
}

#[test]
fn diabetes_pipeline_registers_first_then_reports_not_better() {
    let ws = project();
    let (code, first) = run(&ws, &[]);
    assert_eq!(code, Some(0), "{first:#}");
    assert_eq!(first["status"], "succeeded");
    let expected: Vec<(String, String)> = ["validate-data", "register-data", "train", "evaluate", "register"]
        .iter()
        .map(|s| (s.to_string(), "succeeded".to_string()))
        .collect();
    assert_eq!(statuses(&first), expected);
    assert_eq!(step(&first, "evaluate")["outputs"]["decision"], "first");
    assert_eq!(step(&first, "register")["outputs"]["version.version"], 1);
    let parent = first["parent_run_id"].as_str().expect("parent");
    for name in ["validate-data", "register-data", "train", "evaluate", "register"] {
        let child = step(&first, name)["run_id"].as_str().expect("child run").to_string();
        assert_eq!(tag(&ws, &child, "mlflow.parentRunId").as_deref(), Some(parent), "step {name}");
    }
    assert_eq!(tag(&ws, parent, "mlops.pipeline.status").as_deref(), Some("succeeded"));
    let model = ws.json(&["model", "show", "diabetes-model@champion"]);
    assert_eq!(model["version"], 1);

    let (code, second) = run(&ws, &[]);
    assert_eq!(code, Some(0), "not-better is a clean outcome: {second:#}");
    assert_eq!(second["status"], "not-better");
    assert_eq!(step(&second, "register-data")["outputs"]["created"], false);
    assert_eq!(step(&second, "evaluate")["status"], "not-better");
    assert_eq!(step(&second, "register")["status"], "skipped");
    let versions = ws.json(&["model", "list", "diabetes-model"]);
    assert_eq!(versions["versions"].as_array().map(Vec::len), Some(1), "nothing registered: {versions:#}");

    let (code, _) = run(&ws, &["--fail-on-not-better"]);
    assert_eq!(code, Some(3));

    // The text summary: durations as people read them, and the outcome worded as one sentence
    // (not "nothing was registered in 0.0s").
    let out = ws.run(&["pipeline", "run", "pipelines/diabetes-train.yml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text.lines().find(|l| l.starts_with("pipeline \"diabetes-train\"")).expect("summary line");
    assert!(summary.starts_with("pipeline \"diabetes-train\" finished in "), "{summary}");
    assert!(
        summary.ends_with("): the new model is not better than the champion, so nothing was registered"),
        "{summary}"
    );
    assert!(!text.contains("0.0s"), "{text}");
    let skipped = text.lines().find(|l| l.starts_with("register ")).expect("register row");
    assert!(skipped.split_whitespace().nth(2) == Some("0ms"), "a step that did not run took 0ms: {skipped}");
}

#[test]
fn failing_step_stops_dependents_and_resume_reuses_outputs() {
    let ws = project();
    let (code, failed) = run(&ws, &["--param", "alpha=-1"]);
    assert_eq!(code, Some(2), "train's usage error is the pipeline's exit code: {failed:#}");
    assert_eq!(failed["status"], "failed");
    let got: Vec<String> = statuses(&failed).into_iter().map(|(_, s)| s).collect();
    assert_eq!(got, ["succeeded", "succeeded", "failed", "skipped", "skipped"]);
    // The summary says why in train's own words: its error report, read from its stderr.
    assert_eq!(failed["failure"]["step"], "train");
    assert_eq!(failed["failure"]["exit_code"], 2);
    let errors = failed["failure"]["errors"].as_array().expect("errors");
    assert!(
        errors.first().and_then(Value::as_str).is_some_and(|e| e.starts_with("error: ") && e.contains("alpha")),
        "{errors:?}"
    );
    assert_eq!(step(&failed, "train")["errors"], failed["failure"]["errors"]);
    let parent = failed["parent_run_id"].as_str().expect("parent");

    let (code, resumed) = run(&ws, &["--from", "train"]);
    assert_eq!(code, Some(0), "{resumed:#}");
    assert_eq!(resumed["resumed_from"], parent);
    let got: Vec<String> = statuses(&resumed).into_iter().map(|(_, s)| s).collect();
    assert_eq!(got, ["reused", "reused", "succeeded", "succeeded", "succeeded"]);
    assert_eq!(step(&resumed, "register-data")["run_id"], step(&failed, "register-data")["run_id"]);

    let out = ws.run(&["pipeline", "run", "pipelines/diabetes-train.yml", "--from", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no such step"), "{}", stderr(&out));
}

#[test]
fn bad_data_fails_the_validate_step_with_exit_5() {
    let ws = project();
    let (code, report) = run(&ws, &["--param", "data_path=data/diabetes_bad_dist.csv"]);
    assert_eq!(code, Some(5), "{report:#}");
    let got: Vec<String> = statuses(&report).into_iter().map(|(_, s)| s).collect();
    assert_eq!(got, ["failed", "skipped", "skipped", "skipped", "skipped"]);
    // The JSON summary names the step, its exit code and each failed check with its column and figures.
    let failure = &report["failure"];
    assert_eq!((failure["step"].as_str(), failure["exit_code"].as_i64()), (Some("validate-data"), Some(5)));
    let errors: Vec<&str> = failure["errors"].as_array().expect("errors").iter().filter_map(Value::as_str).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with("mean_shift failed: column \"AGE\": mean 49.999059 vs"), "{errors:?}");
    assert!(errors[1].starts_with("std_shift failed: column \"AGE\": standard deviation 70.712009 vs"), "{errors:?}");
    // The validate step's child run carries them too.
    let child = step(&report, "validate-data")["run_id"].as_str().expect("child run");
    assert!(tag(&ws, child, "mlops.error").is_some_and(|t| t.contains("mean_shift failed")));

    // The text summary says the same.
    let out =
        ws.run(&["pipeline", "run", "pipelines/diabetes-train.yml", "--param", "data_path=data/diabetes_bad_dist.csv"]);
    assert_eq!(out.status.code(), Some(5));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAILED at step \"validate-data\" (exit code 5)"), "{text}");
    assert!(text.contains("  mean_shift failed: column \"AGE\""), "{text}");
    assert!(text.contains("  std_shift failed: column \"AGE\""), "{text}");
}

#[test]
fn malformed_pipeline_files_name_the_line() {
    let ws = Workspace::new();
    let cases = [
        (
            "unknown-step.yml",
            "name: p\nsteps:\n  - name: a\n    run: [train]\n    depends_on: [b]\n",
            ":5: step \"a\" depends on unknown step \"b\"",
        ),
        (
            "cycle.yml",
            "name: p\nsteps:\n  - name: a\n    run: [train]\n    depends_on: [b]\n  - name: b\n    run: [train]\n    depends_on: [a]\n",
            ":3: dependency cycle: a -> b -> a",
        ),
        (
            "missing-param.yml",
            "name: p\nparameters:\n  alpha:\n    description: no default\nsteps:\n  - name: a\n    run: [train, --alpha, \"${{ parameters.alpha }}\"]\n",
            ":3: parameter \"alpha\" has no default",
        ),
        (
            "unknown-param.yml",
            "name: p\nsteps:\n  - name: a\n    run: [train, --alpha, \"${{ parameters.beta }}\"]\n",
            ":4: step \"a\": unknown parameter \"beta\"",
        ),
        ("bad-yaml.yml", "name: p\nsteps:\n  - name: a\n    run: [train\n", ":"),
        ("unknown-key.yml", "name: p\nsteps:\n  - name: a\n    command: [train]\n", ":4:"),
    ];
    for (file, text, expected) in cases {
        ws.write(file, text);
        for verb in ["validate", "run"] {
            let out = ws.run(&["pipeline", verb, file]);
            assert_eq!(out.status.code(), Some(6), "{verb} {file}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(err.contains(&format!("{file}{expected}")), "{verb} {file}: {err}");
        }
    }
    assert!(!ws.path().join("mlruns").exists(), "nothing ran");
}

#[test]
fn pipeline_on_mlflow_server_has_parent_and_children_there() {
    let server = crate::mlflow_server::MlflowServer::shared();
    let ws = project();
    let model = format!("pipeline-model-{}", std::process::id());
    let param = format!("model_name={model}");
    let (code, first) = run(&ws, &["--tracking-uri", &server.uri, "--experiment", "pipelines", "--param", &param]);
    assert_eq!(code, Some(0), "{first:#}");
    assert_eq!(first["status"], "succeeded");
    assert_eq!(step(&first, "evaluate")["outputs"]["decision"], "first");
    let parent = first["parent_run_id"].as_str().expect("parent");
    let seen = crate::support::python_json("read_store.py", &[&server.uri, parent], None);
    assert_eq!(seen["tags"]["mlops.pipeline.status"], "succeeded", "{seen:#}");
    for name in ["validate-data", "train", "evaluate"] {
        let child = step(&first, name)["run_id"].as_str().expect("child");
        let seen = crate::support::python_json("read_store.py", &[&server.uri, child], None);
        assert_eq!(seen["tags"]["mlflow.parentRunId"], parent, "step {name}: {seen:#}");
    }
    let (code, second) = run(&ws, &["--tracking-uri", &server.uri, "--experiment", "pipelines", "--param", &param]);
    assert_eq!(code, Some(0), "{second:#}");
    assert_eq!(second["status"], "not-better");
    assert_eq!(step(&second, "register")["status"], "skipped");
}
