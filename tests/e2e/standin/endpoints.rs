//! Azure ML managed online endpoints and their deployments on the ARM control plane
//! (`…/workspaces/<ws>/onlineEndpoints[/<ep>[/deployments[/<d>]]]`, oci-acr-endpoints.md §5):
//! create/update with the `mfeOperationsStatus` LRO, PATCH, GET, paged lists, DELETE, keys,
//! tokens and deployment logs, with the traffic rules the service enforces checked on every
//! write. Deployments' routes are in `deployments`, what a deployment runs in `serving`.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde_json::{Value, json};

use super::serving::Run;
use super::{Incoming, Reply, State};

/// The workspace a request is under, as `aml` resolved it.
pub struct Scope<'a> {
    pub id: String,
    pub key: String,
    pub workspace: &'a str,
    pub subscription: &'a str,
    pub location: &'a str,
}

pub struct Endpoint {
    pub id: String,
    pub name: String,
    pub location: String,
    pub workspace: String,
    identity: Value,
    tags: Value,
    /// `properties` as sent, without the fields the service computes.
    pub properties: Value,
    pub keys: [String; 2],
    /// AMLTokens issued, with their expiry (epoch seconds).
    pub tokens: HashMap<String, i64>,
    changed: Instant,
    creating: bool,
    pub deployments: BTreeMap<String, Deployment>,
    /// Smooth weighted round-robin state: each live deployment's current weight.
    pub wrr: HashMap<String, i64>,
    /// Mirror credit in percent points; a copy goes out each time it reaches 100.
    pub mirror_credit: i64,
}

pub struct Deployment {
    pub name: String,
    pub sku: Value,
    pub tags: Value,
    pub properties: Value,
    pub run: Run,
}

/// What an `oe-…` operation watches.
pub(super) enum Target {
    Endpoint(String),
    Deployment(String, String),
    /// A delete, finished when it was accepted.
    Done,
}

struct Operation {
    target: Target,
}

#[derive(Default)]
pub struct OnlineState {
    /// Endpoints by lower-case `<workspace key>/<name>`.
    pub endpoints: BTreeMap<String, Endpoint>,
    operations: HashMap<String, Operation>,
    /// The `mlops` binary deployments serve their models with.
    pub mlops: Option<std::path::PathBuf>,
    /// The port of every deployment server started.
    pub served: Vec<u16>,
}

/// `true` for requests whose api-version is not checked: azure-ai-ml pins older previews for
/// endpoints (2022-02-01-preview) and deployments (2023-04-01-preview), and `mlops` uses
/// 2024-10-01; the shapes used here are the same in all of them.
pub fn any_api_version(lower_path: &str) -> bool {
    lower_path.contains("/onlineendpoints")
        || lower_path.contains("/mfeoperationsstatus/oe-")
        || lower_path.contains("/mfeoperationresults/oe-")
}

pub(super) fn user_error(status: u16, code: &str, message: &str, target: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": {"code": "UserError", "message": message,
            "details": [{"code": code, "message": message, "target": target}]}}),
    )
}

pub(super) fn system_data() -> Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({"createdAt": now, "createdBy": "stand-in", "createdByType": "Application", "lastModifiedAt": now})
}

fn new_key() -> String {
    use base64::Engine;
    let bytes: Vec<u8> =
        uuid::Uuid::new_v4().as_bytes().iter().chain(uuid::Uuid::new_v4().as_bytes()).copied().collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(super) fn operation_url(state: &State, scope: &Scope, kind: &str, id: &str, api: &str) -> String {
    format!(
        "{}/subscriptions/{}/providers/Microsoft.MachineLearningServices/locations/{}/{kind}/{id}?api-version={api}",
        state.base, scope.subscription, scope.location
    )
}

pub(super) fn start_operation(state: &mut State, target: Target) -> String {
    let id = format!("oe-{}", uuid::Uuid::new_v4().simple());
    state.online.operations.insert(id.clone(), Operation { target });
    id
}

impl Endpoint {
    fn provisioning(&self, state_step: std::time::Duration) -> &'static str {
        match (self.changed.elapsed() < state_step, self.creating) {
            (true, true) => "Creating",
            (true, false) => "Updating",
            _ => "Succeeded",
        }
    }

    pub fn auth_mode(&self) -> &str {
        self.properties["authMode"].as_str().unwrap_or("Key")
    }

    pub fn traffic(&self, field: &str) -> BTreeMap<String, i64> {
        self.properties[field]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(0))).collect())
            .unwrap_or_default()
    }

    fn body(&self, state: &State) -> Value {
        let mut properties = self.properties.clone();
        let base = &state.base;
        properties["scoringUri"] = json!(format!("{base}/inference/{}/score", self.name));
        properties["swaggerUri"] = json!(format!("{base}/inference/{}/swagger.json", self.name));
        properties["provisioningState"] = json!(self.provisioning(state.step));
        // The service never returns keys here; clients call listKeys (the SDK model docstring).
        properties["keys"] = Value::Null;
        for field in ["traffic", "mirrorTraffic", "properties"] {
            if !properties[field].is_object() {
                properties[field] = json!({});
            }
        }
        json!({"id": self.id, "name": self.name, "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
            "location": self.location, "kind": "Managed", "tags": self.tags, "identity": self.identity,
            "properties": properties, "systemData": system_data()})
    }
}

