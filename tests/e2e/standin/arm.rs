//! Azure Resource Manager: resource groups and template deployments at resource-group and
//! subscription scope, with ARM's status machine, async-operation URLs, what-if and Complete mode
//! computed from the resources earlier deployments recorded; deployment stacks (`stacks`) manage
//! what their deployments create.

mod stacks;
mod template_specs;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::expr::{self, Context};
use super::{Incoming, Reply, State};

const API_VERSIONS: &[&str] =
    &["2024-03-01", "2024-07-01", "2024-11-01", "2025-03-01", "2025-04-01", "2026-06-01", "2026-09-01"];
/// Deployment stacks have versions of their own besides the ones above.
const STACK_API_VERSIONS: &[&str] = &["2024-03-01", "2025-07-01"];
/// Before this, a new deployment is Accepted; then Running, one resource per step.
const ACCEPTED_FOR: Duration = Duration::from_millis(100);

/// A resource whose deployment fails, with a nested error as real resource providers send.
#[derive(Debug, Clone)]
pub struct FailingResource {
    pub name: String,
    pub code: String,
    pub message: String,
    pub inner: Option<(String, String)>,
}

#[derive(Debug, Clone)]
struct Resource {
    id: String,
    ty: String,
    name: String,
    api_version: String,
    body: Value,
}

#[derive(Debug, Default)]
struct Group {
    name: String,
    location: String,
    resources: BTreeMap<String, Resource>,
}

#[derive(Debug)]
struct Deployment {
    id: String,
    name: String,
    subscription: String,
    group: Option<String>,
    location: Option<String>,
    mode: String,
    started: Instant,
    started_at: chrono::DateTime<chrono::Utc>,
    step: Duration,
    resources: Vec<Resource>,
    outputs: Map<String, Value>,
    parameters: Map<String, Value>,
    correlation_id: String,
    canceled_at: Option<Instant>,
    failing: Option<(usize, FailingResource)>,
    applied: bool,
    template_hash: String,
}

#[derive(Default)]
pub struct ArmState {
    groups: HashMap<(String, String), Group>,
    deployments: HashMap<String, Deployment>,
    results: HashMap<String, (u32, Reply)>,
    stacks: HashMap<String, stacks::Stack>,
    /// Async-operation id → the key of the stack whose PUT it follows.
    stack_operations: HashMap<String, String>,
    pub failing: Vec<FailingResource>,
    /// Template specs and their versions by lower-case id, as their GET returns them.
    template_specs: HashMap<String, Value>,
}

impl ArmState {
    pub fn create_group(&mut self, subscription: &str, name: &str, location: &str) {
        self.groups.entry((subscription.to_ascii_lowercase(), name.to_ascii_lowercase())).or_insert_with(|| Group {
            name: name.to_string(),
            location: location.to_string(),
            resources: BTreeMap::new(),
        });
    }

    pub fn resource_ids(&mut self, subscription: &str, name: &str) -> Vec<String> {
        let now = Instant::now();
        let keys: Vec<String> = self.deployments.keys().cloned().collect();
        for key in keys {
            self.advance(&key, now);
        }
        let stacks: Vec<String> = self.stacks.keys().cloned().collect();
        for key in stacks {
            self.settle_stack(&key, now);
        }
        self.groups
            .get(&(subscription.to_ascii_lowercase(), name.to_ascii_lowercase()))
            .map(|g| g.resources.values().map(|r| r.id.clone()).collect())
            .unwrap_or_default()
    }

    pub fn group_exists(&mut self, subscription: &str, name: &str) -> bool {
        self.resource_ids(subscription, name);
        self.groups.contains_key(&group_key(subscription, name))
    }

    /// Removes one resource (or a whole resource group) by id; whether it was there.
    fn remove_resource(&mut self, id: &str) -> bool {
        let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
        match parts.as_slice() {
            ["subscriptions", sub, rg, group] if rg.eq_ignore_ascii_case("resourceGroups") => {
                self.groups.remove(&group_key(sub, group)).is_some()
            }
            ["subscriptions", sub, rg, group, ..] if rg.eq_ignore_ascii_case("resourceGroups") => self
                .groups
                .get_mut(&group_key(sub, group))
                .is_some_and(|g| g.resources.remove(&id.to_ascii_lowercase()).is_some()),
            _ => false,
        }
    }

