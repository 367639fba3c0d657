//! What a watch remembers across restarts: every digest it has triggered the pipeline for, and
//! the fingerprint (size and time, or ETag) of each source file it has read, so unchanged files
//! are not read again. One JSON file, rewritten atomically, guarded by an exclusive lock.
//!
//! A trigger is recorded as `started` (and the file synced) before the pipeline starts, so a crash
//! mid-trigger can never lead to a second trigger for the same digest: at most once, and the
//! interrupted trigger is reported as such on the next start.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::WatchError;

/// Where a trigger stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerStatus {
    /// Recorded, the pipeline started; the outcome is not known yet.
    Started,
    /// The process stopped (crash, kill) between start and outcome; never retried automatically.
    Interrupted,
    Succeeded,
    /// The pipeline ran; the gate kept the champion.
    NotBetter,
    Failed,
}

/// One trigger: the content, the dataset version it became, and what the pipeline did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerRecord {
    pub sha256: String,
    /// The source file (path relative to the directory, or blob name) the content came from.
    pub source_file: String,
    pub dataset: String,
    pub dataset_version: u32,
    pub status: TriggerStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// The run (parent run locally, job in Azure ML) the trigger made.
    pub run_id: Option<String>,
    pub exit_code: Option<i32>,
    /// Why a failed trigger failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<TriggerFailure>,
}

/// Why a triggered pipeline failed: the step (when known), the message, and the step's own
/// error lines (each failed data check, its error and causes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerFailure {
    pub step: Option<String>,
    pub message: Option<String>,
    #[serde(default)]
    pub errors: Vec<String>,
}

/// What was last read from a source file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub fingerprint: String,
    pub sha256: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    pipeline: String,
    dataset: String,
    #[serde(default)]
    seen: BTreeMap<String, Seen>,
    #[serde(default)]
    triggers: Vec<TriggerRecord>,
}

/// The state of one watch (a pipeline and a dataset), held locked while the watch runs.
#[derive(Debug)]
pub struct WatchState {
    path: PathBuf,
    data: StateFile,
    _lock: File,
}

