//! Azure ML managed online endpoints on the ARM control plane (`…/onlineEndpoints/{name}`):
//! create, read, list, delete, keys and tokens, traffic. Shaped like the Azure SDK's
//! `online_endpoints` operations; long-running operations are followed with ARM's LRO rules.

use std::collections::BTreeMap;

use azure_core::http::{Method, Url};
use serde::Serialize;
use serde_json::{Value, json};

use super::{AzureMlClient, AzureMlError};
use crate::azure::ArmResponse;
use crate::azure::lro::{PollOutcome, Poller};
use crate::error_kind::UsageError;
use crate::infra::deploy::Progress;
use crate::secret::Secret;

/// The api-version of online endpoints and deployments (the stable one azure-rest-api-specs
/// documents them in, with examples of every route used here).
pub const API_VERSION: &str = "2024-10-01";

/// How callers of the scoring URI authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuthMode {
    /// `Authorization: Bearer <primaryKey>` from `listKeys`.
    Key,
    /// `Authorization: Bearer <accessToken>` from `token`.
    AmlToken,
    /// An Entra token for `https://ml.azure.com/.default`.
    AadToken,
}

impl AuthMode {
    /// The REST spelling (`authMode`).
    pub fn rest(self) -> &'static str {
        match self {
            AuthMode::Key => "Key",
            AuthMode::AmlToken => "AMLToken",
            AuthMode::AadToken => "AADToken",
        }
    }

    fn from_rest(text: &str) -> Option<AuthMode> {
        [AuthMode::Key, AuthMode::AmlToken, AuthMode::AadToken]
            .into_iter()
            .find(|m| m.rest().eq_ignore_ascii_case(text))
    }
}

/// Checks an endpoint or deployment name against the service's rule (azure-ai-ml's
/// `validate_endpoint_or_deployment_name`): 3 to 32 characters, a letter first, then letters,
/// digits and '-', and no '-' last. `flag` names where the name came from.
pub fn check_name(flag: &str, name: &str) -> Result<(), UsageError> {
    let ok = (3..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.ends_with('-');
    if ok {
        return Ok(());
    }
    Err(UsageError(format!(
        "{flag} {name:?}: a name is 3 to 32 characters, a letter first, then letters, digits and '-', not ending in '-'"
    )))
}

/// What to create: the endpoint's authentication and where it runs.
#[derive(Debug, Clone)]
pub struct EndpointSpec {
    pub auth_mode: AuthMode,
    /// `None` for a managed endpoint; the ARM id of an attached Kubernetes compute otherwise.
    pub compute: Option<String>,
    pub description: Option<String>,
}

/// An online endpoint as ARM describes it (the stable shape of `-o json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OnlineEndpoint {
    pub name: String,
    pub id: String,
    pub location: String,
    pub auth_mode: String,
    /// `managed`, or `kubernetes` with `compute` set.
    pub kind: String,
    pub compute: Option<String>,
    pub provisioning_state: String,
    pub scoring_uri: Option<String>,
    pub swagger_uri: Option<String>,
    /// Deployment → percent of live traffic (sums to 100 once any deployment has traffic).
    pub traffic: BTreeMap<String, u32>,
    /// Deployment → percent of live traffic copied to it, answers discarded.
    pub mirror_traffic: BTreeMap<String, u32>,
    pub description: Option<String>,
}

impl OnlineEndpoint {
    pub fn from_resource(value: &Value) -> Result<OnlineEndpoint, AzureMlError> {
        let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str).map(str::to_string);
        let compute = text("/properties/compute").filter(|c| !c.is_empty());
        Ok(OnlineEndpoint {
            name: text("/name").ok_or_else(|| AzureMlError::Shape("the endpoint's name".to_string()))?,
            id: text("/id").unwrap_or_default(),
            location: text("/location").unwrap_or_default(),
            auth_mode: text("/properties/authMode").unwrap_or_default(),
            kind: if compute.is_some() { "kubernetes" } else { "managed" }.to_string(),
            compute,
            provisioning_state: text("/properties/provisioningState").unwrap_or_default(),
            scoring_uri: text("/properties/scoringUri"),
            swagger_uri: text("/properties/swaggerUri"),
            traffic: percentages(value.pointer("/properties/traffic")),
            mirror_traffic: percentages(value.pointer("/properties/mirrorTraffic")),
            description: text("/properties/description"),
        })
    }

    pub fn auth(&self) -> Option<AuthMode> {
        AuthMode::from_rest(&self.auth_mode)
    }
}