    /// The state a deployment is in now; records its resources the first time it is seen done.
    fn advance(&mut self, key: &str, now: Instant) -> String {
        let Some(d) = self.deployments.get(key) else {
            return "NotFound".to_string();
        };
        let state = d.state(now);
        if state == "Succeeded" && !d.applied {
            let (sub, group, mode, resources) =
                (d.subscription.clone(), d.group.clone(), d.mode.clone(), d.resources.clone());
            if let Some(d) = self.deployments.get_mut(key) {
                d.applied = true;
            }
            if group.is_none() {
                for r in resources.iter().filter(|r| r.ty.eq_ignore_ascii_case("Microsoft.Resources/resourceGroups")) {
                    let location = r.body.get("location").and_then(Value::as_str).unwrap_or("westeurope").to_string();
                    self.create_group(&sub, &r.name, &location);
                }
                return state;
            }
            if let Some(group) = group
                && let Some(g) = self.groups.get_mut(&(sub.to_ascii_lowercase(), group.to_ascii_lowercase()))
            {
                if mode.eq_ignore_ascii_case("complete") {
                    g.resources.retain(|k, _| resources.iter().any(|r| r.id.to_ascii_lowercase() == *k));
                }
                for r in resources {
                    g.resources.insert(r.id.to_ascii_lowercase(), r);
                }
            }
        }
        state
    }
}

impl Deployment {
    fn state(&self, now: Instant) -> String {
        if self.canceled_at.is_some() {
            return "Canceled".to_string();
        }
        let elapsed = now.duration_since(self.started);
        if elapsed < ACCEPTED_FOR {
            return "Accepted".to_string();
        }
        let done = self.done(now);
        if let Some((index, _)) = &self.failing
            && done > *index
        {
            return "Failed".to_string();
        }
        if done >= self.resources.len() { "Succeeded" } else { "Running" }.to_string()
    }

    /// How many resources have finished.
    fn done(&self, now: Instant) -> usize {
        let until = self.canceled_at.unwrap_or(now);
        let elapsed = until.saturating_duration_since(self.started).saturating_sub(ACCEPTED_FOR);
        (elapsed.as_millis() / self.step.as_millis().max(1)) as usize
    }

    fn error(&self) -> Value {
        let details: Vec<Value> = self.failing.iter().map(|(_, f)| failing_error(f)).collect();
        json!({"code": "DeploymentFailed", "message": "At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.", "details": details})
    }

