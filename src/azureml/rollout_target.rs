//! The [`RolloutTarget`] of a real endpoint: traffic through ARM, the new deployment through
//! its client, and the smoke test of `mlops smoke-test` sent to the scoring URI pinned to the new
//! deployment with the endpoint's own key or token.

use std::time::Duration;

use serde_json::Value;

use super::AzureMlError;
use super::endpoints::OnlineEndpointsClient;
use super::online_deployments::{DeploymentSpec, OnlineDeploymentsClient};
use super::rollout::RolloutTarget;
use super::traffic::Traffic;
use crate::infra::deploy::Progress;
use crate::secret::Secret;
use crate::serve::smoke::{self, Probe, SmokeOptions};

/// Makes the progress display of one ARM operation from its title.
pub type ProgressFactory = Box<dyn FnMut(&str) -> Box<dyn Progress>>;

/// A rollout of `deployment` behind `endpoint`.
pub struct EndpointRollout {
    pub endpoints: OnlineEndpointsClient,
    pub deployments: OnlineDeploymentsClient,
    pub endpoint: String,
    pub deployment: String,
    pub spec: DeploymentSpec,
    /// How long the smoke test of each stage waits for the deployment to answer.
    pub smoke_timeout: Duration,
    /// The smoke test's rows, when the model's signature is known here.
    pub sample: Option<Value>,
    /// Where the waits on ARM operations report (one per operation).
    pub progress: ProgressFactory,
    pub(crate) scoring: Option<(String, Secret)>,
}

impl EndpointRollout {
    /// The scoring URI and the secret of the endpoint, read once.
    async fn scoring(&mut self) -> Result<(String, Secret), AzureMlError> {
        if let Some(found) = &self.scoring {
            return Ok(found.clone());
        }
        let endpoint = self.endpoints.get(&self.endpoint).await?;
        let uri = endpoint
            .scoring_uri
            .clone()
            .ok_or_else(|| AzureMlError::Shape(format!("a scoring URI for endpoint {:?}", self.endpoint)))?;
        let secret = self.endpoints.scoring_secret(&endpoint).await?;
        self.scoring = Some((uri, secret));
        Ok(self.scoring.clone().unwrap_or_else(|| unreachable!("just set")))
    }
}

#[async_trait::async_trait(?Send)]
impl RolloutTarget for EndpointRollout {
    async fn traffic(&mut self) -> Result<(Traffic, Traffic), AzureMlError> {
        let endpoint = self.endpoints.get(&self.endpoint).await?;
        Ok((endpoint.traffic, endpoint.mirror_traffic))
    }

    async fn deploy(&mut self) -> Result<(), AzureMlError> {
        let mut progress = (self.progress)(&format!("deployment {} of {}", self.deployment, self.endpoint));
        self.deployments.create_or_update(&self.endpoint, &self.deployment, &self.spec, progress.as_mut()).await?;
        Ok(())
    }

    async fn smoke_test(&mut self) -> Result<String, String> {
        let (url, key) = self.scoring().await.map_err(|e| format!("cannot reach the endpoint: {e}"))?;
        let options = SmokeOptions {
            url,
            key: Some(key),
            timeout: self.smoke_timeout,
            probe: Probe::Score,
            sample: self.sample.clone(),
            deployment: Some(self.deployment.clone()),
        };
        match smoke::run(&options).await {
            Ok(report) => Ok(format!("{} rows answered {:?}", report.results.len(), report.results)),
            Err(err) => Err(crate::error_kind::chain(&err)),
        }
    }

    async fn set_traffic(&mut self, traffic: &Traffic, mirror: &Traffic) -> Result<(), AzureMlError> {
        let mut progress = (self.progress)(&format!("traffic of {}", self.endpoint));
        self.endpoints.update_traffic(&self.endpoint, traffic, mirror, progress.as_mut()).await?;
        Ok(())
    }
}
