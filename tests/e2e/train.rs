//! `mlops train`: scikit-learn parity, the run store as MLflow reads it, the model as MLflow loads it.

use serde_json::{Value, json};

use crate::support::{Workspace, assert_close, diabetes, floats, python_json, python_output, repo};

struct Case {
    data: String,
    alpha: f64,
    test_size: &'static str,
    seed: u32,
}

fn check_parity(ws: &Workspace, target: &str, cases: &[Case]) {
    let spec: Vec<Value> = cases
        .iter()
        .map(|c| {
            let test_size: Value = serde_json::from_str(c.test_size).expect("number");
            json!({"data": c.data, "target": target, "alpha": c.alpha, "test_size": test_size, "seed": c.seed})
        })
        .collect();
    let expected = python_json("sklearn_reference.py", &[], Some(&Value::Array(spec).to_string()));
    for (case, reference) in cases.iter().zip(expected.as_array().expect("list")) {
        let what = format!("{} alpha={} test_size={} seed={}", case.data, case.alpha, case.test_size, case.seed);
        let alpha = case.alpha.to_string();
        let seed = case.seed.to_string();
        let report = ws.json(&[
            "train",
            "--data",
            &case.data,
            "--target",
            target,
            "--alpha",
            &alpha,
            "--test-size",
            case.test_size,
            "--seed",
            &seed,
        ]);
        assert_eq!(report["split"]["n_train"], reference["n_train"], "{what}");
        assert_eq!(report["split"]["n_test"], reference["n_test"], "{what}");
        assert_eq!(report["model"]["feature_names"], reference["feature_names"], "{what}");
        let coefficients = floats(&report["model"]["coefficients"]);
        let reference_coefficients = floats(&reference["coefficients"]);
        let scale = reference_coefficients.iter().fold(0.0f64, |m, c| m.max(c.abs()));
        for (i, (a, e)) in coefficients.iter().zip(&reference_coefficients).enumerate() {
            // Relative to the coefficient, or to the largest one for coefficients near zero.
            let tolerance = 1e-9 * e.abs().max(scale * 1e-3);
            assert!((a - e).abs() <= tolerance, "{what}: coefficient {i}: {a:?} vs {e:?}");
        }
        assert_close(
            report["model"]["intercept"].as_f64().expect("intercept"),
            reference["intercept"].as_f64().expect("f64"),
            1e-9,
            &format!("{what}: intercept"),
        );
        for metric in ["mse", "rmse", "mae", "r2"] {
            assert_close(
                report["metrics"][metric].as_f64().expect("metric"),
                reference["metrics"][metric].as_f64().expect("metric"),
                1e-9,
                &format!("{what}: {metric}"),
            );
        }
        // Test-set predictions: score the whole file with the saved model and pick the test rows.
        let model = report["model"]["path"].as_str().expect("model path");
        let predicted = ws.json(&["predict", "--model", model, "--data", &case.data]);
        let all = crate::support::predicted(&predicted);
        let test_indices = reference["test_indices"].as_array().expect("indices");
        for (index, expected) in test_indices.iter().zip(floats(&reference["test_predictions"])) {
            let row = index.as_u64().expect("index") as usize;
            assert_close(all[row], expected, 1e-9, &format!("{what}: prediction for row {row}"));
        }
    }
}

#[test]
fn diabetes_matches_scikit_learn() {
    let ws = Workspace::new();
    let data = diabetes().display().to_string();
    let case = |alpha, test_size, seed| Case { data: data.clone(), alpha, test_size, seed };
    check_parity(
        &ws,
        "Y",
        &[
            case(0.5, "0.2", 0),
            case(0.1, "0.25", 42),
            case(1.0, "100", 7),
            case(0.0, "0.3", 123),
            case(10.0, "0.1", u32::MAX),
        ],
    );
}