    fn resource(&self, now: Instant) -> Value {
        let state = self.state(now);
        let duration = now.duration_since(self.started).as_secs_f64();
        let mut props = json!({
            "templateHash": self.template_hash,
            "parameters": self.parameters,
            "mode": self.mode,
            "provisioningState": state,
            "timestamp": (self.started_at + chrono::Duration::milliseconds((duration * 1000.0) as i64)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "duration": format!("PT{duration:.3}S"),
            "correlationId": self.correlation_id,
            "providers": [],
            "dependencies": [],
        });
        if state == "Succeeded" {
            props["outputs"] = Value::Object(self.outputs.clone());
            props["outputResources"] = Value::Array(self.resources.iter().map(|r| json!({"id": r.id})).collect());
        }
        if state == "Failed" {
            props["error"] = self.error();
        }
        let mut body =
            json!({"id": self.id, "name": self.name, "type": "Microsoft.Resources/deployments", "properties": props});
        if let Some(location) = &self.location {
            body["location"] = json!(location);
        }
        body
    }

    fn operations(&self, now: Instant) -> Vec<Value> {
        let done = self.done(now);
        let state = self.state(now);
        self.resources
            .iter()
            .enumerate()
            .filter(|(i, _)| state != "Accepted" && *i <= done)
            .filter(|(i, _)| !(self.canceled_at.is_some() && *i >= done))
            .map(|(i, r)| {
                let failed = self.failing.as_ref().is_some_and(|(fi, _)| *fi == i) && i < done;
                let res_state = if failed { "Failed" } else if i < done { "Succeeded" } else { "Running" };
                let operation_id = format!("{:016}", 8584906571590370000u64 + i as u64);
                let mut props = json!({
                    "provisioningOperation": "Create",
                    "provisioningState": res_state,
                    "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    "duration": "PT0.3S",
                    "trackingId": uuid::Uuid::new_v4().to_string(),
                    "serviceRequestId": uuid::Uuid::new_v4().to_string(),
                    "statusCode": if failed { "Conflict" } else if i < done { "OK" } else { "Accepted" },
                    "targetResource": {"id": r.id, "resourceType": r.ty, "resourceName": r.name, "apiVersion": r.api_version},
                });
                if failed && let Some((_, f)) = &self.failing {
                    props["statusMessage"] = json!({"status": "Failed", "error": failing_error(f)});
                }
                json!({"id": format!("{}/operations/{operation_id}", self.id), "operationId": operation_id, "properties": props})
            })
            .collect()
    }
}

fn failing_error(f: &FailingResource) -> Value {
    let mut e = json!({"code": f.code, "message": f.message, "target": f.name});
    if let Some((code, message)) = &f.inner {
        e["details"] = json!([{"code": code, "message": message}]);
    }
    e
}

pub fn route(state: &mut State, req: &Incoming) -> Reply {
    let Some(token) = req.bearer() else {
        return unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
            &state.base,
        );
    };
    if !state.tokens.contains(&token) {
        return unauthorized("InvalidAuthenticationToken", "The access token is invalid.", &state.base);
    }
    let Some(api_version) = req.query.get("api-version") else {
        return Reply::arm_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    };
    let lower_path = req.path.to_ascii_lowercase();
    let segments: Vec<&str> = lower_path.trim_matches('/').split('/').collect();
    // A resource provider's own resources take that provider's API versions, not ARM's.
    if let ["subscriptions", _, "resourcegroups", _, "providers", namespace, _, _, ..] = segments.as_slice()
        && *namespace != "microsoft.resources"
        && req.method == "GET"
    {
        let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        return resource(state, parts[1], parts[3], &req.path);
    }
    // Template specs have versions of their own, instead of ARM's; stacks besides ARM's.
    let allowed = if lower_path.contains("/templatespecs/") { template_specs::API_VERSIONS } else { API_VERSIONS };
    let stacks_version = lower_path.contains("/deploymentstack") && STACK_API_VERSIONS.contains(&api_version.as_str());
    if !allowed.contains(&api_version.as_str()) && !stacks_version {
        return Reply::arm_error(
            400,
            "InvalidApiVersionParameter",
            &format!("The api-version '{api_version}' is invalid. The supported versions are '{}'.", allowed.join(",")),
        );
    }
    let original: Vec<String> = req.path.trim_matches('/').split('/').map(str::to_string).collect();
    let lower: Vec<String> = original.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let o = &original;
    let method = req.method.as_str();
    let api = api_version.clone();
    let reply = match l.as_slice() {
        ["subscriptions", _, "resourcegroups", _] => group(state, req, &o[1], &o[3]),
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.resources", "templatespecs", _] => {
            template_specs::route(state, req, &o[1], &o[3], &o[7], None)
        }
        [
            "subscriptions",
            _,
            "resourcegroups",
            _,
            "providers",
            "microsoft.resources",
            "templatespecs",
            _,
            "versions",
            _,
        ] => template_specs::route(state, req, &o[1], &o[3], &o[7], Some(&o[9])),
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.resources", "deployments", _, rest @ ..] => {
            deployment(state, req, &o[1], Some(&o[3]), &o[7], rest, &api)
        }
        ["subscriptions", _, "resourcegroups", _, "deployments", _, "operations"] => {
            deployment(state, req, &o[1], Some(&o[3]), &o[5], &["operations"], &api)
        }
        ["subscriptions", _, "providers", "microsoft.resources", "deployments", _, rest @ ..] => {
            deployment(state, req, &o[1], None, &o[5], rest, &api)
        }
        [
            "subscriptions",
            _,
            "resourcegroups",
            _,
            "providers",
            "microsoft.resources",
            "deploymentstacks",
            rest @ ..,
        ] => stacks::route(state, req, &o[1], Some(&o[3]), &o[7..], rest, &api),
        ["subscriptions", _, "providers", "microsoft.resources", "deploymentstacks", rest @ ..] => {
            stacks::route(state, req, &o[1], None, &o[5..], rest, &api)
        }
        [
            "subscriptions",
            _,
            "providers",
            "microsoft.resources",
            "locations",
            _,
            "deploymentstackoperationstatus",
            _,
        ] if method == "GET" => stacks::operation_status(state, &o[7]),
        ["subscriptions", _, "operationresults", _] if method == "GET" => operation_result(state, &o[3]),
        _ => Reply::arm_error(404, "NotFound", &format!("No route for {method} {}", req.path)),
    };
    reply
        .header("x-ms-ratelimit-remaining-subscription-reads", "249")
        .header("x-ms-ratelimit-remaining-subscription-writes", "199")
}