fn percentages(value: Option<&Value>) -> BTreeMap<String, u32> {
    value
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| v.as_u64().map(|p| (k.clone(), u32::try_from(p).unwrap_or(u32::MAX))))
                .collect()
        })
        .unwrap_or_default()
}

/// The two keys of a key-auth endpoint.
#[derive(Debug, Clone)]
pub struct EndpointKeys {
    pub primary: Secret,
    pub secondary: Secret,
}

/// What `mlops endpoint keys` prints: keys or a token, by the endpoint's auth mode.
#[derive(Debug, Clone)]
pub enum EndpointCredentials {
    Keys(EndpointKeys),
    Token(EndpointToken),
}

/// Which key `regenerateKeys` replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Primary,
    Secondary,
}

/// An `AMLToken` endpoint's token and when it expires (epoch seconds).
#[derive(Debug, Clone)]
pub struct EndpointToken {
    pub access_token: Secret,
    pub expiry_time_utc: Option<i64>,
}

/// The body of a PUT that creates `name` or replaces its definition. Traffic is carried over
/// from `existing`: re-running `create` must not take traffic off live deployments.
pub fn endpoint_body(location: &str, spec: &EndpointSpec, existing: Option<&OnlineEndpoint>) -> Value {
    let mut properties = json!({"authMode": spec.auth_mode.rest()});
    if let Some(compute) = &spec.compute {
        properties["compute"] = json!(compute);
    }
    if let Some(description) = &spec.description {
        properties["description"] = json!(description);
    }
    if let Some(existing) = existing {
        properties["traffic"] = json!(existing.traffic);
        properties["mirrorTraffic"] = json!(existing.mirror_traffic);
    }
    json!({"location": location, "identity": {"type": "SystemAssigned"}, "properties": properties})
}

/// The body of the PUT that changes only traffic: the endpoint as read, without the fields the
/// service fills in, and the new maps.
pub fn traffic_body(current: &Value, traffic: &BTreeMap<String, u32>, mirror: &BTreeMap<String, u32>) -> Value {
    let mut body = json!({
        "location": current.get("location").cloned().unwrap_or(Value::Null),
        "properties": current.get("properties").cloned().unwrap_or_else(|| json!({})),
    });
    for keep in ["identity", "tags", "kind", "sku"] {
        if let Some(value) = current.get(keep).filter(|v| !v.is_null()) {
            body[keep] = value.clone();
        }
    }
    if let Some(props) = body["properties"].as_object_mut() {
        for read_only in ["provisioningState", "scoringUri", "swaggerUri", "keys"] {
            props.remove(read_only);
        }
        props.insert("traffic".to_string(), json!(traffic));
        props.insert("mirrorTraffic".to_string(), json!(mirror));
    }
    body
}

/// `onlineEndpoints` of one workspace.
#[derive(Debug, Clone)]
pub struct OnlineEndpointsClient {
    ml: AzureMlClient,
}

impl OnlineEndpointsClient {
    pub fn new(ml: AzureMlClient) -> Self {
        OnlineEndpointsClient { ml }
    }

    pub fn workspace(&self) -> &AzureMlClient {
        &self.ml
    }

    /// Creates `name` (or replaces its definition, keeping its traffic) and waits until it is
    /// provisioned.
    pub async fn create_or_update(
        &self,
        name: &str,
        spec: &EndpointSpec,
        progress: &mut dyn Progress,
    ) -> Result<OnlineEndpoint, AzureMlError> {
        let existing = match self.ml.get_optional_at(url(&self.ml, &path(name))?).await? {
            Some(value) => Some(OnlineEndpoint::from_resource(&value)?),
            None => None,
        };
        let body = endpoint_body(&self.ml.workspace().location, spec, existing.as_ref());
        let value =
            put_and_wait(&self.ml, &path(name), &body, &format!("provisioning endpoint {name}"), progress).await?;
        OnlineEndpoint::from_resource(&value)
    }

