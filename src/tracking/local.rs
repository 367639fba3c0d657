//! The embedded store: MLflow's file-store layout (`./mlruns`), readable by the MLflow client
//! (`MLFLOW_ALLOW_FILE_STORE=true`) and by `mlflow migrate-filestore`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use serde::Serialize;
use yaml_serde::Value as Yaml;

mod files;
mod lock;
mod logged_model;

pub(crate) use files::{STAGING_PREFIX, Staged, publish_dir, staging_builder, write_file, write_staged};

use super::uri::file_uri;
use super::{DatasetInput, Experiment, Metric, Run, RunInfo, RunStatus, StoreError, now_millis};

const DEFAULT_EXPERIMENT_ID: &str = "0";
const DEFAULT_EXPERIMENT_NAME: &str = "Default";
const META: &str = "meta.yaml";

/// A file store rooted at a directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

fn corrupt(path: &Path, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt { path: path.to_path_buf(), message: message.into() }
}

impl LocalStore {
    /// Opens (creating if needed) the store at `root`, with its `.trash` and Default experiment.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        let root = std::path::absolute(root).map_err(io(root))?;
        std::fs::create_dir_all(root.join(".trash")).map_err(io(&root))?;
        let store = LocalStore { root };
        let default_meta = store.root.join(DEFAULT_EXPERIMENT_ID).join(META);
        if !default_meta.exists() {
            store.write_experiment(DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME)?;
        }
        Ok(store)
    }

    /// The store's root directory (absolute).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Active experiments, by id.
    pub fn list_experiments(&self) -> Result<Vec<Experiment>, StoreError> {
        let mut experiments = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(io(&self.root))? {
            let entry = entry.map_err(io(&self.root))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.bytes().all(|b| b.is_ascii_digit()) || !entry.path().join(META).is_file() {
                continue;
            }
            let meta = read_yaml(&entry.path().join(META))?;
            if yaml_str(&meta, "lifecycle_stage").as_deref() == Some("deleted") {
                continue;
            }
            experiments.push(Experiment {
                experiment_id: name,
                name: yaml_str(&meta, "name").unwrap_or_default(),
                artifact_location: yaml_str(&meta, "artifact_location").unwrap_or_default(),
            });
        }
        experiments.sort_by_key(|e| e.experiment_id.parse::<u128>().unwrap_or(u128::MAX));
        Ok(experiments)
    }

    /// The active experiment with this name, if any.
    pub fn find_experiment(&self, name: &str) -> Result<Option<Experiment>, StoreError> {
        Ok(self.list_experiments()?.into_iter().find(|e| e.name == name))
    }

    /// The experiment with this name, created with the next free id when absent.
    pub fn get_or_create_experiment(&self, name: &str) -> Result<Experiment, StoreError> {
        if let Some(existing) = self.find_experiment(name)? {
            return Ok(existing);
        }
        validate_name("experiment name", name)?;
        let mut next = self
            .list_experiments()?
            .iter()
            .filter_map(|e| e.experiment_id.parse::<u64>().ok())
            .max()
            .map_or(1, |max| max + 1);
        loop {
            let id = next.to_string();
            // create_dir fails if another process took the id first: try the next one.
            match std::fs::create_dir(self.root.join(&id)) {
                Ok(()) => return self.write_experiment(&id, name),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => next += 1,
                Err(e) => return Err(io(&self.root)(e)),
            }
        }
    }

    fn write_experiment(&self, id: &str, name: &str) -> Result<Experiment, StoreError> {
        #[derive(Serialize)]
        struct ExperimentMeta<'a> {
            artifact_location: &'a str,
            creation_time: i64,
            experiment_id: &'a str,
            last_update_time: i64,
            lifecycle_stage: &'a str,
            name: &'a str,
        }
        let dir = self.root.join(id);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let artifact_location = file_uri(&dir);
        let now = now_millis();
        let meta = ExperimentMeta {
            artifact_location: &artifact_location,
            creation_time: now,
            experiment_id: id,
            last_update_time: now,
            lifecycle_stage: "active",
            name,
        };
        write_yaml(&dir.join(META), &meta)?;
        Ok(Experiment { experiment_id: id.to_string(), name: name.to_string(), artifact_location })
    }

    /// Creates a RUNNING run with its tags (the run name goes into `mlflow.runName` as MLflow does).
    pub fn create_run(
        &self,
        experiment_id: &str,
        run_name: &str,
        user_id: &str,
        start_time: i64,
        tags: &[(String, String)],
    ) -> Result<RunInfo, StoreError> {
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let dir = self.root.join(experiment_id).join(&run_id);
        for sub in ["params", "metrics", "tags", "artifacts"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(io(&dir))?;
        }
        // Before meta.yaml: a RUNNING run is never seen without the lock that tells whether its
        // writer is alive.
        lock::hold(&dir)?;
        let info = RunInfo {
            run_id: run_id.clone(),
            experiment_id: experiment_id.to_string(),
            run_name: run_name.to_string(),
            status: RunStatus::Running,
            start_time,
            end_time: None,
            artifact_uri: file_uri(&dir.join("artifacts")),
            user_id: user_id.to_string(),
            lifecycle_stage: "active".to_string(),
        };
        self.write_run_meta(&dir, &info)?;
        self.set_tag(&run_id, "mlflow.runName", run_name)?;
        for (key, value) in tags {
            self.set_tag(&run_id, key, value)?;
        }
        Ok(info)
    }

    fn write_run_meta(&self, dir: &Path, info: &RunInfo) -> Result<(), StoreError> {
        #[derive(Serialize)]
        struct RunMeta<'a> {
            artifact_uri: &'a str,
            end_time: Option<i64>,
            entry_point_name: &'a str,
            experiment_id: &'a str,
            lifecycle_stage: &'a str,
            run_id: &'a str,
            run_name: &'a str,
            source_name: &'a str,
            source_type: i64,
            source_version: &'a str,
            start_time: i64,
            status: i64,
            tags: [u8; 0],
            user_id: &'a str,
        }
        let meta = RunMeta {
            artifact_uri: &info.artifact_uri,
            end_time: info.end_time,
            entry_point_name: "",
            experiment_id: &info.experiment_id,
            lifecycle_stage: &info.lifecycle_stage,
            run_id: &info.run_id,
            run_name: &info.run_name,
            source_name: "",
            source_type: 4, // LOCAL
            source_version: "",
            start_time: info.start_time,
            status: info.status.as_int(),
            tags: [],
            user_id: &info.user_id,
        };
        write_yaml(&dir.join(META), &meta)
    }

    /// Directory of a run, found by scanning the experiments.
    pub fn run_dir(&self, run_id: &str) -> Result<PathBuf, StoreError> {
        if run_id.len() != 32 || !run_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::InvalidValue {
                what: "run id",
                value: run_id.to_string(),
                message: "expected 32 hexadecimal characters".to_string(),
            });
        }
        for experiment in self.list_experiments()? {
            let dir = self.root.join(&experiment.experiment_id).join(run_id);
            if dir.join(META).is_file() {
                return Ok(dir);
            }
        }
        Err(StoreError::RunNotFound { run_id: run_id.to_string(), store: file_uri(&self.root) })
    }

    /// The full id of the one run whose id starts with `prefix` (a full id is returned as is).
    pub fn resolve_run_id(&self, prefix: &str) -> Result<String, StoreError> {
        let prefix = prefix.to_ascii_lowercase();
        if prefix.is_empty() || prefix.len() > 32 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::InvalidValue {
                what: "run id",
                value: prefix,
                message: "expected a run id or a prefix of one (hexadecimal, at most 32 characters)".to_string(),
            });
        }
        if prefix.len() == 32 {
            return Ok(prefix);
        }
        let mut candidates = Vec::new();
        for experiment in self.list_experiments()? {
            let dir = self.root.join(&experiment.experiment_id);
            for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
                let name = entry.map_err(io(&dir))?.file_name().to_string_lossy().into_owned();
                if name.len() == 32 && name.starts_with(&prefix) && dir.join(&name).join(META).is_file() {
                    candidates.push(name);
                }
            }
        }
        candidates.sort();
        match candidates.len() {
            0 => Err(StoreError::RunNotFound { run_id: format!("{prefix}…"), store: file_uri(&self.root) }),
            1 => Ok(candidates.remove(0)),
            _ => Err(StoreError::AmbiguousRunId { prefix, store: file_uri(&self.root), candidates }),
        }
    }

    /// Directory holding a run's artifacts.
    pub fn artifact_dir(&self, run_id: &str) -> Result<PathBuf, StoreError> {
        Ok(self.run_dir(run_id)?.join("artifacts"))
    }

    /// Logs parameters. Re-logging the same value is fine; changing one is refused, as in MLflow.
    pub fn log_params(&self, run_id: &str, params: &[(String, String)]) -> Result<(), StoreError> {
        let run_dir = self.run_dir(run_id)?;
        let dir = run_dir.join("params");
        for (key, value) in params {
            let path = key_path(&dir, "param key", key)?;
            if let Ok(existing) = std::fs::read_to_string(&path) {
                if &existing != value {
                    return Err(StoreError::InvalidValue {
                        what: "param",
                        value: key.clone(),
                        message: format!(
                            "already logged with value {existing:?}; changing param values is not allowed"
                        ),
                    });
                }
                continue;
            }
            write_staged(&path, value.as_bytes(), &run_dir)?;
        }
        Ok(())
    }

    /// Appends metric values (`<timestamp> <value> <step>` lines).
    pub fn log_metrics(&self, run_id: &str, metrics: &[(String, Metric)]) -> Result<(), StoreError> {
        let run_dir = self.run_dir(run_id)?;
        let dir = run_dir.join("metrics");
        for (key, metric) in metrics {
            let path = key_path(&dir, "metric key", key)?;
            let line = format!("{} {} {}\n", metric.timestamp, python_float(metric.value), metric.step);
            files::append_line(&path, &line, &run_dir)?;
        }
        Ok(())
    }

    /// Sets (or overwrites) a tag.
    pub fn set_tag(&self, run_id: &str, key: &str, value: &str) -> Result<(), StoreError> {
        let run_dir = self.run_dir(run_id)?;
        write_staged(&key_path(&run_dir.join("tags"), "tag key", key)?, value.as_bytes(), &run_dir)
    }

    /// Records a dataset input of the run (the dataset is stored once per experiment).
    pub fn log_input(&self, run_id: &str, input: &DatasetInput) -> Result<(), StoreError> {
        #[derive(Serialize)]
        struct DatasetMeta<'a> {
            digest: &'a str,
            name: &'a str,
            profile: &'a str,
            schema: &'a str,
            source: &'a str,
            source_type: &'a str,
        }
        #[derive(Serialize)]
        struct InputMeta<'a> {
            destination_id: &'a str,
            destination_type: &'a str,
            source_id: &'a str,
            source_type: &'a str,
            tags: BTreeMap<&'a str, &'a str>,
        }
        let run_dir = self.run_dir(run_id)?;
        let experiment_dir = run_dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let dataset_id = md5_hex(&[input.name.as_bytes(), input.digest.as_bytes()]);
        // MLflow reads every entry of `inputs/` as an input directory with its meta.yaml, so both
        // directories appear whole (`publish_dir`); the dataset first, as the input names it.
        let datasets = experiment_dir.join("datasets");
        if !datasets.join(&dataset_id).join(META).exists() {
            let meta = DatasetMeta {
                digest: &input.digest,
                name: &input.name,
                profile: &input.profile,
                schema: &input.schema,
                source: &input.source,
                source_type: &input.source_type,
            };
            publish_dir(&datasets.join(&dataset_id), &datasets, |dir| write_yaml(&dir.join(META), &meta))?;
        }
        let input_id = md5_hex(&[dataset_id.as_bytes(), run_id.as_bytes()]);
        let tags = BTreeMap::from([("mlflow.data.context", input.context.as_str())]);
        let meta = InputMeta {
            destination_id: run_id,
            destination_type: "RUN",
            source_id: &dataset_id,
            source_type: "DATASET",
            tags,
        };
        let inputs = run_dir.join("inputs");
        std::fs::create_dir_all(&inputs).map_err(io(&inputs))?;
        let target = inputs.join(input_id);
        if target.join(META).exists() {
            return write_yaml(&target.join(META), &meta);
        }
        publish_dir(&target, &run_dir, |dir| write_yaml(&dir.join(META), &meta))?;
        Ok(())
    }

    /// Ends a run with a terminal status.
    pub fn update_run(&self, run_id: &str, status: RunStatus, end_time: i64) -> Result<RunInfo, StoreError> {
        let dir = self.run_dir(run_id)?;
        let mut info = read_run_info(&dir)?;
        info.status = status;
        info.end_time = Some(end_time);
        self.write_run_meta(&dir, &info)?;
        if status.is_terminal() {
            lock::release(&dir);
        }
        Ok(info)
    }

    /// Ends as KILLED, at the time of their last write, the RUNNING runs whose process is gone
    /// (killed, crashed, powered off), as MLflow's UI shows runs that will never finish; returns
    /// their ids. Runs of a live process, and runs without mlops's lock file, are left alone.
    pub fn end_abandoned_runs(&self) -> Result<Vec<String>, StoreError> {
        let mut ended = Vec::new();
        for run in self.list_runs(None)? {
            if run.info.status != RunStatus::Running {
                continue;
            }
            let dir = self.run_dir(&run.info.run_id)?;
            let Some(guard) = lock::abandoned(&dir)? else {
                continue;
            };
            let mut info = read_run_info(&dir)?;
            info.status = RunStatus::Killed;
            info.end_time = Some(lock::last_write(&dir).unwrap_or(info.start_time).max(info.start_time));
            self.write_run_meta(&dir, &info)?;
            lock::discard(&dir, guard);
            ended.push(info.run_id);
        }
        Ok(ended)
    }

    /// A run with its params, latest metrics, tags and dataset inputs.
    pub fn get_run(&self, run_id: &str) -> Result<Run, StoreError> {
        read_run(&self.run_dir(run_id)?)
    }

    /// Full history of one metric, in file order.
    pub fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>, StoreError> {
        let path = key_path(&self.run_dir(run_id)?.join("metrics"), "metric key", key)?;
        read_metric_lines(&path)
    }

    /// Runs of the given experiments (all when `None`), newest first.
    pub fn list_runs(&self, experiment_ids: Option<&[String]>) -> Result<Vec<Run>, StoreError> {
        let mut runs = Vec::new();
        for experiment in self.list_experiments()? {
            if experiment_ids.is_some_and(|ids| !ids.contains(&experiment.experiment_id)) {
                continue;
            }
            let dir = self.root.join(&experiment.experiment_id);
            for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
                let path = entry.map_err(io(&dir))?.path();
                let is_run = path.file_name().is_some_and(|n| n.len() == 32) && path.join(META).is_file();
                if is_run {
                    let run = read_run(&path)?;
                    if run.info.lifecycle_stage == "active" {
                        runs.push(run);
                    }
                }
            }
        }
        runs.sort_by(|a, b| b.info.start_time.cmp(&a.info.start_time).then_with(|| a.info.run_id.cmp(&b.info.run_id)));
        Ok(runs)
    }
}

