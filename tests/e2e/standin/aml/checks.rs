//! What the Azure ML stand-in refuses, as the service does: request bodies checked against the
//! environment, data, component, job and schedule shapes (400 `UserError` with a detail naming
//! the field).

use serde_json::{Map, Value, json};

use super::super::{Reply, State};
use super::{Workspace, key, user_error};

pub(super) fn check_environment(p: &Value) -> Result<(), Reply> {
    let image = p.get("image").and_then(Value::as_str).filter(|s| !s.trim().is_empty());
    if image.is_none() && p.get("build").is_none() {
        return Err(user_error("An environment needs an 'image' or a 'build' context.", "Required", "image"));
    }
    if let Some(os) = p.get("osType").and_then(Value::as_str)
        && os != "Linux"
        && os != "Windows"
    {
        return Err(user_error(&format!("osType '{os}' is not Linux or Windows."), "Invalid", "osType"));
    }
    Ok(())
}

pub(super) fn check_data(p: &Value) -> Result<(), Reply> {
    match p.get("dataType").and_then(Value::as_str) {
        Some("uri_file" | "uri_folder" | "mltable") => {}
        other => {
            return Err(user_error(
                &format!("dataType {other:?} is not uri_file, uri_folder or mltable."),
                "Invalid",
                "dataType",
            ));
        }
    }
    if p.get("dataUri").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(user_error("A data version needs a 'dataUri'.", "Required", "dataUri"));
    }
    Ok(())
}

/// `${{inputs.X}}` / `${{outputs.X}}` / `${{parent.…}}` references in a text.
pub(super) fn references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let after = &rest[start + 3..];
        let Some(end) = after.find("}}") else { break };
        found.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    found
}

pub(super) fn asset_exists(state: &State, id: &str) -> bool {
    // /subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w/{collection}/{name}/versions/{v}
    let parts: Vec<&str> = id.trim_start_matches("azureml:").trim_matches('/').split('/').collect();
    if parts.len() != 12 || !parts[10].eq_ignore_ascii_case("versions") {
        return false;
    }
    let k = format!("{}/{}", key(&[parts[1], parts[3], parts[7]]), key(&[parts[8], parts[9]]));
    state.aml.assets.get(&k).is_some_and(|c| c.versions.contains_key(parts[11]))
}

pub(super) fn check_component(
    state: &State,
    _ws: &Workspace,
    name: &str,
    version: &str,
    p: &Value,
) -> Result<(), Reply> {
    let Some(spec) = p.get("componentSpec").filter(|s| s.is_object()) else {
        return Err(user_error("A component version needs a 'componentSpec'.", "Required", "componentSpec"));
    };
    if spec.get("name").and_then(Value::as_str).is_some_and(|n| n != name) {
        return Err(user_error(
            "componentSpec.name does not match the name in the URL.",
            "Invalid",
            "componentSpec.name",
        ));
    }
    if spec.get("version").and_then(Value::as_str).is_some_and(|v| v != version) {
        return Err(user_error(
            "componentSpec.version does not match the version in the URL.",
            "Invalid",
            "componentSpec.version",
        ));
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(user_error(
            &format!("Component name '{name}' must use lower case letters, digits and '_'."),
            "Invalid",
            "name",
        ));
    }
    let inputs = spec.get("inputs").and_then(Value::as_object).cloned().unwrap_or_default();
    let outputs = spec.get("outputs").and_then(Value::as_object).cloned().unwrap_or_default();
    match spec.get("type").and_then(Value::as_str) {
        Some("command") => {
            let Some(command) = spec.get("command").and_then(Value::as_str).filter(|c| !c.trim().is_empty()) else {
                return Err(user_error("A command component needs a 'command'.", "Required", "componentSpec.command"));
            };
            for r in references(command) {
                let ok = match r.split_once('.') {
                    Some(("inputs", n)) => inputs.contains_key(n),
                    Some(("outputs", n)) => outputs.contains_key(n),
                    _ => false,
                };
                if !ok {
                    return Err(user_error(
                        &format!("The command refers to '${{{{{r}}}}}', which is not a declared input or output."),
                        "Invalid",
                        "componentSpec.command",
                    ));
                }
            }
            let env = spec.get("environment").and_then(Value::as_str).unwrap_or_default();
            if !asset_exists(state, env) {
                return Err(user_error(
                    &format!("Environment '{env}' was not found."),
                    "NotFound",
                    "componentSpec.environment",
                ));
            }
        }
        Some("pipeline") => {
            let jobs = spec.get("jobs").and_then(Value::as_object).cloned().unwrap_or_default();
            if jobs.is_empty() {
                return Err(user_error("A pipeline component needs 'jobs'.", "Required", "componentSpec.jobs"));
            }
            for (job_name, job) in &jobs {
                let component = job.get("component").and_then(Value::as_str).unwrap_or_default();
                if !asset_exists(state, component) {
                    return Err(user_error(
                        &format!("Job '{job_name}' uses component '{component}', which was not found."),
                        "NotFound",
                        "componentSpec.jobs",
                    ));
                }
                for value in job.get("inputs").and_then(Value::as_object).into_iter().flat_map(|m| m.values()) {
                    check_parent_refs(value.as_str().unwrap_or_default(), &inputs, &jobs, job_name)?;
                }
            }
        }
        other => {
            return Err(user_error(
                &format!("Component type {other:?} is not command or pipeline."),
                "Invalid",
                "componentSpec.type",
            ));
        }
    }
    Ok(())
}