impl WatchState {
    /// Opens (or starts) the state at `path` and locks it; fails when another watch holds it.
    pub fn open(path: &Path, pipeline: &str, dataset: &str) -> Result<Self, WatchError> {
        let io = |source| WatchError::State { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let lock_path = path.with_extension("lock");
        let lock = File::options().create(true).truncate(false).write(true).open(&lock_path).map_err(io)?;
        // Fully qualified: std's inherent `File::try_lock` is newer than the crate's minimum Rust.
        match fs4::FileExt::try_lock(&lock) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => return Err(WatchError::Locked { path: lock_path }),
            Err(fs4::TryLockError::Error(source)) => return Err(io(source)),
        }
        let data = match std::fs::read_to_string(path) {
            Ok(text) => {
                let data: StateFile = serde_json::from_str(&text)
                    .map_err(|e| WatchError::StateFormat { path: path.to_path_buf(), message: e.to_string() })?;
                if data.pipeline != pipeline || data.dataset != dataset {
                    return Err(WatchError::StateFormat {
                        path: path.to_path_buf(),
                        message: format!(
                            "it belongs to pipeline {:?} and dataset {:?}, not {pipeline:?} and {dataset:?}",
                            data.pipeline, data.dataset
                        ),
                    });
                }
                data
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                StateFile { pipeline: pipeline.to_string(), dataset: dataset.to_string(), ..StateFile::default() }
            }
            Err(source) => return Err(io(source)),
        };
        Ok(WatchState { path: path.to_path_buf(), data, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Triggers a previous process left `started`: marks them interrupted and returns them.
    pub fn take_interrupted(&mut self) -> Result<Vec<TriggerRecord>, WatchError> {
        let mut found = Vec::new();
        for record in self.data.triggers.iter_mut().filter(|r| r.status == TriggerStatus::Started) {
            record.status = TriggerStatus::Interrupted;
            found.push(record.clone());
        }
        if !found.is_empty() {
            self.save()?;
        }
        Ok(found)
    }

    /// The trigger made for this content, if any (whatever its outcome).
    pub fn trigger_for(&self, sha256: &str) -> Option<&TriggerRecord> {
        self.data.triggers.iter().find(|r| r.sha256 == sha256)
    }

    pub fn seen(&self, source_file: &str) -> Option<&Seen> {
        self.data.seen.get(source_file)
    }

    /// Remembers what a source file held (saved with the next record, or by [`WatchState::save`]).
    pub fn set_seen(&mut self, source_file: &str, seen: Seen) {
        self.data.seen.insert(source_file.to_string(), seen);
    }

    /// Forgets files no longer in the source (saved with the next write).
    pub fn retain_seen(&mut self, present: &[&str]) {
        self.data.seen.retain(|name, _| present.contains(&name.as_str()));
    }

    /// Records a trigger as started and makes it durable before the caller starts the pipeline.
    pub fn record_started(&mut self, record: TriggerRecord) -> Result<(), WatchError> {
        self.data.triggers.retain(|r| r.sha256 != record.sha256);
        self.data.triggers.push(record);
        self.save()
    }

    /// Records the outcome of the trigger for `sha256`.
    pub fn record_outcome(
        &mut self,
        sha256: &str,
        status: TriggerStatus,
        run_id: Option<String>,
        exit_code: Option<i32>,
        failure: Option<TriggerFailure>,
    ) -> Result<TriggerRecord, WatchError> {
        let now = now();
        let record = self.data.triggers.iter_mut().find(|r| r.sha256 == sha256).ok_or_else(|| {
            WatchError::StateFormat { path: self.path.clone(), message: format!("no trigger recorded for {sha256}") }
        })?;
        record.status = status;
        record.finished_at = Some(now);
        record.run_id = run_id;
        record.exit_code = exit_code;
        record.failure = failure;
        let record = record.clone();
        self.save()?;
        Ok(record)
    }

    /// Writes the state: a temporary file, synced, renamed over the old one.
    pub fn save(&self) -> Result<(), WatchError> {
        let io = |source| WatchError::State { path: self.path.clone(), source };
        let text = serde_json::to_string_pretty(&self.data)
            .map_err(|e| WatchError::StateFormat { path: self.path.clone(), message: e.to_string() })?;
        let tmp = self.path.with_extension("json.tmp");
        let mut file = File::create(&tmp).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.write_all(b"\n").map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sha: &str) -> TriggerRecord {
        TriggerRecord {
            sha256: sha.to_string(),
            source_file: "a.csv".to_string(),
            dataset: "d".to_string(),
            dataset_version: 1,
            status: TriggerStatus::Started,
            started_at: now(),
            finished_at: None,
            run_id: None,
            exit_code: None,
            failure: None,
        }
    }

    #[test]
    fn started_triggers_survive_a_crash_as_interrupted() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("w/state.json");
        {
            let mut state = WatchState::open(&path, "p", "d").expect("open");
            state.record_started(record("aa")).expect("start");
            state.record_started(record("bb")).expect("start");
            state.record_outcome("bb", TriggerStatus::Succeeded, Some("r1".into()), Some(0), None).expect("outcome");
            // Dropped without an outcome for "aa": a crash mid-trigger.
        }
        let mut state = WatchState::open(&path, "p", "d").expect("reopen");
        let interrupted = state.take_interrupted().expect("take");
        assert_eq!(interrupted.len(), 1);
        assert_eq!(interrupted[0].sha256, "aa");
        assert_eq!(state.trigger_for("aa").map(|r| r.status), Some(TriggerStatus::Interrupted));
        assert_eq!(state.trigger_for("bb").and_then(|r| r.run_id.as_deref()), Some("r1"));
        assert!(state.take_interrupted().expect("again").is_empty(), "reported once");
    }

    #[test]
    fn one_watch_at_a_time_and_only_its_own_state() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("state.json");
        let held = WatchState::open(&path, "p", "d").expect("open");
        held.save().expect("save");
        assert!(matches!(WatchState::open(&path, "p", "d"), Err(WatchError::Locked { .. })));
        drop(held);
        assert!(matches!(WatchState::open(&path, "other", "d"), Err(WatchError::StateFormat { .. })));
        std::fs::write(&path, "{not json").expect("write");
        assert!(matches!(WatchState::open(&path, "p", "d"), Err(WatchError::StateFormat { .. })));
    }
}
