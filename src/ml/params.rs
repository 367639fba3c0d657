//! Training parameters: the reference's parameters file and `--param key=value` overrides.
//!
//! The file format is MLOpsPython's `parameters.json`:
//! `{"training": {"alpha": 0.4}, "evaluation": {}, "registration": {"tags": ["mse"]}, "scoring": {}}`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::split::TestSize;
use crate::error_kind::{ErrorKind, HasKind};

/// Training parameters given by one source; `None` means "this source does not say".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingParams {
    pub alpha: Option<f64>,
    pub test_size: Option<TestSize>,
    pub seed: Option<u32>,
    pub target: Option<String>,
}

impl TrainingParams {
    /// Fills what `self` leaves open from `lower` (a source of lower precedence).
    pub fn or(self, lower: TrainingParams) -> TrainingParams {
        TrainingParams {
            alpha: self.alpha.or(lower.alpha),
            test_size: self.test_size.or(lower.test_size),
            seed: self.seed.or(lower.seed),
            target: self.target.or(lower.target),
        }
    }
}

/// A parsed parameters file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParametersFile {
    pub training: TrainingParams,
    /// Metric names to copy onto a registered model version as tags (`registration.tags`).
    pub registration_tags: Vec<String>,
}

/// The training keys the file and `--param` accept.
pub const TRAINING_KEYS: [&str; 4] = ["alpha", "test_size", "seed", "target"];

/// Why parameters could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    #[error("cannot read parameters file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: parameters file is not valid JSON: {message}", path.display())]
    Json { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{}: {field}: {message}", path.display())]
    Field { path: PathBuf, field: String, message: String },
    #[error("--param {arg:?}: {message}")]
    Override { arg: String, message: String },
}

impl HasKind for ParamsError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Input
    }
}