fn unauthorized(code: &str, message: &str, base: &str) -> Reply {
    Reply::arm_error(401, code, message).header(
        "WWW-Authenticate",
        format!(
            "Bearer authorization_uri=\"{base}/{}\", error=\"invalid_token\", error_description=\"{message}\"",
            super::TENANT
        ),
    )
}

/// A resource the store holds, as its provider would return it; 404 once it is deleted.
fn resource(state: &mut State, sub: &str, group: &str, path: &str) -> Reply {
    state.arm.resource_ids(sub, group);
    let Some(g) = state.arm.groups.get(&group_key(sub, group)) else {
        return Reply::arm_error(
            404,
            "ResourceGroupNotFound",
            &format!("Resource group '{group}' could not be found."),
        );
    };
    let id = path.trim_end_matches('/').to_ascii_lowercase();
    match g.resources.get(&id) {
        Some(r) => Reply::json(200, r.body.clone()),
        None => {
            let short = path.split_once("/providers/").map_or(path, |(_, rest)| rest).trim_end_matches('/');
            Reply::arm_error(
                404,
                "ResourceNotFound",
                &format!(
                    "The Resource '{short}' under resource group '{group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
                ),
            )
        }
    }
}

fn group_key(sub: &str, name: &str) -> (String, String) {
    (sub.to_ascii_lowercase(), name.to_ascii_lowercase())
}

fn group_body(sub: &str, g: &Group) -> Value {
    json!({"id": format!("/subscriptions/{sub}/resourceGroups/{}", g.name), "name": g.name, "type": "Microsoft.Resources/resourceGroups", "location": g.location, "properties": {"provisioningState": "Succeeded"}})
}

fn group(state: &mut State, req: &Incoming, sub: &str, name: &str) -> Reply {
    let key = group_key(sub, name);
    match req.method.as_str() {
        "HEAD" => Reply::empty(if state.arm.groups.contains_key(&key) { 204 } else { 404 }),
        "GET" => match state.arm.groups.get(&key) {
            Some(g) => Reply::json(200, group_body(sub, g)),
            None => {
                Reply::arm_error(404, "ResourceGroupNotFound", &format!("Resource group '{name}' could not be found."))
            }
        },
        "PUT" => {
            let Some(location) = req.json().and_then(|b| b.get("location").and_then(Value::as_str).map(str::to_string))
            else {
                return Reply::arm_error(
                    400,
                    "LocationRequired",
                    "The location property is required for this definition.",
                );
            };
            let existed = state.arm.groups.contains_key(&key);
            let g = state.arm.groups.entry(key).or_insert_with(|| Group {
                name: name.to_string(),
                location: location.clone(),
                resources: BTreeMap::new(),
            });
            Reply::json(if existed { 200 } else { 201 }, group_body(sub, g))
        }
        "DELETE" => {
            if state.arm.groups.remove(&key).is_none() {
                return Reply::arm_error(
                    404,
                    "ResourceGroupNotFound",
                    &format!("Resource group '{name}' could not be found."),
                );
            }
            let id = format!("del-{}", uuid::Uuid::new_v4().simple());
            state.arm.results.insert(id.clone(), (1, Reply::empty(200)));
            Reply::empty(202)
                .header(
                    "Location",
                    format!("{}/subscriptions/{sub}/operationresults/{id}?api-version=2025-04-01", state.base),
                )
                .header("Retry-After", "1")
        }
        _ => Reply::arm_error(405, "MethodNotAllowed", "method not allowed"),
    }
}

