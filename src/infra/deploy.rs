//! Running a deployment: the request body, waiting for the ARM operation with per-resource
//! progress, and turning a failed deployment into the full nested error.

use std::future::Future;
use std::pin::Pin;

use serde_json::{Value, json};

use super::error::InfraError;
use super::parameters::Parameters;
use super::template::Template;
use crate::azure::arm::ArmClient;
use crate::azure::deployments::{DeploymentScope, DeploymentsClient};
use crate::azure::error::ErrorDetail;
use crate::azure::lro::{PollOutcome, Poller};

/// How ARM treats resources of the resource group that the template does not mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Incremental,
    /// Deletes them (resource-group scope only).
    Complete,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Incremental => "Incremental",
            Mode::Complete => "Complete",
        }
    }
}

/// The `Deployment` body for PUT, validate and what-if.
pub fn request_body(template: &Template, parameters: Parameters, mode: Mode, location: Option<&str>) -> Value {
    let mut body = json!({
        "properties": {
            "mode": mode.as_str(),
            "template": template.json,
            "parameters": parameters,
        }
    });
    if let Some(location) = location {
        body["location"] = Value::String(location.to_string());
    }
    body
}

/// One resource's line in the progress display.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceProgress {
    /// `type/name`, or the operation kind when there is no target resource.
    pub resource: String,
    pub state: String,
    pub error: Option<ErrorDetail>,
}

/// Where a waiting deployment reports what it sees. Implemented by the command layer.
pub trait Progress {
    fn status(&mut self, status: &str);
    fn resources(&mut self, resources: &[ResourceProgress]);
    fn warning(&mut self, message: &str);
    fn finish(&mut self);
}

/// How waiting ended.
#[derive(Debug)]
pub enum Waited {
    /// The operation reached a terminal state; this is what ARM returned for it.
    Finished(Value),
    /// The interrupt fired first; the operation goes on in Azure.
    Interrupted,
}

/// Resolves when the user asks to stop waiting (Ctrl-C).
pub type Interrupt<'a> = Pin<&'a mut (dyn Future<Output = ()> + Send)>;

/// Polls `poller` until the operation ends, sleeping as ARM asks (`Retry-After`) and showing
/// its status; `between` runs after every poll (per-resource lines). `None`: the interrupt fired
/// first and waiting stopped (the operation goes on in Azure). The one poll loop of `mlops infra`.
pub async fn poll_to_end(
    arm: &ArmClient,
    poller: &mut Poller,
    progress: &mut dyn Progress,
    interrupt: &mut Interrupt<'_>,
    mut between: impl AsyncFnMut(&mut dyn Progress),
) -> Result<Option<PollOutcome>, InfraError> {
    loop {
        let outcome = tokio::select! {
            outcome = poller.poll(arm) => outcome?,
            () = &mut *interrupt => { progress.finish(); return Ok(None); }
        };
        between(&mut *progress).await;
        match outcome {
            PollOutcome::Running { status, warning } => {
                progress.status(&status);
                if let Some(warning) = warning {
                    progress.warning(&format!("a poll failed, still waiting: {warning}"));
                }
            }
            ended => {
                progress.finish();
                return Ok(Some(ended));
            }
        }
        tokio::select! {
            () = tokio::time::sleep(poller.delay()) => {}
            () = &mut *interrupt => { progress.finish(); return Ok(None); }
        }
    }
}

/// An operation that ended Failed or Canceled as an error about `what` (`failed` / `canceled`
/// say how, as a phrase after its name); Succeeded is `Ok`.
pub fn ended_ok(outcome: PollOutcome, what: &str, failed: &str, canceled: &str) -> Result<(), InfraError> {
    match outcome {
        PollOutcome::Failed(error) => Err(InfraError::DeploymentFailed {
            name: what.to_string(),
            state: failed.to_string(),
            details: error.map(|e| e.render()).unwrap_or_else(|| "no error details".to_string()),
        }),
        PollOutcome::Canceled => Err(InfraError::DeploymentFailed {
            name: what.to_string(),
            state: canceled.to_string(),
            details: String::new(),
        }),
        PollOutcome::Running { .. } | PollOutcome::Succeeded => Ok(()),
    }
}

