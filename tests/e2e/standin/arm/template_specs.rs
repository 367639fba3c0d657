//! Template specs (`Microsoft.Resources/templateSpecs` and `…/versions`, api-version 2022-02-01)
//! in a resource group: create or update, read and delete a spec and its versions, with the shapes
//! of the REST spec's examples (`TemplateSpecsCreate.json`, `TemplateSpecVersionsCreate.json`,
//! `TemplateSpecVersionsGet.json`). `mlops infra restore` reads versions back for `ts:` modules;
//! the official Python client (azure-mgmt-resource-templatespecs) creates them in the conformance test.

use serde_json::{Value, json};

use super::{Incoming, Reply, State, group_key};

/// The versions template specs answer to (the Python client's and the Bicep CLI's is 2022-02-01).
pub const API_VERSIONS: &[&str] = &["2021-05-01", "2022-02-01"];

/// Spec names and versions: `^[-\w\._\(\)]+$`, up to 90 characters (the REST spec's pattern).
fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 90 && s.chars().all(|c| c.is_alphanumeric() || "-_.()".contains(c))
}

fn system_data() -> Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    json!({"createdBy": "stand-in", "createdByType": "Application", "createdAt": now,
           "lastModifiedBy": "stand-in", "lastModifiedByType": "Application", "lastModifiedAt": now})
}

/// `name` and, for a version, `version`, under `subscriptions/{sub}/resourceGroups/{group}`.
pub fn route(state: &mut State, req: &Incoming, sub: &str, group: &str, name: &str, version: Option<&str>) -> Reply {
    if !state.arm.groups.contains_key(&group_key(sub, group)) {
        return Reply::arm_error(
            404,
            "ResourceGroupNotFound",
            &format!("Resource group '{group}' could not be found."),
        );
    }
    let spec_id =
        format!("/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Resources/templateSpecs/{name}");
    let id = match version {
        Some(v) => format!("{spec_id}/versions/{v}"),
        None => spec_id.clone(),
    };
    let key = id.to_ascii_lowercase();
    // ARM's message for a missing resource; the code the service uses here is inferred.
    let not_found = || {
        let short = id.split_once("/providers/").map_or(id.as_str(), |(_, rest)| rest);
        Reply::arm_error(
            404,
            "ResourceNotFound",
            &format!("The Resource '{short}' under resource group '{group}' was not found."),
        )
    };
    match req.method.as_str() {
        "GET" => match state.arm.template_specs.get(&key) {
            Some(body) => Reply::json(200, body.clone()),
            None => not_found(),
        },
        "PUT" => {
            let Some(body) = req.json() else {
                return Reply::arm_error(400, "InvalidRequestContent", "The request content was invalid JSON.");
            };
            let leaf = version.unwrap_or(name);
            if !valid_name(name) || !valid_name(leaf) {
                return Reply::arm_error(400, "InvalidTemplateSpecName", &format!("The name '{leaf}' is not valid."));
            }
            let Some(location) = body.get("location").and_then(Value::as_str) else {
                return Reply::arm_error(
                    400,
                    "LocationRequired",
                    "The location property is required for this definition.",
                );
            };
            let mut stored = json!({
                "id": id,
                "type": if version.is_some() { "Microsoft.Resources/templateSpecs/versions" } else { "Microsoft.Resources/templateSpecs" },
                "name": leaf,
                "location": location,
                "tags": body.get("tags").cloned().unwrap_or_else(|| json!({})),
                "systemData": system_data(),
                "properties": body.get("properties").cloned().unwrap_or_else(|| json!({})),
            });
            if version.is_some() {
                // A version lives under its spec, in the spec's location (the REST spec's words).
                let Some(parent) = state.arm.template_specs.get(&spec_id.to_ascii_lowercase()) else {
                    return Reply::arm_error(
                        404,
                        "ParentResourceNotFound",
                        &format!(
                            "Can not perform requested operation on nested resource. Parent resource '{name}' not found."
                        ),
                    );
                };
                if parent["location"].as_str().is_some_and(|l| !l.eq_ignore_ascii_case(location)) {
                    return Reply::arm_error(
                        400,
                        "InvalidTemplateSpecLocation",
                        "The location of a template spec version must match the location of its template spec.",
                    );
                }
                if !stored["properties"]["mainTemplate"].is_object() {
                    return Reply::arm_error(
                        400,
                        "InvalidRequestContent",
                        "The request content was invalid: 'properties.mainTemplate' is required.",
                    );
                }
            }
            let existed = state.arm.template_specs.contains_key(&key);
            if existed && let Some(old) = state.arm.template_specs.get(&key) {
                stored["systemData"]["createdAt"] = old["systemData"]["createdAt"].clone();
            }
            state.arm.template_specs.insert(key, stored.clone());
            Reply::json(if existed { 200 } else { 201 }, stored)
        }
        "DELETE" => {
            let prefix = format!("{key}/");
            let existed = state.arm.template_specs.remove(&key).is_some();
            // Deleting a spec deletes its versions.
            state.arm.template_specs.retain(|k, _| !k.starts_with(&prefix));
            Reply::empty(if existed { 200 } else { 204 })
        }
        _ => Reply::arm_error(405, "MethodNotAllowed", "method not allowed"),
    }
}