fn deployment(
    state: &mut State,
    req: &Incoming,
    sub: &str,
    group: Option<&String>,
    name: &str,
    rest: &[&str],
    api: &str,
) -> Reply {
    let scope = match group {
        Some(g) => format!("/subscriptions/{sub}/resourceGroups/{g}"),
        None => format!("/subscriptions/{sub}"),
    };
    if let Some(g) = group
        && !state.arm.groups.contains_key(&group_key(sub, g))
    {
        return Reply::arm_error(404, "ResourceGroupNotFound", &format!("Resource group '{g}' could not be found."));
    }
    let id = format!("{scope}/providers/Microsoft.Resources/deployments/{name}");
    let key = id.to_ascii_lowercase();
    let now = Instant::now();
    let not_found = || Reply::arm_error(404, "DeploymentNotFound", &format!("Deployment '{name}' could not be found."));
    match (req.method.as_str(), rest) {
        ("PUT", []) => {
            if state.arm.deployments.contains_key(&key) {
                let current = state.arm.advance(&key, now);
                if current == "Accepted" || current == "Running" {
                    return Reply::arm_error(
                        409,
                        "DeploymentActive",
                        &format!(
                            "Unable to edit or replace deployment '{name}': previous deployment from '{}' is still active.",
                            chrono::Utc::now().to_rfc3339()
                        ),
                    );
                }
            }
            let body = req.json().unwrap_or(Value::Null);
            let d = match new_deployment(state, &body, sub, group.map(String::as_str), name, now) {
                Ok(d) => d,
                Err(reply) => return reply,
            };
            let existed = state.arm.deployments.contains_key(&key);
            let correlation_id = d.correlation_id.clone();
            let operation_id = format!("{}", 8584906571590370902u64 + now.elapsed().as_nanos() as u64 % 1000);
            let body = d.resource(now);
            state.arm.deployments.insert(key, d);
            Reply::json(if existed { 200 } else { 201 }, body)
                .header(
                    "Azure-AsyncOperation",
                    format!(
                        "{}{}/operationStatuses/{operation_id}?api-version={api}",
                        state.base,
                        id.replace("/resourceGroups/", "/resourcegroups/")
                    ),
                )
                .header("Retry-After", "1")
                .header("x-ms-correlation-request-id", correlation_id)
        }
        ("GET", []) => {
            state.arm.advance(&key, now);
            match state.arm.deployments.get(&key) {
                Some(d) => Reply::json(200, d.resource(now)),
                None => not_found(),
            }
        }
        ("HEAD", []) => Reply::empty(if state.arm.deployments.contains_key(&key) { 204 } else { 404 }),
        ("DELETE", []) => {
            let current = state.arm.advance(&key, now);
            if current == "NotFound" {
                return Reply::empty(204);
            }
            if current == "Accepted" || current == "Running" {
                return Reply::arm_error(409, "DeploymentActive", "The deployment is still active.");
            }
            state.arm.deployments.remove(&key);
            let rid = format!("del-{}", uuid::Uuid::new_v4().simple());
            state.arm.results.insert(rid.clone(), (1, Reply::empty(204)));
            Reply::empty(202)
                .header(
                    "Location",
                    format!("{}/subscriptions/{sub}/operationresults/{rid}?api-version={api}", state.base),
                )
                .header("Retry-After", "1")
        }
        ("GET", ["operationstatuses", _]) => {
            let current = state.arm.advance(&key, now);
            let Some(d) = state.arm.deployments.get(&key) else {
                return not_found();
            };
            match current.as_str() {
                "Accepted" | "Running" => Reply::json(200, json!({"status": "Running"})).header("Retry-After", "1"),
                "Failed" => Reply::json(200, json!({"status": "Failed", "error": d.error()})),
                other => Reply::json(200, json!({"status": other})),
            }
        }
        ("GET", ["operations"]) => {
            state.arm.advance(&key, now);
            match state.arm.deployments.get(&key) {
                Some(d) => Reply::json(200, json!({"value": d.operations(now)})),
                None => not_found(),
            }
        }
        ("POST", ["validate"]) => {
            let body = req.json().unwrap_or(Value::Null);
            match prepare(state, &body, sub, group.map(String::as_str), name) {
                Ok(p) => Reply::json(
                    200,
                    json!({
                    "id": id, "name": name, "type": "Microsoft.Resources/deployments",
                    "properties": {"templateHash": p.template_hash, "parameters": p.parameters, "mode": p.mode, "provisioningState": "Succeeded",
                        "timestamp": chrono::Utc::now().to_rfc3339(), "duration": "PT0S", "correlationId": uuid::Uuid::new_v4().to_string(),
                        "validatedResources": p.resources.iter().map(|r| json!({"id": r.id})).collect::<Vec<_>>()}}),
                ),
                Err(reply) => reply,
            }
        }
        ("POST", ["whatif"]) => {
            let body = req.json().unwrap_or(Value::Null);
            if group.is_none() && body.get("location").is_none() {
                return Reply::arm_error(
                    400,
                    "InvalidDeploymentLocation",
                    "The 'location' property must be specified for a subscription deployment.",
                );
            }
            let p = match prepare(state, &body, sub, group.map(String::as_str), name) {
                Ok(p) => p,
                Err(reply) => return reply,
            };
            let changes = what_if(state, sub, group.map(String::as_str), &p);
            let rid = format!("eyJqb2JJZCI6{}", uuid::Uuid::new_v4().simple());
            state.arm.results.insert(
                rid.clone(),
                (1, Reply::json(200, json!({"status": "Succeeded", "properties": {"changes": changes}}))),
            );
            Reply::empty(202)
                .header("Location", format!("{}/subscriptions/{sub}/operationresults/{rid}?api-version={api}&t=639000000000000000&c=MIIHhzCCBm&s=sig&h=hash", state.base))
                .header("Retry-After", "1")
        }
        ("POST", ["cancel"]) => {
            let current = state.arm.advance(&key, now);
            match current.as_str() {
                "NotFound" => not_found(),
                "Accepted" | "Running" => {
                    if let Some(d) = state.arm.deployments.get_mut(&key) {
                        d.canceled_at = Some(now);
                    }
                    Reply::empty(204)
                }
                other => Reply::arm_error(
                    409,
                    "DeploymentCannotBeCancelled",
                    &format!("The deployment '{name}' cannot be cancelled: it is already {other}."),
                ),
            }
        }
        _ => Reply::arm_error(404, "NotFound", &format!("No route for {} {}", req.method, req.path)),
    }
}

