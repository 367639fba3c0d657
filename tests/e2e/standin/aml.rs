//! Azure Machine Learning on the ARM control plane (`Microsoft.MachineLearningServices`):
//! workspaces, computes, versioned assets with containers, jobs with an
//! advancing status machine and cancel, schedules with the `mfeOperationsStatus` LRO. Request
//! bodies are checked against the shapes the service accepts; what it would reject gets a 400
//! ARM error envelope.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod checks;
mod execute;

pub use execute::Executor;

use checks::{check_component, check_data, check_environment, check_job, check_schedule};

use super::{Incoming, Reply, State};

/// `2024-10-01-preview` is what azure-ai-ml 1.35.2 reads workspaces with (its online endpoint
/// operations look the workspace's location up first).
const API_VERSIONS: &[&str] = &["2024-10-01", "2024-10-01-preview", "2025-09-01", "2025-12-01", "2026-07-01"];
/// Items per page of a list (one, so that clients must follow `nextLink`).
const PAGE: usize = 1;

#[derive(Debug, Clone)]
struct Workspace {
    subscription: String,
    group: String,
    name: String,
    location: String,
}

#[derive(Debug, Clone)]
struct Container {
    name: String,
    versions: BTreeMap<String, Value>,
}

#[derive(Debug, Clone)]
struct Job {
    name: String,
    properties: Value,
    created: Instant,
    fails: bool,
    cancel_requested: Option<Instant>,
    /// Set when the job's steps really run ([`execute`]): the status follows them.
    execution: Option<std::sync::Arc<std::sync::Mutex<execute::Execution>>>,
}

#[derive(Debug, Clone)]
struct Schedule {
    name: String,
    properties: Value,
    operation: String,
}

#[derive(Debug, Clone)]
struct Operation {
    started: Instant,
}

#[derive(Default)]
pub struct AmlState {
    workspaces: HashMap<String, Workspace>,
    /// Compute type (`AmlCompute`, `Kubernetes`) by workspace and name.
    computes: HashMap<String, &'static str>,
    assets: HashMap<String, Container>,
    jobs: HashMap<String, Job>,
    schedules: HashMap<String, Schedule>,
    operations: HashMap<String, Operation>,
    /// Jobs whose properties contain one of these strings end Failed.
    pub failing_jobs: Vec<String>,
    /// When set, submitted pipeline jobs run their steps for real.
    pub executor: Option<Executor>,
}

fn key(parts: &[&str]) -> String {
    parts.iter().map(|p| p.to_ascii_lowercase()).collect::<Vec<_>>().join("/")
}

impl AmlState {
    pub fn create_workspace(&mut self, subscription: &str, group: &str, name: &str, location: &str) {
        self.workspaces.insert(
            key(&[subscription, group, name]),
            Workspace {
                subscription: subscription.to_string(),
                group: group.to_string(),
                name: name.to_string(),
                location: location.to_string(),
            },
        );
    }

    pub fn create_compute(&mut self, subscription: &str, group: &str, workspace: &str, name: &str) {
        self.computes.insert(key(&[subscription, group, workspace, name]), "AmlCompute");
    }

    /// An attached Kubernetes compute (an AKS or Arc cluster with the Azure ML extension).
    pub fn attach_kubernetes(&mut self, subscription: &str, group: &str, workspace: &str, name: &str) {
        self.computes.insert(key(&[subscription, group, workspace, name]), "Kubernetes");
    }