    pub async fn get(&self, name: &str) -> Result<OnlineEndpoint, AzureMlError> {
        OnlineEndpoint::from_resource(&self.get_raw(name).await?)
    }

    async fn get_raw(&self, name: &str) -> Result<Value, AzureMlError> {
        match self.ml.get_optional_at(url(&self.ml, &path(name))?).await? {
            Some(value) => Ok(value),
            None => Err(not_found(&self.ml, "online endpoint", name)),
        }
    }

    pub async fn list(&self) -> Result<Vec<OnlineEndpoint>, AzureMlError> {
        let items = self.ml.list_at(url(&self.ml, "onlineEndpoints")?).await?;
        items.iter().map(OnlineEndpoint::from_resource).collect()
    }

    /// Deletes `name` (and its deployments, as the service does) and waits until it is gone.
    pub async fn delete(&self, name: &str, progress: &mut dyn Progress) -> Result<(), AzureMlError> {
        let response = self.ml.arm().send(Method::Delete, url(&self.ml, &path(name))?, None).await?;
        match response.status {
            200 | 204 => Ok(()),
            202 => wait(
                &self.ml,
                Poller::new(response, self.ml.poll_interval()),
                &format!("deleting endpoint {name}"),
                progress,
            )
            .await
            .map(|_| ()),
            404 => Err(not_found(&self.ml, "online endpoint", name)),
            _ => Err(response.into_error().into()),
        }
    }

    pub async fn list_keys(&self, name: &str) -> Result<EndpointKeys, AzureMlError> {
        let body = self.post(name, "listKeys", None).await?;
        let key = |field: &str| {
            body.get(field)
                .and_then(Value::as_str)
                .map(Secret::new)
                .ok_or_else(|| AzureMlError::Shape(format!("{field} in the answer to listKeys")))
        };
        Ok(EndpointKeys { primary: key("primaryKey")?, secondary: key("secondaryKey")? })
    }

    /// Replaces one key with a new random value and waits until the new key is in place.
    pub async fn regenerate_keys(
        &self,
        name: &str,
        key: KeyType,
        progress: &mut dyn Progress,
    ) -> Result<(), AzureMlError> {
        let key_type = match key {
            KeyType::Primary => "Primary",
            KeyType::Secondary => "Secondary",
        };
        let target = url(&self.ml, &format!("{}/regenerateKeys", path(name)))?;
        let response = self.ml.arm().send(Method::Post, target, Some(&json!({"keyType": key_type}))).await?;
        match response.status {
            200 | 204 => Ok(()),
            202 => wait(
                &self.ml,
                Poller::new(response, self.ml.poll_interval()),
                &format!("regenerating keys of {name}"),
                progress,
            )
            .await
            .map(|_| ()),
            404 => Err(not_found(&self.ml, "online endpoint", name)),
            _ => Err(response.into_error().into()),
        }
    }

    pub async fn get_token(&self, name: &str) -> Result<EndpointToken, AzureMlError> {
        let body = self.post(name, "token", None).await?;
        let token = body
            .get("accessToken")
            .and_then(Value::as_str)
            .map(Secret::new)
            .ok_or_else(|| AzureMlError::Shape("accessToken in the answer to token".to_string()))?;
        Ok(EndpointToken { access_token: token, expiry_time_utc: body.get("expiryTimeUtc").and_then(Value::as_i64) })
    }

