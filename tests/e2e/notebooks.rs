//! The experimentation notebooks: executed headless with nbclient from the test virtualenv, against
//! the test MLflow server, and agreeing with `mlops train`. They are committed without outputs.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::mlflow_server::MlflowServer;
use crate::support::{Workspace, assert_close, diabetes, python, python_json, repo};

const TRAINING: &str = "Diabetes Ridge Regression Training.ipynb";
const TRAINING_MLFLOW: &str = "Diabetes Ridge Regression Training MLflow.ipynb";

fn experimentation() -> PathBuf {
    repo().join("experimentation")
}

/// Every `.ipynb` under `dir`, recursively, except in hidden directories (Jupyter's git-ignored
/// `.ipynb_checkpoints/` keeps copies with outputs).
fn notebooks_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if path.is_dir() && !hidden {
            found.extend(notebooks_under(&path));
        } else if path.extension().is_some_and(|e| e == "ipynb") {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// What a notebook run left behind: the result JSON the notebook wrote and the executed notebook.
struct Executed {
    result: Value,
    notebook: Value,
}

/// Runs `tests/python/run_notebook.py` on one notebook with the kernel's cwd in `experimentation/`;
/// requires success. `env` is added to a clean environment (no tracking settings inherited).
fn execute(name: &str, ws: &Workspace, env: &[(&str, &str)]) -> Executed {
    let result_path = ws.path().join(format!("{name}.result.json"));
    let executed_path = ws.path().join(format!("executed {name}"));
    let mut cmd = Command::new(python());
    cmd.arg(repo().join("tests/python/run_notebook.py"))
        .arg(experimentation().join(name))
        .arg("--cwd")
        .arg(experimentation())
        .arg("--out")
        .arg(&executed_path)
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("MLFLOW_EXPERIMENT_NAME")
        .env_remove("MLOPS_CONFIG")
        .env_remove("MLOPS_LOCAL_STORE")
        .env_remove("MLOPS_DATA")
        .env_remove("MLOPS_BIN")
        .env("MLOPS_NOTEBOOK_RESULT", &result_path)
        // Headless: matplotlib must not look for a display whatever the notebook does.
        .env("MPLBACKEND", "Agg")
        .env("HOME", ws.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run run_notebook.py");
    assert!(
        out.status.success(),
        "notebook {name} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let result = std::fs::read_to_string(&result_path)
        .unwrap_or_else(|e| panic!("{name} wrote no result to MLOPS_NOTEBOOK_RESULT: {e}"));
    let notebook = std::fs::read_to_string(&executed_path).expect("executed notebook");
    Executed {
        result: serde_json::from_str(&result).expect("result is JSON"),
        notebook: serde_json::from_str(&notebook).expect("executed notebook is JSON"),
    }
}

/// The MIME types of every output of every code cell.
fn output_kinds(notebook: &Value) -> Vec<String> {
    let mut kinds = Vec::new();
    for cell in notebook["cells"].as_array().expect("cells") {
        for output in cell["outputs"].as_array().into_iter().flatten() {
            kinds.push(output["output_type"].as_str().unwrap_or_default().to_string());
            if let Some(data) = output["data"].as_object() {
                kinds.extend(data.keys().cloned());
            }
        }
    }
    kinds
}

/// The mlruns directories a notebook or `mlops train` would create in the repository by mistake.
fn stray_stores() -> Vec<(PathBuf, bool)> {
    [repo().join("mlruns"), experimentation().join("mlruns"), experimentation().join("mlflow.db")]
        .into_iter()
        .map(|p| {
            let existed = p.exists();
            (p, existed)
        })
        .collect()
}

fn assert_no_new_stores(before: &[(PathBuf, bool)]) {
    for (path, existed) in before {
        assert!(*existed || !path.exists(), "the notebook test wrote {} into the repository", path.display());
    }
}

#[test]
fn committed_notebooks_have_no_outputs() {
    let found = notebooks_under(&experimentation());
    for expected in [TRAINING, TRAINING_MLFLOW] {
        assert!(found.contains(&experimentation().join(expected)), "{expected} missing from experimentation/");
    }
    for path in found {
        let text = std::fs::read_to_string(&path).expect("read notebook");
        let nb: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
        assert_eq!(nb["nbformat"], 4, "{}: nbformat 4", path.display());
        let cells = nb["cells"].as_array().unwrap_or_else(|| panic!("{}: no cells", path.display()));
        for (i, cell) in cells.iter().enumerate() {
            if cell["cell_type"] != "code" {
                continue;
            }
            let what = format!("{} cell {i}", path.display());
            assert_eq!(cell["execution_count"], Value::Null, "{what}: execution_count must be null");
            assert_eq!(cell["outputs"], Value::Array(vec![]), "{what}: outputs must be empty");
        }
    }
}

#[test]
fn training_notebook_agrees_with_mlops_train() {
    let ws = Workspace::new();
    let before = stray_stores();
    let executed = execute(TRAINING, &ws, &[]);
    let result = &executed.result;
    assert_eq!(result["alpha"], 0.5);
    assert_eq!(result["test_size"], 0.2);
    assert_eq!(result["seed"], 0);

    // mlops train with the same parameters, in the workspace (its ./mlruns is the workspace's).
    let data = diabetes().display().to_string();
    let report = ws.json(&["train", "--data", &data, "--alpha", "0.5", "--test-size", "0.2", "--seed", "0"]);
    for metric in ["mse", "rmse", "mae", "r2"] {
        let ours = report["metrics"][metric].as_f64().expect("mlops metric");
        let notebook = result["metrics"][metric].as_f64().unwrap_or_else(|| panic!("notebook has no {metric}"));
        assert_close(notebook, ours, 1e-9, &format!("notebook {metric} vs mlops train"));
    }
    // And against scikit-learn run outside the notebook, so both cannot be wrong together.
    let case = serde_json::json!([{"data": data, "target": "Y", "alpha": 0.5, "test_size": 0.2, "seed": 0}]);
    let reference = python_json("sklearn_reference.py", &[], Some(&case.to_string()));
    let mse = reference[0]["metrics"]["mse"].as_f64().expect("reference mse");
    assert_close(result["metrics"]["mse"].as_f64().expect("mse"), mse, 1e-9, "notebook mse vs sklearn_reference");

    let kinds = output_kinds(&executed.notebook);
    assert!(kinds.iter().any(|k| k == "image/png"), "no predicted-vs-actual plot among the outputs: {kinds:?}");
    assert!(!kinds.iter().any(|k| k == "error"), "an error output: {kinds:?}");
    assert_no_new_stores(&before);
}

#[test]
fn mlflow_notebook_tracks_to_the_server_and_matches_mlops_train() {
    let server = MlflowServer::shared();
    let ws = Workspace::new();
    let before = stray_stores();
    let experiment = format!("notebook-{}", std::process::id());
    let local_store = ws.path().join("journal");
    let local_store = local_store.display().to_string();
    let executed = execute(
        TRAINING_MLFLOW,
        &ws,
        &[
            ("MLFLOW_TRACKING_URI", &server.uri),
            ("MLFLOW_EXPERIMENT_NAME", &experiment),
            ("MLOPS_BIN", env!("CARGO_BIN_EXE_mlops")),
            // mlops journals runs bound for a server in a local store: keep it out of the repository.
            ("MLOPS_LOCAL_STORE", &local_store),
        ],
    );
    let result = &executed.result;
    assert_eq!(result["tracking_uri"], server.uri.as_str());
    assert_eq!(result["experiment"], experiment.as_str());

    // The test's own mlops train, into the workspace's ./mlruns (a temp dir).
    let data = diabetes().display().to_string();
    let report = ws.json(&["train", "--data", &data]);
    let notebook_run = result["notebook_run_id"].as_str().expect("notebook run id");
    let mlops_run = result["mlops_run_id"].as_str().expect("mlops run id");
    assert_ne!(notebook_run, mlops_run);

    // Both runs, as MLflow's client reads them from the server.
    let seen_notebook = python_json("read_store.py", &[&server.uri, notebook_run], None);
    let seen_mlops = python_json("read_store.py", &[&server.uri, mlops_run], None);
    for seen in [&seen_notebook, &seen_mlops] {
        assert_eq!(seen["experiment_name"], experiment.as_str());
        assert_eq!(seen["status"], "FINISHED");
        assert_eq!(seen["params"]["alpha"], "0.5");
        assert_eq!(seen["params"]["seed"], "0");
    }
    for param in ["alpha", "test_size", "seed", "target", "data"] {
        assert_eq!(seen_notebook["params"][param], seen_mlops["params"][param], "param {param} of the two runs");
    }
    for metric in ["mse", "rmse", "mae", "r2"] {
        let ours = report["metrics"][metric].as_f64().expect("mlops metric");
        let notebook = result["metrics"][metric].as_f64().unwrap_or_else(|| panic!("notebook has no {metric}"));
        assert_close(notebook, ours, 1e-9, &format!("notebook {metric} vs mlops train"));
        let logged = seen_notebook["metrics"][metric].as_f64().expect("logged metric");
        assert_close(logged, ours, 1e-9, &format!("notebook run's logged {metric} vs mlops train"));
        assert_eq!(seen_mlops["metrics"][metric], report["metrics"][metric], "{metric} of the notebook's mlops run");
    }
    let input = &seen_notebook["inputs"][0];
    assert_eq!(input["name"], "diabetes");
    assert_eq!(input["context"], "training");
    let models = seen_notebook["logged_models"].as_array().expect("logged models");
    assert_eq!(models.len(), 1, "the notebook logs one model: {models:?}");
    assert_eq!(models[0]["name"], "model");

    assert!(std::path::Path::new(&local_store).exists(), "mlops journalled the notebook's run in MLOPS_LOCAL_STORE");
    let kinds = output_kinds(&executed.notebook);
    assert!(kinds.iter().any(|k| k == "text/html"), "no side-by-side table among the outputs: {kinds:?}");
    assert_no_new_stores(&before);
}
