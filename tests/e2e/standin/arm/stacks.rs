//! Deployment stacks (`Microsoft.Resources/deploymentStacks`, api-version 2024-03-01) at
//! resource-group and subscription scope: a PUT runs a template deployment and then manages what it
//! created; resources a later PUT leaves out, and everything on DELETE, are detached or really
//! deleted from the resource store according to `actionOnUnmanage` (or the DELETE's
//! `unmanageAction.*` query parameters).
//!
//! Status codes, headers and body shapes follow the REST spec and its examples; error codes for
//! requests the spec does not describe (a missing `actionOnUnmanage`, a PUT while the stack is
//! still deploying) are inferred and say so beside them.

use std::time::Instant;

use serde_json::{Map, Value, json};

use super::{ArmState, Incoming, Reply, State, group_key, new_deployment};

/// One stack and the resources it manages.
#[derive(Debug)]
pub struct Stack {
    id: String,
    name: String,
    location: Option<String>,
    tags: Value,
    description: Option<String>,
    action: Value,
    deny: Value,
    /// The key of the deployment the latest PUT started.
    deployment: String,
    deployment_id: String,
    correlation_id: String,
    created_at: chrono::DateTime<chrono::Utc>,
    started: Instant,
    /// Ids of the resources it manages, in deployment order.
    managed: Vec<String>,
    detached: Vec<String>,
    deleted: Vec<String>,
    /// `succeeded`/`failed`/`canceled` once the latest deployment ended and was applied.
    settled: Option<String>,
    error: Option<Value>,
    outputs: Map<String, Value>,
    parameters: Map<String, Value>,
}

fn is_mode(value: &Value, allowed: &[&str]) -> bool {
    value.as_str().is_some_and(|v| allowed.iter().any(|a| a.eq_ignore_ascii_case(v)))
}

fn deletes(action: &Value, field: &str) -> bool {
    action.get(field).and_then(Value::as_str).is_some_and(|v| v.eq_ignore_ascii_case("delete"))
}

fn is_resource_group(id: &str) -> bool {
    let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
    matches!(parts.as_slice(), ["subscriptions", _, rg, _] if rg.eq_ignore_ascii_case("resourceGroups"))
}

impl ArmState {
    /// Brings a stack up to date with its deployment: once the deployment ended, the stack takes its
    /// resources over and unmanages (detaches or deletes) those the new template left out.
    pub(super) fn settle_stack(&mut self, key: &str, now: Instant) -> String {
        let Some(stack) = self.stacks.get(key) else {
            return "NotFound".to_string();
        };
        if let Some(state) = &stack.settled {
            return state.clone();
        }
        let deployment = stack.deployment.clone();
        let state = self.advance(&deployment, now);
        let settled = match state.as_str() {
            "Succeeded" => "succeeded",
            "Failed" => "failed",
            "Canceled" => "canceled",
            _ => return "deploying".to_string(),
        };
        let (new_ids, outputs, error) = match self.deployments.get(&deployment) {
            Some(d) => (
                d.resources.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
                d.outputs.clone(),
                (settled == "failed").then(|| d.error()),
            ),
            None => (Vec::new(), Map::new(), None),
        };
        let Some(stack) = self.stacks.get_mut(key) else {
            return "NotFound".to_string();
        };
        stack.settled = Some(settled.to_string());
        if settled != "succeeded" {
            stack.error = error.map(|inner| {
                json!({"code": "DeploymentStackDeploymentFailed",
                    "message": format!("One or more stages of deploymentStack '{}' failed. Correlation id: '{}'.", stack.name, stack.correlation_id),
                    "details": [inner]})
            });
            return settled.to_string();
        }
        stack.error = None;
        stack.outputs = outputs;
        let action = stack.action.clone();
        let unmanaged: Vec<String> =
            stack.managed.iter().filter(|id| !new_ids.iter().any(|n| n.eq_ignore_ascii_case(id))).cloned().collect();
        stack.managed = new_ids;
        stack.detached.clear();
        stack.deleted.clear();
        let (detached, deleted) = self.unmanage(&unmanaged, &action);
        if let Some(stack) = self.stacks.get_mut(key) {
            stack.detached = detached;
            stack.deleted = deleted;
        }
        settled.to_string()
    }

