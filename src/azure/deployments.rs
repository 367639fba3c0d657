//! `Microsoft.Resources`: resource groups and template deployments at resource-group and
//! subscription scope.

use azure_core::http::Method;
use serde_json::Value;

use super::arm::{ArmClient, ArmResponse};
use super::error::HttpError;
use super::lro::{PollInterval, Poller};

/// Where a deployment lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentScope {
    ResourceGroup { subscription: String, resource_group: String },
    Subscription { subscription: String },
}

impl DeploymentScope {
    /// The scope's ARM path, as the SDKs spell it.
    pub fn path(&self) -> String {
        match self {
            DeploymentScope::ResourceGroup { subscription, resource_group } => {
                format!("/subscriptions/{subscription}/resourcegroups/{resource_group}")
            }
            DeploymentScope::Subscription { subscription } => {
                format!("/subscriptions/{subscription}")
            }
        }
    }

    fn deployment(&self, name: &str) -> String {
        format!("{}/providers/Microsoft.Resources/deployments/{name}", self.path())
    }

    /// Resource-group operations are listed without `/providers/Microsoft.Resources`, a quirk of
    /// the API that every SDK keeps.
    fn operations(&self, name: &str) -> String {
        match self {
            DeploymentScope::ResourceGroup { .. } => {
                format!("{}/deployments/{name}/operations", self.path())
            }
            DeploymentScope::Subscription { .. } => format!("{}/operations", self.deployment(name)),
        }
    }
}

/// What `validate` said.
#[derive(Debug, Clone)]
pub enum Validation {
    Valid(Value),
    /// ARM rejected the deployment; the body carries `error`.
    Invalid(Value),
}

/// Deployments (`…/providers/Microsoft.Resources/deployments/{name}`).
#[derive(Debug, Clone)]
pub struct DeploymentsClient {
    arm: ArmClient,
    interval: PollInterval,
}

impl DeploymentsClient {
    pub fn new(arm: ArmClient, interval: PollInterval) -> Self {
        DeploymentsClient { arm, interval }
    }

    pub fn arm(&self) -> &ArmClient {
        &self.arm
    }

    /// `PUT` the deployment; the returned poller follows it to the end.
    pub async fn begin_create_or_update(
        &self,
        scope: &DeploymentScope,
        name: &str,
        body: &Value,
    ) -> Result<(ArmResponse, Poller), HttpError> {
        Poller::begin_put(&self.arm, self.arm.url(&scope.deployment(name))?, body, self.interval).await
    }

    pub async fn get(&self, scope: &DeploymentScope, name: &str) -> Result<Value, HttpError> {
        let url = self.arm.url(&scope.deployment(name))?;
        self.arm.expect(Method::Get, url, None, &[200]).await?.json()
    }

    /// `POST …/validate`: 200 valid, 400 invalid (the body is data), 202 asynchronous validation.
    pub async fn validate(
        &self,
        scope: &DeploymentScope,
        name: &str,
        body: &Value,
    ) -> Result<(Validation, Option<Poller>), HttpError> {
        let url = self.arm.url(&format!("{}/validate", scope.deployment(name)))?;
        let response = self.arm.send(Method::Post, url, Some(body)).await?;
        match response.status {
            200 | 201 => Ok((Validation::Valid(response.json()?), None)),
            400 if super::error::ErrorDetail::from_body(&response.body).is_some() => {
                Ok((Validation::Invalid(response.json()?), None))
            }
            202 | 204 => Ok((Validation::Valid(Value::Null), Some(Poller::new(response, self.interval)))),
            _ => Err(response.into_error()),
        }
    }

    /// `POST …/whatIf`: usually 202 + `Location`; the poller's result is the what-if result.
    pub async fn begin_what_if(&self, scope: &DeploymentScope, name: &str, body: &Value) -> Result<Poller, HttpError> {
        let url = self.arm.url(&format!("{}/whatIf", scope.deployment(name)))?;
        let response = self.arm.expect(Method::Post, url, Some(body), &[200, 202]).await?;
        Ok(Poller::new(response, self.interval))
    }

    /// `POST …/cancel`: only a deployment that is still running can be canceled.
    pub async fn cancel(&self, scope: &DeploymentScope, name: &str) -> Result<(), HttpError> {
        let url = self.arm.url(&format!("{}/cancel", scope.deployment(name)))?;
        self.arm.expect(Method::Post, url, None, &[204]).await?;
        Ok(())
    }

    /// Every operation of a deployment (one per resource), following `nextLink`.
    pub async fn list_operations(&self, scope: &DeploymentScope, name: &str) -> Result<Vec<Value>, HttpError> {
        self.arm.list(self.arm.url(&scope.operations(name))?).await
    }
}

/// Resource groups (`/subscriptions/{sub}/resourcegroups/{rg}`).
#[derive(Debug, Clone)]
pub struct ResourceGroupsClient {
    arm: ArmClient,
}

impl ResourceGroupsClient {
    pub fn new(arm: ArmClient) -> Self {
        ResourceGroupsClient { arm }
    }

    /// `HEAD`: 204 exists, 404 does not.
    pub async fn check_existence(&self, subscription: &str, name: &str) -> Result<bool, HttpError> {
        let url = self.arm.url(&format!("/subscriptions/{subscription}/resourcegroups/{name}"))?;
        let response = self.arm.expect(Method::Head, url, None, &[204, 404]).await?;
        Ok(response.status == 204)
    }

    pub async fn create_or_update(&self, subscription: &str, name: &str, location: &str) -> Result<Value, HttpError> {
        let url = self.arm.url(&format!("/subscriptions/{subscription}/resourcegroups/{name}"))?;
        let body = serde_json::json!({ "location": location });
        self.arm.expect(Method::Put, url, Some(&body), &[200, 201]).await?.json()
    }
}

/// Checks a deployment or resource group name against ARM's rules before anything is sent.
pub fn check_name(kind: &str, name: &str, max: usize) -> Result<(), String> {
    let ok_chars = name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
    if name.is_empty() || name.chars().count() > max || !ok_chars || name.ends_with('.') {
        return Err(format!(
            "{kind} name {name:?} is invalid: 1-{max} letters, digits, '-', '_', '.', '(' or ')', not ending in '.'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_sdks() {
        let rg = DeploymentScope::ResourceGroup { subscription: "s".into(), resource_group: "g".into() };
        assert_eq!(rg.deployment("d"), "/subscriptions/s/resourcegroups/g/providers/Microsoft.Resources/deployments/d");
        assert_eq!(rg.operations("d"), "/subscriptions/s/resourcegroups/g/deployments/d/operations");
        let sub = DeploymentScope::Subscription { subscription: "s".into() };
        assert_eq!(sub.operations("d"), "/subscriptions/s/providers/Microsoft.Resources/deployments/d/operations");
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("deployment", "main-2024.1_(x)", 64).is_ok());
        assert!(check_name("deployment", "", 64).is_err());
        assert!(check_name("deployment", "a/b", 64).is_err());
        assert!(check_name("resource group", "rg.", 90).is_err());
        assert!(check_name("deployment", &"a".repeat(65), 64).is_err());
    }
}
