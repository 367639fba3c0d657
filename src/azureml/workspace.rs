//! The Azure ML workspace a command works in, resolved once through ARM (`GET {workspace}`), and
//! the client that sends every other Azure ML request relative to it.

use azure_core::http::{Method, Url};
use serde_json::Value;

use super::AzureMlError;
use crate::azure::ArmClient;
use crate::azure::lro::PollInterval;

/// The Azure ML API version used unless configured otherwise (jobs and schedules are stable there).
pub const DEFAULT_API_VERSION: &str = "2025-09-01";

/// Which workspace: subscription, resource group, name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceRef {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

impl WorkspaceRef {
    /// The workspace's ARM path, spelled as the Azure ML SDKs do.
    pub fn path(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.MachineLearningServices/workspaces/{}",
            self.subscription, self.resource_group, self.name
        )
    }
}

/// A workspace as ARM describes it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub subscription: String,
    pub resource_group: String,
    pub location: String,
    /// `azureml://{region}.api.azureml.ms/mlflow/v1.0/subscriptions/…/workspaces/{ws}`.
    pub mlflow_tracking_uri: Option<String>,
    pub discovery_url: Option<String>,
}

impl Workspace {
    /// Azure ML studio's page of a job in this workspace.
    pub fn studio_job_url(&self, job: &str) -> String {
        format!("https://ml.azure.com/runs/{job}?wsid={}", self.reference_path())
    }

    /// Azure ML studio's page of a component in this workspace.
    pub fn studio_component_url(&self, name: &str, version: &str) -> String {
        format!("https://ml.azure.com/registries/components/{name}/version/{version}?wsid={}", self.reference_path())
    }

    fn reference_path(&self) -> String {
        WorkspaceRef {
            subscription: self.subscription.clone(),
            resource_group: self.resource_group.clone(),
            name: self.name.clone(),
        }
        .path()
    }
}

/// Resolves a workspace: `GET {workspace}` for its location and MLflow tracking URI.
pub async fn resolve_workspace(arm: &ArmClient, reference: &WorkspaceRef) -> Result<Workspace, AzureMlError> {
    let url = arm.url(&reference.path())?;
    let response = arm.send(Method::Get, url, None).await?;
    if response.status == 404 {
        return Err(AzureMlError::WorkspaceNotFound {
            subscription: reference.subscription.clone(),
            resource_group: reference.resource_group.clone(),
            name: reference.name.clone(),
            source: response.into_error(),
        });
    }
    if response.status != 200 {
        return Err(response.into_error().into());
    }
    let body: Value = response.json()?;
    let text = |pointer: &str| body.pointer(pointer).and_then(Value::as_str).map(str::to_string);
    Ok(Workspace {
        id: text("/id").unwrap_or_else(|| reference.path()),
        name: text("/name").unwrap_or_else(|| reference.name.clone()),
        subscription: reference.subscription.clone(),
        resource_group: reference.resource_group.clone(),
        location: text("/location").ok_or_else(|| AzureMlError::Shape("the workspace's location".to_string()))?,
        mlflow_tracking_uri: text("/properties/mlFlowTrackingUri"),
        discovery_url: text("/properties/discoveryUrl"),
    })
}

/// Sends Azure ML requests for one resolved workspace.
#[derive(Debug, Clone)]
pub struct AzureMlClient {
    arm: ArmClient,
    workspace: Workspace,
    reference: WorkspaceRef,
    poll: PollInterval,
}

impl AzureMlClient {
    /// Resolves the workspace and returns a client for it. `arm` carries the Azure ML `api-version`.
    pub async fn connect(
        arm: ArmClient,
        reference: WorkspaceRef,
        poll: PollInterval,
    ) -> Result<AzureMlClient, AzureMlError> {
        let workspace = resolve_workspace(&arm, &reference).await?;
        Ok(AzureMlClient { arm, workspace, reference, poll })
    }

    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    pub fn arm(&self) -> &ArmClient {
        &self.arm
    }

    pub fn poll_interval(&self) -> PollInterval {
        self.poll
    }

    /// The ARM id of something in the workspace (`relative` like `computes/cpu`).
    pub fn id(&self, relative: &str) -> String {
        format!("{}/{relative}", self.reference.path())
    }

    /// The URL of something in the workspace, with the Azure ML `api-version`.
    pub fn url(&self, relative: &str) -> Result<Url, AzureMlError> {
        Ok(self.arm.url(&self.id(relative))?)
    }

