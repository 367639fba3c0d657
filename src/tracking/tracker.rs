//! Where a command's runs go: the local store alone, or the local store as a journal that is
//! pushed to a tracking server (so a run is never lost when the server is down).

use serde::Serialize;

use super::mlflow::MlflowClient;
use super::sync::{ArtifactUpload, push_run};
use super::uri::file_uri;
use super::{LocalStore, StoreError};

/// The tracking destination of a run.
#[derive(Debug)]
pub enum Tracker {
    /// Runs live in a local MLflow file store.
    Local(LocalStore),
    /// Runs are written to the local journal first, then pushed to the server.
    Remote { journal: LocalStore, client: MlflowClient },
}

/// The server side of a run, in `--output json`.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    /// `synced`; `pending` when the server could not take the run (it stays in the journal); or
    /// `same-store` when the server reads the journal itself (the run is already there, as is).
    pub state: &'static str,
    pub remote_uri: String,
    pub local_run_id: String,
    pub remote_run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_experiment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_artifact_uri: Option<String>,
    /// Whether the artifacts and model went to the server or stayed local (set once synced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<ArtifactUpload>,
    pub error: Option<String>,
}

impl Tracker {
    /// The local store every run is written to first.
    pub fn journal(&self) -> &LocalStore {
        match self {
            Tracker::Local(store) => store,
            Tracker::Remote { journal, .. } => journal,
        }
    }

    /// The tracking URI runs are reported under.
    pub fn uri(&self) -> String {
        match self {
            Tracker::Local(store) => file_uri(store.root()),
            Tracker::Remote { client, .. } => client.endpoint().to_string(),
        }
    }

    /// The full id of the one run whose id starts with `prefix`; an ambiguous prefix is an error
    /// that lists the candidates.
    pub async fn resolve_run_id(&self, prefix: &str) -> Result<String, StoreError> {
        let client = match self {
            Tracker::Local(store) => return store.resolve_run_id(prefix),
            Tracker::Remote { client, .. } => client,
        };
        // Server run ids are not always 32 hex characters (Azure ML's are job names), so only a
        // prefix that is plainly hexadecimal and short is searched for.
        if prefix.len() >= 32 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) || prefix.is_empty() {
            return Ok(prefix.to_string());
        }
        let remote = |source| StoreError::Remote { uri: client.endpoint().to_string(), source };
        let experiments: Vec<String> =
            client.search_experiments().await.map_err(remote)?.into_iter().map(|e| e.experiment_id).collect();
        let filter = format!("attributes.run_id LIKE '{prefix}%'");
        let mut candidates: Vec<String> = client
            .search_runs(&experiments, Some(&filter), &[], 20)
            .await
            .map_err(remote)?
            .into_iter()
            .map(|r| r.info.run_id)
            .collect();
        candidates.sort();
        match candidates.len() {
            0 => Err(StoreError::RunNotFound { run_id: format!("{prefix}…"), store: client.endpoint().to_string() }),
            1 => Ok(candidates.remove(0)),
            _ => Err(StoreError::AmbiguousRunId {
                prefix: prefix.to_string(),
                store: client.endpoint().to_string(),
                candidates,
            }),
        }
    }

    /// Pushes a finished local run to the server, if there is one. A server that cannot be
    /// reached (or keeps failing) leaves the run pending; other server errors are errors.
    pub async fn publish(&self, run_id: &str) -> Result<Option<SyncReport>, StoreError> {
        let Tracker::Remote { journal, client } = self else {
            return Ok(None);
        };
        let remote_uri = client.endpoint().to_string();
        match push_run(journal, client, run_id).await {
            Ok(outcome) => Ok(Some(SyncReport {
                state: if outcome.artifact_upload.state == "in-place" { "same-store" } else { "synced" },
                remote_uri,
                local_run_id: run_id.to_string(),
                remote_run_id: Some(outcome.remote_run_id),
                remote_experiment_id: Some(outcome.remote_experiment_id),
                remote_artifact_uri: Some(outcome.remote_artifact_uri),
                artifacts: Some(outcome.artifact_upload),
                error: None,
            })),
            Err(err) if err.is_offline() => {
                let remote_run_id =
                    journal.get_run(run_id).ok().and_then(|r| r.tags.get(super::sync::TAG_REMOTE_RUN_ID).cloned());
                Ok(Some(SyncReport {
                    state: "pending",
                    remote_uri,
                    local_run_id: run_id.to_string(),
                    remote_run_id,
                    remote_experiment_id: None,
                    remote_artifact_uri: None,
                    artifacts: None,
                    error: Some(crate::error_kind::chain(&err)),
                }))
            }
            Err(err) => Err(err),
        }
    }
}