    /// The type of the compute an ARM id (`…/workspaces/<ws>/computes/<name>`) names.
    pub fn compute_type(&self, id: &str) -> Option<&'static str> {
        let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
        if parts.len() != 10 || !parts[8].eq_ignore_ascii_case("computes") {
            return None;
        }
        self.computes.get(&key(&[parts[1], parts[3], parts[7], parts[9]])).copied()
    }

    /// One stored version's body.
    pub fn version(&self, collection: &str, name: &str, version: &str) -> Option<Value> {
        self.assets
            .iter()
            .find(|(k, _)| k.ends_with(&key(&[collection, name])))
            .and_then(|(_, c)| c.versions.get(version).cloned())
    }

    /// Records a model version registered through the workspace's MLflow endpoint as the model
    /// asset Azure ML shows for it: type `mlflow_model`, its files at `model_uri` in the datastore.
    pub fn record_mlflow_model(
        &mut self,
        scope: (&str, &str, &str),
        name: &str,
        version: &str,
        model_uri: &str,
        tags: Value,
    ) {
        let (subscription, group, workspace) = scope;
        let ws_id = format!(
            "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.MachineLearningServices/workspaces/{workspace}"
        );
        let body = json!({
            "id": format!("{ws_id}/models/{name}/versions/{version}"),
            "name": version,
            "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
            "properties": {"modelType": "mlflow_model", "modelUri": model_uri, "tags": tags, "properties": {},
                "flavors": {"python_function": {"data": {}}}, "isAnonymous": false, "isArchived": false,
                "provisioningState": "Succeeded"},
            "systemData": system_data(),
        });
        let ckey = format!("{}/{}", key(&[subscription, group, workspace]), key(&["models", name]));
        let c = self.assets.entry(ckey).or_insert(Container { name: name.to_string(), versions: BTreeMap::new() });
        c.versions.insert(version.to_string(), body);
    }

    /// Every job's name and properties as submitted.
    pub fn jobs(&self) -> Vec<(String, Value)> {
        self.jobs.values().map(|j| (j.name.clone(), j.properties.clone())).collect()
    }

    pub fn schedule(&self, name: &str) -> Option<Value> {
        self.schedules.values().find(|s| s.name == name).map(|s| s.properties.clone())
    }

    /// What each pipeline job's steps look like at `now`, for the MLflow plane to mirror as the
    /// child runs Azure ML records. The steps run one after another (in dependency order) while
    /// the job is Running; a failing job fails its first step and starts no other; a cancel kills
    /// the running step and starts no other.
    pub fn step_plans(&self, now: Instant, step: Duration) -> Vec<StepPlan> {
        self.jobs
            .values()
            .filter(|j| j.properties.get("jobType").and_then(Value::as_str) == Some("Pipeline"))
            .map(|job| {
                let order = step_order(&job.properties);
                let slot = (step * 2) / u32::try_from(order.len().max(1)).unwrap_or(1);
                let elapsed = now.duration_since(job.created);
                let canceled_at = job.cancel_requested.map(|at| at.duration_since(job.created));
                let steps = order
                    .into_iter()
                    .enumerate()
                    .map(|(i, name)| {
                        let start = step + slot * u32::try_from(i).unwrap_or(0);
                        let end = start + slot;
                        let state = if (job.fails && i > 0) || elapsed < start || canceled_at.is_some_and(|c| c < start)
                        {
                            None
                        } else if canceled_at.is_some_and(|c| c < end) {
                            Some("KILLED")
                        } else if elapsed < end {
                            Some("RUNNING")
                        } else if job.fails {
                            Some("FAILED")
                        } else {
                            Some("FINISHED")
                        };
                        (name, state)
                    })
                    .collect();
                StepPlan {
                    job: job.name.clone(),
                    experiment: job.properties["experimentName"].as_str().unwrap_or("Default").to_string(),
                    steps,
                }
            })
            .collect()
    }
}

/// A pipeline job's steps and the MLflow run status each should have now (`None`: not started).
pub struct StepPlan {
    pub job: String,
    pub experiment: String,
    pub steps: Vec<(String, Option<&'static str>)>,
}

/// The step names of a pipeline job, each after the steps whose outputs it reads.
fn step_order(properties: &Value) -> Vec<String> {
    let jobs = properties.get("jobs").and_then(Value::as_object).cloned().unwrap_or_default();
    let needs = |job: &Value| -> Vec<String> {
        job.get("inputs")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|v| v.get("value").and_then(Value::as_str))
            .filter_map(|v| v.strip_prefix("${{parent.jobs.")?.split('.').next().map(str::to_string))
            .collect()
    };
    let mut order: Vec<String> = Vec::new();
    while order.len() < jobs.len() {
        let before = order.len();
        for (name, job) in &jobs {
            if !order.contains(name) && needs(job).iter().all(|n| order.contains(n) || !jobs.contains_key(n)) {
                order.push(name.clone());
            }
        }
        if order.len() == before {
            break;
        }
    }
    order
}

