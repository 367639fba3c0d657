//! Publishing an `mlops` pipeline to Azure ML and submitting it.
//!
//! Publishing registers, each only when its content changed: the environment (a container image
//! holding `mlops`), one command component per step (`mlops pipeline step …`, see
//! `azureml::step`), and a pipeline component `{pipeline}` that wires them together. Submitting
//! makes a pipeline job from the pipeline component's latest version.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::assets::{self, AssetVersion};
use super::jobs::{self, JobFollow};
use super::step::{self as remote, input_name, upstream_input};
use super::{AzureMlClient, AzureMlError};
use crate::pipeline::{ParameterKind, Pipeline};

/// The environment every component runs in.
pub const ENVIRONMENT_NAME: &str = "mlops";
/// The image of that environment unless `--image` or `[azureml] image` says otherwise. It is not
/// published anywhere: build it and push it to a registry the workspace can pull from.
pub const DEFAULT_IMAGE: &str = concat!("mlops:", env!("CARGO_PKG_VERSION"));
/// Tag of the pipeline component: the compute its jobs run on.
pub const TAG_COMPUTE: &str = "mlops.compute";
/// Tag of components and jobs: the pipeline they belong to.
pub const TAG_PIPELINE: &str = "mlops.pipeline.name";

const COMMAND_SCHEMA: &str = "https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json";
const PIPELINE_SCHEMA: &str = "https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json";

/// How to publish.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    pub image: String,
    /// Compute name the pipeline's jobs run on by default (checked to exist).
    pub compute: Option<String>,
}

/// What a publish registered (or found already registered).
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub pipeline: String,
    pub environment: AssetVersion,
    pub components: BTreeMap<String, AssetVersion>,
    pub pipeline_component: AssetVersion,
    pub compute: Option<String>,
    /// Parameters and their defaults (a data parameter's local default is not one in Azure ML).
    pub parameters: BTreeMap<String, Option<String>>,
    /// The parameters that are `uri_file` inputs (pipeline parameters of `type: data`).
    pub data_parameters: BTreeSet<String>,
    pub studio_url: String,
    #[serde(skip)]
    jobs: Map<String, Value>,
}