    /// What callers of this endpoint authenticate with, as azure-ai-ml's `get_keys` gives it: the
    /// two keys of a `Key` endpoint, a fresh token of an `AMLToken` one. `AADToken` endpoints
    /// take the caller's own Entra token, so there is nothing to fetch.
    pub async fn credentials(&self, endpoint: &OnlineEndpoint) -> Result<EndpointCredentials, AzureMlError> {
        match endpoint.auth() {
            Some(AuthMode::Key) => Ok(EndpointCredentials::Keys(self.list_keys(&endpoint.name).await?)),
            Some(AuthMode::AmlToken) => Ok(EndpointCredentials::Token(self.get_token(&endpoint.name).await?)),
            _ => Err(AzureMlError::Invalid(format!(
                "endpoint {:?} uses auth mode {:?}: callers sign in with their own Entra token (scope https://ml.azure.com/.default); it has no keys or AML tokens",
                endpoint.name, endpoint.auth_mode
            ))),
        }
    }

    /// The secret a scoring request carries for this endpoint's auth mode: the primary key or an
    /// AML token. `AADToken` endpoints take an Entra token, which this client does not hold.
    pub async fn scoring_secret(&self, endpoint: &OnlineEndpoint) -> Result<Secret, AzureMlError> {
        match endpoint.auth() {
            Some(AuthMode::Key) => Ok(self.list_keys(&endpoint.name).await?.primary),
            Some(AuthMode::AmlToken) => Ok(self.get_token(&endpoint.name).await?.access_token),
            _ => Err(AzureMlError::Invalid(format!(
                "endpoint {:?} uses auth mode {:?}; mlops invokes key and aml_token endpoints only",
                endpoint.name, endpoint.auth_mode
            ))),
        }
    }

    /// Sets live and mirrored traffic (a PUT of the whole endpoint, as ARM wants) and waits.
    pub async fn update_traffic(
        &self,
        name: &str,
        traffic: &BTreeMap<String, u32>,
        mirror: &BTreeMap<String, u32>,
        progress: &mut dyn Progress,
    ) -> Result<OnlineEndpoint, AzureMlError> {
        let current = self.get_raw(name).await?;
        let body = traffic_body(&current, traffic, mirror);
        let value =
            put_and_wait(&self.ml, &path(name), &body, &format!("updating traffic of {name}"), progress).await?;
        OnlineEndpoint::from_resource(&value)
    }

    async fn post(&self, name: &str, action: &str, body: Option<&Value>) -> Result<Value, AzureMlError> {
        let target = url(&self.ml, &format!("{}/{action}", path(name)))?;
        let response = self.ml.arm().send(Method::Post, target, body).await?;
        match response.status {
            200 => Ok(response.json()?),
            404 => Err(not_found(&self.ml, "online endpoint", name)),
            _ => Err(response.into_error().into()),
        }
    }
}

pub(super) fn path(endpoint: &str) -> String {
    format!("onlineEndpoints/{endpoint}")
}

/// The URL of something in the workspace with the endpoints' api-version, whatever the
/// workspace client's own.
pub(super) fn url(ml: &AzureMlClient, relative: &str) -> Result<Url, AzureMlError> {
    let mut url = ml.url(relative)?;
    url.set_query(None);
    url.query_pairs_mut().append_pair("api-version", API_VERSION);
    Ok(url)
}

pub(super) fn not_found(ml: &AzureMlClient, kind: &'static str, name: &str) -> AzureMlError {
    AzureMlError::NotFound { kind, name: name.to_string(), workspace: ml.workspace().name.clone(), source: None }
}

/// A PUT that may be long-running: waits for its end and returns the resource.
pub(super) async fn put_and_wait(
    ml: &AzureMlClient,
    relative: &str,
    body: &Value,
    what: &str,
    progress: &mut dyn Progress,
) -> Result<Value, AzureMlError> {
    let response = ml.arm().expect(Method::Put, url(ml, relative)?, Some(body), &[200, 201, 202]).await?;
    let poller = Poller::new(response, ml.poll_interval());
    let last = wait(ml, poller, what, progress).await?;
    Ok(last.json()?)
}

