//! The model artifact: an MLflow Model directory holding a linear model as JSON (no pickle).
//!
//! Layout: `MLmodel` (a `python_function` flavor whose loader lives in `code/`, and an `mlops`
//! flavor), `model.json`, `code/mlops_linear_pyfunc.py`, input examples and environment files.
//! `mlflow.pyfunc.load_model(dir)` and `mlflow models serve` load it with numpy and pandas only.

use crate::error_kind::{ErrorKind, HasKind};
use std::path::{Path, PathBuf};

use ndarray::{Array1, ArrayBase, ArrayView1, Data, Ix2};
use serde::{Deserialize, Serialize};

/// `format` value of `model.json`.
pub const FORMAT: &str = "mlops-linear/v1";
/// The pyfunc loader module, imported by MLflow from `code/`.
const LOADER_MODULE: &str = "mlops_linear_pyfunc";
const LOADER_SOURCE: &str = include_str!("assets/mlops_linear_pyfunc.py");
const MODEL_FILE: &str = "model.json";

/// A fitted linear model as stored in `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    pub format: String,
    pub feature_names: Vec<String>,
    /// Serialised as the shortest decimal that reads back to the same f64 (at most 17 digits).
    pub coefficients: Vec<f64>,
    pub intercept: f64,
    pub alpha: f64,
    pub target: String,
    /// SHA-256 of the training data file.
    pub data_sha256: String,
}

impl LinearModel {
    /// Predictions for rows whose columns are in `feature_names` order.
    pub fn predict<S: Data<Elem = f64>>(&self, x: &ArrayBase<S, Ix2>) -> Array1<f64> {
        x.dot(&ArrayView1::from(&self.coefficients)) + self.intercept
    }
}

/// What else goes into `MLmodel` besides the model itself.
#[derive(Debug, Clone)]
pub struct ModelMetadata {
    /// The run that produced the model, if any.
    pub run_id: Option<String>,
    /// One input row (feature values in `feature_names` order) for the input examples.
    pub example_row: Vec<f64>,
    /// `%Y-%m-%d %H:%M:%S%.6f` in UTC, as MLflow writes it.
    pub utc_time_created: String,
}

/// Why a model directory could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot write model file {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("model directory {} does not exist", dir.display())]
    Missing { dir: PathBuf },
    #[error("{} is not an mlops model directory: {} not found", dir.display(), MODEL_FILE)]
    NotAModel { dir: PathBuf },
    #[error("cannot read model file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{} holds {} models ({}); it must hold one", dir.display(), found.len(), found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    Several { dir: PathBuf, found: Vec<PathBuf> },
}

impl HasKind for ModelError {
    /// Reading a bad model is the user's input; failing to write one is the machine's problem.
    fn kind(&self) -> ErrorKind {
        match self {
            ModelError::Write { .. } => ErrorKind::Internal,
            _ => ErrorKind::Input,
        }
    }
}

