//! Deployments of an online endpoint (`…/onlineEndpoints/{ep}/deployments/{name}`): a model
//! asset of the workspace served either without code (the MLflow no-code path) or by the
//! project's own scoring container, and their logs. Shaped like the Azure SDK's
//! `online_deployments` operations.

use azure_core::http::Method;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::deployment_settings::DeploymentSettings;
use super::endpoints::{self, not_found, put_and_wait, url, wait};
use super::{AzureMlClient, AzureMlError};
use crate::azure::lro::Poller;
use crate::infra::deploy::Progress;

/// The environment asset `--image` deployments run in.
pub const SCORING_ENVIRONMENT: &str = "mlops-scoring";

/// The project's scoring container (`mlops image build`): `mlops serve` on `port`, with its
/// liveness, readiness and scoring routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoringContainer {
    pub image: String,
    pub port: u16,
}

impl ScoringContainer {
    /// The environment asset's properties: the image and the routes Azure ML probes and calls.
    pub fn environment_properties(&self) -> Value {
        let route = |path: &str| json!({"path": path, "port": self.port});
        json!({
            "image": self.image,
            "osType": "Linux",
            "inferenceConfig": {
                "livenessRoute": route("/health"),
                "readinessRoute": route("/ready"),
                "scoringRoute": route("/score"),
            },
            "description": "mlops serve (built by `mlops image build`)",
            "tags": {},
        })
    }
}

/// What to deploy.
#[derive(Debug, Clone)]
pub struct DeploymentSpec {
    /// ARM id of the model asset version.
    pub model: String,
    /// ARM id of the environment version; `None` deploys an MLflow model without code.
    pub environment: Option<String>,
    /// `None` on a Kubernetes endpoint leaves the choice to the cluster (its default instance type).
    pub instance_type: Option<String>,
    pub instance_count: u32,
    /// On an endpoint with an attached Kubernetes compute.
    pub kubernetes: bool,
    pub settings: DeploymentSettings,
}

/// The body of the deployment PUT.
pub fn deployment_body(location: &str, spec: &DeploymentSpec) -> Value {
    let mut properties = Map::new();
    properties.insert("endpointComputeType".to_string(), json!(if spec.kubernetes { "Kubernetes" } else { "Managed" }));
    properties.insert("model".to_string(), json!(spec.model));
    if let Some(instance_type) = &spec.instance_type {
        properties.insert("instanceType".to_string(), json!(instance_type));
    }
    properties.insert("scaleSettings".to_string(), json!({"scaleType": "Default"}));
    if let Some(environment) = &spec.environment {
        properties.insert("environmentId".to_string(), json!(environment));
    }
    properties.extend(spec.settings.properties());
    json!({
        "location": location,
        "sku": {"name": "Default", "capacity": spec.instance_count},
        "properties": properties,
    })
}

/// A deployment as ARM describes it (the stable shape of `-o json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OnlineDeployment {
    pub name: String,
    pub endpoint: String,
    pub id: String,
    pub provisioning_state: String,
    pub model: Option<String>,
    pub environment: Option<String>,
    pub instance_type: Option<String>,
    pub instance_count: Option<u64>,
    pub compute_type: Option<String>,
}

impl OnlineDeployment {
    pub fn from_resource(endpoint: &str, value: &Value) -> Result<OnlineDeployment, AzureMlError> {
        let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str).map(str::to_string);
        Ok(OnlineDeployment {
            name: text("/name").ok_or_else(|| AzureMlError::Shape("the deployment's name".to_string()))?,
            endpoint: endpoint.to_string(),
            id: text("/id").unwrap_or_default(),
            provisioning_state: text("/properties/provisioningState").unwrap_or_default(),
            model: text("/properties/model"),
            environment: text("/properties/environmentId"),
            instance_type: text("/properties/instanceType"),
            instance_count: value.pointer("/sku/capacity").and_then(Value::as_u64),
            compute_type: text("/properties/endpointComputeType"),
        })
    }
}