fn read_run_info(dir: &Path) -> Result<RunInfo, StoreError> {
    let path = dir.join(META);
    let meta = read_yaml(&path)?;
    let status_code = yaml_int(&meta, "status").ok_or_else(|| corrupt(&path, "missing status"))?;
    Ok(RunInfo {
        run_id: yaml_str(&meta, "run_id").ok_or_else(|| corrupt(&path, "missing run_id"))?,
        experiment_id: yaml_str(&meta, "experiment_id").ok_or_else(|| corrupt(&path, "missing experiment_id"))?,
        run_name: yaml_str(&meta, "run_name").unwrap_or_default(),
        status: RunStatus::from_int(status_code)
            .ok_or_else(|| corrupt(&path, format!("unknown status {status_code}")))?,
        start_time: yaml_int(&meta, "start_time").unwrap_or(0),
        end_time: yaml_int(&meta, "end_time"),
        artifact_uri: yaml_str(&meta, "artifact_uri").unwrap_or_default(),
        user_id: yaml_str(&meta, "user_id").unwrap_or_default(),
        lifecycle_stage: yaml_str(&meta, "lifecycle_stage").unwrap_or_else(|| "active".to_string()),
    })
}

fn read_run(dir: &Path) -> Result<Run, StoreError> {
    let info = read_run_info(dir)?;
    let params = read_key_files(&dir.join("params"))?;
    let tags = read_key_files(&dir.join("tags"))?;
    let mut metrics = BTreeMap::new();
    for (key, _) in read_key_files(&dir.join("metrics"))? {
        let history = read_metric_lines(&dir.join("metrics").join(&key))?;
        // MLflow shows the value with the largest (step, timestamp, value).
        let latest = history
            .into_iter()
            .max_by(|a, b| (a.step, a.timestamp).cmp(&(b.step, b.timestamp)).then(a.value.total_cmp(&b.value)));
        if let Some(latest) = latest {
            metrics.insert(key, latest);
        }
    }
    let inputs = read_inputs(dir)?;
    Ok(Run { info, params, metrics, tags, inputs })
}