/// A deployment checked and started from a PUT body (a plain deployment's or a stack's).
fn new_deployment(
    state: &State,
    body: &Value,
    sub: &str,
    group: Option<&str>,
    name: &str,
    now: Instant,
) -> Result<Deployment, Reply> {
    let scope = match group {
        Some(g) => format!("/subscriptions/{sub}/resourceGroups/{g}"),
        None => format!("/subscriptions/{sub}"),
    };
    let prepared = prepare(state, body, sub, group, name)?;
    let failing = state.arm.failing.iter().find_map(|f| {
        prepared.resources.iter().position(|r| r.name.eq_ignore_ascii_case(&f.name)).map(|i| (i, f.clone()))
    });
    Ok(Deployment {
        id: format!("{scope}/providers/Microsoft.Resources/deployments/{name}"),
        name: name.to_string(),
        subscription: sub.to_string(),
        group: group.map(str::to_string),
        location: body.get("location").and_then(Value::as_str).map(str::to_string),
        mode: prepared.mode,
        started: now,
        started_at: chrono::Utc::now(),
        step: state.step,
        resources: prepared.resources,
        outputs: prepared.outputs,
        parameters: prepared.parameters,
        correlation_id: uuid::Uuid::new_v4().to_string(),
        canceled_at: None,
        failing,
        applied: false,
        template_hash: prepared.template_hash,
    })
}

fn operation_result(state: &mut State, id: &str) -> Reply {
    let base = state.base.clone();
    match state.arm.results.get_mut(id) {
        None => Reply::arm_error(404, "NotFound", "operation result not found"),
        Some((pending, _)) if *pending > 0 => {
            *pending -= 1;
            Reply::empty(202).header("Retry-After", "1").header(
                "Location",
                format!("{base}/subscriptions/{}/operationresults/{id}?api-version=2025-04-01", super::SUBSCRIPTION),
            )
        }
        Some((_, reply)) => Reply {
            status: reply.status,
            headers: reply.headers.clone(),
            body: reply.body.clone(),
            raw: reply.raw.clone(),
        },
    }
}

struct Prepared {
    mode: String,
    resources: Vec<Resource>,
    outputs: Map<String, Value>,
    parameters: Map<String, Value>,
    template_hash: String,
}

fn invalid(message: String) -> Reply {
    Reply::json(
        400,
        json!({"error": {"code": "InvalidTemplate", "message": message, "additionalInfo": [{"type": "TemplateViolation", "info": {"lineNumber": 0, "linePosition": 0, "path": ""}}]}}),
    )
}