#[test]
fn generated_data_matches_scikit_learn() {
    let ws = Workspace::new();
    let path = ws.path().join("generated.csv");
    let out = python_output("make_dataset.py", &[path.to_str().expect("utf-8"), "5000", "30", "11"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let data = path.display().to_string();
    let case = |alpha, test_size, seed| Case { data: data.clone(), alpha, test_size, seed };
    check_parity(&ws, "target", &[case(0.5, "0.2", 0), case(3.0, "0.33", 99), case(0.0, "1234", 5)]);
}

#[test]
fn default_run_is_readable_by_mlflow() {
    let ws = Workspace::new();
    std::fs::create_dir(ws.path().join("data")).expect("mkdir");
    std::fs::copy(diabetes(), ws.path().join("data/diabetes.csv")).expect("copy data");
    let report = ws.json(&["train", "--experiment", "diabetes", "--run-name", "parity-run"]);
    assert_eq!(report["params"]["alpha"], 0.5);
    assert_eq!(report["params"]["test_size"], 0.2);
    assert_eq!(report["params"]["seed"], 0);
    assert_eq!(report["params"]["target"], "Y");
    assert!(report["tracking_uri"].as_str().expect("uri").ends_with("/mlruns"));

    let run_id = report["run_id"].as_str().expect("run id");
    let uri = format!("file://{}", ws.path().join("mlruns").display());
    let seen = python_json("read_store.py", &[&uri, run_id], None);
    assert_eq!(seen["experiment_name"], "diabetes");
    assert_eq!(seen["status"], "FINISHED");
    assert_eq!(seen["run_name"], "parity-run");
    assert_eq!(
        seen["params"],
        json!({"alpha": "0.5", "test_size": "0.2", "seed": "0", "target": "Y", "data": "data/diabetes.csv"})
    );
    for metric in ["mse", "rmse", "mae", "r2"] {
        assert_eq!(seen["metrics"][metric], report["metrics"][metric], "{metric} read back exactly");
    }
    let tags = &seen["tags"];
    assert_eq!(tags["mlflow.runName"], "parity-run");
    assert_eq!(tags["mlflow.source.name"], "mlops");
    assert_eq!(tags["mlflow.source.type"], "LOCAL");
    assert!(tags["mlflow.user"].as_str().is_some_and(|u| !u.is_empty()));
    let artifacts = seen["artifacts"].as_array().expect("artifacts");
    for expected in
        ["model/MLmodel", "model/model.json", "model/code/mlops_linear_pyfunc.py", "model/input_example.json"]
    {
        assert!(artifacts.iter().any(|a| a == expected), "artifact {expected} missing from {artifacts:?}");
    }
    // An MLflow 3 logged model, as mlflow.sklearn.log_model records one on a file store.
    let models = seen["logged_models"].as_array().expect("logged models");
    assert_eq!(models.len(), 1, "{models:?}");
    let model_id = models[0]["model_id"].as_str().expect("model id");
    assert!(model_id.starts_with("m-"));
    assert_eq!(models[0]["name"], "model");
    assert_eq!(models[0]["status"], "READY");
    assert_eq!(models[0]["params"]["alpha"], "0.5");
    assert_eq!(models[0]["metrics"]["mse"], report["metrics"]["mse"]);
    assert_eq!(seen["outputs"], json!([model_id]));
    let input = &seen["inputs"][0];
    assert_eq!(input["name"], "diabetes");
    assert_eq!(input["context"], "training");
    assert_eq!(input["digest"], report["dataset"]["digest"]);

    // The MLflow client loads the model both from the directory and as runs:/ and predicts like scikit-learn.
    let reference = python_json(
        "sklearn_reference.py",
        &[],
        Some(&json!([{"data": diabetes(), "target": "Y", "alpha": 0.5, "test_size": 0.2, "seed": 0}]).to_string()),
    );
    let coefficients = floats(&reference[0]["coefficients"]);
    let intercept = reference[0]["intercept"].as_f64().expect("intercept");
    let rows = read_features(&diabetes());
    let expected: Vec<f64> =
        rows.iter().map(|r| r.iter().zip(&coefficients).map(|(x, c)| x * c).sum::<f64>() + intercept).collect();
    let model_dir = report["model"]["path"].as_str().expect("path");
    let data = diabetes().display().to_string();
    let logged = format!("models:/{model_id}");
    for (uri, tracking) in [
        (model_dir.to_string(), None),
        (format!("runs:/{run_id}/model"), Some(uri.as_str())),
        (logged, Some(uri.as_str())),
    ] {
        let mut args = vec![uri.as_str(), data.as_str()];
        args.extend(tracking);
        let predicted = floats(&python_json("pyfunc_predict.py", &args, None));
        assert_eq!(predicted.len(), 442);
        for (i, (p, e)) in predicted.iter().zip(&expected).enumerate() {
            assert_close(*p, *e, 1e-9, &format!("pyfunc prediction {i} via {uri}"));
        }
    }
    // The loader itself, given columns in the model's order (its fast path), out of order with an
    // extra column, and as a bare array.
    let direct = python_json("pyfunc_loader_inputs.py", &[model_dir, data.as_str()], None);
    for input in ["in_order", "reversed_with_extra", "numpy"] {
        let predicted = floats(&direct[input]);
        assert_eq!(predicted.len(), 442, "{input}");
        for (i, (p, e)) in predicted.iter().zip(&expected).enumerate() {
            assert_close(*p, *e, 1e-9, &format!("loader prediction {i} from {input}"));
        }
    }

    // mlflow migrate-filestore accepts the store.
    let venv_bin = crate::support::python().parent().expect("bin").to_path_buf();
    let db = ws.path().join("migrated.db");
    let out = std::process::Command::new(venv_bin.join("mlflow"))
        .args(["migrate-filestore", "--source"])
        .arg(ws.path().join("mlruns"))
        .arg("--target")
        .arg(format!("sqlite:///{}", db.display()))
        .env("MLFLOW_ALLOW_FILE_STORE", "true")
        .output()
        .expect("run mlflow migrate-filestore");
    assert!(out.status.success(), "migrate-filestore failed: {}", String::from_utf8_lossy(&out.stderr));
    let migrated = python_json("read_store.py", &[&format!("sqlite:///{}", db.display()), run_id], None);
    assert_eq!(migrated["params"], seen["params"]);
    assert_eq!(migrated["metrics"], seen["metrics"]);
    assert_eq!(migrated["logged_models"], seen["logged_models"], "the logged model migrates too");
}

fn read_features(path: &std::path::Path) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).expect("read csv");
    text.lines()
        .skip(1)
        .map(|line| {
            let mut cells: Vec<f64> = line.split(',').map(|c| c.parse().expect("number")).collect();
            cells.pop();
            cells
        })
        .collect()
}

