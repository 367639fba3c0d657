//! Online deployments on the ARM control plane (`…/onlineEndpoints/<ep>/deployments[/<d>]`):
//! create/update with the `mfeOperationsStatus` LRO (the state follows the deployment's run),
//! PATCH of sku and tags, GET, list, DELETE (refused while it takes traffic) and `getLogs`.

use serde_json::{Value, json};

use super::endpoints::{
    Deployment, Endpoint, Scope, Target, check_name, operation_url, start_operation, system_data, user_error,
};
use super::serving;
use super::{Incoming, Reply, State};

impl Deployment {
    pub fn body(&self, endpoint: &Endpoint) -> Value {
        let mut properties = self.properties.clone();
        properties["provisioningState"] = json!(self.run.state());
        json!({"id": format!("{}/deployments/{}", endpoint.id, self.name), "name": self.name,
            "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
            "location": endpoint.location, "kind": "Managed", "tags": self.tags, "sku": self.sku,
            "properties": properties, "systemData": system_data()})
    }
}

fn deployment_not_found(name: &str, endpoint: &Endpoint) -> Reply {
    // The service's own 404 wording (a public error body).
    Reply::arm_error(
        404,
        "UserError",
        &format!("Deployment {name} not found in endpoint {}, workspace {}", endpoint.name, endpoint.workspace),
    )
}

pub fn route(
    state: &mut State,
    req: &Incoming,
    scope: &Scope,
    key: &str,
    rest: &[&str],
    o: &[String],
    api: &str,
) -> Reply {
    let method = req.method.as_str();
    let dkey = |name: &str| name.to_ascii_lowercase();
    match (method, rest) {
        ("GET", []) => {
            let endpoint = &state.online.endpoints[key];
            let items: Vec<Value> = endpoint.deployments.values().map(|d| d.body(endpoint)).collect();
            super::aml::page(state, req, items, api)
        }
        ("GET", [_]) => {
            let endpoint = &state.online.endpoints[key];
            match endpoint.deployments.get(&dkey(&o[0])) {
                Some(d) => Reply::json(200, d.body(endpoint)),
                None => deployment_not_found(&o[0], endpoint),
            }
        }
        ("PUT", [_]) => put_deployment(state, req, scope, key, &o[0], api),
        ("PATCH", [_]) => {
            let body = req.json().unwrap_or_default();
            if body.get("properties").is_some_and(|p| !p.is_null()) {
                return user_error(
                    400,
                    "BadArgument",
                    "PATCH updates only sku and tags; send properties with PUT",
                    "properties",
                );
            }
            let endpoint = state.online.endpoints.get_mut(key).expect("checked by the caller");
            let Some(d) = endpoint.deployments.get_mut(&dkey(&o[0])) else {
                return deployment_not_found(&o[0], endpoint);
            };
            if let Some(tags) = body.get("tags").filter(|t| t.is_object()) {
                d.tags = tags.clone();
            }
            if let Some(sku) = body.get("sku").filter(|t| t.is_object()) {
                d.sku = sku.clone();
            }
            let id = start_operation(state, Target::Deployment(key.to_string(), dkey(&o[0])));
            Reply::empty(202)
                .header("Location", operation_url(state, scope, "mfeOperationResults", &id, api))
                .header("Retry-After", "1")
        }
        ("DELETE", [_]) => {
            let endpoint = state.online.endpoints.get_mut(key).expect("checked by the caller");
            let name = dkey(&o[0]);
            let Some(found) = endpoint.deployments.get(&name).map(|d| d.name.clone()) else {
                return Reply::empty(204);
            };
            let takes = |field: &str| endpoint.traffic(field).get(&found).is_some_and(|p| *p > 0);
            if takes("traffic") || takes("mirrorTraffic") {
                // Inferred code and wording: the service refuses to delete a deployment that
                // still takes traffic (safe-rollout docs set its traffic to 0 first).
                return user_error(
                    400,
                    "BadArgument",
                    &format!(
                        "Deployment {found} of endpoint {} still takes traffic; set its traffic and mirror traffic to 0 first",
                        endpoint.name
                    ),
                    "traffic",
                );
            }
            if let Some(mut d) = endpoint.deployments.remove(&name) {
                d.run.stop();
            }
            strip_zero_entries(endpoint, &found);
            let id = start_operation(state, Target::Done);
            Reply::empty(202)
                .header("Location", operation_url(state, scope, "mfeOperationResults", &id, api))
                .header("Retry-After", "1")
        }
        ("POST", [_, action]) if action.eq_ignore_ascii_case("getlogs") => {
            let endpoint = &state.online.endpoints[key];
            let Some(d) = endpoint.deployments.get(&dkey(&o[0])) else {
                return deployment_not_found(&o[0], endpoint);
            };
            let body = req.json().unwrap_or_default();
            let which = body["containerType"].as_str().unwrap_or("InferenceServer");
            let Some(text) = d.run.log(which) else {
                return user_error(
                    400,
                    "BadArgument",
                    &format!("containerType must be InferenceServer or StorageInitializer; got {which:?}"),
                    "containerType",
                );
            };
            let content = match body["tail"].as_u64() {
                Some(n) => {
                    let lines: Vec<&str> = text.lines().collect();
                    let skip = lines.len().saturating_sub(usize::try_from(n).unwrap_or(usize::MAX));
                    lines[skip..].iter().map(|l| format!("{l}\n")).collect()
                }
                None => text,
            };
            Reply::json(200, json!({"content": content}))
        }
        _ => Reply::arm_error(404, "NotFound", &format!("No route for {method} {}", req.path)),
    }
}