/// ARM's template validation, then evaluation of resource names and outputs.
fn prepare(state: &State, body: &Value, sub: &str, group: Option<&str>, name: &str) -> Result<Prepared, Reply> {
    let props = body.get("properties").ok_or_else(|| {
        Reply::arm_error(400, "InvalidRequestContent", "The request content was invalid: 'properties' is required.")
    })?;
    if props.get("templateLink").is_some() && props.get("template").is_some() {
        return Err(invalid("Only one of 'template' and 'templateLink' may be given.".into()));
    }
    let template = props
        .get("template")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("The 'template' property must be a JSON object.".into()))?;
    for key in ["$schema", "contentVersion", "resources"] {
        if !template.contains_key(key) {
            return Err(invalid(format!("Template is missing required property '{key}'.")));
        }
    }
    let mode = props.get("mode").and_then(Value::as_str).unwrap_or("Incremental").to_string();
    if !["incremental", "complete"].contains(&mode.to_ascii_lowercase().as_str()) {
        return Err(Reply::arm_error(
            400,
            "InvalidDeploymentMode",
            &format!("The deployment mode '{mode}' is not valid."),
        ));
    }
    if group.is_none() && body.get("location").is_none() {
        return Err(Reply::arm_error(
            400,
            "InvalidDeploymentLocation",
            "The 'location' property must be specified for a subscription deployment.",
        ));
    }
    let empty = Map::new();
    let declared = template.get("parameters").and_then(Value::as_object).unwrap_or(&empty);
    let supplied = props.get("parameters").and_then(Value::as_object).unwrap_or(&empty);
    for key in supplied.keys() {
        if !declared.keys().any(|d| d.eq_ignore_ascii_case(key)) {
            return Err(Reply::json(
                400,
                json!({"error": {"code": "InvalidTemplate", "message": format!("Deployment template validation failed: 'The template parameters '{key}' in the parameters file are not valid; they are not present in the original template and can therefore not be provided at deployment time.'")}}),
            ));
        }
    }
    let group_location = group
        .and_then(|g| state.arm.groups.get(&group_key(sub, g)))
        .map(|g| g.location.clone())
        .unwrap_or_else(|| body.get("location").and_then(Value::as_str).unwrap_or("westeurope").to_string());
    let variables = template.get("variables").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut values = Map::new();
    let mut echo = Map::new();
    for (pname, def) in declared {
        let ty = def.get("type").and_then(Value::as_str).unwrap_or("string");
        let given = supplied.iter().find(|(k, _)| k.eq_ignore_ascii_case(pname)).map(|(_, v)| v);
        let value = match given {
            Some(entry) if entry.get("reference").is_some() => json!("stand-in-keyvault-secret"),
            Some(entry) => entry.get("value").cloned().unwrap_or(Value::Null),
            None => match def.get("defaultValue") {
                Some(default) => {
                    let ctx = Context {
                        parameters: &values,
                        variables: &variables,
                        subscription: sub,
                        group: group.map(|g| (g, group_location.as_str())),
                        deployment: name,
                        location: &group_location,
                    };
                    expr::eval_value(&ctx, default).map_err(|e| {
                        invalid(format!("Deployment template validation failed: parameter '{pname}' default: {e}"))
                    })?
                }
                None => {
                    return Err(invalid(format!(
                        "Deployment template validation failed: 'The value for the template parameter '{pname}' is not provided.'"
                    )));
                }
            },
        };
        if let Some(allowed) = def.get("allowedValues").and_then(Value::as_array)
            && !allowed.contains(&value)
        {
            return Err(invalid(format!(
                "Deployment template validation failed: 'The provided value '{value}' for the template parameter '{pname}' is not valid. The parameter value is not part of the allowed value(s).'"
            )));
        }
        let cap = {
            let mut c = ty.chars();
            c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
        };
        if ty.to_ascii_lowercase().starts_with("secure") {
            echo.insert(pname.clone(), json!({"type": cap}));
        } else {
            echo.insert(pname.clone(), json!({"type": cap, "value": value}));
        }
        values.insert(pname.clone(), value);
    }
    let ctx = Context {
        parameters: &values,
        variables: &variables,
        subscription: sub,
        group: group.map(|g| (g, group_location.as_str())),
        deployment: name,
        location: &group_location,
    };
    let raw_resources: Vec<Value> = match template.get("resources") {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Object(map)) => map.values().cloned().collect(),
        _ => return Err(invalid("'resources' must be an array or an object.".into())),
    };
    let mut resources = Vec::new();
    for raw in raw_resources {
        if raw.get("copy").is_some() {
            return Err(invalid("The stand-in does not evaluate copy loops.".into()));
        }
        if raw.get("existing").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(condition) = raw.get("condition") {
            let c = expr::eval_value(&ctx, condition)
                .map_err(|e| invalid(format!("Deployment template validation failed: {e}")))?;
            if c == Value::Bool(false) {
                continue;
            }
        }
        let evaluated =
            expr::eval_value(&ctx, &raw).map_err(|e| invalid(format!("Deployment template validation failed: {e}")))?;
        let ty = evaluated
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("A resource has no 'type'.".into()))?
            .to_string();
        let rname = evaluated
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("Resource of type '{ty}' has no 'name'.")))?
            .to_string();
        let api_version = evaluated
            .get("apiVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("Resource '{rname}' has no 'apiVersion'.")))?
            .to_string();
        let mut type_segments = ty.split('/');
        let namespace = type_segments.next().unwrap_or_default();
        let mut path = format!("providers/{namespace}");
        for (t, n) in type_segments.zip(rname.split('/')) {
            path.push_str(&format!("/{t}/{n}"));
        }
        let scope = match group {
            Some(g) => format!("/subscriptions/{sub}/resourceGroups/{g}"),
            None => format!("/subscriptions/{sub}"),
        };
        let id = if ty.eq_ignore_ascii_case("Microsoft.Resources/resourceGroups") {
            format!("/subscriptions/{sub}/resourceGroups/{rname}")
        } else {
            format!("{scope}/{path}")
        };
        let mut stored = evaluated.clone();
        if let Some(o) = stored.as_object_mut() {
            o.remove("dependsOn");
            o.insert("id".into(), json!(id));
        }
        resources.push(Resource { id, ty, name: rname, api_version, body: stored });
    }
    let mut outputs = Map::new();
    if let Some(defs) = template.get("outputs").and_then(Value::as_object) {
        for (oname, def) in defs {
            let ty = def.get("type").and_then(Value::as_str).unwrap_or("string");
            let value = expr::eval_value(&ctx, def.get("value").unwrap_or(&Value::Null))
                .map_err(|e| invalid(format!("Deployment template validation failed: output '{oname}': {e}")))?;
            let cap = {
                let mut c = ty.chars();
                c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
            };
            outputs.insert(oname.clone(), json!({"type": cap, "value": value}));
        }
    }
    let hash = {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(serde_json::to_vec(template).unwrap_or_default());
        u64::from_be_bytes(digest[..8].try_into().unwrap_or_default()).to_string()
    };
    Ok(Prepared { mode, resources, outputs, parameters: echo, template_hash: hash })
}