/// Writes the MLflow Model directory `dir` (created if needed).
pub fn save(dir: &Path, model: &LinearModel, meta: &ModelMetadata) -> Result<(), ModelError> {
    let write = |name: &str, contents: &[u8]| {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| ModelError::Write { path: parent.to_path_buf(), source })?;
        }
        // Whole or not at all: a kill -9 mid-save must not leave a half-written MLmodel for a
        // later sync or registration to trip over (the prefix marks a leftover as such).
        let dir = path.parent().unwrap_or(Path::new("."));
        let written = crate::tracking::local::staging_builder(crate::tracking::local::Staged::File)
            .tempfile_in(dir)
            .and_then(|mut temp| {
                std::io::Write::write_all(&mut temp, contents)?;
                temp.as_file().sync_all()?;
                temp.persist(&path).map(|_| ()).map_err(|e| e.error)
            });
        written.map_err(|source| ModelError::Write { path, source })
    };
    let json = serde_json::to_vec_pretty(model)
        .map_err(|e| ModelError::Invalid { path: dir.join(MODEL_FILE), message: e.to_string() })?;
    write(MODEL_FILE, &json)?;
    write(&format!("code/{LOADER_MODULE}.py"), LOADER_SOURCE.as_bytes())?;
    write("MLmodel", mlmodel_yaml(model, meta).as_bytes())?;
    let example = serde_json::json!({"columns": model.feature_names, "data": [meta.example_row]});
    write("input_example.json", example.to_string().as_bytes())?;
    let serving = serde_json::json!({"dataframe_split": example});
    write("serving_input_example.json", serving.to_string().as_bytes())?;
    write("requirements.txt", b"mlflow\nnumpy\npandas\n")?;
    write(
        "python_env.yaml",
        b"python: '3.11'\nbuild_dependencies:\n- pip\n- setuptools\n- wheel\ndependencies:\n- -r requirements.txt\n",
    )?;
    write(
        "conda.yaml",
        b"channels:\n- conda-forge\ndependencies:\n- python=3.11\n- pip\n- pip:\n  - mlflow\n  - numpy\n  - pandas\nname: mlflow-env\n",
    )?;
    Ok(())
}

fn mlmodel_yaml(model: &LinearModel, meta: &ModelMetadata) -> String {
    // The signature's inputs and outputs are JSON strings inside the YAML, as MLflow writes them.
    let inputs: Vec<serde_json::Value> = model
        .feature_names
        .iter()
        .map(|name| serde_json::json!({"type": "double", "name": name, "required": true}))
        .collect();
    let outputs = serde_json::json!([{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]);
    let doc = serde_json::json!({
        "artifact_path": "model",
        "flavors": {
            "python_function": {
                "loader_module": LOADER_MODULE,
                "code": "code",
                "data": MODEL_FILE,
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                "python_version": "3.11",
            },
            "mlops": {"format": FORMAT, "data": MODEL_FILE, "mlops_version": env!("CARGO_PKG_VERSION")},
        },
        "model_uuid": uuid::Uuid::new_v4().simple().to_string(),
        "run_id": meta.run_id,
        "saved_input_example_info": {
            "artifact_path": "input_example.json",
            "pandas_orient": "split",
            "serving_input_path": "serving_input_example.json",
            "type": "dataframe",
        },
        "signature": {
            "inputs": serde_json::Value::Array(inputs).to_string(),
            "outputs": outputs.to_string(),
            "params": null,
        },
        "utc_time_created": meta.utc_time_created,
    });
    yaml_serde::to_string(&doc).unwrap_or_default()
}

/// The run that produced the model in `dir`, as its `MLmodel` records it (`None` when the file
/// is missing, unreadable or names no run).
pub fn recorded_run_id(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("MLmodel")).ok()?;
    let doc: serde_json::Value = yaml_serde::from_str(&text).ok()?;
    doc.get("run_id")?.as_str().filter(|id| !id.is_empty()).map(str::to_string)
}

