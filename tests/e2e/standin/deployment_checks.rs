//! An online deployment's properties checked against what the service accepts, and completed
//! with the defaults it reports back.

use std::time::Duration;

use serde_json::{Value, json};

use super::endpoints::Scope;
use super::{Reply, State};

fn user_error(message: &str, target: &str) -> Reply {
    Reply::json(
        400,
        json!({"error": {"code": "UserError", "message": message,
            "details": [{"code": "BadArgument", "message": message, "target": target}]}}),
    )
}

/// The `<name>` and `<version>` of an asset ARM id `…/workspaces/<ws>/<collection>/<name>/versions/<version>`.
pub fn asset_id<'a>(id: &'a str, collection: &str) -> Option<(&'a str, &'a str)> {
    let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        [.., ws, c, name, versions, version]
            if c.eq_ignore_ascii_case(collection) && versions.eq_ignore_ascii_case("versions") && !ws.is_empty() =>
        {
            Some((name, version))
        }
        _ => None,
    }
}

/// Checks a deployment's properties against what the service accepts and fills in the
/// defaults it reports back (request settings and probes from the managed online deployment
/// YAML reference: request timeout 5 s, one concurrent request, probes every 10 s after 10 s,
/// 2 s timeout, 30 failures).
/// `kubernetes` says whether the endpoint runs on an attached Kubernetes compute: its
/// deployments are `Kubernetes` ones, whose instance type is one the cluster defines
/// (`defaultinstancetype` when none is named), and a managed endpoint's are `Managed`.
pub fn check_deployment(state: &State, scope: &Scope, kubernetes: bool, mut properties: Value) -> Result<Value, Reply> {
    let compute = properties["endpointComputeType"].as_str().unwrap_or("Managed");
    let expected = if kubernetes { "Kubernetes" } else { "Managed" };
    if compute != expected {
        return Err(user_error(
            &format!(
                "endpointComputeType {compute:?} does not match the endpoint: {} online endpoints take {expected:?}",
                if kubernetes { "Kubernetes" } else { "managed" }
            ),
            "properties.endpointComputeType",
        ));
    }
    if kubernetes
        && let Some(instance_type) = properties["instanceType"].as_str()
        && !instance_type.eq_ignore_ascii_case("defaultinstancetype")
    {
        return Err(user_error(
            &format!(
                "Instance type {instance_type} is not defined in the Kubernetes compute; it has defaultinstancetype"
            ),
            "properties.instanceType",
        ));
    }
    if kubernetes && properties["instanceType"].is_null() {
        properties["instanceType"] = json!("defaultinstancetype");
    }
    // What the default instance type gives a container (the Kubernetes instance-type docs).
    // azure-ai-ml 1.35.2 reads this object back from every Kubernetes deployment, and fails
    // without it, so the service is taken to always return it (inferred).
    if kubernetes && properties["containerResourceRequirements"].is_null() {
        properties["containerResourceRequirements"] = json!({
            "containerResourceRequests": {"cpu": "100m", "memory": "2Gi"},
            "containerResourceLimits": {"cpu": "2", "memory": "2Gi"}
        });
    }
    let model_type = match properties["model"].as_str() {
        Some(id) => {
            let Some((name, version)) = asset_id(id, "models") else {
                return Err(user_error(
                    &format!("properties.model {id:?} is not a model asset id (…/models/<name>/versions/<version>)"),
                    "properties.model",
                ));
            };
            let Some(model) = state.aml.version("models", name, version) else {
                return Err(user_error(
                    &format!("Model {name}:{version} was not found in workspace {}", scope.workspace),
                    "properties.model",
                ));
            };
            model["properties"]["modelType"].as_str().unwrap_or("custom_model").to_string()
        }
        None => String::new(),
    };
    match properties["environmentId"].as_str() {
        Some(id) => {
            let found = asset_id(id, "environments").and_then(|(n, v)| state.aml.version("environments", n, v));
            let Some(environment) = found else {
                return Err(user_error(
                    &format!(
                        "properties.environmentId {id:?} names no environment version of workspace {}",
                        scope.workspace
                    ),
                    "properties.environmentId",
                ));
            };
            if properties["codeConfiguration"].is_null() {
                check_inference_config(id, &environment["properties"]["inferenceConfig"])?;
            }
        }
        // MLflow models deploy without environment and code ("no-code deployment"); any other
        // model needs an environment to run in.
        None if model_type == "mlflow_model" => {}
        None if model_type.is_empty() => {
            return Err(user_error(
                "A deployment needs properties.model or properties.environmentId",
                "properties.model",
            ));
        }
        None => {
            return Err(user_error(
                &format!(
                    "Model type {model_type} needs properties.environmentId; only mlflow_model deploys without one"
                ),
                "properties.environmentId",
            ));
        }
    }
    let defaults = json!({
        "endpointComputeType": expected,
        "scaleSettings": {"scaleType": "Default"},
        "requestSettings": {"requestTimeout": "PT5S", "maxConcurrentRequestsPerInstance": 1, "maxQueueWait": "PT0.5S"},
        "livenessProbe": probe_defaults(),
        "readinessProbe": probe_defaults(),
        "appInsightsEnabled": false,
        "egressPublicNetworkAccess": "Enabled",
        "properties": {},
    });
    for (key, default) in defaults.as_object().into_iter().flatten() {
        let slot = &mut properties[key.as_str()];
        if slot.is_null() {
            *slot = default.clone();
        } else if let (Some(given), Some(default)) = (slot.as_object_mut(), default.as_object()) {
            for (k, v) in default {
                given.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    if let Some(p) = properties.as_object_mut() {
        p.remove("provisioningState");
    }
    for field in [
        "requestSettings.requestTimeout",
        "readinessProbe.initialDelay",
        "readinessProbe.period",
        "readinessProbe.timeout",
    ] {
        let (outer, inner) = field.split_once('.').unwrap_or_default();
        let text = properties[outer][inner].as_str().unwrap_or_default();
        if iso_duration(text).is_none() {
            return Err(user_error(
                &format!("properties.{field} {text:?} is not an ISO 8601 duration such as PT10S"),
                &format!("properties.{field}"),
            ));
        }
    }
    Ok(properties)
}

/// A custom container without a scoring script (BYOC) is reached only through the routes its
/// environment declares, so all three must be there, each with a path and a port (the
/// environment `Route` of the REST spec requires both; the deployment-time refusal is inferred
/// from the custom-container docs, which always declare the three).
fn check_inference_config(environment: &str, inference: &Value) -> Result<(), Reply> {
    for route in ["livenessRoute", "readinessRoute", "scoringRoute"] {
        let given = &inference[route];
        let path_ok = given["path"].as_str().is_some_and(|p| p.starts_with('/'));
        let port_ok = given["port"].as_u64().is_some_and(|p| (1..=65535).contains(&p));
        if !(path_ok && port_ok) {
            return Err(user_error(
                &format!(
                    "Environment {environment} has no inferenceConfig.{route} with a path and a port; a custom container without codeConfiguration needs its liveness, readiness and scoring routes"
                ),
                "properties.environmentId",
            ));
        }
    }
    Ok(())
}

fn probe_defaults() -> Value {
    json!({"failureThreshold": 30, "successThreshold": 1, "timeout": "PT2S", "period": "PT10S", "initialDelay": "PT10S"})
}

/// An ISO 8601 duration of days, hours, minutes and (fractional) seconds: `PT0.5S`, `PT1M30S`.
pub fn iso_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut seconds = 0f64;
    if !days.is_empty() {
        seconds += days.strip_suffix('D')?.parse::<f64>().ok()? * 86400.0;
    }
    let mut number = String::new();
    for c in time.chars() {
        let unit = match c {
            'H' => 3600.0,
            'M' => 60.0,
            'S' => 1.0,
            _ => {
                number.push(c);
                continue;
            }
        };
        seconds += number.parse::<f64>().ok()? * unit;
        number.clear();
    }
    (number.is_empty() && (!days.is_empty() || !time.is_empty()) && seconds.is_finite())
        .then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations() {
        assert_eq!(iso_duration("PT10S"), Some(Duration::from_secs(10)));
        assert_eq!(iso_duration("PT0.5S"), Some(Duration::from_millis(500)));
        assert_eq!(iso_duration("PT1M30S"), Some(Duration::from_secs(90)));
        assert_eq!(iso_duration("P1DT1H"), Some(Duration::from_secs(90000)));
        assert_eq!(iso_duration("10S"), None);
        assert_eq!(iso_duration("PT"), None);
        assert_eq!(iso_duration("PT5"), None);
    }
}
