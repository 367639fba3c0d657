//! The stand-in's managed online endpoints on the ARM control plane, driven over HTTPS as the
//! clients drive them: create with the `mfeOperationsStatus` LRO, lists, keys, tokens, PATCH,
//! the traffic rules the service enforces, and delete.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

use crate::servers::{Peer, azurite};
use crate::standin::{self, StandIn};
use crate::support::{Workspace, diabetes};

pub const RG: &str = "rg-ml";
pub const WS: &str = "ws-ml";
/// The versions azure-ai-ml 1.35.2 pins (endpoints, deployments) and the one `mlops` uses.
const EP_API: &str = "2022-02-01-preview";
const DEP_API: &str = "2023-04-01-preview";
const MLOPS_API: &str = "2024-10-01";

/// An ARM client signed in to the stand-in.
pub struct Arm {
    pub http: Client,
    pub base: String,
    token: String,
}

impl Arm {
    pub fn new(standin: &StandIn) -> Arm {
        let ca = std::fs::read(&standin.ca_pem).expect("CA");
        let http = Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA pem"))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Arm { http, base: standin.url(), token: standin.issue_token() }
    }

    pub fn workspace(&self) -> String {
        format!(
            "{}/subscriptions/{}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}",
            self.base,
            standin::SUBSCRIPTION
        )
    }

    pub fn endpoint(&self, name: &str) -> String {
        format!("{}/onlineEndpoints/{name}", self.workspace())
    }