/// Handles `…/providers/Microsoft.MachineLearningServices/…`; `None` for everything else.
pub fn route(state: &mut State, req: &Incoming) -> Option<Reply> {
    let lower = req.path.to_ascii_lowercase();
    if !lower.contains("/providers/microsoft.machinelearningservices/") {
        return None;
    }
    let Some(token) = req.bearer() else {
        return Some(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
            &state.base,
        ));
    };
    if !state.tokens.contains(&token) {
        return Some(unauthorized("InvalidAuthenticationToken", "The access token is invalid.", &state.base));
    }
    let Some(api) = req.query.get("api-version").cloned() else {
        return Some(Reply::arm_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    if !API_VERSIONS.contains(&api.as_str()) && !super::endpoints::any_api_version(&lower) {
        return Some(Reply::arm_error(
            400,
            "InvalidApiVersionParameter",
            &format!("The api-version '{api}' is invalid. The supported versions are '{}'.", API_VERSIONS.join(",")),
        ));
    }
    let o: Vec<String> = req.path.trim_matches('/').split('/').map(str::to_string).collect();
    let l: Vec<String> = o.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = l.iter().map(String::as_str).collect();
    let reply = match l.as_slice() {
        [
            "subscriptions",
            _,
            "providers",
            "microsoft.machinelearningservices",
            "locations",
            _,
            "mfeoperationsstatus",
            _,
        ] => operation_status(state, &o[7]),
        [
            "subscriptions",
            _,
            "providers",
            "microsoft.machinelearningservices",
            "locations",
            _,
            "mfeoperationresults",
            _,
        ] => operation_result(state, &o[7]),
        [
            "subscriptions",
            _,
            "resourcegroups",
            _,
            "providers",
            "microsoft.machinelearningservices",
            "workspaces",
            _,
            rest @ ..,
        ] => {
            let ws_key = key(&[&o[1], &o[3], &o[7]]);
            match state.aml.workspaces.get(&ws_key).cloned() {
                None => Reply::arm_error(
                    404,
                    "ResourceNotFound",
                    &format!(
                        "The Resource 'Microsoft.MachineLearningServices/workspaces/{}' under resource group '{}' was not found.",
                        o[7], o[3]
                    ),
                ),
                Some(ws) => {
                    let rest_original: Vec<String> = o[8..].to_vec();
                    workspace_route(state, req, &ws, rest, &rest_original, &api)
                }
            }
        }
        _ => Reply::arm_error(404, "NotFound", &format!("No route for {} {}", req.method, req.path)),
    };
    Some(
        reply
            .header("x-ms-ratelimit-remaining-subscription-reads", "249")
            .header("x-ms-ratelimit-remaining-subscription-writes", "199"),
    )
}

fn unauthorized(code: &str, message: &str, base: &str) -> Reply {
    Reply::arm_error(401, code, message).header(
        "WWW-Authenticate",
        format!("Bearer authorization_uri=\"{base}/{}\", error=\"invalid_token\"", super::TENANT),
    )
}

fn ws_id(ws: &Workspace) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.MachineLearningServices/workspaces/{}",
        ws.subscription, ws.group, ws.name
    )
}

fn ws_key(ws: &Workspace) -> String {
    key(&[&ws.subscription, &ws.group, &ws.name])
}

fn user_error(message: &str, detail_code: &str, target: &str) -> Reply {
    Reply::json(
        400,
        json!({"error": {"code": "UserError", "message": message,
            "details": [{"code": detail_code, "message": message, "target": target}]}}),
    )
}

