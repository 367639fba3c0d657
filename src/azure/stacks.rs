//! `Microsoft.Resources/deploymentStacks` (api-version 2024-03-01) at resource-group and
//! subscription scope: create or update (an LRO through `Azure-AsyncOperation`), get, list and
//! delete (an LRO through `Location`, with the `unmanageAction.*` query parameters).

use azure_core::http::{Method, Url};
use serde_json::Value;

use super::arm::{ArmClient, ArmResponse};
use super::deployments::DeploymentScope;
use super::error::HttpError;
use super::lro::{PollInterval, Poller};

/// The API version of deployment stacks (the newest stable one).
pub const API_VERSION: &str = "2024-03-01";

/// What happens to one kind of resource when the stack stops managing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnmanageAction {
    Detach,
    Delete,
}

impl UnmanageAction {
    pub fn as_str(self) -> &'static str {
        match self {
            UnmanageAction::Detach => "detach",
            UnmanageAction::Delete => "delete",
        }
    }
}

/// `actionOnUnmanage` for resources, resource groups and management groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionOnUnmanage {
    pub resources: UnmanageAction,
    pub resource_groups: UnmanageAction,
    pub management_groups: UnmanageAction,
}

impl ActionOnUnmanage {
    /// The body's `actionOnUnmanage` object.
    pub fn to_json(self) -> Value {
        serde_json::json!({
            "resources": self.resources.as_str(),
            "resourceGroups": self.resource_groups.as_str(),
            "managementGroups": self.management_groups.as_str(),
        })
    }
}

/// Deployment stacks (`{scope}/providers/Microsoft.Resources/deploymentStacks/{name}`).
#[derive(Debug, Clone)]
pub struct DeploymentStacksClient {
    arm: ArmClient,
    interval: PollInterval,
}

fn stacks_path(scope: &DeploymentScope) -> String {
    format!("{}/providers/Microsoft.Resources/deploymentStacks", scope.path())
}

impl DeploymentStacksClient {
    /// `arm` should carry [`API_VERSION`]: the stacks API is versioned apart from deployments.
    pub fn new(arm: ArmClient, interval: PollInterval) -> Self {
        DeploymentStacksClient { arm, interval }
    }

    pub fn arm(&self) -> &ArmClient {
        &self.arm
    }

    fn url(&self, scope: &DeploymentScope, name: &str) -> Result<Url, HttpError> {
        self.arm.url(&format!("{}/{name}", stacks_path(scope)))
    }

    /// `PUT` the stack: 200 (update) or 201 (new) with `Azure-AsyncOperation`; the returned poller
    /// follows it to the end.
    pub async fn begin_create_or_update(
        &self,
        scope: &DeploymentScope,
        name: &str,
        body: &Value,
    ) -> Result<(ArmResponse, Poller), HttpError> {
        Poller::begin_put(&self.arm, self.url(scope, name)?, body, self.interval).await
    }

    pub async fn get(&self, scope: &DeploymentScope, name: &str) -> Result<Value, HttpError> {
        let url = self.url(scope, name)?;
        self.arm.expect(Method::Get, url, None, &[200]).await?.json()
    }

    /// Every stack at the scope, following `nextLink`.
    pub async fn list(&self, scope: &DeploymentScope) -> Result<Vec<Value>, HttpError> {
        self.arm.list(self.arm.url(&stacks_path(scope))?).await
    }

    /// `DELETE` the stack, detaching or deleting what it manages: 200/204 done, 202 + `Location`
    /// polled by the returned poller.
    pub async fn begin_delete(
        &self,
        scope: &DeploymentScope,
        name: &str,
        unmanage: ActionOnUnmanage,
    ) -> Result<Poller, HttpError> {
        let mut url = self.url(scope, name)?;
        url.query_pairs_mut()
            .append_pair("unmanageAction.Resources", unmanage.resources.as_str())
            .append_pair("unmanageAction.ResourceGroups", unmanage.resource_groups.as_str())
            .append_pair("unmanageAction.ManagementGroups", unmanage.management_groups.as_str());
        let response = self.arm.expect(Method::Delete, url, None, &[200, 202, 204]).await?;
        Ok(Poller::new(response, self.interval))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_actions_are_as_the_spec_spells_them() {
        let rg = DeploymentScope::ResourceGroup { subscription: "s".into(), resource_group: "g".into() };
        assert_eq!(
            stacks_path(&rg),
            "/subscriptions/s/resourcegroups/g/providers/Microsoft.Resources/deploymentStacks"
        );
        let sub = DeploymentScope::Subscription { subscription: "s".into() };
        assert_eq!(stacks_path(&sub), "/subscriptions/s/providers/Microsoft.Resources/deploymentStacks");
        let action = ActionOnUnmanage {
            resources: UnmanageAction::Delete,
            resource_groups: UnmanageAction::Detach,
            management_groups: UnmanageAction::Detach,
        };
        assert_eq!(
            action.to_json(),
            serde_json::json!({"resources": "delete", "resourceGroups": "detach", "managementGroups": "detach"})
        );
    }
}