/// An Azure ML asset name: lower case letters, digits and `_`.
pub fn asset_name(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

/// The URI schemes an Azure ML `uri_file` input takes.
const DATA_URI_SCHEMES: [&str; 6] = ["azureml:", "https://", "http://", "wasbs://", "abfss://", "adl://"];

/// Whether `value` is something Azure ML can read a data input from (not a local path).
pub fn is_data_uri(value: &str) -> bool {
    DATA_URI_SCHEMES.iter().any(|s| value.starts_with(s))
}

fn data_input(uri: &str) -> Value {
    json!({"jobInputType": "uri_file", "uri": uri, "mode": "ReadOnlyMount"})
}

/// Registers the environment, the step components and the pipeline component.
pub async fn publish_pipeline(
    client: &AzureMlClient,
    pipeline: &Pipeline,
    options: &PublishOptions,
) -> Result<Published, AzureMlError> {
    if let Some(compute) = &options.compute {
        client.compute_id(compute).await?;
    }
    let environment = assets::ensure_version(
        client,
        "environments",
        ENVIRONMENT_NAME,
        json!({"image": options.image, "osType": "Linux", "description": "mlops: the steps of mlops pipelines", "tags": {}}),
    )
    .await?;
    let base = asset_name(&pipeline.name);
    let mut components = BTreeMap::new();
    let mut jobs = Map::new();
    for step in &pipeline.steps {
        let command = remote::component_command(step).map_err(AzureMlError::Invalid)?;
        let mut inputs = Map::new();
        for parameter in &command.parameters {
            let kind = pipeline.parameters.get(parameter).map(|p| p.kind).unwrap_or_default();
            inputs.insert(input_name(parameter), json!({"type": input_type(kind)}));
        }
        for up in &command.upstream {
            inputs.insert(upstream_input(up), json!({"type": "uri_folder"}));
        }
        let spec = json!({
            "$schema": COMMAND_SCHEMA,
            "type": "command",
            "display_name": step.name,
            "description": format!("mlops {}", step.run.join(" ")),
            "inputs": inputs,
            "outputs": {"result": {"type": "uri_folder"}},
            "command": command.command,
            "environment": format!("azureml:{}", environment.id),
        });
        let component = assets::ensure_version(
            client,
            "components",
            &format!("{base}_{}", asset_name(&step.name)),
            json!({"componentSpec": spec, "description": format!("step {} of pipeline {}", step.name, pipeline.name),
                   "tags": {TAG_PIPELINE: pipeline.name}, "isAnonymous": false}),
        )
        .await?;
        let mut job_inputs = Map::new();
        for parameter in &command.parameters {
            job_inputs
                .insert(input_name(parameter), json!(format!("${{{{parent.inputs.{}}}}}", input_name(parameter))));
        }
        for up in &command.upstream {
            job_inputs
                .insert(upstream_input(up), json!(format!("${{{{parent.jobs.{}.outputs.result}}}}", input_name(up))));
        }
        jobs.insert(
            input_name(&step.name),
            json!({"type": "command", "component": format!("azureml:{}", component.id), "inputs": job_inputs}),
        );
        components.insert(step.name.clone(), component);
    }
    let azure_default = |p: &crate::pipeline::Parameter| {
        p.default.clone().filter(|d| p.kind == ParameterKind::String || is_data_uri(d))
    };
    let parameters: BTreeMap<String, Option<String>> =
        pipeline.parameters.iter().map(|(k, p)| (k.clone(), azure_default(p))).collect();
    let data_parameters: BTreeSet<String> =
        pipeline.parameters.iter().filter(|(_, p)| p.kind == ParameterKind::Data).map(|(k, _)| k.clone()).collect();
    let mut inputs = Map::new();
    for (name, parameter) in &pipeline.parameters {
        let mut input = json!({"type": input_type(parameter.kind)});
        if let Some(default) = azure_default(parameter) {
            input["default"] = json!(default);
        }
        if let Some(description) = &parameter.description {
            input["description"] = json!(description);
        }
        inputs.insert(input_name(name), input);
    }
    let mut tags = json!({TAG_PIPELINE: pipeline.name});
    if let Some(compute) = &options.compute {
        tags[TAG_COMPUTE] = json!(compute);
    }
    let spec = json!({
        "$schema": PIPELINE_SCHEMA,
        "type": "pipeline",
        "display_name": pipeline.name,
        "description": pipeline.description.clone().unwrap_or_default(),
        "inputs": inputs,
        "jobs": jobs,
    });
    let pipeline_component = assets::ensure_version(
        client,
        "components",
        &base,
        json!({"componentSpec": spec, "description": pipeline.description.clone().unwrap_or_default(), "tags": tags,
               "isAnonymous": false}),
    )
    .await?;
    let studio_url = client.workspace().studio_component_url(&pipeline_component.name, &pipeline_component.version);
    Ok(Published {
        pipeline: pipeline.name.clone(),
        environment,
        components,
        pipeline_component,
        compute: options.compute.clone(),
        parameters,
        data_parameters,
        studio_url,
        jobs,
    })
}

fn input_type(kind: ParameterKind) -> &'static str {
    match kind {
        ParameterKind::String => "string",
        ParameterKind::Data => "uri_file",
    }
}

/// The latest published version of pipeline `name` (as `publish` named its pipeline component).
pub async fn load_published(client: &AzureMlClient, name: &str) -> Result<Published, AzureMlError> {
    let component_name = asset_name(name);
    let Some(latest) = assets::latest_version(client, "components", &component_name).await? else {
        return Err(AzureMlError::NotFound {
            kind: "published pipeline",
            name: format!("{name} (component {component_name})"),
            workspace: client.workspace().name.clone(),
            source: None,
        });
    };
    let props = latest.get("properties").cloned().unwrap_or_default();
    let spec = props.get("componentSpec").cloned().unwrap_or_default();
    if spec.get("type").and_then(Value::as_str) != Some("pipeline") {
        return Err(AzureMlError::Invalid(format!("component {component_name:?} is not a pipeline component")));
    }
    let version = latest.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let parameters = spec
        .get("inputs")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), text(v, "default"))).collect())
        .unwrap_or_default();
    let data_parameters = spec
        .get("inputs")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, v)| text(v, "type").is_some_and(|t| t.starts_with("uri_")))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let jobs = spec.get("jobs").and_then(Value::as_object).cloned().unwrap_or_default();
    let hash = props.pointer("/tags/mlops.content_hash").and_then(Value::as_str).unwrap_or_default().to_string();
    let pipeline_component = AssetVersion {
        kind: "components".to_string(),
        name: component_name.clone(),
        id: client.id(&format!("components/{component_name}/versions/{version}")),
        version: version.clone(),
        created: false,
        content_hash: hash,
    };
    Ok(Published {
        pipeline: text(&spec, "display_name").unwrap_or_else(|| name.to_string()),
        environment: AssetVersion {
            kind: "environments".to_string(),
            name: ENVIRONMENT_NAME.to_string(),
            version: String::new(),
            id: String::new(),
            created: false,
            content_hash: String::new(),
        },
        components: BTreeMap::new(),
        compute: props.pointer(&format!("/tags/{TAG_COMPUTE}")).and_then(Value::as_str).map(str::to_string),
        parameters,
        data_parameters,
        studio_url: client.workspace().studio_component_url(&component_name, &version),
        pipeline_component,
        jobs,
    })
}