/// Follows a deployment to its end, listing its operations between polls.
pub async fn wait_for_deployment(
    client: &DeploymentsClient,
    scope: &DeploymentScope,
    name: &str,
    poller: &mut Poller,
    progress: &mut dyn Progress,
    mut interrupt: Interrupt<'_>,
) -> Result<Waited, InfraError> {
    let list = async |progress: &mut dyn Progress| match client.list_operations(scope, name).await {
        Ok(operations) => progress.resources(&resources(&operations)),
        Err(err) => progress.warning(&format!(
            "could not list the deployment's operations: {}",
            err.to_string().lines().next().unwrap_or_default()
        )),
    };
    if poll_to_end(client.arm(), poller, progress, &mut interrupt, list).await?.is_none() {
        return Ok(Waited::Interrupted);
    }
    let resource = poller.result(client.arm()).await?;
    Ok(Waited::Finished(resource.json()?))
}

/// Follows a what-if (or another POST operation) to its result.
pub async fn wait_for_result(
    client: &DeploymentsClient,
    poller: &mut Poller,
    progress: &mut dyn Progress,
    mut interrupt: Interrupt<'_>,
) -> Result<Waited, InfraError> {
    let Some(outcome) = poll_to_end(client.arm(), poller, progress, &mut interrupt, async |_| {}).await? else {
        return Ok(Waited::Interrupted);
    };
    ended_ok(outcome, "what-if", "failed", "was canceled")?;
    let result = poller.result(client.arm()).await?;
    if result.body.is_empty() {
        return Ok(Waited::Finished(Value::Null));
    }
    Ok(Waited::Finished(result.json()?))
}

/// The per-resource view of a deployment's operations.
pub fn resources(operations: &[Value]) -> Vec<ResourceProgress> {
    operations
        .iter()
        .filter_map(|op| {
            let props = op.get("properties")?;
            let target = props.get("targetResource");
            let resource = match target {
                Some(t) => format!(
                    "{}/{}",
                    t.get("resourceType").and_then(Value::as_str).unwrap_or("?"),
                    t.get("resourceName").and_then(Value::as_str).unwrap_or("?")
                ),
                None => props.get("provisioningOperation").and_then(Value::as_str).unwrap_or("operation").to_string(),
            };
            let state = props.get("provisioningState").and_then(Value::as_str).unwrap_or("Unknown").to_string();
            let error = props
                .pointer("/statusMessage/error")
                .and_then(|e| serde_json::from_value::<ErrorDetail>(e.clone()).ok());
            Some(ResourceProgress { resource, state, error })
        })
        .collect()
}

/// The `provisioningState` of a deployment resource.
pub fn state(resource: &Value) -> &str {
    resource.pointer("/properties/provisioningState").and_then(Value::as_str).unwrap_or("Unknown")
}

/// The error of a deployment that did not succeed: its own nested error, then each failed
/// resource's error from the operations list.
pub fn failure(name: &str, resource: &Value, operations: &[Value]) -> InfraError {
    let mut details = String::new();
    if let Some(error) =
        resource.pointer("/properties/error").and_then(|e| serde_json::from_value::<ErrorDetail>(e.clone()).ok())
    {
        details.push_str(&error.render());
        details.push('\n');
    }
    for failed in resources(operations).iter().filter(|r| r.state.eq_ignore_ascii_case("failed")) {
        details.push_str(&format!("resource {} failed", failed.resource));
        match &failed.error {
            Some(error) => {
                details.push_str(":\n");
                for line in error.render().lines() {
                    details.push_str(&format!("  {line}\n"));
                }
            }
            None => details.push('\n'),
        }
    }
    let state = state(resource);
    InfraError::DeploymentFailed {
        name: name.to_string(),
        state: if state.eq_ignore_ascii_case("canceled") {
            "was canceled".to_string()
        } else {
            format!("ended {state}")
        },
        details: details.trim_end().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_lists_nested_and_per_resource_errors() {
        let resource = json!({"properties":{"provisioningState":"Failed","error":{"code":"DeploymentFailed","message":"At least one resource deployment operation failed.","details":[{"code":"Conflict","message":"name taken"}]}}});
        let operations = vec![
            json!({"properties":{"provisioningState":"Succeeded","targetResource":{"resourceType":"Microsoft.KeyVault/vaults","resourceName":"kv"}}}),
            json!({"properties":{"provisioningState":"Failed","targetResource":{"resourceType":"Microsoft.Storage/storageAccounts","resourceName":"sa"},
                "statusMessage":{"status":"Failed","error":{"code":"StorageAccountAlreadyTaken","message":"The storage account named sa is already taken."}}}}),
        ];
        let text = failure("main", &resource, &operations).to_string();
        assert_eq!(
            text,
            "deployment main ended Failed:\nDeploymentFailed: At least one resource deployment operation failed.\n  Conflict: name taken\nresource Microsoft.Storage/storageAccounts/sa failed:\n  StorageAccountAlreadyTaken: The storage account named sa is already taken."
        );
    }
}
