//! Azure ML schedules: created and updated with a long-running `PUT` (`Azure-AsyncOperation` on
//! `…/mfeOperationsStatus/{id}`, final state from the schedule itself), enabled and disabled by
//! writing `isEnabled`, deleted with `DELETE` (202 + `Location`, or 200/204).

use azure_core::http::Method;
use serde_json::Value;

use super::{AzureMlClient, AzureMlError};
use crate::azure::lro::{PollOutcome, Poller};

/// Creates or replaces a schedule and waits for it to be provisioned; `on_status` hears each
/// intermediate status of the operation.
pub async fn create_or_update(
    client: &AzureMlClient,
    name: &str,
    properties: Value,
    on_status: &mut dyn FnMut(&str),
) -> Result<Value, AzureMlError> {
    let url = client.url(&format!("schedules/{name}"))?;
    let body = serde_json::json!({"properties": properties});
    let response = client.arm().expect(Method::Put, url, Some(&body), &[200, 201]).await?;
    let mut poller = Poller::new(response, client.poll_interval());
    wait(client, &mut poller, &format!("provisioning schedule {name}"), on_status).await?;
    Ok(poller.result(client.arm()).await?.json()?)
}

pub async fn get(client: &AzureMlClient, name: &str) -> Result<Value, AzureMlError> {
    client.get("schedule", name, &format!("schedules/{name}")).await
}

/// Turns a schedule on or off, keeping the rest of its definition.
pub async fn set_enabled(
    client: &AzureMlClient,
    name: &str,
    enabled: bool,
    on_status: &mut dyn FnMut(&str),
) -> Result<Value, AzureMlError> {
    let current = get(client, name).await?;
    let mut properties = current.get("properties").cloned().unwrap_or_default();
    if let Some(props) = properties.as_object_mut() {
        // Read-only fields the service fills in.
        props.remove("provisioningState");
        props.insert("isEnabled".to_string(), Value::Bool(enabled));
    }
    create_or_update(client, name, properties, on_status).await
}

/// Deletes a schedule and waits for the deletion to finish.
pub async fn delete(client: &AzureMlClient, name: &str, on_status: &mut dyn FnMut(&str)) -> Result<(), AzureMlError> {
    let url = client.url(&format!("schedules/{name}"))?;
    let response = client.arm().send(Method::Delete, url, None).await?;
    match response.status {
        200 | 204 => Ok(()),
        202 => {
            let mut poller = Poller::new(response, client.poll_interval());
            wait(client, &mut poller, &format!("deleting schedule {name}"), on_status).await
        }
        404 => Err(AzureMlError::NotFound {
            kind: "schedule",
            name: name.to_string(),
            workspace: client.workspace().name.clone(),
            source: Some(response.into_error()),
        }),
        _ => Err(response.into_error().into()),
    }
}

async fn wait(
    client: &AzureMlClient,
    poller: &mut Poller,
    what: &str,
    on_status: &mut dyn FnMut(&str),
) -> Result<(), AzureMlError> {
    if let Some(outcome) = poller.outcome().cloned() {
        return finished(outcome, what);
    }
    loop {
        match poller.poll(client.arm()).await? {
            PollOutcome::Running { status, .. } => {
                on_status(&status);
                tokio::time::sleep(poller.delay()).await;
            }
            outcome => return finished(outcome, what),
        }
    }
}

fn finished(outcome: PollOutcome, what: &str) -> Result<(), AzureMlError> {
    match outcome {
        PollOutcome::Succeeded => Ok(()),
        PollOutcome::Failed(error) => {
            Err(AzureMlError::OperationFailed { what: what.to_string(), error: error.map(Box::new) })
        }
        PollOutcome::Canceled => Err(AzureMlError::OperationFailed { what: format!("{what} (canceled)"), error: None }),
        PollOutcome::Running { .. } => Ok(()),
    }
}