    /// Detaches or deletes `ids` per `action` (resources first, then resource groups, which take
    /// their remaining resources with them); returns (detached, deleted).
    fn unmanage(&mut self, ids: &[String], action: &Value) -> (Vec<String>, Vec<String>) {
        let mut detached = Vec::new();
        let mut deleted = Vec::new();
        let (groups, resources): (Vec<&String>, Vec<&String>) = ids.iter().partition(|id| is_resource_group(id));
        for id in resources {
            if deletes(action, "resources") {
                self.remove_resource(id);
                deleted.push(id.clone());
            } else {
                detached.push(id.clone());
            }
        }
        for id in groups {
            if deletes(action, "resourceGroups") {
                self.remove_resource(id);
                deleted.push(id.clone());
            } else {
                detached.push(id.clone());
            }
        }
        (detached, deleted)
    }
}

impl Stack {
    fn body(&self, state: &str, now: Instant) -> Value {
        let deny_status = self.deny.get("mode").cloned().unwrap_or(json!("none"));
        let refs = |ids: &[String]| ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>();
        let mut props = json!({
            "actionOnUnmanage": self.action,
            "denySettings": self.deny,
            "parameters": self.parameters,
            "provisioningState": state,
            "correlationId": self.correlation_id,
            "deploymentId": self.deployment_id,
            "resources": self.managed.iter().map(|id| json!({"id": id, "status": "managed", "denyStatus": deny_status})).collect::<Vec<_>>(),
            "detachedResources": refs(&self.detached),
            "deletedResources": refs(&self.deleted),
            "failedResources": [],
            "duration": format!("PT{:.3}S", now.duration_since(self.started).as_secs_f64()),
        });
        if let Some(description) = &self.description {
            props["description"] = json!(description);
        }
        if state == "succeeded" {
            props["outputs"] = Value::Object(self.outputs.clone());
        }
        if let Some(error) = &self.error {
            props["error"] = error.clone();
        }
        let at = self.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let mut body = json!({
            "id": self.id, "name": self.name, "type": "Microsoft.Resources/deploymentStacks", "tags": self.tags,
            "systemData": {"createdBy": super::super::CLIENT_ID, "createdByType": "Application", "createdAt": at,
                "lastModifiedBy": super::super::CLIENT_ID, "lastModifiedByType": "Application", "lastModifiedAt": at},
            "properties": props,
        });
        if let Some(location) = &self.location {
            body["location"] = json!(location);
        }
        body
    }
}

/// `…/deploymentStacks[/{name}]`: list, GET, PUT, DELETE.
pub fn route(
    state: &mut State,
    req: &Incoming,
    sub: &str,
    group: Option<&String>,
    original: &[String],
    rest: &[&str],
    api: &str,
) -> Reply {
    if let Some(g) = group
        && !state.arm.groups.contains_key(&group_key(sub, g))
    {
        return Reply::arm_error(404, "ResourceGroupNotFound", &format!("Resource group '{g}' could not be found."));
    }
    let scope = match group {
        Some(g) => format!("/subscriptions/{sub}/resourceGroups/{g}"),
        None => format!("/subscriptions/{sub}"),
    };
    let now = Instant::now();
    match (req.method.as_str(), rest) {
        ("GET", []) => {
            let prefix = format!("{scope}/providers/Microsoft.Resources/deploymentStacks/").to_ascii_lowercase();
            let keys: Vec<String> = state.arm.stacks.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
            let mut items = Vec::new();
            for key in keys {
                let current = state.arm.settle_stack(&key, now);
                if let Some(stack) = state.arm.stacks.get(&key) {
                    items.push(stack.body(&current, now));
                }
            }
            Reply::json(200, json!({"value": items}))
        }
        ("GET", [_]) => {
            let key =
                format!("{scope}/providers/Microsoft.Resources/deploymentStacks/{}", original[0]).to_ascii_lowercase();
            let current = state.arm.settle_stack(&key, now);
            match state.arm.stacks.get(&key) {
                Some(stack) => Reply::json(200, stack.body(&current, now)),
                None => not_found(&original[0]),
            }
        }
        ("PUT", [_]) => put(state, req, sub, group.map(String::as_str), &scope, &original[0], api, now),
        ("DELETE", [_]) => delete(state, req, sub, &scope, &original[0], now),
        _ => Reply::arm_error(404, "NotFound", &format!("No route for {} {}", req.method, req.path)),
    }
}

