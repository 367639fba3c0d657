//! The release flow on top of the registry: evaluate a candidate run against the champion, and
//! register a run's model with the tags the reference sets (run, experiment, metrics, data, CI).

use std::collections::BTreeMap;

use super::gate::{self, Candidate, Champion, Decision, Direction, Evaluation};
use super::schema::{self, TrainingSchema};
use super::{ModelVersion, NewVersion, Registry, RegistryError};
use crate::tracking::lineage;
use crate::tracking::mlflow::artifacts_writable;
use crate::tracking::sync::TAG_SOURCE_RUN_ID;
use crate::tracking::{Run, StoreError, Tracker};

/// Version tag: how the version's training schema differs from the champion it was compared
/// with under `--allow-schema-change`.
pub const TAG_SCHEMA_CHANGE: &str = "mlops.schema_change";

/// The CI build that is registering, from Azure DevOps or GitHub Actions variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiBuild {
    pub id: String,
    pub uri: Option<String>,
}

/// What `mlops model evaluate` compares.
#[derive(Debug, Clone)]
pub struct EvaluateRequest {
    pub run_id: String,
    pub name: String,
    pub metric: String,
    pub direction: Direction,
    pub alias: String,
    /// Compare even when the candidate was trained on other features, target or dataset.
    pub allow_schema_change: bool,
}

/// What `mlops model register` records.
#[derive(Debug, Clone)]
pub struct RegisterRequest {
    pub run_id: String,
    pub name: String,
    pub description: Option<String>,
    pub user_tags: BTreeMap<String, String>,
    /// Metrics copied onto the version as tags (`registration.tags` of the parameters file).
    pub metric_tags: Vec<String>,
    pub ci: Option<CiBuild>,
    pub aliases: Vec<String>,
    pub allow_duplicate: bool,
}

/// A run from the tracker's store (local or server).
pub async fn get_run(tracker: &Tracker, run_id: &str) -> Result<Run, RegistryError> {
    match tracker {
        Tracker::Local(store) => Ok(store.get_run(run_id)?),
        Tracker::Remote { client, .. } => client.get_run(run_id).await.map_err(|source| {
            if source.code() == Some("RESOURCE_DOES_NOT_EXIST") {
                RegistryError::Store(StoreError::RunNotFound {
                    run_id: run_id.to_string(),
                    store: client.endpoint().to_string(),
                })
            } else {
                RegistryError::Remote { uri: client.endpoint().to_string(), source: Box::new(source) }
            }
        }),
    }
}

async fn experiment_name(tracker: &Tracker, experiment_id: &str) -> Result<String, RegistryError> {
    match tracker {
        Tracker::Local(store) => Ok(store
            .list_experiments()?
            .into_iter()
            .find(|e| e.experiment_id == experiment_id)
            .map(|e| e.name)
            .unwrap_or_default()),
        Tracker::Remote { client, .. } => client
            .get_experiment(experiment_id)
            .await
            .map(|e| e.name)
            .map_err(|source| RegistryError::Remote { uri: client.endpoint().to_string(), source: Box::new(source) }),
    }
}

fn metric_of(run: &Run, metric: &str) -> Result<f64, RegistryError> {
    run.metrics.get(metric).map(|m| m.value).ok_or_else(|| RegistryError::MissingMetric {
        run_id: run.info.run_id.clone(),
        metric: metric.to_string(),
        available: if run.metrics.is_empty() {
            "none".to_string()
        } else {
            run.metrics.keys().cloned().collect::<Vec<_>>().join(", ")
        },
    })
}

/// Fails with `NoModel` unless the run logged a model that `create_version` can register: asked
/// first, so that a run without a model is not reported as one without a metric.
async fn require_model(tracker: &Tracker, run: &Run) -> Result<(), RegistryError> {
    let run_id = &run.info.run_id;
    let has_model = match tracker {
        Tracker::Local(store) => store.artifact_dir(run_id)?.join("model").join("MLmodel").is_file(),
        Tracker::Remote { client, .. } => {
            let local_only = run.tags.contains_key(TAG_SOURCE_RUN_ID) && !artifacts_writable(&run.info.artifact_uri);
            local_only
                || !client
                    .run_model_ids(run_id)
                    .await
                    .map_err(|source| RegistryError::Remote {
                        uri: client.endpoint().to_string(),
                        source: Box::new(source),
                    })?
                    .is_empty()
        }
    };
    if has_model { Ok(()) } else { Err(RegistryError::NoModel { run_id: run_id.clone() }) }
}

