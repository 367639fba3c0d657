//! Deployment stacks: the stack body built from a prepared deployment, az's `--action-on-unmanage`
//! names, waiting for a stack with per-resource progress, and what a delete will do.

use serde_json::{Value, json};

use super::deploy::{Progress, Waited, ended_ok, poll_to_end, resources};
use super::error::InfraError;
use crate::azure::deployments::{DeploymentScope, DeploymentsClient};
use crate::azure::lro::Poller;
use crate::azure::stacks::{ActionOnUnmanage, DeploymentStacksClient, UnmanageAction};

/// az's `--action-on-unmanage` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnmanagePolicy {
    /// Keep everything the stack stops managing (az's default of old; never deletes).
    #[default]
    DetachAll,
    /// Delete resources, detach resource groups and management groups.
    DeleteResources,
    /// Delete resources and resource groups; management groups are detached.
    DeleteAll,
}

impl UnmanagePolicy {
    /// The API's `actionOnUnmanage`, as az maps its names.
    pub fn action(self) -> ActionOnUnmanage {
        let (resources, resource_groups) = match self {
            UnmanagePolicy::DetachAll => (UnmanageAction::Detach, UnmanageAction::Detach),
            UnmanagePolicy::DeleteResources => (UnmanageAction::Delete, UnmanageAction::Detach),
            UnmanagePolicy::DeleteAll => (UnmanageAction::Delete, UnmanageAction::Delete),
        };
        // Management-group stacks are out of scope; their groups are never deleted from here.
        ActionOnUnmanage { resources, resource_groups, management_groups: UnmanageAction::Detach }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UnmanagePolicy::DetachAll => "detachAll",
            UnmanagePolicy::DeleteResources => "deleteResources",
            UnmanagePolicy::DeleteAll => "deleteAll",
        }
    }
}

/// `denySettings.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DenyMode {
    #[default]
    None,
    DenyDelete,
    DenyWriteAndDelete,
}

impl DenyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DenyMode::None => "none",
            DenyMode::DenyDelete => "denyDelete",
            DenyMode::DenyWriteAndDelete => "denyWriteAndDelete",
        }
    }
}

/// What makes a deployment a stack, besides its template and parameters.
#[derive(Debug, Clone, Default)]
pub struct StackSettings {
    pub unmanage: UnmanagePolicy,
    pub deny_mode: DenyMode,
    pub excluded_principals: Vec<String>,
    pub excluded_actions: Vec<String>,
    pub apply_to_child_scopes: bool,
    pub description: Option<String>,
}

/// The `DeploymentStack` body from a prepared deployment body (its template, parameters and,
/// at subscription scope, location). The deployment's `mode` is dropped: a stack decides what
/// happens to resources a template leaves out by `actionOnUnmanage`.
pub fn request_body(deployment: &Value, settings: &StackSettings) -> Value {
    let props = deployment.get("properties").cloned().unwrap_or_default();
    let mut deny = json!({"mode": settings.deny_mode.as_str(), "applyToChildScopes": settings.apply_to_child_scopes});
    if !settings.excluded_principals.is_empty() {
        deny["excludedPrincipals"] = json!(settings.excluded_principals);
    }
    if !settings.excluded_actions.is_empty() {
        deny["excludedActions"] = json!(settings.excluded_actions);
    }
    let mut properties = json!({
        "template": props.get("template").cloned().unwrap_or_default(),
        "parameters": props.get("parameters").cloned().unwrap_or_else(|| json!({})),
        "actionOnUnmanage": settings.unmanage.action().to_json(),
        "denySettings": deny,
    });
    if let Some(description) = &settings.description {
        properties["description"] = json!(description);
    }
    let mut body = json!({"properties": properties});
    if let Some(location) = deployment.get("location") {
        body["location"] = location.clone();
    }
    body
}

/// The ids of a stack's resources in one of its lists (`resources`, `detachedResources`, …).
pub fn ids<'a>(stack: &'a Value, list: &str) -> Vec<&'a str> {
    stack
        .pointer(&format!("/properties/{list}"))
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(|r| r.get("id").and_then(Value::as_str)).collect())
        .unwrap_or_default()
}

/// What deleting a stack with `action` does to the resources it manages: (deleted, detached).
pub fn delete_plan(stack: &Value, action: ActionOnUnmanage) -> (Vec<String>, Vec<String>) {
    let mut deleted = Vec::new();
    let mut detached = Vec::new();
    for id in ids(stack, "resources") {
        let what = if is_resource_group(id) { action.resource_groups } else { action.resources };
        match what {
            UnmanageAction::Delete => deleted.push(id.to_string()),
            UnmanageAction::Detach => detached.push(id.to_string()),
        }
    }
    (deleted, detached)
}

fn is_resource_group(id: &str) -> bool {
    let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
    matches!(parts.as_slice(), [s, _, rg, _] if s.eq_ignore_ascii_case("subscriptions") && rg.eq_ignore_ascii_case("resourceGroups"))
}