fn workspace_route(state: &mut State, req: &Incoming, ws: &Workspace, rest: &[&str], o: &[String], api: &str) -> Reply {
    let method = req.method.as_str();
    match (method, rest) {
        ("GET", []) => Reply::json(200, workspace_body(state, ws)),
        ("GET", ["computes", _]) => {
            if let Some(kind) = state.aml.computes.get(&key(&[&ws.subscription, &ws.group, &ws.name, &o[1]])) {
                let properties = if *kind == "Kubernetes" {
                    json!({"namespace": "default", "defaultInstanceType": "defaultinstancetype"})
                } else {
                    json!({"vmSize": "STANDARD_DS3_V2", "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 4}})
                };
                Reply::json(
                    200,
                    json!({"id": format!("{}/computes/{}", ws_id(ws), o[1]), "name": o[1],
                        "type": "Microsoft.MachineLearningServices/workspaces/computes", "location": ws.location,
                        "properties": {"computeType": kind, "provisioningState": "Succeeded",
                            "properties": properties}}),
                )
            } else {
                Reply::arm_error(
                    404,
                    "ResourceNotFound",
                    &format!("Compute {} was not found in workspace {}", o[1], ws.name),
                )
            }
        }
        ("GET", ["datastores", _]) => match datastore(ws, &o[1]) {
            Some(body) => Reply::json(200, body),
            None => Reply::arm_error(
                404,
                "UserError",
                &format!("Datastore {} was not found in workspace {}", o[1], ws.name),
            ),
        },
        ("POST", ["datastores", _, "listsecrets"]) if datastore(ws, &o[1]).is_some() => {
            Reply::json(200, json!({"secretsType": "Sas", "sasToken": super::history::container_read_token(state)}))
        }
        (_, [collection @ ("components" | "environments" | "data" | "models"), rest @ ..]) => {
            asset_route(state, req, ws, collection, rest, &o[1..], api)
        }
        (_, ["jobs", rest @ ..]) => job_route(state, req, ws, rest, &o[1..], api),
        (_, ["schedules", rest @ ..]) => schedule_route(state, req, ws, rest, &o[1..], api),
        (_, ["onlineendpoints", rest @ ..]) => {
            let scope = super::endpoints::Scope {
                id: ws_id(ws),
                key: ws_key(ws),
                workspace: &ws.name,
                subscription: &ws.subscription,
                location: &ws.location,
            };
            super::endpoints::route(state, req, &scope, rest, o, api)
        }
        _ => Reply::arm_error(404, "NotFound", &format!("No route for {method} {}", req.path)),
    }
}

/// The workspace's two blob datastores, both on the artifact container of the stand-in's
/// storage account (a real workspace gives them containers of its own storage account): the
/// default `workspaceblobstore`, and `workspaceartifactstore` where run artifacts live and
/// `mlflow_model` assets point. Credentials are a SAS from `listSecrets`, as azure-ai-ml expects
/// (Datastore/get.json and listSecrets.json of the REST specs).
fn datastore(ws: &Workspace, name: &str) -> Option<Value> {
    let default = match name {
        "workspaceblobstore" => true,
        "workspaceartifactstore" => false,
        _ => return None,
    };
    Some(json!({
        "id": format!("{}/datastores/{name}", ws_id(ws)),
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/datastores",
        "properties": {
            "datastoreType": "AzureBlob",
            "accountName": super::history::ACCOUNT,
            "containerName": super::history::CONTAINER,
            "endpoint": "core.windows.net",
            "protocol": "https",
            "credentials": {"credentialsType": "Sas"},
            "isDefault": default,
            "serviceDataAccessAuthIdentity": "None",
            "description": null,
            "properties": {},
            "tags": {},
        },
    }))
}

fn workspace_body(state: &State, ws: &Workspace) -> Value {
    let host = state.base.trim_start_matches("https://");
    json!({
        "id": ws_id(ws), "name": ws.name, "type": "Microsoft.MachineLearningServices/workspaces",
        "location": ws.location, "kind": "Default", "sku": {"name": "Basic", "tier": "Basic"},
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "friendlyName": ws.name, "provisioningState": "Succeeded",
            "workspaceId": "0f9c1a52-5b3e-4d2a-9c1e-7a6b5c4d3e2f",
            "discoveryUrl": format!("{}/discovery", state.base),
            "mlFlowTrackingUri": format!("azureml://{host}/mlflow/v1.0{}", ws_id(ws)),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Assets

fn asset_route(
    state: &mut State,
    req: &Incoming,
    ws: &Workspace,
    collection: &str,
    rest: &[&str],
    o: &[String],
    api: &str,
) -> Reply {
    let base_id = format!("{}/{collection}", ws_id(ws));
    let ckey = |name: &str| format!("{}/{}", ws_key(ws), key(&[collection, name]));
    let ty = match collection {
        "components" => "components",
        "environments" => "environments",
        "data" => "data",
        _ => "models",
    };
    match (req.method.as_str(), rest) {
        ("GET", []) => {
            let mut items: Vec<Value> = state
                .aml
                .assets
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("{}/{collection}/", ws_key(ws))))
                .map(|(_, c)| container_body(&base_id, ty, c))
                .collect();
            items.sort_by_key(|v| v["name"].as_str().unwrap_or_default().to_string());
            page(state, req, items, api)
        }
        ("PUT", [_]) => {
            let name = &o[0];
            let created = !state.aml.assets.contains_key(&ckey(name));
            let c = state
                .aml
                .assets
                .entry(ckey(name))
                .or_insert(Container { name: name.clone(), versions: BTreeMap::new() });
            Reply::json(if created { 201 } else { 200 }, container_body(&base_id, ty, c))
        }
        ("GET", [_]) => match state.aml.assets.get(&ckey(&o[0])) {
            Some(c) => Reply::json(200, container_body(&base_id, ty, c)),
            None => not_found(collection, &o[0]),
        },
        ("DELETE", [_]) => match state.aml.assets.remove(&ckey(&o[0])) {
            Some(_) => Reply::empty(200),
            None => Reply::empty(204),
        },
        ("GET", [_, "versions"]) => match state.aml.assets.get(&ckey(&o[0])) {
            Some(c) => {
                let items: Vec<Value> = c.versions.values().cloned().collect();
                page(state, req, items, api)
            }
            None => not_found(collection, &o[0]),
        },
        ("GET", [_, "versions", _]) => match state.aml.assets.get(&ckey(&o[0])).and_then(|c| c.versions.get(&o[2])) {
            Some(v) => Reply::json(200, v.clone()),
            None => not_found(collection, &format!("{}:{}", o[0], o[2])),
        },
        ("DELETE", [_, "versions", _]) => {
            match state.aml.assets.get_mut(&ckey(&o[0])).and_then(|c| c.versions.remove(&o[2])) {
                Some(_) => Reply::empty(200),
                None => Reply::empty(204),
            }
        }
        ("PUT", [_, "versions", _]) => {
            let (name, version) = (&o[0], &o[2]);
            let Some(properties) = req.json().and_then(|b| b.get("properties").cloned()).filter(Value::is_object)
            else {
                return user_error(
                    "The request body must be a JSON object with 'properties'.",
                    "Required",
                    "properties",
                );
            };
            let check = match collection {
                "components" => check_component(state, ws, name, version, &properties),
                "environments" => check_environment(&properties),
                "data" => check_data(&properties),
                _ => Ok(()),
            };
            if let Err(reply) = check {
                return reply;
            }
            let id = format!("{base_id}/{name}/versions/{version}");
            let body = json!({"id": id, "name": version, "type": format!("Microsoft.MachineLearningServices/workspaces/{ty}/versions"),
                "properties": with_state(properties.clone()), "systemData": system_data()});
            let c = state
                .aml
                .assets
                .entry(ckey(name))
                .or_insert(Container { name: name.clone(), versions: BTreeMap::new() });
            match c.versions.get(version) {
                Some(existing) if strip(existing) != strip(&body) => Reply::arm_error(
                    409,
                    "Conflict",
                    &format!(
                        "{collection} {name}:{version} exists with different content; versions are immutable, register a new version"
                    ),
                ),
                Some(existing) => Reply::json(200, existing.clone()),
                None => {
                    c.versions.insert(version.clone(), body.clone());
                    Reply::json(201, body)
                }
            }
        }
        (method, _) => Reply::arm_error(404, "NotFound", &format!("No route for {method} {}", req.path)),
    }
}

fn with_state(mut properties: Value) -> Value {
    if let Some(p) = properties.as_object_mut() {
        p.insert("provisioningState".to_string(), json!("Succeeded"));
    }
    properties
}

fn strip(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("systemData");
    }
    v
}

fn system_data() -> Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({"createdAt": now, "createdBy": "stand-in", "createdByType": "Application", "lastModifiedAt": now})
}

fn container_body(base_id: &str, ty: &str, c: &Container) -> Value {
    json!({"id": format!("{base_id}/{}", c.name), "name": c.name, "type": format!("Microsoft.MachineLearningServices/workspaces/{ty}"),
        "properties": {"latestVersion": c.versions.keys().max_by_key(|v| v.parse::<u64>().unwrap_or(0)).cloned(),
            "nextVersion": null, "isArchived": false, "provisioningState": "Succeeded"}})
}

fn not_found(collection: &str, name: &str) -> Reply {
    Reply::arm_error(404, "UserError", &format!("Could not find asset with ID: {collection}/{name}"))
}

/// One page of a list, from `$skiptoken`, with an absolute `nextLink` when more remain.
pub(super) fn page(state: &State, req: &Incoming, items: Vec<Value>, api: &str) -> Reply {
    let skip = req.query.get("$skiptoken").and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);
    let end = (skip + PAGE).min(items.len());
    let mut body = json!({"value": items.get(skip..end).unwrap_or_default()});
    if end < items.len() {
        body["nextLink"] = json!(format!("{}{}?api-version={api}&$skiptoken={end}", state.base, req.path));
    }
    Reply::json(200, body)
}