pub(super) fn check_parent_refs(
    text: &str,
    inputs: &Map<String, Value>,
    jobs: &Map<String, Value>,
    job: &str,
) -> Result<(), Reply> {
    for r in references(text) {
        let parts: Vec<&str> = r.split('.').collect();
        let ok = match parts.as_slice() {
            ["parent", "inputs", n] => inputs.contains_key(*n),
            ["parent", "jobs", j, "outputs", _] => jobs.contains_key(*j) && *j != job,
            _ => false,
        };
        if !ok {
            return Err(user_error(
                &format!("Job '{job}' binds '${{{{{r}}}}}', which does not exist."),
                "Invalid",
                "jobs",
            ));
        }
    }
    Ok(())
}

pub(super) fn check_job(state: &State, ws: &Workspace, p: &Value) -> Result<(), Reply> {
    let compute_ok = |id: &str| {
        let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
        parts.len() == 10
            && parts[8].eq_ignore_ascii_case("computes")
            && state.aml.computes.contains_key(&key(&[parts[1], parts[3], parts[7], parts[9]]))
    };
    let _ = ws;
    match p.get("jobType").and_then(Value::as_str) {
        None => Err(user_error("The job has no 'jobType'.", "Required", "jobType")),
        Some("Command") => {
            if p.get("command").and_then(Value::as_str).is_none_or(|c| c.trim().is_empty()) {
                return Err(user_error("A command job needs a 'command'.", "Required", "command"));
            }
            let env = p.get("environmentId").and_then(Value::as_str).unwrap_or_default();
            if !asset_exists(state, env) {
                return Err(user_error(&format!("Environment '{env}' was not found."), "NotFound", "environmentId"));
            }
            let compute = p.get("computeId").and_then(Value::as_str).unwrap_or_default();
            if !compute_ok(compute) {
                return Err(user_error(&format!("Compute '{compute}' was not found."), "NotFound", "computeId"));
            }
            let inputs = p.get("inputs").and_then(Value::as_object).cloned().unwrap_or_default();
            for r in references(p["command"].as_str().unwrap_or_default()) {
                if !r.strip_prefix("inputs.").is_some_and(|n| inputs.contains_key(n)) {
                    return Err(user_error(
                        &format!("The command refers to '${{{{{r}}}}}', which is not an input."),
                        "Invalid",
                        "command",
                    ));
                }
            }
            Ok(())
        }
        Some("Pipeline") => {
            let compute = p
                .pointer("/settings/default_compute")
                .or_else(|| p.get("computeId"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !compute_ok(compute) {
                return Err(user_error(
                    &format!("Compute '{compute}' was not found."),
                    "NotFound",
                    "settings.default_compute",
                ));
            }
            let jobs = p.get("jobs").and_then(Value::as_object).cloned().unwrap_or_default();
            if jobs.is_empty() {
                return Err(user_error("A pipeline job needs 'jobs'.", "Required", "jobs"));
            }
            let inputs = p.get("inputs").and_then(Value::as_object).cloned().unwrap_or_default();
            for (name, input) in &inputs {
                match input.get("jobInputType").and_then(Value::as_str) {
                    None => {
                        return Err(user_error(&format!("Input '{name}' has no jobInputType."), "Required", "inputs"));
                    }
                    Some("literal") if input.get("value").is_none() => {
                        return Err(user_error(&format!("Literal input '{name}' has no value."), "Required", "inputs"));
                    }
                    Some("uri_file" | "uri_folder") => {
                        let uri = input.get("uri").and_then(Value::as_str).unwrap_or_default();
                        let schemes = ["azureml:", "https://", "http://", "wasbs://", "abfss://", "adl://"];
                        if !schemes.iter().any(|s| uri.starts_with(s)) {
                            return Err(user_error(
                                &format!("Input '{name}': '{uri}' is not a supported data URI."),
                                "Invalid",
                                "inputs",
                            ));
                        }
                    }
                    _ => {}
                }
            }
            for (job_name, job) in &jobs {
                let component = job.get("componentId").and_then(Value::as_str).unwrap_or_default();
                let spec = component_spec(state, component);
                let Some(spec) = spec else {
                    return Err(user_error(
                        &format!("Job '{job_name}' uses component '{component}', which was not found."),
                        "NotFound",
                        "jobs",
                    ));
                };
                let declared = spec.get("inputs").and_then(Value::as_object).cloned().unwrap_or_default();
                let given = job.get("inputs").and_then(Value::as_object).cloned().unwrap_or_default();
                for (input, value) in &given {
                    if !declared.contains_key(input) {
                        return Err(user_error(
                            &format!("Job '{job_name}' sets input '{input}', which its component does not declare."),
                            "Invalid",
                            "jobs",
                        ));
                    }
                    check_parent_refs(
                        value.get("value").and_then(Value::as_str).unwrap_or_default(),
                        &inputs,
                        &jobs,
                        job_name,
                    )?;
                }
                if let Some(missing) = declared.iter().find(|(n, d)| {
                    !given.contains_key(*n) && d.get("default").is_none() && d.get("optional") != Some(&json!(true))
                }) {
                    return Err(user_error(
                        &format!("Job '{job_name}' does not set the required input '{}'.", missing.0),
                        "Required",
                        "jobs",
                    ));
                }
            }
            Ok(())
        }
        Some(other) => Err(user_error(&format!("jobType '{other}' is not supported."), "Invalid", "jobType")),
    }
}

pub(super) fn component_spec(state: &State, id: &str) -> Option<Value> {
    let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
    if parts.len() != 12 {
        return None;
    }
    let k = format!("{}/{}", key(&[parts[1], parts[3], parts[7]]), key(&[parts[8], parts[9]]));
    state.aml.assets.get(&k)?.versions.get(parts[11])?.pointer("/properties/componentSpec").cloned()
}

pub(super) fn check_schedule(state: &State, ws: &Workspace, p: &Value) -> Result<(), Reply> {
    let trigger = p.get("trigger").cloned().unwrap_or_default();
    match trigger.get("triggerType").and_then(Value::as_str) {
        Some("Cron") => {
            let expression = trigger.get("expression").and_then(Value::as_str).unwrap_or_default();
            let fields: Vec<&str> = expression.split_whitespace().collect();
            let valid = fields.len() == 5
                && fields.iter().all(|f| f.chars().all(|c| c.is_ascii_alphanumeric() || "*,-/".contains(c)));
            if !valid {
                return Err(user_error(
                    &format!("'{expression}' is not a valid cron expression."),
                    "Invalid",
                    "trigger.expression",
                ));
            }
        }
        Some("Recurrence") => {
            let frequency = trigger.get("frequency").and_then(Value::as_str).unwrap_or_default();
            if !["Minute", "Hour", "Day", "Week", "Month"].iter().any(|f| f.eq_ignore_ascii_case(frequency)) {
                return Err(user_error(
                    &format!("Recurrence frequency '{frequency}' is invalid."),
                    "Invalid",
                    "trigger.frequency",
                ));
            }
            if trigger.get("interval").and_then(Value::as_u64).is_none_or(|i| i < 1) {
                return Err(user_error(
                    "Recurrence interval must be a positive integer.",
                    "Invalid",
                    "trigger.interval",
                ));
            }
        }
        other => {
            return Err(user_error(
                &format!("triggerType {other:?} is not Cron or Recurrence."),
                "Invalid",
                "trigger.triggerType",
            ));
        }
    }
    match p.pointer("/action/actionType").and_then(Value::as_str) {
        Some("CreateJob") => {
            let job = p.pointer("/action/jobDefinition").cloned().unwrap_or_default();
            check_job(state, ws, &job)
        }
        other => {
            Err(user_error(&format!("actionType {other:?} is not supported here."), "Invalid", "action.actionType"))
        }
    }
}