#[test]
fn parameters_file_and_precedence() {
    let ws = Workspace::new();
    let data = diabetes().display().to_string();
    let params = repo().join("pipelines/parameters.json").display().to_string();
    let from_file = ws.json(&["train", "--data", &data, "--params", &params]);
    assert_eq!(from_file["params"]["alpha"], 0.4, "the shipped parameters file says 0.4");
    let overridden =
        ws.json(&["train", "--data", &data, "--params", &params, "--param", "alpha=0.3", "--param", "seed=3"]);
    assert_eq!(overridden["params"]["alpha"], 0.3);
    assert_eq!(overridden["params"]["seed"], 3);
    let flag_wins = ws.json(&["train", "--data", &data, "--params", &params, "--param", "alpha=0.3", "--alpha", "0.2"]);
    assert_eq!(flag_wins["params"]["alpha"], 0.2);
    let rows = ws.json(&["train", "--data", &data, "--test-size", "100"]);
    assert_eq!(rows["split"]["n_test"], 100);
    assert_eq!(rows["params"]["test_size"], 100);
}

#[test]
fn project_file_sets_store_and_experiment() {
    let ws = Workspace::new();
    ws.write("mlops.toml", "[tracking]\nuri = \"store\"\nexperiment = \"from-toml\"\n");
    let data = diabetes().display().to_string();
    let report = ws.json(&["train", "--data", &data]);
    assert_eq!(report["experiment_name"], "from-toml");
    assert!(ws.path().join("store/1/meta.yaml").is_file());
    // The environment variable beats the project file.
    let out = ws
        .mlops(&["train", "--data", &data, "-o", "json"])
        .env("MLFLOW_TRACKING_URI", "envstore")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(ws.path().join("envstore/1/meta.yaml").is_file());
}

#[test]
fn text_output_names_metrics_and_locations() {
    let ws = Workspace::new();
    let out = ws.run(&["train", "--data", &diabetes().display().to_string()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["mse", "rmse", "mae", "r2", "run ", "model ", "353 rows", "89 rows"] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

/// Two rows leave one test row, on which scikit-learn's R² is NaN with a warning, not 0.0. The
/// NaN is stored as MLflow stores it, in the local store and on a real MLflow server alike, and
/// MLflow's client reads it back as NaN from both.
#[test]
fn r2_on_one_test_row_is_nan_as_scikit_learn_gives_it() {
    let ws = Workspace::new();
    let data = crate::support::repo().join("tests/fixtures/train/two_rows.csv").display().to_string();
    let server = crate::mlflow_server::MlflowServer::shared();
    let local = format!("file://{}", ws.path().join("mlruns").display());
    for uri in [local.as_str(), server.uri.as_str()] {
        let journal = ws.path().join("journal").display().to_string();
        let out = ws
            .mlops(&[
                "train",
                "--data",
                &data,
                "--target",
                "y",
                "--tracking-uri",
                uri,
                "--local-store",
                &journal,
                "-o",
                "json",
            ])
            .output()
            .expect("run mlops");
        assert!(out.status.success(), "{uri}: {}", crate::support::stderr(&out));
        assert!(
            crate::support::stderr(&out)
                .contains("warning: r2 is NaN: R^2 score is not well-defined with less than two samples."),
            "{}",
            crate::support::stderr(&out)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(report["split"]["n_test"], 1);
        assert!(report["metrics"]["r2"].is_null(), "JSON has no NaN: {report}");
        assert_eq!(report["metrics"]["mse"], 4.0);
        if let Some(sync) = report.get("sync") {
            assert_eq!(sync["state"], "synced", "the server took the NaN: {sync}");
        }
        let run_id = report["run_id"].as_str().expect("run id");
        let out = crate::support::python_output("read_metric.py", &[uri, run_id, "r2"], None);
        assert!(out.status.success(), "{}", crate::support::stderr(&out));
        let lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
        assert_eq!(lines, ["nan", "nan"], "{uri}: MLflow reads NaN, scikit-learn gives NaN");
    }
}