// ---------------------------------------------------------------------------------------------
// Jobs

impl Job {
    fn status(&self, now: Instant, step: Duration) -> &'static str {
        if let Some(execution) = &self.execution {
            let mut execution = execution.lock().unwrap_or_else(|e| e.into_inner());
            // A cancel stops the running step (the executor kills it) and starts no other.
            execution.cancel |= self.cancel_requested.is_some();
            return match (execution.status.as_str(), execution.cancel) {
                ("Running", true) => "CancelRequested",
                (_, true) => "Canceled",
                ("Completed", _) => "Completed",
                ("Failed", _) => "Failed",
                _ => "Running",
            };
        }
        if let Some(at) = self.cancel_requested {
            return if now.duration_since(at) < step { "CancelRequested" } else { "Canceled" };
        }
        let elapsed = now.duration_since(self.created);
        if elapsed < step {
            "Queued"
        } else if elapsed < step * 3 {
            "Running"
        } else if self.fails {
            "Failed"
        } else {
            "Completed"
        }
    }
}

fn job_body(state: &State, ws: &Workspace, job: &Job, status: &str) -> Value {
    let mut props = job.properties.clone();
    let host = state.base.trim_start_matches("https://");
    props["status"] = json!(status);
    props["services"] = json!({
        "Studio": {"jobServiceType": "Studio", "endpoint": format!("https://ml.azure.com/runs/{}?wsid={}", job.name, ws_id(ws))},
        "Tracking": {"jobServiceType": "Tracking", "endpoint": format!("azureml://{host}/mlflow/v1.0{}", ws_id(ws))},
    });
    if status == "Failed" {
        let message = job
            .execution
            .as_ref()
            .and_then(|e| e.lock().unwrap_or_else(|e| e.into_inner()).error.clone())
            .unwrap_or_else(|| "a step exited with a non-zero code (stand-in)".to_string());
        props["error"] = json!({"code": "UserError", "message": format!("Execution failed: {message}")});
    }
    json!({"id": format!("{}/jobs/{}", ws_id(ws), job.name), "name": job.name,
        "type": "Microsoft.MachineLearningServices/workspaces/jobs", "properties": props, "systemData": system_data()})
}