/// Follows an operation to its end with the poll interval ARM asks for; each poll's HTTP call is
/// bounded by the client's retry policy and the poller gives up after repeated failures. A Failed
/// or Canceled operation is [`AzureMlError::OperationFailed`].
pub(super) async fn wait(
    ml: &AzureMlClient,
    mut poller: Poller,
    what: &str,
    progress: &mut dyn Progress,
) -> Result<ArmResponse, AzureMlError> {
    let mut outcome = poller.outcome().cloned();
    while outcome.is_none() {
        match poller.poll(ml.arm()).await? {
            PollOutcome::Running { status, warning } => {
                progress.status(&status);
                if let Some(warning) = warning {
                    progress.warning(&warning);
                }
                tokio::time::sleep(poller.delay()).await;
            }
            done => outcome = Some(done),
        }
    }
    progress.finish();
    match outcome {
        Some(PollOutcome::Failed(error)) => {
            Err(AzureMlError::OperationFailed { what: what.to_string(), error: error.map(Box::new) })
        }
        Some(PollOutcome::Canceled) => {
            Err(AzureMlError::OperationFailed { what: format!("{what} (canceled)"), error: None })
        }
        _ => Ok(poller.result(ml.arm()).await?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(compute: Option<&str>) -> EndpointSpec {
        EndpointSpec { auth_mode: AuthMode::AmlToken, compute: compute.map(str::to_string), description: None }
    }

    #[test]
    fn create_body_is_the_arm_shape_and_keeps_live_traffic() {
        let body = endpoint_body("westeurope", &spec(None), None);
        assert_eq!(
            body,
            json!({"location": "westeurope", "identity": {"type": "SystemAssigned"},
                   "properties": {"authMode": "AMLToken"}})
        );
        let existing = OnlineEndpoint::from_resource(&json!({
            "name": "ep", "properties": {"authMode": "Key", "traffic": {"blue": 100}, "mirrorTraffic": {}}
        }))
        .expect("endpoint");
        let body = endpoint_body("westeurope", &spec(Some("/subs/x/computes/aks")), Some(&existing));
        assert_eq!(body["properties"]["traffic"], json!({"blue": 100}));
        assert_eq!(body["properties"]["compute"], "/subs/x/computes/aks");
        assert_eq!(body["properties"]["authMode"], "AMLToken");
    }

    #[test]
    fn traffic_body_drops_read_only_fields_and_keeps_the_rest() {
        let current = json!({
            "id": "/x", "name": "ep", "location": "westeurope", "identity": {"type": "SystemAssigned"},
            "properties": {"authMode": "Key", "provisioningState": "Succeeded", "scoringUri": "https://s/score",
                           "swaggerUri": "https://s/swagger.json", "traffic": {"blue": 100}, "description": "d"}
        });
        let traffic = BTreeMap::from([("blue".to_string(), 90), ("green".to_string(), 10)]);
        let body = traffic_body(&current, &traffic, &BTreeMap::new());
        assert_eq!(
            body,
            json!({"location": "westeurope", "identity": {"type": "SystemAssigned"},
                   "properties": {"authMode": "Key", "description": "d",
                                  "traffic": {"blue": 90, "green": 10}, "mirrorTraffic": {}}})
        );
    }

    #[test]
    fn names_follow_the_service_rule() {
        for good in ["ep1", "diabetes-ep", "Blue", &"a".repeat(32)] {
            assert!(check_name("NAME", good).is_ok(), "{good}");
        }
        for bad in ["ep", "1-ep", "ep-", "ep_1", "ép1", &"a".repeat(33)] {
            let err = check_name("--deployment", bad).expect_err(bad).0;
            assert!(err.starts_with(&format!("--deployment {bad:?}: ")), "{err}");
        }
    }

    #[test]
    fn reads_an_endpoint() {
        let ep = OnlineEndpoint::from_resource(&json!({
            "id": "/e", "name": "ep", "location": "l",
            "properties": {"authMode": "AMLToken", "provisioningState": "Succeeded", "compute": "/c/aks",
                           "scoringUri": "https://s/score", "traffic": {"blue": 100}, "mirrorTraffic": {"green": 10}}
        }))
        .expect("endpoint");
        assert_eq!(ep.kind, "kubernetes");
        assert_eq!(ep.auth(), Some(AuthMode::AmlToken));
        assert_eq!(ep.mirror_traffic, BTreeMap::from([("green".to_string(), 10)]));
        assert!(OnlineEndpoint::from_resource(&json!({})).is_err());
    }
}