/// Handles `onlineEndpoints…` below a workspace; `rest` starts after `onlineEndpoints`.
pub fn route(state: &mut State, req: &Incoming, scope: &Scope, rest: &[&str], o: &[String], api: &str) -> Reply {
    let ekey = |name: &str| format!("{}/{}", scope.key, name.to_ascii_lowercase());
    let method = req.method.as_str();
    match (method, rest) {
        ("GET", []) => {
            let items: Vec<Value> = state
                .online
                .endpoints
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("{}/", scope.key)))
                .map(|(_, e)| e.body(state))
                .collect();
            super::aml::page(state, req, items, api)
        }
        ("PUT", [_]) => put_endpoint(state, req, scope, &o[1], api),
        ("PATCH", [_]) => patch_endpoint(state, req, scope, &o[1], api),
        ("GET", [_]) => match state.online.endpoints.get(&ekey(&o[1])) {
            Some(e) => Reply::json(200, e.body(state)),
            None => endpoint_not_found(&o[1], scope),
        },
        ("DELETE", [_]) => match state.online.endpoints.remove(&ekey(&o[1])) {
            Some(mut endpoint) => {
                for deployment in endpoint.deployments.values_mut() {
                    deployment.run.stop();
                }
                let id = start_operation(state, Target::Done);
                Reply::empty(202)
                    .header("Location", operation_url(state, scope, "mfeOperationResults", &id, api))
                    .header("Retry-After", "1")
            }
            None => Reply::empty(204),
        },
        ("POST", [_, action]) => {
            let Some(endpoint) = state.online.endpoints.get_mut(&ekey(&o[1])) else {
                return endpoint_not_found(&o[1], scope);
            };
            endpoint_action(endpoint, req, action)
        }
        (_, [_, "deployments", deployment_rest @ ..]) => {
            let key = ekey(&o[1]);
            if !state.online.endpoints.contains_key(&key) {
                return endpoint_not_found(&o[1], scope);
            }
            super::deployments::route(state, req, scope, &key, deployment_rest, &o[3..], api)
        }
        _ => Reply::arm_error(404, "NotFound", &format!("No route for {method} {}", req.path)),
    }
}

fn endpoint_not_found(name: &str, scope: &Scope) -> Reply {
    // The service's wording for a missing deployment is "Deployment <d> not found in endpoint
    // <e>, workspace <w>" (a public 404 body); the endpoint's is inferred from it.
    Reply::arm_error(404, "UserError", &format!("Endpoint {name} not found in workspace {}", scope.workspace))
}