/// Which container's log `get_logs` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogContainer {
    InferenceServer,
    StorageInitializer,
}

/// `getLogs`' request body.
pub fn logs_body(container: LogContainer, lines: Option<u32>) -> Value {
    let container = match container {
        LogContainer::InferenceServer => "InferenceServer",
        LogContainer::StorageInitializer => "StorageInitializer",
    };
    let mut body = json!({"containerType": container});
    if let Some(lines) = lines {
        body["tail"] = json!(lines);
    }
    body
}

/// `onlineEndpoints/{ep}/deployments` of one workspace.
#[derive(Debug, Clone)]
pub struct OnlineDeploymentsClient {
    ml: AzureMlClient,
}

impl OnlineDeploymentsClient {
    pub fn new(ml: AzureMlClient) -> Self {
        OnlineDeploymentsClient { ml }
    }

    /// Creates or updates a deployment and waits for it. A deployment that ends Failed or
    /// Canceled is [`AzureMlError::DeploymentFailed`].
    pub async fn create_or_update(
        &self,
        endpoint: &str,
        name: &str,
        spec: &DeploymentSpec,
        progress: &mut dyn Progress,
    ) -> Result<OnlineDeployment, AzureMlError> {
        let body = deployment_body(&self.ml.workspace().location, spec);
        let what = format!("deployment {name} of endpoint {endpoint}");
        match put_and_wait(&self.ml, &path(endpoint, name), &body, &what, progress).await {
            Ok(value) => OnlineDeployment::from_resource(endpoint, &value),
            Err(AzureMlError::OperationFailed { error, .. }) => Err(AzureMlError::DeploymentFailed {
                endpoint: endpoint.to_string(),
                deployment: name.to_string(),
                error,
            }),
            Err(AzureMlError::Http(err)) if err.status == Some(404) => {
                Err(not_found(&self.ml, "online endpoint", endpoint))
            }
            Err(other) => Err(other),
        }
    }

    pub async fn get(&self, endpoint: &str, name: &str) -> Result<OnlineDeployment, AzureMlError> {
        match self.ml.get_optional_at(url(&self.ml, &path(endpoint, name))?).await? {
            Some(value) => OnlineDeployment::from_resource(endpoint, &value),
            None => Err(not_found(&self.ml, "online deployment", &format!("{endpoint}/{name}"))),
        }
    }

    pub async fn list(&self, endpoint: &str) -> Result<Vec<OnlineDeployment>, AzureMlError> {
        let target = url(&self.ml, &format!("{}/deployments", endpoints::path(endpoint)))?;
        let response = self.ml.arm().send(Method::Get, target.clone(), None).await?;
        if response.status == 404 {
            return Err(not_found(&self.ml, "online endpoint", endpoint));
        }
        let items = self.ml.list_at(target).await?;
        items.iter().map(|v| OnlineDeployment::from_resource(endpoint, v)).collect()
    }

    pub async fn delete(&self, endpoint: &str, name: &str, progress: &mut dyn Progress) -> Result<(), AzureMlError> {
        let response = self.ml.arm().send(Method::Delete, url(&self.ml, &path(endpoint, name))?, None).await?;
        match response.status {
            200 | 204 => Ok(()),
            202 => {
                let poller = Poller::new(response, self.ml.poll_interval());
                wait(&self.ml, poller, &format!("deleting deployment {name}"), progress).await.map(|_| ())
            }
            404 => Err(not_found(&self.ml, "online deployment", &format!("{endpoint}/{name}"))),
            _ => Err(response.into_error().into()),
        }
    }