fn not_found(name: &str) -> Reply {
    Reply::arm_error(404, "DeploymentStackNotFound", &format!("The deployment stack '{name}' could not be found."))
}

fn bad_request(message: &str) -> Reply {
    // Inferred code: the service's own validation errors for a stack body are not in the spec.
    Reply::arm_error(400, "InvalidRequestContent", message)
}

#[expect(clippy::too_many_arguments, reason = "the route's parts, passed through as the other routes do")]
fn put(
    state: &mut State,
    req: &Incoming,
    sub: &str,
    group: Option<&str>,
    scope: &str,
    name: &str,
    api: &str,
    now: Instant,
) -> Reply {
    let id = format!("{scope}/providers/Microsoft.Resources/deploymentStacks/{name}");
    let key = id.to_ascii_lowercase();
    if state.arm.stacks.contains_key(&key) && state.arm.settle_stack(&key, now) == "deploying" {
        // Inferred wording: a stack takes one operation at a time.
        return Reply::arm_error(
            409,
            "DeploymentStackInNonTerminalState",
            &format!("The deployment stack '{name}' is in a non-terminal state and cannot be updated."),
        );
    }
    let Some(body) = req.json() else {
        return bad_request("The request content was invalid and could not be deserialized.");
    };
    let props = body.get("properties").cloned().unwrap_or_default();
    let action = props.get("actionOnUnmanage").cloned().unwrap_or_default();
    if !is_mode(&action["resources"], &["delete", "detach"]) {
        return bad_request("The 'actionOnUnmanage.resources' property is required and must be 'delete' or 'detach'.");
    }
    for field in ["resourceGroups", "managementGroups"] {
        if !action[field].is_null() && !is_mode(&action[field], &["delete", "detach"]) {
            return bad_request(&format!("The 'actionOnUnmanage.{field}' property must be 'delete' or 'detach'."));
        }
    }
    let deny = props.get("denySettings").cloned().unwrap_or_default();
    if !is_mode(&deny["mode"], &["none", "denyDelete", "denyWriteAndDelete"]) {
        return bad_request(
            "The 'denySettings.mode' property is required and must be 'none', 'denyDelete' or 'denyWriteAndDelete'.",
        );
    }
    if group.is_none() && body.get("location").is_none() {
        return Reply::arm_error(
            400,
            "LocationRequired",
            "The location property is required for a subscription deployment stack.",
        );
    }
    // The stack's deployment: the same template machinery, always Incremental (the stack, not the
    // mode, decides what happens to resources the template leaves out).
    let deployment_name = format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut deployment_body = json!({"properties": {"mode": "Incremental",
        "template": props.get("template").cloned().unwrap_or_default(),
        "parameters": props.get("parameters").cloned().unwrap_or_default()}});
    if let Some(location) = body.get("location") {
        deployment_body["location"] = location.clone();
    }
    let deployment = match new_deployment(state, &deployment_body, sub, group, &deployment_name, now) {
        Ok(d) => d,
        Err(reply) => return reply,
    };
    let deployment_key = deployment.id.to_ascii_lowercase();
    let previous = state.arm.stacks.remove(&key);
    let existed = previous.is_some();
    let stack = Stack {
        id: id.clone(),
        name: name.to_string(),
        location: body.get("location").and_then(Value::as_str).map(str::to_string),
        tags: body.get("tags").cloned().unwrap_or_else(|| json!({})),
        description: props.get("description").and_then(Value::as_str).map(str::to_string),
        action,
        deny,
        deployment: deployment_key.clone(),
        deployment_id: deployment.id.clone(),
        correlation_id: deployment.correlation_id.clone(),
        created_at: previous.as_ref().map_or_else(chrono::Utc::now, |p| p.created_at),
        started: now,
        managed: previous.map(|p| p.managed).unwrap_or_default(),
        detached: Vec::new(),
        deleted: Vec::new(),
        settled: None,
        error: None,
        outputs: Map::new(),
        parameters: deployment.parameters.clone(),
    };
    state.arm.deployments.insert(deployment_key, deployment);
    let reply_body = stack.body("initializing", now);
    state.arm.stacks.insert(key.clone(), stack);
    let operation = uuid::Uuid::new_v4().to_string();
    state.arm.stack_operations.insert(operation.clone(), key);
    let location = reply_body.get("location").and_then(Value::as_str).unwrap_or("westeurope").to_string();
    Reply::json(if existed { 200 } else { 201 }, reply_body)
        .header(
            "Azure-AsyncOperation",
            format!(
                "{}/subscriptions/{sub}/providers/Microsoft.Resources/locations/{location}/deploymentStackOperationStatus/{operation}?api-version={api}",
                state.base
            ),
        )
        .header("Retry-After", "1")
}