fn put_endpoint(state: &mut State, req: &Incoming, scope: &Scope, name: &str, api: &str) -> Reply {
    let key = format!("{}/{}", scope.key, name.to_ascii_lowercase());
    let Some(body) = req.json().filter(Value::is_object) else {
        return user_error(400, "BadArgument", "The request body must be a JSON object.", "body");
    };
    if let Err(reply) = check_name(name) {
        return reply;
    }
    let Some(location) = body["location"].as_str().filter(|l| !l.is_empty()) else {
        return Reply::arm_error(400, "LocationRequired", "The location property is required for this definition.");
    };
    let Some(mut properties) = body.get("properties").cloned().filter(Value::is_object) else {
        return user_error(400, "Required", "The request body must have 'properties'.", "properties");
    };
    let mode = properties["authMode"].as_str().unwrap_or_default();
    if !["Key", "AMLToken", "AADToken"].contains(&mode) {
        return user_error(
            400,
            "BadArgument",
            &format!("properties.authMode must be one of Key, AMLToken, AADToken; got {:?}", properties["authMode"]),
            "properties.authMode",
        );
    }
    // Endpoint names are unique in a region (the service: "Endpoint name needs to be unique
    // within a region"); the 409 status is inferred.
    if state.online.endpoints.iter().any(|(k, e)| *k != key && e.name.eq_ignore_ascii_case(name)) {
        return user_error(
            409,
            "Conflict",
            &format!(
                "There is already an endpoint with this name, {name}; endpoint names need to be unique within a region"
            ),
            "name",
        );
    }
    if let Some(p) = properties.as_object_mut() {
        for computed in ["scoringUri", "swaggerUri", "provisioningState", "keys", "endpoint"] {
            p.remove(computed);
        }
    }
    if let Err(reply) = check_compute(state, &properties) {
        return reply;
    }
    let existing = state.online.endpoints.get(&key);
    let deployments: Vec<String> =
        existing.map(|e| e.deployments.values().map(|d| d.name.clone()).collect()).unwrap_or_default();
    if let Err(reply) = check_traffic(&properties, &deployments, name) {
        return reply;
    }
    let identity = match body.get("identity").filter(|i| i.is_object()) {
        Some(i) => with_principal(i.clone()),
        None => with_principal(json!({"type": "SystemAssigned"})),
    };
    let tags = body.get("tags").filter(|t| t.is_object()).cloned().unwrap_or_else(|| json!({}));
    let created = existing.is_none();
    let endpoint = match state.online.endpoints.remove(&key) {
        Some(mut e) => {
            e.properties = properties;
            e.identity = identity;
            e.tags = tags;
            e.changed = Instant::now();
            e.creating = false;
            e.wrr.clear();
            e.mirror_credit = 0;
            e
        }
        None => Endpoint {
            id: format!("{}/onlineEndpoints/{name}", scope.id),
            name: name.to_string(),
            location: location.to_string(),
            workspace: scope.workspace.to_string(),
            identity,
            tags,
            properties,
            keys: [new_key(), new_key()],
            tokens: HashMap::new(),
            changed: Instant::now(),
            creating: true,
            deployments: BTreeMap::new(),
            wrr: HashMap::new(),
            mirror_credit: 0,
        },
    };
    let reply_body = endpoint.body(state);
    state.online.endpoints.insert(key.clone(), endpoint);
    let id = start_operation(state, Target::Endpoint(key));
    Reply::json(if created { 201 } else { 200 }, reply_body)
        .header("Azure-AsyncOperation", operation_url(state, scope, "mfeOperationsStatus", &id, api))
        .header("Retry-After", "1")
        .header("x-ms-async-operation-timeout", "PT1H")
}

fn with_principal(mut identity: Value) -> Value {
    if identity["type"].as_str().is_some_and(|t| t.contains("SystemAssigned")) {
        identity["principalId"] = json!(uuid::Uuid::new_v4().to_string());
        identity["tenantId"] = json!(super::TENANT);
    }
    identity
}

/// Names as the service allows them: 3–32 characters, a letter first, then letters, digits
/// and '-' (the documented endpoint naming rule).
pub(super) fn check_name(name: &str) -> Result<(), Reply> {
    let ok = (3..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(user_error(
            400,
            "BadArgument",
            &format!(
                "Invalid name {name:?}: it must be 3-32 characters, start with a letter, and contain only letters, digits and '-'"
            ),
            "name",
        ))
    }
}