    pub fn send(&self, method: &str, url: &str, api: &str, body: Option<Value>) -> Response {
        let sep = if url.contains('?') { '&' } else { '?' };
        let url = if url.contains("api-version=") { url.to_string() } else { format!("{url}{sep}api-version={api}") };
        let mut request = self.http.request(method.parse().expect("method"), url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().expect("request")
    }

    pub fn json(&self, method: &str, url: &str, api: &str, body: Option<Value>) -> (u16, Value) {
        let response = self.send(method, url, api, body);
        let status = response.status().as_u16();
        let text = response.text().expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Follows an `Azure-AsyncOperation` URL until it leaves `InProgress` (generous deadline).
    pub fn wait(&self, operation: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, body) = self.json("GET", operation, EP_API, None);
            assert_eq!(status, 200, "{body}");
            if body["status"] != "InProgress" || Instant::now() > deadline {
                return body;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// PUT and follow the LRO; returns the final status document.
    pub fn put_and_wait(&self, url: &str, api: &str, body: Value) -> Value {
        let response = self.send("PUT", url, api, Some(body));
        let status = response.status().as_u16();
        let operation = response.headers().get("azure-asyncoperation").map(|v| v.to_str().unwrap_or("").to_string());
        let text = response.text().expect("body");
        assert!(status == 200 || status == 201, "PUT {url}: {status} {text}");
        self.wait(&operation.expect("Azure-AsyncOperation"))
    }
}

/// A stand-in with the workspace, its artifact storage (kept alive by the returned peer) and
/// the trained diabetes model (its directory returned too) registered as the `mlflow_model` asset `diabetes:1`; deployments
/// serve with this build's `mlops`.
pub fn standin_with_model() -> (StandIn, String, Peer, Workspace, PathBuf) {
    let standin = StandIn::start();
    standin.create_aml_workspace(RG, WS, "cpu-cluster");
    let blobs = azurite();
    standin.serve_artifacts(&blobs.base);
    standin.serve_deployments_with(std::path::Path::new(env!("CARGO_BIN_EXE_mlops")));
    let ws = Workspace::new();
    let dir = trained_model(&ws);
    let model = standin.upload_model((RG, WS), "diabetes", "1", &dir);
    (standin, model, blobs, ws, dir)
}

/// A model `mlops train` made in `ws`'s local store.
pub fn trained_model(ws: &Workspace) -> PathBuf {
    let trained = ws.json(&["train", "--data", &diabetes().display().to_string()]);
    let run_id = trained["run_id"].as_str().expect("run id");
    mlops::tracking::LocalStore::open(&ws.path().join("mlruns"))
        .expect("store")
        .artifact_dir(run_id)
        .expect("artifacts")
        .join("model")
}

/// Twenty diabetes rows as Azure ML's split DataFrame request, and `mlops predict`'s answers.
pub fn request_and_expected(ws: &Workspace, model_dir: &std::path::Path) -> (Value, Vec<f64>) {
    let mut reader = csv::Reader::from_path(diabetes()).expect("csv");
    let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_string).collect();
    let features: Vec<usize> = (0..header.len()).filter(|i| header[*i] != "Y").collect();
    let rows: Vec<Vec<f64>> = reader
        .records()
        .take(20)
        .map(|r| {
            let r = r.expect("row");
            features.iter().map(|i| r[*i].parse().expect("number")).collect()
        })
        .collect();
    let columns: Vec<&String> = features.iter().map(|i| &header[*i]).collect();
    let csv_path = ws.path().join("rows.csv");
    let mut writer = csv::Writer::from_path(&csv_path).expect("csv");
    writer.write_record(&columns).expect("header");
    for row in &rows {
        writer.write_record(row.iter().map(f64::to_string)).expect("row");
    }
    writer.flush().expect("flush");
    let predicted =
        ws.json(&["predict", "--model", &model_dir.display().to_string(), "--data", &csv_path.display().to_string()]);
    let index: Vec<usize> = (0..rows.len()).collect();
    (json!({"input_data": {"columns": columns, "index": index, "data": rows}}), crate::support::predicted(&predicted))
}

pub fn endpoint_body(auth: &str, traffic: Value) -> Value {
    json!({"location": "westeurope", "identity": {"type": "SystemAssigned"}, "tags": {"team": "ml"},
        "properties": {"authMode": auth, "description": "diabetes", "traffic": traffic}})
}

pub fn deployment_body(model: &str) -> Value {
    json!({"location": "westeurope", "sku": {"name": "Default", "capacity": 1},
        "properties": {"endpointComputeType": "Managed", "model": model, "instanceType": "Standard_DS3_v2",
            "readinessProbe": {"initialDelay": "PT0S", "period": "PT0.2S", "timeout": "PT2S", "failureThreshold": 100}}})
}

fn error_code(body: &Value) -> String {
    format!(
        "{}/{}",
        body["error"]["code"].as_str().unwrap_or(""),
        body["error"]["details"][0]["code"].as_str().unwrap_or("")
    )
}

#[test]
fn an_endpoint_is_created_listed_keyed_patched_and_deleted() {
    let (standin, _, _blobs, _ws, _) = standin_with_model();
    let arm = Arm::new(&standin);
    let url = arm.endpoint("ep-one");
    let response = arm.send("PUT", &url, EP_API, Some(endpoint_body("Key", json!({}))));
    assert_eq!(response.status().as_u16(), 201);
    let headers = response.headers().clone();
    assert_eq!(headers["x-ms-async-operation-timeout"], "PT1H");
    let created: Value = response.json().expect("json");
    assert_eq!(created["properties"]["provisioningState"], "Creating");
    let operation = headers["azure-asyncoperation"].to_str().expect("url").to_string();
    assert!(operation.contains("/mfeOperationsStatus/"), "{operation}");
    assert_eq!(arm.wait(&operation)["status"], "Succeeded");

    let (status, got) = arm.json("GET", &url, MLOPS_API, None);
    assert_eq!(status, 200);
    assert_eq!(got["name"], "ep-one");
    assert_eq!(got["type"], "Microsoft.MachineLearningServices/workspaces/onlineEndpoints");
    assert_eq!(got["location"], "westeurope");
    assert_eq!(got["tags"]["team"], "ml");
    assert_eq!(got["identity"]["type"], "SystemAssigned");
    let props = &got["properties"];
    assert_eq!(props["authMode"], "Key");
    assert_eq!(props["provisioningState"], "Succeeded");
    assert_eq!(props["keys"], Value::Null);
    assert_eq!(props["traffic"], json!({}));
    assert_eq!(props["mirrorTraffic"], json!({}));
    assert_eq!(props["scoringUri"], format!("{}/inference/ep-one/score", standin.url()));
    assert_eq!(props["swaggerUri"], format!("{}/inference/ep-one/swagger.json", standin.url()));

    // A second endpoint; the list pages through both with nextLink.
    arm.put_and_wait(&arm.endpoint("ep-two"), MLOPS_API, endpoint_body("AMLToken", json!({})));
    let mut names = Vec::new();
    let mut next = Some(format!("{}/onlineEndpoints?api-version={EP_API}", arm.workspace()));
    while let Some(link) = next {
        let (status, page) = arm.json("GET", &link, EP_API, None);
        assert_eq!(status, 200, "{page}");
        names.extend(
            page["value"].as_array().expect("value").iter().map(|e| e["name"].as_str().unwrap_or("").to_string()),
        );
        next = page["nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(names, ["ep-one", "ep-two"]);

    // Keys: listKeys, a regenerate that sends the current value (as azure-ai-ml does) changes it.
    let (status, keys) = arm.json("POST", &format!("{url}/listKeys"), EP_API, None);
    assert_eq!(status, 200);
    let primary = keys["primaryKey"].as_str().expect("primary").to_string();
    assert_ne!(primary, keys["secondaryKey"].as_str().expect("secondary"));
    let (status, _) = arm.json(
        "POST",
        &format!("{url}/regenerateKeys"),
        EP_API,
        Some(json!({"keyType": "Primary", "keyValue": primary})),
    );
    assert_eq!(status, 200);
    let (_, after) = arm.json("POST", &format!("{url}/listKeys"), EP_API, None);
    assert_ne!(after["primaryKey"], primary.as_str());
    assert_eq!(after["secondaryKey"], keys["secondaryKey"]);
    let (status, body) =
        arm.json("POST", &format!("{url}/regenerateKeys"), EP_API, Some(json!({"keyType": "Tertiary"})));
    assert_eq!(status, 400, "{body}");

    // Tokens are for AMLToken endpoints.
    let (status, _) = arm.json("POST", &format!("{url}/token"), EP_API, None);
    assert_eq!(status, 400);
    let (status, token) = arm.json("POST", &format!("{}/token", arm.endpoint("ep-two")), EP_API, None);
    assert_eq!(status, 200);
    assert_eq!(token["tokenType"], "Bearer");
    let expiry = token["expiryTimeUtc"].as_i64().expect("expiry");
    assert!(expiry > token["refreshAfterTimeUtc"].as_i64().expect("refresh"));
    assert!(expiry > chrono::Utc::now().timestamp());

    // PATCH: tags through the Location LRO; properties are refused.
    let response = arm.send("PATCH", &url, MLOPS_API, Some(json!({"tags": {"stage": "prod"}})));
    assert_eq!(response.status().as_u16(), 202);
    let location = response.headers()["location"].to_str().expect("location").to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let patched = loop {
        let (status, body) = arm.json("GET", &location, MLOPS_API, None);
        if status == 200 || Instant::now() > deadline {
            break body;
        }
        assert_eq!(status, 202);
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(patched["tags"], json!({"stage": "prod"}));
    let (status, body) = arm.json("PATCH", &url, MLOPS_API, Some(json!({"properties": {"traffic": {"blue": 100}}})));
    assert_eq!(status, 400, "{body}");

    // Delete: 202 with Location, then gone; a second delete is 204.
    let response = arm.send("DELETE", &url, EP_API, None);
    assert_eq!(response.status().as_u16(), 202);
    assert!(response.headers().contains_key("location"));
    let (status, body) = arm.json("GET", &url, EP_API, None);
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "UserError");
    assert_eq!(arm.send("DELETE", &url, EP_API, None).status().as_u16(), 204);
    assert_eq!(arm.json("POST", &format!("{url}/listKeys"), EP_API, None).0, 404);
}

#[test]
fn bad_endpoint_and_deployment_bodies_get_the_service_errors() {
    let (standin, model, _blobs, _ws, _) = standin_with_model();
    let arm = Arm::new(&standin);
    let url = arm.endpoint("ep-bad");
    let mut no_location = endpoint_body("Key", json!({}));
    no_location.as_object_mut().expect("object").remove("location");
    let (status, body) = arm.json("PUT", &url, EP_API, Some(no_location));
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("LocationRequired")), "{body}");
    let (status, body) = arm.json("PUT", &url, EP_API, Some(endpoint_body("Password", json!({}))));
    assert_eq!(status, 400);
    assert_eq!(body["error"]["details"][0]["target"], "properties.authMode");
    let (status, body) = arm.json("PUT", &arm.endpoint("1-bad"), EP_API, Some(endpoint_body("Key", json!({}))));
    assert_eq!(status, 400, "{body}");
    // A deployment under a missing endpoint.
    let (status, body) = arm.json("PUT", &format!("{url}/deployments/blue"), DEP_API, Some(deployment_body(&model)));
    assert_eq!(status, 404, "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("ep-bad"), "{body}");

    arm.put_and_wait(&url, EP_API, endpoint_body("Key", json!({})));
    let deployment =
        |name: &str, body: Value| arm.json("PUT", &format!("{url}/deployments/{name}"), DEP_API, Some(body));
    let (status, body) = deployment("blue", deployment_body(&model.replace("diabetes", "nothing")));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"][0]["target"], "properties.model");
    let (status, body) = deployment("blue", deployment_body("azureml:diabetes:1"));
    assert_eq!((status, error_code(&body)), (400, "UserError/BadArgument".to_string()), "{body}");
    let mut bad_probe = deployment_body(&model);
    bad_probe["properties"]["readinessProbe"]["period"] = json!("10 seconds");
    let (status, body) = deployment("blue", bad_probe);
    assert_eq!(status, 400);
    assert_eq!(body["error"]["details"][0]["target"], "properties.readinessProbe.period");
    let mut kubernetes = deployment_body(&model);
    kubernetes["properties"]["endpointComputeType"] = json!("Kubernetes");
    assert_eq!(deployment("blue", kubernetes).0, 400);
    let mut zero = deployment_body(&model);
    zero["sku"]["capacity"] = json!(0);
    assert_eq!(deployment("blue", zero).0, 400);

    // Traffic naming a deployment that does not exist yet.
    let (status, body) = arm.json("PUT", &url, EP_API, Some(endpoint_body("Key", json!({"blue": 100}))));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"][0]["target"], "properties.traffic.blue");
}

#[test]
fn traffic_rules_hold_and_a_deployment_with_traffic_cannot_be_deleted() {
    let (standin, model, _blobs, _ws, _) = standin_with_model();
    let arm = Arm::new(&standin);
    let url = arm.endpoint("ep-traffic");
    arm.put_and_wait(&url, MLOPS_API, endpoint_body("Key", json!({})));
    for name in ["blue", "green"] {
        let done = arm.put_and_wait(&format!("{url}/deployments/{name}"), DEP_API, deployment_body(&model));
        assert_eq!(done["status"], "Succeeded", "{done}");
    }
    let (status, got) = arm.json("GET", &format!("{url}/deployments/blue"), DEP_API, None);
    assert_eq!(status, 200);
    assert_eq!(got["properties"]["provisioningState"], "Succeeded");
    assert_eq!(got["properties"]["model"], model.as_str());
    assert_eq!(got["sku"]["capacity"], 1);
    // Azure's defaults are filled in.
    assert_eq!(got["properties"]["requestSettings"]["requestTimeout"], "PT5S");
    assert_eq!(got["properties"]["livenessProbe"]["period"], "PT10S");
    assert_eq!(got["properties"]["readinessProbe"]["period"], "PT0.2S");
    let (status, missing) = arm.json("GET", &format!("{url}/deployments/red"), DEP_API, None);
    assert_eq!(status, 404);
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("Deployment red not found in endpoint ep-traffic")
    );

    let put = |traffic: Value, mirror: Value| {
        let mut body = endpoint_body("Key", traffic);
        body["properties"]["mirrorTraffic"] = mirror;
        arm.json("PUT", &url, EP_API, Some(body))
    };
    for (traffic, mirror, target) in [
        (json!({"blue": 60, "green": 30}), json!({}), "properties.traffic"),
        (json!({"blue": 101}), json!({}), "properties.traffic.blue"),
        (json!({"blue": 100}), json!({"green": 60}), "properties.mirrorTraffic"),
        (json!({"blue": 100}), json!({"blue": 10}), "properties.mirrorTraffic"),
        (json!({"blue": 100}), json!({"red": 10}), "properties.mirrorTraffic.red"),
    ] {
        let (status, body) = put(traffic.clone(), mirror.clone());
        assert_eq!(status, 400, "{traffic} {mirror}: {body}");
        assert_eq!(body["error"]["details"][0]["target"], target, "{body}");
    }
    let (status, body) = put(json!({"blue": 90, "green": 10}), json!({}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = put(json!({"blue": 100, "green": 0}), json!({"green": 20}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["properties"]["mirrorTraffic"], json!({"green": 20}));

    // Neither the live nor the mirrored deployment can be deleted while it takes traffic.
    for name in ["blue", "green"] {
        let (status, body) = arm.json("DELETE", &format!("{url}/deployments/{name}"), DEP_API, None);
        assert_eq!(status, 400, "{name}: {body}");
    }
    put(json!({"blue": 100, "green": 0}), json!({}));
    let response = arm.send("DELETE", &format!("{url}/deployments/green"), DEP_API, None);
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(arm.send("DELETE", &format!("{url}/deployments/green"), DEP_API, None).status().as_u16(), 204);
    let (_, endpoint) = arm.json("GET", &url, EP_API, None);
    assert_eq!(endpoint["properties"]["traffic"], json!({"blue": 100}), "the deleted deployment left the map");

    // Logs of both containers, `tail` lines of them.
    let logs = format!("{url}/deployments/blue/getLogs");
    let (status, body) =
        arm.json("POST", &logs, DEP_API, Some(json!({"containerType": "StorageInitializer", "tail": 100})));
    assert_eq!(status, 200, "{body}");
    assert!(body["content"].is_string());
    let (status, _) = arm.json("POST", &logs, DEP_API, Some(json!({"containerType": "Sidecar"})));
    assert_eq!(status, 400);

    // The list, then deleting the endpoint takes its deployments.
    let (status, page) = arm.json("GET", &format!("{url}/deployments"), DEP_API, None);
    assert_eq!(status, 200);
    assert_eq!(page["value"][0]["name"], "blue");
    assert_eq!(arm.send("DELETE", &url, MLOPS_API, None).status().as_u16(), 202);
    assert_eq!(arm.json("GET", &format!("{url}/deployments/blue"), DEP_API, None).0, 404);
}

#[test]
fn other_machine_learning_routes_still_check_the_api_version() {
    let (standin, _, _blobs, _ws, _) = standin_with_model();
    let arm = Arm::new(&standin);
    let (status, body) = arm.json("GET", &format!("{}/jobs", arm.workspace()), EP_API, None);
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "InvalidApiVersionParameter");
}

/// Kubernetes endpoints: `properties.compute` must be the ARM id of a Kubernetes compute of the
/// workspace; their deployments are `Kubernetes` ones whose instance type the cluster defines
/// (its default when none is sent); mirrored traffic is refused there. A custom container
/// without a scoring script needs its environment's three routes.
#[test]
fn kubernetes_endpoints_and_custom_containers_get_the_service_rules() {
    let (standin, model, _blobs, _ws, _) = standin_with_model();
    standin.attach_kubernetes_compute(RG, WS, "aks-ml");
    let arm = Arm::new(&standin);
    let workspace_id = arm.workspace().trim_start_matches(&standin.url()).to_string();
    let url = arm.endpoint("ep-k8s");
    let on = |compute: &str| {
        let mut body = endpoint_body("Key", json!({}));
        body["properties"]["compute"] = json!(format!("{workspace_id}/computes/{compute}"));
        body
    };
    for compute in ["nothing", "cpu-cluster"] {
        let (status, body) = arm.json("PUT", &url, MLOPS_API, Some(on(compute)));
        assert_eq!(status, 400, "{compute}: {body}");
        assert_eq!(body["error"]["details"][0]["target"], "properties.compute", "{body}");
    }
    assert_eq!(arm.put_and_wait(&url, MLOPS_API, on("aks-ml"))["status"], "Succeeded");
    let (_, got) = arm.json("GET", &url, MLOPS_API, None);
    assert_eq!(got["properties"]["compute"], format!("{workspace_id}/computes/aks-ml"));

    let deployment =
        |name: &str, body: Value| arm.json("PUT", &format!("{url}/deployments/{name}"), DEP_API, Some(body));
    let (status, body) = deployment("blue", deployment_body(&model));
    assert_eq!(status, 400, "a Managed deployment on a Kubernetes endpoint: {body}");
    assert_eq!(body["error"]["details"][0]["target"], "properties.endpointComputeType");
    let mut kubernetes = deployment_body(&model);
    kubernetes["properties"]["endpointComputeType"] = json!("Kubernetes");
    let (status, body) = deployment("blue", kubernetes.clone());
    assert_eq!(status, 400, "a VM size is no instance type of the cluster: {body}");
    assert_eq!(body["error"]["details"][0]["target"], "properties.instanceType");
    kubernetes["properties"].as_object_mut().expect("properties").remove("instanceType");
    for name in ["blue", "green"] {
        let done = arm.put_and_wait(&format!("{url}/deployments/{name}"), DEP_API, kubernetes.clone());
        assert_eq!(done["status"], "Succeeded", "{done}");
    }
    let (_, blue) = arm.json("GET", &format!("{url}/deployments/blue"), DEP_API, None);
    assert_eq!(blue["properties"]["instanceType"], "defaultinstancetype");
    assert_eq!(blue["properties"]["endpointComputeType"], "Kubernetes");
    assert_eq!(blue["properties"]["containerResourceRequirements"]["containerResourceLimits"]["memory"], "2Gi");
    let mut mirrored = on("aks-ml");
    mirrored["properties"]["traffic"] = json!({"blue": 100});
    mirrored["properties"]["mirrorTraffic"] = json!({"green": 10});
    let (status, body) = arm.json("PUT", &url, MLOPS_API, Some(mirrored));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"][0]["target"], "properties.mirrorTraffic");

    // An image-only environment without inferenceConfig cannot be deployed without code.
    let environment = format!("{}/environments/bare/versions/1", arm.workspace());
    let (status, answer) = arm.json(
        "PUT",
        &environment,
        MLOPS_API,
        Some(json!({"properties": {"image": "acr.io/x:1", "osType": "Linux"}})),
    );
    assert!(status == 200 || status == 201, "{answer}");
    let managed = arm.endpoint("ep-bare");
    arm.put_and_wait(&managed, MLOPS_API, endpoint_body("Key", json!({})));
    let mut bare = deployment_body(&model);
    bare["properties"]["environmentId"] = json!(format!("{workspace_id}/environments/bare/versions/1"));
    let (status, body) = arm.json("PUT", &format!("{managed}/deployments/blue"), DEP_API, Some(bare));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"][0]["target"], "properties.environmentId");
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("inferenceConfig.livenessRoute"), "{body}");
}
