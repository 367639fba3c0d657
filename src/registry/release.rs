//! The release flow on top of the registry: evaluate a candidate run against the champion, and
//! register a run's model with the tags the reference sets (run, experiment, metrics, data, CI).

use std::collections::BTreeMap;

use super::gate::{self, Candidate, Champion, Decision, Direction, Evaluation};
use super::{ModelVersion, NewVersion, Registry, RegistryError};
use crate::tracking::lineage;
use crate::tracking::{Run, StoreError, Tracker};

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

/// The gate: the candidate's metric against the version holding `alias` (none → `first`).
pub async fn evaluate(
    tracker: &Tracker,
    registry: &Registry,
    request: &EvaluateRequest,
) -> Result<Evaluation, RegistryError> {
    super::check_alias(&request.alias)?;
    let run = get_run(tracker, &request.run_id).await?;
    let candidate = Candidate { run_id: request.run_id.clone(), value: metric_of(&run, &request.metric)? };
    let champion = match registry.by_alias(&request.name, &request.alias).await? {
        None => None,
        Some(version) => {
            let run_id = version.run_id.clone().unwrap_or_default();
            let champion_run = get_run(tracker, &run_id).await?;
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
    Ok(gate::decide(&request.name, &request.alias, &request.metric, request.direction, candidate, champion))
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
    let version = register(tracker, registry, request).await?;
    Ok((evaluation, Some(version)))
}