/// The rules of `traffic` and `mirrorTraffic` (safe-rollout docs; the service's wording and
/// codes are inferred): each names an existing deployment, percentages are 0–100, live traffic
/// sums to 100 or to 0 (no traffic, as a new endpoint has), mirror traffic goes to at most one
/// deployment with at most 50 percent, and a deployment is never both live and mirrored.
fn check_traffic(properties: &Value, deployments: &[String], endpoint: &str) -> Result<(), Reply> {
    let mut sums = [0i64; 2];
    for (i, field) in ["traffic", "mirrorTraffic"].iter().enumerate() {
        let Some(map) = properties.get(*field).filter(|v| !v.is_null()) else { continue };
        let Some(map) = map.as_object() else {
            return Err(user_error(400, "BadArgument", &format!("properties.{field} must be an object"), field));
        };
        for (name, value) in map {
            let target = format!("properties.{field}.{name}");
            let Some(percent) = value.as_i64().filter(|p| (0..=100).contains(p)) else {
                return Err(user_error(
                    400,
                    "BadArgument",
                    &format!("{target} must be an integer percentage from 0 to 100; got {value}"),
                    &target,
                ));
            };
            if !deployments.iter().any(|d| d.eq_ignore_ascii_case(name)) {
                return Err(user_error(
                    400,
                    "BadArgument",
                    &format!("{field} names deployment {name}, which does not exist in endpoint {endpoint}"),
                    &target,
                ));
            }
            sums[i] += percent;
        }
    }
    if sums[0] != 0 && sums[0] != 100 {
        return Err(user_error(
            400,
            "BadArgument",
            &format!("The traffic of endpoint {endpoint} must sum to 100 (or 0 for none); it sums to {}", sums[0]),
            "properties.traffic",
        ));
    }
    let live = |name: &str| properties["traffic"][name].as_i64().unwrap_or(0) > 0;
    let mirrored: Vec<(&String, i64)> = properties["mirrorTraffic"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k, v.as_i64().unwrap_or(0))).filter(|(_, v)| *v > 0).collect())
        .unwrap_or_default();
    if mirrored.len() > 1 || sums[1] > 50 {
        return Err(user_error(
            400,
            "BadArgument",
            &format!(
                "Mirror traffic goes to one deployment with at most 50 percent; got {}",
                properties["mirrorTraffic"]
            ),
            "properties.mirrorTraffic",
        ));
    }
    if let Some((name, _)) = mirrored.iter().find(|(name, _)| live(name)) {
        return Err(user_error(
            400,
            "BadArgument",
            &format!("Deployment {name} cannot take both live and mirror traffic"),
            "properties.mirrorTraffic",
        ));
    }
    Ok(())
}

/// A Kubernetes endpoint's `properties.compute`: the ARM id of a Kubernetes compute attached
/// to the workspace (azure-ai-ml sends the compute's ARM id). Mirrored traffic is not supported
/// on Kubernetes endpoints (the safe-rollout docs); the wording and codes are inferred.
fn check_compute(state: &State, properties: &Value) -> Result<(), Reply> {
    let Some(compute) = properties["compute"].as_str().filter(|c| !c.is_empty()) else {
        return Ok(());
    };
    match state.aml.compute_type(compute) {
        Some("Kubernetes") => {}
        Some(other) => {
            return Err(user_error(
                400,
                "BadArgument",
                &format!("Compute {compute} is of type {other}; an online endpoint runs on a Kubernetes compute"),
                "properties.compute",
            ));
        }
        None => {
            return Err(user_error(
                400,
                "BadArgument",
                &format!("Compute {compute} was not found; attach a Kubernetes compute to the workspace first"),
                "properties.compute",
            ));
        }
    }
    let mirrored = properties["mirrorTraffic"].as_object().is_some_and(|m| m.values().any(|p| p.as_i64() > Some(0)));
    if mirrored {
        return Err(user_error(
            400,
            "BadArgument",
            "Mirror traffic is not supported on Kubernetes online endpoints",
            "properties.mirrorTraffic",
        ));
    }
    Ok(())
}

/// Whether an endpoint runs on an attached Kubernetes compute.
pub fn on_kubernetes(properties: &Value) -> bool {
    properties["compute"].as_str().is_some_and(|c| !c.is_empty())
}

/// PATCH takes what the spec's `PartialMinimalTrackedResourceWithIdentity` has, `tags` and
/// `identity`; anything in `properties` is refused so that a traffic change sent this way is
/// not silently dropped (the refusal is inferred: the spec has no `properties` in the body).
fn patch_endpoint(state: &mut State, req: &Incoming, scope: &Scope, name: &str, api: &str) -> Reply {
    let key = format!("{}/{}", scope.key, name.to_ascii_lowercase());
    let Some(body) = req.json().filter(Value::is_object) else {
        return user_error(400, "BadArgument", "The request body must be a JSON object.", "body");
    };
    if body.get("properties").is_some_and(|p| !p.is_null()) {
        return user_error(
            400,
            "BadArgument",
            "PATCH updates only tags and identity; send properties (traffic, authMode) with PUT",
            "properties",
        );
    }
    let Some(endpoint) = state.online.endpoints.get_mut(&key) else {
        return endpoint_not_found(name, scope);
    };
    if let Some(tags) = body.get("tags").filter(|t| t.is_object()) {
        endpoint.tags = tags.clone();
    }
    if let Some(identity) = body.get("identity").filter(|t| t.is_object()) {
        endpoint.identity = with_principal(identity.clone());
    }
    let id = start_operation(state, Target::Endpoint(key));
    Reply::empty(202)
        .header("Location", operation_url(state, scope, "mfeOperationResults", &id, api))
        .header("Retry-After", "1")
}