fn read_inputs(run_dir: &Path) -> Result<Vec<DatasetInput>, StoreError> {
    let inputs_dir = run_dir.join("inputs");
    let Ok(entries) = std::fs::read_dir(&inputs_dir) else {
        return Ok(Vec::new());
    };
    let experiment_dir = run_dir.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut inputs = Vec::new();
    for entry in entries {
        let path = entry.map_err(io(&inputs_dir))?.path().join(META);
        let meta = read_yaml(&path)?;
        let Some(dataset_id) = yaml_str(&meta, "source_id") else {
            continue;
        };
        let context = meta
            .get("tags")
            .and_then(|t| t.get("mlflow.data.context"))
            .and_then(Yaml::as_str)
            .unwrap_or_default()
            .to_string();
        let dataset = read_yaml(&experiment_dir.join("datasets").join(&dataset_id).join(META))?;
        let field = |key: &str| yaml_str(&dataset, key).unwrap_or_default();
        inputs.push(DatasetInput {
            name: field("name"),
            digest: field("digest"),
            source_type: field("source_type"),
            source: field("source"),
            schema: field("schema"),
            profile: field("profile"),
            context,
        });
    }
    Ok(inputs)
}

/// Reads `key -> file content` for every file below `dir` (keys with `/` are subdirectories).
fn read_key_files(dir: &Path) -> Result<BTreeMap<String, String>, StoreError> {
    let mut out = BTreeMap::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((current, prefix)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries {
            let entry = entry.map_err(io(&current))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let key = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            if entry.path().is_dir() {
                pending.push((entry.path(), key));
            } else {
                let value = std::fs::read_to_string(entry.path()).map_err(io(&entry.path()))?;
                out.insert(key, value);
            }
        }
    }
    Ok(out)
}