/// Reads and checks a parameters file. Unknown sections are kept out; unknown training keys are errors.
pub fn read_parameters_file(path: &Path) -> Result<ParametersFile, ParamsError> {
    let bytes = std::fs::read(path).map_err(|source| ParamsError::Read { path: path.to_path_buf(), source })?;
    let root: Value = crate::decode::json_bytes(&bytes).map_err(|e| ParamsError::Json {
        path: path.to_path_buf(),
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    let field_error = |field: &str, message: &str| ParamsError::Field {
        path: path.to_path_buf(),
        field: field.to_string(),
        message: message.to_string(),
    };
    let Value::Object(root) = root else {
        return Err(field_error("(top level)", "expected a JSON object such as {\"training\": {\"alpha\": 0.4}}"));
    };
    let mut file = ParametersFile::default();
    if let Some(training) = root.get("training") {
        let Value::Object(training) = training else {
            return Err(field_error("training", "expected an object"));
        };
        for (key, value) in training {
            let field = format!("training.{key}");
            set_training_value(&mut file.training, key, TrainingValue::Json(value))
                .map_err(|m| field_error(&field, &m))?;
        }
    }
    if let Some(registration) = root.get("registration") {
        match registration.get("tags") {
            None => {}
            Some(Value::Array(tags)) => {
                for (i, tag) in tags.iter().enumerate() {
                    let Value::String(name) = tag else {
                        return Err(field_error(
                            &format!("registration.tags[{i}]"),
                            "expected a metric name (a string)",
                        ));
                    };
                    file.registration_tags.push(name.clone());
                }
            }
            Some(_) => {
                return Err(field_error("registration.tags", "expected an array of metric names"));
            }
        }
    }
    Ok(file)
}

/// Parses `--param key=value` arguments into training parameters.
pub fn parse_overrides(args: &[String]) -> Result<TrainingParams, ParamsError> {
    let mut params = TrainingParams::default();
    for arg in args {
        let error = |message: String| ParamsError::Override { arg: arg.clone(), message };
        let (key, value) = arg.split_once('=').ok_or_else(|| error("expected KEY=VALUE".to_string()))?;
        set_training_value(&mut params, key.trim(), TrainingValue::Text(value.trim())).map_err(error)?;
    }
    Ok(params)
}

enum TrainingValue<'a> {
    Json(&'a Value),
    Text(&'a str),
}

fn set_training_value(params: &mut TrainingParams, key: &str, value: TrainingValue<'_>) -> Result<(), String> {
    match key {
        "alpha" => {
            let alpha = match value {
                TrainingValue::Json(v) => v.as_f64().ok_or("expected a number")?,
                TrainingValue::Text(t) => t.parse::<f64>().map_err(|_| format!("{t:?} is not a number"))?,
            };
            if !(alpha.is_finite() && alpha >= 0.0) {
                return Err(format!("alpha must be a finite number >= 0, got {alpha}"));
            }
            params.alpha = Some(alpha);
        }
        "test_size" => {
            let text = match value {
                TrainingValue::Json(v) if v.is_u64() || v.is_i64() => v.to_string(),
                // A JSON float keeps its float-ness even when whole (1.0), as in Python.
                TrainingValue::Json(v) if v.is_f64() => {
                    format!("{:?}", v.as_f64().unwrap_or(f64::NAN))
                }
                TrainingValue::Json(_) => return Err("expected a number".to_string()),
                TrainingValue::Text(t) => t.to_string(),
            };
            params.test_size = Some(TestSize::parse(&text).map_err(|e| e.to_string())?);
        }
        "seed" | "random_state" => {
            let seed = match value {
                TrainingValue::Json(v) => v.as_u64().ok_or("expected a whole number from 0 to 4294967295")?,
                TrainingValue::Text(t) => {
                    t.parse::<u64>().map_err(|_| format!("{t:?} is not a whole number from 0 to 4294967295"))?
                }
            };
            params.seed = Some(u32::try_from(seed).map_err(|_| format!("seed {seed} is above 4294967295"))?);
        }
        "target" => {
            let target = match value {
                TrainingValue::Json(Value::String(s)) => s.clone(),
                TrainingValue::Json(_) => {
                    return Err("expected a column name (a string)".to_string());
                }
                TrainingValue::Text(t) => t.to_string(),
            };
            if target.is_empty() {
                return Err("the target column name is empty".to_string());
            }
            params.target = Some(target);
        }
        other => {
            return Err(format!("unknown training parameter {other:?} (known: {})", TRAINING_KEYS.join(", ")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(contents: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(contents.as_bytes()).expect("write");
        f
    }

    #[test]
    fn reads_the_reference_format() {
        let f =
            file(r#"{"training": {"alpha": 0.4}, "evaluation": {}, "registration": {"tags": ["mse"]}, "scoring": {}}"#);
        let params = read_parameters_file(f.path()).expect("valid");
        assert_eq!(params.training.alpha, Some(0.4));
        assert_eq!(params.registration_tags, ["mse"]);
    }

    #[test]
    fn errors_name_position_and_field() {
        let f = file("{\"training\": {\"alpha\": }}");
        let err = read_parameters_file(f.path()).expect_err("bad json");
        assert!(matches!(err, ParamsError::Json { line: 1, .. }), "{err}");
        let f = file(r#"{"training": {"alpah": 0.4}}"#);
        let err = read_parameters_file(f.path()).expect_err("unknown key");
        assert!(err.to_string().contains("training.alpah: unknown training parameter"), "{err}");
        let f = file(r#"{"training": {"alpha": "big"}}"#);
        assert!(read_parameters_file(f.path()).is_err());
        let f = file(r#"{"training": {"test_size": 1.0}}"#);
        assert!(read_parameters_file(f.path()).is_err());
    }

    #[test]
    fn overrides() {
        let p = parse_overrides(&["alpha=0.3".into(), "test_size=50".into(), "seed=7".into()]).expect("valid");
        assert_eq!(p.alpha, Some(0.3));
        assert_eq!(p.test_size, Some(TestSize::Rows(50)));
        assert_eq!(p.seed, Some(7));
        assert!(parse_overrides(&["alpha".into()]).is_err());
        assert!(parse_overrides(&["beta=1".into()]).is_err());
        assert!(parse_overrides(&["seed=-1".into()]).is_err());
    }
}