fn endpoint_action(endpoint: &mut Endpoint, req: &Incoming, action: &str) -> Reply {
    match action.to_ascii_lowercase().as_str() {
        "listkeys" => Reply::json(200, json!({"primaryKey": endpoint.keys[0], "secondaryKey": endpoint.keys[1]})),
        "regeneratekeys" => {
            let body = req.json().unwrap_or_default();
            let slot = match body["keyType"].as_str() {
                Some("Primary") => 0,
                Some("Secondary") => 1,
                other => {
                    return user_error(
                        400,
                        "BadArgument",
                        &format!("keyType must be Primary or Secondary; got {other:?}"),
                        "keyType",
                    );
                }
            };
            // azure-ai-ml 1.35.2 sends the key's CURRENT value as keyValue (verified), and a
            // regenerate must change the key, so an equal or missing value draws a new one;
            // a different value becomes the key (the spec: "the value the key is set to").
            endpoint.keys[slot] = match body["keyValue"].as_str() {
                Some(v) if !v.is_empty() && v != endpoint.keys[slot] => v.to_string(),
                _ => new_key(),
            };
            Reply::empty(200)
        }
        "token" => {
            if endpoint.auth_mode() != "AMLToken" {
                return user_error(
                    400,
                    "BadArgument",
                    &format!(
                        "Endpoint {} uses {} auth; tokens are for AMLToken endpoints",
                        endpoint.name,
                        endpoint.auth_mode()
                    ),
                    "authMode",
                );
            }
            let now = chrono::Utc::now().timestamp();
            let token = format!("standin-aml-{}", uuid::Uuid::new_v4().simple());
            endpoint.tokens.insert(token.clone(), now + 3600);
            Reply::json(
                200,
                json!({"accessToken": token, "tokenType": "Bearer", "expiryTimeUtc": now + 3600,
                    "refreshAfterTimeUtc": now + 1800}),
            )
        }
        _ => Reply::arm_error(404, "NotFound", &format!("No route for POST {}", req.path)),
    }
}

/// `mfeOperationsStatus/oe-…`; `None` for other operations.
pub fn operation_status(state: &State, id: &str) -> Option<Reply> {
    let op = state.online.operations.get(id)?;
    let (status, error) = match &op.target {
        Target::Done => ("Succeeded", None),
        Target::Endpoint(key) => match state.online.endpoints.get(key) {
            Some(e) => (e.provisioning(state.step), None),
            None => ("Canceled", None),
        },
        Target::Deployment(key, d) => match state.online.endpoints.get(key).and_then(|e| e.deployments.get(d)) {
            Some(d) => (d.run.state(), d.run.failure()),
            None => ("Canceled", None),
        },
    };
    let status = match status {
        "Creating" | "Updating" | "Deleting" | "Scaling" => "InProgress",
        other => other,
    };
    let mut body = json!({"id": id, "name": id, "status": status, "startTime": chrono::Utc::now().to_rfc3339()});
    if let Some(message) = error {
        body["error"] = json!({"code": "DeploymentFailed", "message": message});
    }
    let mut reply = Reply::json(200, body);
    if status == "InProgress" {
        reply = reply.header("Retry-After", "1");
    }
    Some(reply)
}

/// `mfeOperationResults/oe-…`: 202 while running, then 200 with the resource (PATCH) or empty.
pub fn operation_result(state: &State, id: &str) -> Option<Reply> {
    let op = state.online.operations.get(id)?;
    let in_progress = match &op.target {
        Target::Done => false,
        Target::Endpoint(key) => {
            state.online.endpoints.get(key).is_some_and(|e| e.provisioning(state.step) != "Succeeded")
        }
        Target::Deployment(key, d) => state
            .online
            .endpoints
            .get(key)
            .and_then(|e| e.deployments.get(d))
            .is_some_and(|d| matches!(d.run.state(), "Creating" | "Updating")),
    };
    if in_progress {
        return Some(Reply::empty(202).header("Retry-After", "1"));
    }
    let body = match &op.target {
        Target::Endpoint(key) => state.online.endpoints.get(key).map(|e| e.body(state)),
        Target::Deployment(key, d) => {
            state.online.endpoints.get(key).and_then(|e| e.deployments.get(d).map(|d| d.body(e)))
        }
        Target::Done => None,
    };
    Some(match body {
        Some(b) => Reply::json(200, b),
        None => Reply::empty(200),
    })
}