/// The gate: the candidate's metric against the version holding `alias` (none → `first`), once
/// both are known to be trained alike (or `allow_schema_change` says to compare anyway).
pub async fn evaluate(
    tracker: &Tracker,
    registry: &Registry,
    request: &EvaluateRequest,
) -> Result<Evaluation, RegistryError> {
    super::check_alias(&request.alias)?;
    let run = get_run(tracker, &request.run_id).await?;
    require_model(tracker, &run).await?;
    let candidate = Candidate { run_id: request.run_id.clone(), value: metric_of(&run, &request.metric)? };
    let mut schema_changes = Vec::new();
    let champion = match registry.by_alias(&request.name, &request.alias).await? {
        None => None,
        Some(version) => {
            let run_id = version.run_id.clone().unwrap_or_default();
            let champion_run = get_run(tracker, &run_id).await?;
            schema_changes = schema::differences(&TrainingSchema::of_run(&run), &TrainingSchema::of_run(&champion_run));
            if !schema_changes.is_empty() && !request.allow_schema_change {
                return Err(RegistryError::SchemaMismatch {
                    name: request.name.clone(),
                    alias: request.alias.clone(),
                    version: version.version,
                    run_id: request.run_id.clone(),
                    differences: schema_changes,
                });
            }
            // The run's metric, or the tag registration copied onto the version.
            let value = champion_run
                .metrics
                .get(&request.metric)
                .map(|m| m.value)
                .or_else(|| version.tags.get(&request.metric).and_then(|t| t.parse().ok()))
                .ok_or_else(|| RegistryError::ChampionWithoutMetric {
                    name: request.name.clone(),
                    version: version.version,
                    run_id: run_id.clone(),
                    metric: request.metric.clone(),
                })?;
            Some(Champion { version: version.version, run_id, value })
        }
    };
    let mut evaluation =
        gate::decide(&request.name, &request.alias, &request.metric, request.direction, candidate, champion);
    evaluation.schema_changes = schema_changes;
    Ok(evaluation)
}

/// Registers the run's model as a new version with the reference's tags, then sets the aliases.
pub async fn register(
    tracker: &Tracker,
    registry: &Registry,
    request: &RegisterRequest,
) -> Result<ModelVersion, RegistryError> {
    for alias in &request.aliases {
        super::check_alias(alias)?;
    }
    super::check_name(&request.name)?;
    let run = get_run(tracker, &request.run_id).await?;
    require_model(tracker, &run).await?;
    if !request.allow_duplicate {
        let existing = match registry.versions(&request.name).await {
            Ok(versions) => versions,
            Err(RegistryError::ModelNotFound { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        if let Some(v) = existing.iter().find(|v| v.run_id.as_deref() == Some(request.run_id.as_str())) {
            return Err(RegistryError::Duplicate {
                name: request.name.clone(),
                run_id: request.run_id.clone(),
                version: v.version,
            });
        }
    }
    let mut tags = BTreeMap::new();
    tags.insert("run_id".to_string(), request.run_id.clone());
    tags.insert("experiment_name".to_string(), experiment_name(tracker, &run.info.experiment_id).await?);
    for metric in &request.metric_tags {
        tags.insert(metric.clone(), metric_of(&run, metric)?.to_string());
    }
    if let Some(input) = run.inputs.first() {
        tags.insert("dataset_name".to_string(), input.name.clone());
        tags.insert("dataset_digest".to_string(), input.digest.clone());
    }
    if let Some(commit) = run.tags.get(lineage::GIT_COMMIT) {
        tags.insert("git_commit".to_string(), commit.clone());
    }
    // The version carries the run's lineage, so it can be traced (and reproduced) from the registry alone.
    tags.extend(lineage::version_tags(&run.tags, &run.params));
    if let Some(ci) = &request.ci {
        tags.insert("BuildId".to_string(), ci.id.clone());
        if let Some(uri) = &ci.uri {
            tags.insert("BuildUri".to_string(), uri.clone());
        }
    }
    tags.extend(request.user_tags.clone());
    let new = NewVersion {
        name: request.name.clone(),
        run_id: request.run_id.clone(),
        tags,
        description: request.description.clone(),
    };
    let version = registry.create_version(&new).await?;
    for alias in &request.aliases {
        registry.set_alias(&request.name, alias, version.version).await?;
    }
    if request.aliases.is_empty() { Ok(version) } else { registry.version(&request.name, version.version).await }
}

/// `register --if-better`: the gate, then registration only on `first` or `better`.
pub async fn register_if_better(
    tracker: &Tracker,
    registry: &Registry,
    gate: &EvaluateRequest,
    request: &RegisterRequest,
) -> Result<(Evaluation, Option<ModelVersion>), RegistryError> {
    let evaluation = evaluate(tracker, registry, gate).await?;
    if evaluation.decision == Decision::NotBetter {
        return Ok((evaluation, None));
    }
    let mut request = request.clone();
    if !evaluation.schema_changes.is_empty() {
        // MLflow servers cap version tag values at 5000 characters.
        let mut text = evaluation.schema_changes.join("; ");
        if text.len() > 5000 {
            let mut end = 4997;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push_str("...");
        }
        request.user_tags.insert(TAG_SCHEMA_CHANGE.to_string(), text);
    }
    let version = register(tracker, registry, &request).await?;
    Ok((evaluation, Some(version)))
}