/// The name of the deployment a stack runs, from its `deploymentId` (absent until ARM made it).
fn deployment_name(stack: &Value) -> Option<String> {
    let id = stack.pointer("/properties/deploymentId").and_then(Value::as_str)?;
    id.rsplit('/').next().filter(|n| !n.is_empty()).map(str::to_string)
}

/// Follows a stack's PUT to its end. Between polls, the operations of the deployment the stack
/// runs give the per-resource lines (the stack names that deployment once ARM created it).
pub async fn wait_for_stack(
    stacks: &DeploymentStacksClient,
    deployments: &DeploymentsClient,
    scope: &DeploymentScope,
    name: &str,
    poller: &mut Poller,
    progress: &mut dyn Progress,
    mut interrupt: super::deploy::Interrupt<'_>,
) -> Result<Waited, InfraError> {
    let mut deployment: Option<String> = None;
    let list = async |progress: &mut dyn Progress| {
        if deployment.is_none() {
            deployment = stacks.get(scope, name).await.ok().as_ref().and_then(deployment_name);
        }
        if let Some(deployment) = &deployment {
            match deployments.list_operations(scope, deployment).await {
                Ok(operations) => progress.resources(&resources(&operations)),
                Err(err) => progress.warning(&format!(
                    "could not list the operations of the stack's deployment {deployment}: {}",
                    err.to_string().lines().next().unwrap_or_default()
                )),
            }
        }
    };
    if poll_to_end(stacks.arm(), poller, progress, &mut interrupt, list).await?.is_none() {
        return Ok(Waited::Interrupted);
    }
    let resource = poller.result(stacks.arm()).await?;
    Ok(Waited::Finished(resource.json()?))
}

/// Follows a stack's DELETE to its end.
pub async fn wait_for_delete(
    stacks: &DeploymentStacksClient,
    name: &str,
    poller: &mut Poller,
    progress: &mut dyn Progress,
    mut interrupt: super::deploy::Interrupt<'_>,
) -> Result<Waited, InfraError> {
    let Some(outcome) = poll_to_end(stacks.arm(), poller, progress, &mut interrupt, async |_| {}).await? else {
        return Ok(Waited::Interrupted);
    };
    ended_ok(outcome, &format!("stack {name}"), "could not be deleted", "deletion was canceled")?;
    Ok(Waited::Finished(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn az_names_map_to_the_api() {
        let all = UnmanagePolicy::DeleteAll.action().to_json();
        assert_eq!(all, json!({"resources": "delete", "resourceGroups": "delete", "managementGroups": "detach"}));
        let some = UnmanagePolicy::DeleteResources.action().to_json();
        assert_eq!(some, json!({"resources": "delete", "resourceGroups": "detach", "managementGroups": "detach"}));
        let none = UnmanagePolicy::DetachAll.action().to_json();
        assert_eq!(none, json!({"resources": "detach", "resourceGroups": "detach", "managementGroups": "detach"}));
    }

    #[test]
    fn body_carries_template_parameters_and_settings_not_mode() {
        let deployment = json!({"location": "westeurope", "properties": {"mode": "Incremental",
            "template": {"resources": []}, "parameters": {"a": {"value": 1}}}});
        let settings = StackSettings {
            unmanage: UnmanagePolicy::DeleteAll,
            deny_mode: DenyMode::DenyDelete,
            excluded_principals: vec!["p1".into()],
            description: Some("env".into()),
            ..StackSettings::default()
        };
        let body = request_body(&deployment, &settings);
        assert_eq!(body["location"], "westeurope");
        assert!(body["properties"].get("mode").is_none());
        assert_eq!(body["properties"]["parameters"]["a"]["value"], 1);
        assert_eq!(
            body["properties"]["denySettings"],
            json!({"mode": "denyDelete", "applyToChildScopes": false, "excludedPrincipals": ["p1"]})
        );
        assert_eq!(body["properties"]["description"], "env");
    }

    #[test]
    fn delete_plan_splits_resource_groups_from_resources() {
        let stack = json!({"properties": {"resources": [
            {"id": "/subscriptions/s/resourceGroups/rg", "status": "managed"},
            {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st", "status": "managed"},
        ]}});
        let (deleted, detached) = delete_plan(&stack, UnmanagePolicy::DeleteResources.action());
        assert_eq!(deleted, ["/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st"]);
        assert_eq!(detached, ["/subscriptions/s/resourceGroups/rg"]);
        assert_eq!(delete_plan(&stack, UnmanagePolicy::DeleteAll.action()).0.len(), 2);
        assert_eq!(
            deployment_name(
                &json!({"properties": {"deploymentId": "/subscriptions/s/providers/Microsoft.Resources/deployments/env-1"}})
            ),
            Some("env-1".to_string())
        );
    }
}