/// A deleted deployment's zero entries leave the traffic maps, so that a later PUT of the
/// endpoint's unchanged body does not name a deployment that no longer exists.
fn strip_zero_entries(endpoint: &mut Endpoint, name: &str) {
    for field in ["traffic", "mirrorTraffic"] {
        if let Some(map) = endpoint.properties[field].as_object_mut() {
            map.retain(|k, _| !k.eq_ignore_ascii_case(name));
        }
    }
}

fn put_deployment(state: &mut State, req: &Incoming, scope: &Scope, key: &str, name: &str, api: &str) -> Reply {
    let Some(body) = req.json().filter(Value::is_object) else {
        return user_error(400, "BadArgument", "The request body must be a JSON object.", "body");
    };
    if let Err(reply) = check_name(name) {
        return reply;
    }
    let Some(properties) = body.get("properties").cloned().filter(Value::is_object) else {
        return user_error(400, "Required", "The request body must have 'properties'.", "properties");
    };
    let kubernetes = super::endpoints::on_kubernetes(&state.online.endpoints[key].properties);
    let properties = match super::deployment_checks::check_deployment(state, scope, kubernetes, properties) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let sku =
        body.get("sku").filter(|s| s.is_object()).cloned().unwrap_or_else(|| json!({"name": "Default", "capacity": 1}));
    if sku["capacity"].as_i64().is_some_and(|c| c < 1) {
        return user_error(400, "BadArgument", "sku.capacity (instance count) must be at least 1", "sku.capacity");
    }
    let tags = body.get("tags").filter(|t| t.is_object()).cloned().unwrap_or_else(|| json!({}));
    let run = match serving::start(state, scope, name, &properties) {
        Ok(run) => run,
        Err(reply) => return reply,
    };
    state.online.served.push(run.listen_port);
    let endpoint = state.online.endpoints.get_mut(key).expect("checked by the caller");
    let dkey = name.to_ascii_lowercase();
    let created = !endpoint.deployments.contains_key(&dkey);
    if let Some(mut old) = endpoint.deployments.remove(&dkey) {
        old.run.stop();
    }
    let deployment = Deployment { name: name.to_string(), sku, tags, properties, run };
    let reply_body = deployment.body(endpoint);
    endpoint.deployments.insert(dkey.clone(), deployment);
    let id = start_operation(state, Target::Deployment(key.to_string(), dkey));
    Reply::json(if created { 201 } else { 200 }, reply_body)
        .header("Azure-AsyncOperation", operation_url(state, scope, "mfeOperationsStatus", &id, api))
        .header("Retry-After", "1")
        .header("x-ms-async-operation-timeout", "PT1H")
}