/// The model directory inside `root`: `root` itself, or the one directory at the shallowest
/// level below it (at most two down) that holds a model. Azure ML mounts a deployment's model
/// asset at `AZUREML_MODEL_DIR` with the asset's own folder inside (`…/model/MLmodel` for a model
/// logged under `model`), so the model is usually one level down.
pub fn find_in(root: &Path) -> Result<PathBuf, ModelError> {
    if !root.is_dir() {
        return Err(ModelError::Missing { dir: root.to_path_buf() });
    }
    let mut level = vec![root.to_path_buf()];
    for _ in 0..3 {
        let mut found: Vec<PathBuf> = level.iter().filter(|d| d.join(MODEL_FILE).is_file()).cloned().collect();
        found.sort();
        match found.len() {
            0 => {}
            1 => return Ok(found.remove(0)),
            _ => return Err(ModelError::Several { dir: root.to_path_buf(), found }),
        }
        level = level
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flat_map(|entries| entries.filter_map(Result::ok).map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
    }
    Err(ModelError::NotAModel { dir: root.to_path_buf() })
}

/// Reads the linear model of an MLflow Model directory written by [`save`].
pub fn load(dir: &Path) -> Result<LinearModel, ModelError> {
    let path = dir.join(MODEL_FILE);
    if !path.is_file() {
        // A mistyped path is not a broken model: say which one it is.
        if !dir.exists() {
            return Err(ModelError::Missing { dir: dir.to_path_buf() });
        }
        return Err(ModelError::NotAModel { dir: dir.to_path_buf() });
    }
    let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Read { path: path.clone(), source })?;
    let invalid = |message: String| ModelError::Invalid { path: path.clone(), message };
    let model: LinearModel = serde_json::from_str(&text).map_err(|e| invalid(format!("not a valid model: {e}")))?;
    if model.format != FORMAT {
        return Err(invalid(format!("unsupported model format {:?}, expected {FORMAT:?}", model.format)));
    }
    if model.coefficients.len() != model.feature_names.len() {
        return Err(invalid(format!(
            "{} coefficients for {} features",
            model.coefficients.len(),
            model.feature_names.len()
        )));
    }
    if !model.intercept.is_finite() || model.coefficients.iter().any(|c| !c.is_finite()) {
        return Err(invalid("coefficients and intercept must be finite numbers".to_string()));
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_exactly() {
        let dir = tempfile::tempdir().expect("temp dir");
        let model = LinearModel {
            format: FORMAT.to_string(),
            feature_names: vec!["a".into(), "b".into()],
            coefficients: vec![0.1 + 0.2, -121.632_456_152_264_77],
            intercept: 152.077_038_827_836_3,
            alpha: 0.5,
            target: "Y".into(),
            data_sha256: "00".into(),
        };
        let meta = ModelMetadata {
            run_id: None,
            example_row: vec![1.0, 2.0],
            utc_time_created: "2026-01-01 00:00:00.000000".into(),
        };
        save(dir.path(), &model, &meta).expect("saved");
        assert_eq!(load(dir.path()).expect("loaded"), model);
        let mlmodel = std::fs::read_to_string(dir.path().join("MLmodel")).expect("MLmodel");
        assert!(mlmodel.contains("loader_module: mlops_linear_pyfunc"), "{mlmodel}");
        assert!(dir.path().join("code/mlops_linear_pyfunc.py").is_file());
    }

    #[test]
    fn rejects_what_is_not_a_model() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(matches!(load(dir.path()), Err(ModelError::NotAModel { .. })));
        let missing = dir.path().join("nope");
        let err = load(&missing).expect_err("missing");
        assert_eq!(err.to_string(), format!("model directory {} does not exist", missing.display()));
        std::fs::write(dir.path().join(MODEL_FILE), "{\"format\": \"other\"}").expect("write");
        assert!(matches!(load(dir.path()), Err(ModelError::Invalid { .. })));
    }

    #[test]
    fn finds_the_one_model_azure_ml_mounted() {
        let root = tempfile::tempdir().expect("temp dir");
        let put = |rel: &str| {
            let dir = root.path().join(rel);
            std::fs::create_dir_all(&dir).expect("dir");
            std::fs::write(dir.join(MODEL_FILE), "{}").expect("write");
            dir
        };
        assert!(matches!(find_in(root.path()), Err(ModelError::NotAModel { .. })));
        assert!(matches!(find_in(&root.path().join("nope")), Err(ModelError::Missing { .. })));
        std::fs::create_dir_all(root.path().join("empty/deeper/still")).expect("dirs");
        let model = put("model");
        assert_eq!(find_in(root.path()).expect("one level down"), model);
        let other = put("other");
        let err = find_in(root.path()).expect_err("two models");
        assert!(matches!(&err, ModelError::Several { found, .. } if found == &[model.clone(), other]), "{err}");
        put("");
        assert_eq!(find_in(root.path()).expect("the root wins"), root.path());
    }
}