/// The async-operation status of a stack PUT.
pub fn operation_status(state: &mut State, operation: &str) -> Reply {
    let Some(key) = state.arm.stack_operations.get(operation).cloned() else {
        return Reply::arm_error(404, "NotFound", "operation not found");
    };
    let current = state.arm.settle_stack(&key, Instant::now());
    let mut body = json!({"id": operation, "name": operation});
    match current.as_str() {
        "deploying" => {
            body["status"] = json!("deploying");
            return Reply::json(200, body).header("Retry-After", "1");
        }
        "NotFound" => body["status"] = json!("canceled"),
        other => body["status"] = json!(other),
    }
    if let Some(error) = state.arm.stacks.get(&key).and_then(|s| s.error.clone()) {
        body["error"] = error;
    }
    Reply::json(200, body)
}

fn delete(state: &mut State, req: &Incoming, sub: &str, scope: &str, name: &str, now: Instant) -> Reply {
    let key = format!("{scope}/providers/Microsoft.Resources/deploymentStacks/{name}").to_ascii_lowercase();
    let current = state.arm.settle_stack(&key, now);
    if current == "NotFound" {
        return Reply::empty(204);
    }
    if current == "deploying" {
        // Inferred wording, as for a PUT.
        return Reply::arm_error(
            409,
            "DeploymentStackInNonTerminalState",
            &format!("The deployment stack '{name}' is in a non-terminal state and cannot be deleted."),
        );
    }
    let mut action = serde_json::Map::new();
    for (query, field) in
        [("unmanageaction.resources", "resources"), ("unmanageaction.resourcegroups", "resourceGroups")]
    {
        let value = req.query.get(query).map_or("detach", String::as_str);
        if !["delete", "detach"].contains(&value.to_ascii_lowercase().as_str()) {
            return bad_request(&format!("The query parameter '{query}' must be 'delete' or 'detach'; got '{value}'."));
        }
        action.insert(field.to_string(), json!(value));
    }
    let Some(stack) = state.arm.stacks.remove(&key) else {
        return Reply::empty(204);
    };
    state.arm.unmanage(&stack.managed, &Value::Object(action));
    let id = format!("stackdel-{}", uuid::Uuid::new_v4().simple());
    state.arm.results.insert(id.clone(), (1, Reply::empty(200)));
    Reply::empty(202)
        // ARM's operation results take ARM's own api-version, whatever the stack request used.
        .header("Location", format!("{}/subscriptions/{sub}/operationresults/{id}?api-version=2024-03-01", state.base))
        .header("Retry-After", "1")
}