fn job_route(state: &mut State, req: &Incoming, ws: &Workspace, rest: &[&str], o: &[String], api: &str) -> Reply {
    let jkey = |name: &str| format!("{}/{}", ws_key(ws), name.to_ascii_lowercase());
    let now = Instant::now();
    let step = state.step;
    match (req.method.as_str(), rest) {
        ("GET", []) => {
            let mut items: Vec<(Instant, Value)> = state
                .aml
                .jobs
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("{}/", ws_key(ws))))
                .map(|(_, j)| (j.created, job_body(state, ws, j, j.status(now, step))))
                .collect();
            items.sort_by_key(|(t, _)| *t);
            page(state, req, items.into_iter().map(|(_, v)| v).collect(), api)
        }
        ("PUT", [_]) => {
            let name = &o[0];
            if state.aml.jobs.contains_key(&jkey(name)) {
                return Reply::arm_error(
                    409,
                    "UserError",
                    &format!("A job named '{name}' already exists; job names are unique in a workspace."),
                );
            }
            let Some(properties) = req.json().and_then(|b| b.get("properties").cloned()).filter(Value::is_object)
            else {
                return user_error(
                    "The request body must be a JSON object with 'properties'.",
                    "Required",
                    "properties",
                );
            };
            if let Err(reply) = check_job(state, ws, &properties) {
                return reply;
            }
            let text = properties.to_string();
            let fails = state.aml.failing_jobs.iter().any(|f| text.contains(f.as_str()));
            let execution = execute::start_pipeline_job(&state.aml, name, &properties);
            let job = Job { name: name.clone(), properties, created: now, fails, cancel_requested: None, execution };
            let body = job_body(state, ws, &job, "NotStarted");
            state.aml.jobs.insert(jkey(name), job);
            Reply::json(201, body)
        }
        ("GET", [_]) => match state.aml.jobs.get(&jkey(&o[0])) {
            Some(job) => Reply::json(200, job_body(state, ws, job, job.status(now, step))),
            None => Reply::arm_error(404, "UserError", &format!("Job {} was not found in workspace {}", o[0], ws.name)),
        },
        ("POST", [_, "cancel"]) => {
            let Some(job) = state.aml.jobs.get_mut(&jkey(&o[0])) else {
                return Reply::arm_error(
                    404,
                    "UserError",
                    &format!("Job {} was not found in workspace {}", o[0], ws.name),
                );
            };
            let status = job.status(now, step);
            if matches!(status, "Completed" | "Failed" | "Canceled") {
                return Reply::arm_error(
                    400,
                    "UserError",
                    &format!("Job {} is already {status} and cannot be canceled.", o[0]),
                );
            }
            if job.cancel_requested.is_none() {
                job.cancel_requested = Some(now);
            }
            let id = format!("jobs:{}:cancel:{}", o[0], uuid::Uuid::new_v4().simple());
            state.aml.operations.insert(id.clone(), Operation { started: now });
            Reply::empty(202)
                .header("Location", operation_url(state, ws, "mfeOperationResults", &id, api))
                .header("Retry-After", "1")
        }
        (method, _) => Reply::arm_error(404, "NotFound", &format!("No route for {method} {}", req.path)),
    }
}