fn what_if(state: &State, sub: &str, group: Option<&str>, p: &Prepared) -> Vec<Value> {
    let existing: BTreeMap<String, Resource> =
        group.and_then(|g| state.arm.groups.get(&group_key(sub, g))).map(|g| g.resources.clone()).unwrap_or_default();
    let mut changes = Vec::new();
    for r in &p.resources {
        match existing.get(&r.id.to_ascii_lowercase()) {
            None => changes.push(json!({"resourceId": r.id, "changeType": "Create", "after": r.body})),
            Some(before) => {
                let mut delta = Vec::new();
                diff("", &before.body, &r.body, &mut delta);
                if delta.is_empty() {
                    changes.push(
                        json!({"resourceId": r.id, "changeType": "NoChange", "before": before.body, "after": r.body}),
                    );
                } else {
                    changes.push(json!({"resourceId": r.id, "changeType": "Modify", "before": before.body, "after": r.body, "delta": delta}));
                }
            }
        }
    }
    for (key, r) in &existing {
        if !p.resources.iter().any(|t| t.id.to_ascii_lowercase() == *key) {
            let change = if p.mode.eq_ignore_ascii_case("complete") { "Delete" } else { "Ignore" };
            changes.push(json!({"resourceId": r.id, "changeType": change, "before": r.body}));
        }
    }
    changes
}

fn diff(prefix: &str, before: &Value, after: &Value, out: &mut Vec<Value>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, av) in a {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                match b.get(k) {
                    None => out.push(json!({"path": path, "propertyChangeType": "Create", "after": av})),
                    Some(bv) => diff(&path, bv, av, out),
                }
            }
            for (k, bv) in b {
                if !a.contains_key(k) {
                    let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    out.push(json!({"path": path, "propertyChangeType": "Delete", "before": bv}));
                }
            }
        }
        (b, a) if b != a => out.push(json!({"path": prefix, "propertyChangeType": "Modify", "before": b, "after": a})),
        _ => {}
    }
}