/// How to submit.
#[derive(Debug, Clone, Default)]
pub struct SubmitOptions {
    /// `KEY=VALUE` overrides of the pipeline's parameters.
    pub parameters: BTreeMap<String, String>,
    pub experiment: Option<String>,
    /// Overrides the compute recorded at publish time.
    pub compute: Option<String>,
    pub display_name: Option<String>,
    /// Extra tags for the job (e.g. the dataset version that triggered it).
    pub tags: BTreeMap<String, String>,
    /// Environment of every step (the submitting machine's lineage, `MLOPS_GIT_*`): the steps'
    /// containers have no git work tree.
    pub env: BTreeMap<String, String>,
}

/// The pipeline job body (`properties`) for a published pipeline.
pub fn pipeline_job(published: &Published, compute_id: &str, options: &SubmitOptions) -> Result<Value, AzureMlError> {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for (name, default) in &published.parameters {
        if let Some(default) = default {
            values.insert(input_name(name), default.clone());
        }
    }
    for (key, value) in &options.parameters {
        let known = published.parameters.keys().any(|k| k == key || input_name(k) == *key);
        if !known {
            let names: Vec<&str> = published.parameters.keys().map(String::as_str).collect();
            return Err(AzureMlError::Invalid(format!(
                "--param {key}={value}: pipeline {:?} has no parameter {key:?} (parameters: {})",
                published.pipeline,
                names.join(", ")
            )));
        }
        values.insert(input_name(key), value.clone());
    }
    let is_data = |input: &str| published.data_parameters.iter().any(|d| input_name(d) == input);
    if let Some(missing) = published.parameters.keys().find(|k| !values.contains_key(&input_name(k))) {
        if is_data(&input_name(missing)) {
            return Err(AzureMlError::Invalid(format!(
                "data parameter {missing:?} has no value Azure ML can read: pass --param {missing}=URI \
                 (azureml:NAME:VERSION, azureml://…, https://ACCOUNT.blob.core.windows.net/…, wasbs://…, abfss://…)"
            )));
        }
        return Err(AzureMlError::Invalid(format!(
            "parameter {missing:?} has no default; pass --param {missing}=VALUE"
        )));
    }
    let mut inputs = Map::new();
    for (key, value) in &values {
        // Azure ML pastes input values into the step's `sh` command, inside single quotes.
        if value.contains('\'') || value.contains('\n') {
            return Err(AzureMlError::Invalid(format!(
                "parameter {key}={value:?}: a value passed to Azure ML may not contain a single quote or a newline \
                 (the step command quotes it for sh)"
            )));
        }
        if !is_data(key) {
            inputs.insert(key.clone(), json!({"jobInputType": "literal", "value": value}));
        } else if is_data_uri(value) {
            inputs.insert(key.clone(), data_input(value));
        } else {
            return Err(AzureMlError::Invalid(format!(
                "--param {key}={value}: {key} is a data parameter and Azure ML cannot read the local path {value:?}; \
                 pass a URI (azureml:NAME:VERSION, azureml://…, https://ACCOUNT.blob.core.windows.net/…, wasbs://…, \
                 abfss://…)"
            )));
        }
    }
    // With one data input, every step knows where its data came from (the mount path says nothing).
    let mut env = options.env.clone();
    if let [only] = published.data_parameters.iter().collect::<Vec<_>>()[..]
        && let Some(uri) = values.get(&input_name(only))
    {
        env.insert(crate::env_vars::MLOPS_DATA_SOURCE.to_string(), uri.clone());
    }
    let mut jobs = Map::new();
    for (key, job) in &published.jobs {
        let component = job.get("component").and_then(Value::as_str).unwrap_or_default();
        let step_inputs: Map<String, Value> = job
            .get("inputs")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (k.clone(), json!({"job_input_type": "literal", "value": v.as_str().unwrap_or_default()}))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut node = json!({
            "type": "command",
            "name": key,
            "componentId": component.trim_start_matches("azureml:"),
            "inputs": step_inputs,
            "outputs": {"result": {"job_output_type": "uri_folder", "mode": "ReadWriteMount"}},
            "_source": "REMOTE.WORKSPACE.COMPONENT",
        });
        // Per job, not per component: a component's environment would make every commit a new version.
        if !env.is_empty() {
            node["environment_variables"] = json!(env);
        }
        jobs.insert(key.clone(), node);
    }
    let mut tags: Map<String, Value> = options.tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    tags.insert(TAG_PIPELINE.to_string(), json!(published.pipeline));
    tags.insert("mlops.pipeline.component".to_string(), json!(published.pipeline_component.id));
    Ok(json!({
        "jobType": "Pipeline",
        "displayName": options.display_name.clone().unwrap_or_else(|| published.pipeline.clone()),
        "experimentName": options.experiment.clone().unwrap_or_else(|| published.pipeline.clone()),
        "computeId": compute_id,
        "inputs": inputs,
        "jobs": jobs,
        "settings": {"default_compute": compute_id, "continue_on_step_failure": false, "_source": "DSL"},
        "tags": tags,
    }))
}