    /// The last `lines` lines of one container's log.
    pub async fn get_logs(
        &self,
        endpoint: &str,
        name: &str,
        container: LogContainer,
        lines: Option<u32>,
    ) -> Result<String, AzureMlError> {
        let target = url(&self.ml, &format!("{}/getLogs", path(endpoint, name)))?;
        let response = self.ml.arm().send(Method::Post, target, Some(&logs_body(container, lines))).await?;
        match response.status {
            200 => {
                let body: Value = response.json()?;
                Ok(body.get("content").and_then(Value::as_str).unwrap_or_default().to_string())
            }
            404 => Err(not_found(&self.ml, "online deployment", &format!("{endpoint}/{name}"))),
            _ => Err(response.into_error().into()),
        }
    }

    /// The ARM id of a model asset version, after checking it exists.
    pub async fn model_asset(&self, name: &str, version: &str) -> Result<String, AzureMlError> {
        let relative = format!("models/{name}/versions/{version}");
        match self.ml.get_optional_at(url(&self.ml, &relative)?).await? {
            Some(value) => {
                Ok(value.get("id").and_then(Value::as_str).map_or_else(|| self.ml.id(&relative), str::to_string))
            }
            None => Err(not_found(&self.ml, "model asset version", &format!("{name}:{version}"))),
        }
    }

    /// Registers (or finds) the environment of the scoring container; returns its ARM id.
    pub async fn scoring_environment(&self, container: &ScoringContainer) -> Result<String, AzureMlError> {
        let version = super::assets::ensure_version(
            &self.ml,
            "environments",
            SCORING_ENVIRONMENT,
            container.environment_properties(),
        )
        .await?;
        Ok(version.id)
    }
}

fn path(endpoint: &str, deployment: &str) -> String {
    format!("{}/deployments/{deployment}", endpoints::path(endpoint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azureml::deployment_settings::RequestSettings;

    #[test]
    fn no_code_body_is_the_arm_shape() {
        let spec = DeploymentSpec {
            model: "/ws/models/diabetes/versions/3".to_string(),
            environment: None,
            instance_type: Some("Standard_DS3_v2".to_string()),
            instance_count: 2,
            kubernetes: false,
            settings: DeploymentSettings {
                request_settings: Some(RequestSettings { request_timeout_ms: Some(3000), ..Default::default() }),
                ..Default::default()
            },
        };
        assert_eq!(
            deployment_body("westeurope", &spec),
            json!({
                "location": "westeurope",
                "sku": {"name": "Default", "capacity": 2},
                "properties": {
                    "endpointComputeType": "Managed",
                    "model": "/ws/models/diabetes/versions/3",
                    "instanceType": "Standard_DS3_v2",
                    "scaleSettings": {"scaleType": "Default"},
                    "requestSettings": {"requestTimeout": "PT3S"}
                }
            })
        );
        let container = DeploymentSpec {
            environment: Some("/ws/environments/e/versions/1".into()),
            kubernetes: true,
            instance_type: None,
            ..spec
        };
        let body = deployment_body("westeurope", &container);
        assert_eq!(body["properties"]["environmentId"], "/ws/environments/e/versions/1");
        assert_eq!(body["properties"]["endpointComputeType"], "Kubernetes");
        assert!(body["properties"].get("instanceType").is_none(), "the cluster's default instance type: {body}");
    }

    #[test]
    fn scoring_container_declares_its_routes() {
        let env = ScoringContainer { image: "acr.io/diabetes:1".into(), port: 5001 }.environment_properties();
        assert_eq!(env["inferenceConfig"]["livenessRoute"], json!({"path": "/health", "port": 5001}));
        assert_eq!(env["inferenceConfig"]["readinessRoute"], json!({"path": "/ready", "port": 5001}));
        assert_eq!(env["inferenceConfig"]["scoringRoute"], json!({"path": "/score", "port": 5001}));
        assert_eq!(env["image"], "acr.io/diabetes:1");
    }

    #[test]
    fn logs_body_uses_the_rest_names() {
        assert_eq!(
            logs_body(LogContainer::InferenceServer, Some(50)),
            json!({"containerType": "InferenceServer", "tail": 50})
        );
        assert_eq!(logs_body(LogContainer::StorageInitializer, None), json!({"containerType": "StorageInitializer"}));
    }
}