    /// The ARM id of a compute, after checking that it exists (a job on a missing compute would
    /// only fail once queued).
    pub async fn compute_id(&self, name: &str) -> Result<String, AzureMlError> {
        let relative = format!("computes/{name}");
        let response = self.arm.send(Method::Get, self.url(&relative)?, None).await?;
        match response.status {
            200 => Ok(self.id(&relative)),
            404 => Err(AzureMlError::UnknownCompute {
                name: name.to_string(),
                workspace: self.workspace.name.clone(),
                source: response.into_error(),
            }),
            _ => Err(response.into_error().into()),
        }
    }

    /// The ARM id of an attached Kubernetes compute, after checking that it exists and is one: an
    /// endpoint on a compute cluster (`AmlCompute`) would be refused by the service only later.
    pub async fn kubernetes_compute_id(&self, name: &str) -> Result<String, AzureMlError> {
        let relative = format!("computes/{name}");
        let response = self.arm.send(Method::Get, self.url(&relative)?, None).await?;
        match response.status {
            200 => {
                let body: Value = response.json()?;
                let kind = body.pointer("/properties/computeType").and_then(Value::as_str);
                match kind {
                    Some(k) if k.eq_ignore_ascii_case("Kubernetes") => Ok(self.id(&relative)),
                    other => Err(AzureMlError::Invalid(format!(
                        "--compute {name:?}: compute {name:?} of workspace {:?} is {}, not an attached Kubernetes compute",
                        self.workspace.name,
                        other.unwrap_or("of no known type")
                    ))),
                }
            }
            404 => Err(AzureMlError::UnknownCompute {
                name: name.to_string(),
                workspace: self.workspace.name.clone(),
                source: response.into_error(),
            }),
            _ => Err(response.into_error().into()),
        }
    }

    /// `GET` that maps 404 to [`AzureMlError::NotFound`].
    pub async fn get(&self, kind: &'static str, name: &str, relative: &str) -> Result<Value, AzureMlError> {
        let response = self.arm.send(Method::Get, self.url(relative)?, None).await?;
        match response.status {
            200 => Ok(response.json()?),
            404 => Err(AzureMlError::NotFound {
                kind,
                name: name.to_string(),
                workspace: self.workspace.name.clone(),
                source: Some(response.into_error()),
            }),
            _ => Err(response.into_error().into()),
        }
    }

    /// `GET` that answers `None` for 404.
    pub async fn get_optional(&self, relative: &str) -> Result<Option<Value>, AzureMlError> {
        self.get_optional_at(self.url(relative)?).await
    }

    /// `GET` of a URL built by the caller (another `api-version`) that answers `None` for 404.
    pub async fn get_optional_at(&self, url: Url) -> Result<Option<Value>, AzureMlError> {
        let response = self.arm.send(Method::Get, url, None).await?;
        match response.status {
            200 => Ok(Some(response.json()?)),
            404 => Ok(None),
            _ => Err(response.into_error().into()),
        }
    }

    /// Every item of a list, following `nextLink` ([`ArmClient::list`]).
    pub async fn list(&self, relative: &str) -> Result<Vec<Value>, AzureMlError> {
        self.list_at(self.url(relative)?).await
    }

    /// Every item of a list at a URL built by the caller, following `nextLink`.
    pub async fn list_at(&self, first: Url) -> Result<Vec<Value>, AzureMlError> {
        Ok(self.arm.list(first).await?)
    }

    /// A synchronous `PUT` (assets, jobs): 200 or 201 with the resource.
    pub async fn put(&self, relative: &str, body: &Value) -> Result<Value, AzureMlError> {
        let response = self.arm.expect(Method::Put, self.url(relative)?, Some(body), &[200, 201]).await?;
        Ok(response.json()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_studio_urls() {
        let r = WorkspaceRef { subscription: "s".into(), resource_group: "g".into(), name: "w".into() };
        assert_eq!(
            r.path(),
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w"
        );
        let ws = Workspace {
            id: r.path(),
            name: "w".into(),
            subscription: "s".into(),
            resource_group: "g".into(),
            location: "westeurope".into(),
            mlflow_tracking_uri: None,
            discovery_url: None,
        };
        assert_eq!(
            ws.studio_job_url("j1"),
            "https://ml.azure.com/runs/j1?wsid=/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w"
        );
    }
}