fn operation_url(state: &State, ws: &Workspace, kind: &str, id: &str, api: &str) -> String {
    format!(
        "{}/subscriptions/{}/providers/Microsoft.MachineLearningServices/locations/{}/{kind}/{id}?api-version={api}",
        state.base, ws.subscription, ws.location
    )
}

// ---------------------------------------------------------------------------------------------
// Schedules and operations

fn schedule_body(state: &State, ws: &Workspace, s: &Schedule) -> Value {
    let mut props = s.properties.clone();
    let provisioning = match state.aml.operations.get(&s.operation) {
        Some(op) if op.started.elapsed() < state.step => "Creating",
        _ => "Succeeded",
    };
    props["provisioningState"] = json!(provisioning);
    json!({"id": format!("{}/schedules/{}", ws_id(ws), s.name), "name": s.name,
        "type": "Microsoft.MachineLearningServices/workspaces/schedules", "properties": props, "systemData": system_data()})
}

fn schedule_route(state: &mut State, req: &Incoming, ws: &Workspace, rest: &[&str], o: &[String], api: &str) -> Reply {
    let skey = |name: &str| format!("{}/{}", ws_key(ws), name.to_ascii_lowercase());
    match (req.method.as_str(), rest) {
        ("PUT", [_]) => {
            let Some(mut properties) = req.json().and_then(|b| b.get("properties").cloned()).filter(Value::is_object)
            else {
                return user_error(
                    "The request body must be a JSON object with 'properties'.",
                    "Required",
                    "properties",
                );
            };
            if let Err(reply) = check_schedule(state, ws, &properties) {
                return reply;
            }
            if let Some(p) = properties.as_object_mut() {
                p.remove("provisioningState");
                p.entry("isEnabled").or_insert(json!(true));
            }
            let created = !state.aml.schedules.contains_key(&skey(&o[0]));
            let id = format!("sc:{}:{}", o[0], uuid::Uuid::new_v4().simple());
            state.aml.operations.insert(id.clone(), Operation { started: Instant::now() });
            let schedule = Schedule { name: o[0].clone(), properties, operation: id.clone() };
            let body = schedule_body(state, ws, &schedule);
            state.aml.schedules.insert(skey(&o[0]), schedule);
            Reply::json(if created { 201 } else { 200 }, body)
                .header("Azure-AsyncOperation", operation_url(state, ws, "mfeOperationsStatus", &id, api))
                .header("Retry-After", "1")
                .header("x-ms-async-operation-timeout", "PT1H")
        }
        ("GET", [_]) => match state.aml.schedules.get(&skey(&o[0])) {
            Some(s) => Reply::json(200, schedule_body(state, ws, s)),
            None => {
                Reply::arm_error(404, "UserError", &format!("Schedule {} was not found in workspace {}", o[0], ws.name))
            }
        },
        ("DELETE", [_]) => match state.aml.schedules.remove(&skey(&o[0])) {
            Some(_) => {
                let id = format!("sc:{}:delete:{}", o[0], uuid::Uuid::new_v4().simple());
                state.aml.operations.insert(id.clone(), Operation { started: Instant::now() });
                Reply::empty(202)
                    .header("Location", operation_url(state, ws, "mfeOperationResults", &id, api))
                    .header("Retry-After", "1")
            }
            None => Reply::empty(204),
        },
        (method, _) => Reply::arm_error(404, "NotFound", &format!("No route for {method} {}", req.path)),
    }
}

fn operation_status(state: &State, id: &str) -> Reply {
    if let Some(reply) = super::endpoints::operation_status(state, id) {
        return reply;
    }
    match state.aml.operations.get(id) {
        Some(op) => {
            let done = op.started.elapsed() >= state.step;
            let status = if done { "Succeeded" } else { "InProgress" };
            let mut reply = Reply::json(
                200,
                json!({"id": id, "name": id, "status": status, "startTime": chrono::Utc::now().to_rfc3339()}),
            );
            if !done {
                reply = reply.header("Retry-After", "1");
            }
            reply
        }
        None => Reply::arm_error(404, "NotFound", &format!("Operation {id} was not found")),
    }
}

fn operation_result(state: &State, id: &str) -> Reply {
    if let Some(reply) = super::endpoints::operation_result(state, id) {
        return reply;
    }
    match state.aml.operations.get(id) {
        Some(op) if op.started.elapsed() < state.step => Reply::empty(202).header("Retry-After", "1"),
        Some(_) => Reply::empty(200),
        None => Reply::arm_error(404, "NotFound", &format!("Operation {id} was not found")),
    }
}