fn read_metric_lines(path: &Path) -> Result<Vec<Metric>, StoreError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let bad =
                || corrupt(path, format!("line {}: expected \"<timestamp> <value> [<step>]\", got {line:?}", i + 1));
            if fields.len() < 2 {
                return Err(bad());
            }
            let timestamp = fields[0].parse::<i64>().map_err(|_| bad())?;
            let value = parse_python_float(fields[1]).ok_or_else(bad)?;
            // Five fields carry dataset name and digest; MLflow 3.17 reads their step as 0.
            let step = match fields.len() {
                2 | 5 => 0,
                _ => fields[2].parse::<i64>().map_err(|_| bad())?,
            };
            Ok(Metric { value, timestamp, step })
        })
        .collect()
}

/// A float as Python's `str(float)` would write it, which MLflow's reader parses back exactly.
fn python_float(value: f64) -> String {
    if value.is_nan() {
        "nan".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{value:?}")
    }
}

fn parse_python_float(text: &str) -> Option<f64> {
    match text {
        "nan" | "NaN" => Some(f64::NAN),
        "inf" | "Infinity" => Some(f64::INFINITY),
        "-inf" | "-Infinity" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

/// MLflow's rule for param, metric and tag names, which also keeps keys inside their directory.
fn key_path(dir: &Path, what: &'static str, key: &str) -> Result<PathBuf, StoreError> {
    validate_name(what, key)?;
    Ok(dir.join(key))
}

fn validate_name(what: &'static str, name: &str) -> Result<(), StoreError> {
    let invalid =
        |message: &str| StoreError::InvalidValue { what, value: name.to_string(), message: message.to_string() };
    if name.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if name.len() > 250 {
        return Err(invalid("longer than 250 characters"));
    }
    if what != "experiment name" {
        if !name.chars().all(|c| c.is_alphanumeric() || "_-. :/".contains(c)) {
            return Err(invalid(
                "may only contain alphanumerics, underscores, dashes, periods, spaces, colons and slashes",
            ));
        }
        if name.starts_with('/') || name.split('/').any(|part| part == ".." || part == "." || part.is_empty()) {
            return Err(invalid("must be a relative name without '.', '..' or empty path segments"));
        }
    }
    Ok(())
}

fn md5_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Md5::new();
    for part in parts {
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

pub(crate) fn write_yaml<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let text = yaml_serde::to_string(value).map_err(|e| corrupt(path, e.to_string()))?;
    write_file(path, text.as_bytes())
}

pub(crate) fn read_yaml(path: &Path) -> Result<Yaml, StoreError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    yaml_serde::from_str(&text).map_err(|e| corrupt(path, e.to_string()))
}

pub(crate) fn yaml_str(doc: &Yaml, key: &str) -> Option<String> {
    match doc.get(key)? {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn yaml_int(doc: &Yaml, key: &str) -> Option<i64> {
    doc.get(key)?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_round_trip() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LocalStore::open(dir.path()).expect("open");
        let exp = store.get_or_create_experiment("demo").expect("experiment");
        assert_eq!(exp.experiment_id, "1");
        assert_eq!(store.get_or_create_experiment("demo").expect("again").experiment_id, "1");
        let run = store.create_run("1", "r1", "me", 1000, &[("k".into(), "v".into())]).expect("run");
        store.log_params(&run.run_id, &[("alpha".into(), "0.5".into())]).expect("params");
        assert!(store.log_params(&run.run_id, &[("alpha".into(), "0.7".into())]).is_err());
        let m = |value, step| Metric { value, timestamp: 5, step };
        store.log_metrics(&run.run_id, &[("mse".into(), m(2.0, 0)), ("mse".into(), m(1.5, 1))]).expect("metrics");
        store.update_run(&run.run_id, RunStatus::Finished, 2000).expect("finish");
        let back = store.get_run(&run.run_id).expect("get");
        assert_eq!(back.info.status, RunStatus::Finished);
        assert_eq!(back.params["alpha"], "0.5");
        assert_eq!(back.metrics["mse"].value, 1.5);
        assert_eq!(back.tags["mlflow.runName"], "r1");
        assert_eq!(store.metric_history(&run.run_id, "mse").expect("history").len(), 2);
        assert!(store.set_tag(&run.run_id, "../escape", "x").is_err());
        assert!(matches!(store.get_run(&"0".repeat(32)), Err(StoreError::RunNotFound { .. })));
        assert_eq!(store.resolve_run_id(&run.run_id[..6]).expect("prefix"), run.run_id);
        assert!(matches!(store.resolve_run_id("xyz"), Err(StoreError::InvalidValue { .. })));
    }

    #[test]
    fn only_runs_whose_writer_is_gone_are_ended_as_killed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LocalStore::open(dir.path()).expect("open");
        let live = store.create_run("0", "live", "me", 1000, &[]).expect("run");
        let dead = store.create_run("0", "dead", "me", 1000, &[]).expect("run");
        let done = store.create_run("0", "done", "me", 1000, &[]).expect("run");
        store.update_run(&done.run_id, RunStatus::Finished, 2000).expect("finish");
        // The dead run's process is gone: its lock file is there, nobody holds it.
        lock::release(&store.run_dir(&dead.run_id).expect("dir"));
        std::fs::write(store.run_dir(&dead.run_id).expect("dir").join(".mlops-running.lock"), "").expect("lock file");
        assert_eq!(store.end_abandoned_runs().expect("end"), vec![dead.run_id.clone()]);
        let ended = store.get_run(&dead.run_id).expect("dead").info;
        assert_eq!(ended.status, RunStatus::Killed);
        assert!(ended.end_time.is_some_and(|t| t >= 1000));
        assert_eq!(store.get_run(&live.run_id).expect("live").info.status, RunStatus::Running);
        assert_eq!(store.get_run(&done.run_id).expect("done").info.status, RunStatus::Finished);
    }

    #[test]
    fn ambiguous_prefix_lists_the_candidates() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LocalStore::open(dir.path()).expect("open");
        // Two runs whose ids share the first hex digit exist among 17 runs (pigeonhole).
        let ids: Vec<String> =
            (0..17).map(|i| store.create_run("0", &format!("r{i}"), "me", i, &[]).expect("run").run_id).collect();
        let first = ids.iter().find(|a| ids.iter().filter(|b| b[..1] == a[..1]).count() > 1).expect("shared digit");
        let Err(StoreError::AmbiguousRunId { candidates, .. }) = store.resolve_run_id(&first[..1]) else {
            panic!("expected an ambiguity error");
        };
        assert!(candidates.len() > 1 && candidates.contains(first));
    }
}