/// Submits a published pipeline as a pipeline job and returns the job as the service created it.
/// This is the one call a trigger (a schedule, new data) needs once the pipeline is published.
pub async fn submit_pipeline(
    client: &AzureMlClient,
    published: &Published,
    options: &SubmitOptions,
) -> Result<JobFollow, AzureMlError> {
    let compute = options.compute.clone().or_else(|| published.compute.clone()).ok_or_else(|| {
        AzureMlError::Invalid(format!(
            "no compute for pipeline {:?}: pass --compute NAME (or publish it with --compute)",
            published.pipeline
        ))
    })?;
    let compute_id = client.compute_id(&compute).await?;
    let properties = pipeline_job(published, &compute_id, options)?;
    let name = jobs::new_job_name(&published.pipeline);
    let job = jobs::create_job(client, &name, properties).await?;
    let mut follow = JobFollow::from_resource(&name, &job);
    if follow.studio_url.is_none() {
        follow.studio_url = Some(client.workspace().studio_job_url(&follow.name));
    }
    Ok(follow)
}

/// The `properties` of a command job that runs `mlops ARGS` in the mlops environment.
pub fn command_job(
    args: &[String],
    environment_id: &str,
    compute_id: &str,
    experiment: &str,
    display_name: &str,
    env: &[(String, String)],
) -> Value {
    let command =
        std::iter::once("mlops".to_string()).chain(args.iter().map(|a| remote::quote(a))).collect::<Vec<_>>().join(" ");
    json!({
        "jobType": "Command",
        "command": command,
        "environmentId": environment_id,
        "computeId": compute_id,
        "experimentName": experiment,
        "displayName": display_name,
        "tags": {"mlops.command": args.first().cloned().unwrap_or_default()},
        "limits": {"jobLimitsType": "Command", "timeout": "PT2H"},
        "resources": {"instanceCount": 1},
        "environmentVariables": env.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect::<serde_json::Map<String, Value>>(),
    })
}

/// Submits `mlops ARGS` as a command job on `compute`, registering the environment if needed.
pub async fn submit_command(
    client: &AzureMlClient,
    args: &[String],
    image: &str,
    compute: &str,
    experiment: &str,
    env: &[(String, String)],
) -> Result<JobFollow, AzureMlError> {
    let compute_id = client.compute_id(compute).await?;
    let environment = assets::ensure_version(
        client,
        "environments",
        ENVIRONMENT_NAME,
        json!({"image": image, "osType": "Linux", "description": "mlops: the steps of mlops pipelines", "tags": {}}),
    )
    .await?;
    let name = jobs::new_job_name(&format!("mlops_{}", args.first().map(String::as_str).unwrap_or("job")));
    let properties = command_job(args, &environment.id, &compute_id, experiment, &name, env);
    let job = jobs::create_job(client, &name, properties).await?;
    let mut follow = JobFollow::from_resource(&name, &job);
    if follow.studio_url.is_none() {
        follow.studio_url = Some(client.workspace().studio_job_url(&follow.name));
    }
    Ok(follow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_command_jobs() {
        assert_eq!(asset_name("diabetes-Train"), "diabetes_train");
        let job = command_job(
            &["train".into(), "--alpha".into(), "0.4".into(), "--run-name".into(), "a b".into()],
            "env",
            "cpu",
            "e",
            "n",
            &[("MLOPS_GIT_COMMIT".into(), "abc".into())],
        );
        assert_eq!(job["command"], "mlops train --alpha 0.4 --run-name 'a b'");
        assert_eq!(job["environmentVariables"]["MLOPS_GIT_COMMIT"], "abc");
        assert_eq!(job["jobType"], "Command");
    }

    fn published() -> Published {
        let asset = |name: &str| AssetVersion {
            kind: "components".into(),
            name: name.into(),
            version: "1".into(),
            id: format!("/w/components/{name}/versions/1"),
            created: false,
            content_hash: String::new(),
        };
        let mut jobs = Map::new();
        jobs.insert(
            "train".into(),
            json!({"type": "command", "component": "azureml:/w/components/p_train/versions/1",
                   "inputs": {"alpha": "${{parent.inputs.alpha}}"}}),
        );
        Published {
            pipeline: "p".into(),
            environment: asset("mlops"),
            components: BTreeMap::new(),
            pipeline_component: asset("p"),
            compute: None,
            parameters: BTreeMap::from([
                ("alpha".into(), Some("0.4".into())),
                ("model-name".into(), None),
                ("data".into(), None),
            ]),
            data_parameters: BTreeSet::from(["data".to_string()]),
            studio_url: String::new(),
            jobs,
        }
    }

    #[test]
    fn pipeline_jobs_bind_parameters_and_refuse_unknown_or_missing_ones() {
        let p = published();
        let mut options = SubmitOptions::default();
        let err = pipeline_job(&p, "/c", &options).expect_err("data has no URI");
        assert!(err.to_string().contains("data parameter \"data\" has no value Azure ML can read"), "{err}");
        options.parameters.insert("data".into(), "data/local.csv".into());
        let err = pipeline_job(&p, "/c", &options).expect_err("model-name has no default");
        assert!(err.to_string().contains("parameter \"model-name\" has no default"), "{err}");
        options.parameters.insert("model-name".into(), "m".into());
        options.parameters.insert("alpha".into(), "0.1".into());
        let err = pipeline_job(&p, "/c", &options).expect_err("a local path");
        assert!(err.to_string().contains("cannot read the local path \"data/local.csv\""), "{err}");
        options.parameters.insert("alpha".into(), "it's".into());
        let err = pipeline_job(&p, "/c", &options).expect_err("a quote");
        assert!(err.to_string().contains("may not contain a single quote"), "{err}");
        options.parameters.insert("alpha".into(), "0.1".into());
        options.parameters.insert("data".into(), "https://a.blob.core.windows.net/c/d.csv".into());
        let job = pipeline_job(&p, "/c", &options).expect("valid");
        assert_eq!(job["inputs"]["data"]["jobInputType"], "uri_file");
        assert_eq!(job["inputs"]["data"]["uri"], "https://a.blob.core.windows.net/c/d.csv");
        assert_eq!(job["inputs"]["model_name"]["value"], "m");
        assert_eq!(job["inputs"]["alpha"]["value"], "0.1");
        assert_eq!(job["jobs"]["train"]["componentId"], "/w/components/p_train/versions/1");
        assert_eq!(job["jobs"]["train"]["inputs"]["alpha"]["value"], "${{parent.inputs.alpha}}");
        assert_eq!(job["settings"]["default_compute"], "/c");
        options.parameters.insert("alhpa".into(), "1".into());
        assert!(pipeline_job(&p, "/c", &options).expect_err("unknown").to_string().contains("no parameter \"alhpa\""));
    }
}
