//! Deployments that really run (`mlops serve` on the model's downloaded files) behind the
//! stand-in's scoring URI: Azure's auth, routing by header and by traffic weight, mirroring,
//! a broken model that ends Failed with its log, and no server left after a delete.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::online_endpoints::{
    Arm, RG, WS, deployment_body, endpoint_body, request_and_expected, standin_with_model, trained_model,
};
use crate::support::{assert_close, floats};

const API: &str = "2024-10-01";

/// `/score` requests the deployment's server answered 200, from its metrics.
pub fn scored(port: u16) -> u64 {
    let text =
        reqwest::blocking::get(format!("http://127.0.0.1:{port}/metrics")).expect("metrics").text().expect("text");
    text.lines()
        .filter(|l| {
            l.starts_with("mlops_http_requests_total{")
                && l.contains("route=\"/score\"")
                && l.contains("status=\"200\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Waits (generous deadline) until `f` holds.
pub fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_endpoint_scores_with_azure_auth_routing_and_mirroring() {
    let (standin, model, _blobs, ws, dir) = standin_with_model();
    let arm = Arm::new(&standin);
    let url = arm.endpoint("ep-score");
    arm.put_and_wait(&url, API, endpoint_body("Key", json!({})));
    for name in ["blue", "green"] {
        let done = arm.put_and_wait(&format!("{url}/deployments/{name}"), API, deployment_body(&model));
        assert_eq!(done["status"], "Succeeded", "{done}");
    }
    let (_, endpoint) = arm.json("GET", &url, API, None);
    let scoring_uri = endpoint["properties"]["scoringUri"].as_str().expect("scoringUri").to_string();
    // No deployment takes traffic yet: the service's 404.
    let (_, keys) = arm.json("POST", &format!("{url}/listKeys"), API, None);
    let key = keys["primaryKey"].as_str().expect("key").to_string();
    let (request, expected) = request_and_expected(&ws, &dir);
    let score = |secret: Option<&str>, pin: Option<&str>| {
        let mut r = arm.http.post(&scoring_uri).json(&request);
        if let Some(secret) = secret {
            r = r.bearer_auth(secret);
        }
        if let Some(pin) = pin {
            r = r.header("azureml-model-deployment", pin);
        }
        let response = r.send().expect("score");
        (response.status().as_u16(), response.text().expect("text"))
    };
    let (status, body) = score(Some(&key), None);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("positive weight"), "{body}");

    let put_traffic = |traffic: Value, mirror: Value| {
        let mut body = endpoint_body("Key", traffic);
        body["properties"]["mirrorTraffic"] = mirror;
        assert_eq!(arm.put_and_wait(&url, API, body)["status"], "Succeeded");
    };
    put_traffic(json!({"blue": 75, "green": 25}), json!({}));

    // Auth as Azure: a missing or wrong key is 401, and the wrong key is not echoed.
    assert_eq!(score(None, None).0, 401);
    let (status, body) = score(Some("not-the-key-0123456789"), None);
    assert_eq!(status, 401);
    assert!(!body.contains("not-the-key"), "{body}");

    let (blue, green) = (
        standin.deployment_port("ep-score", "blue").expect("blue runs"),
        standin.deployment_port("ep-score", "green").expect("green runs"),
    );
    for _ in 0..8 {
        let (status, body) = score(Some(&key), None);
        assert_eq!(status, 200, "{body}");
        let got = floats(&serde_json::from_str(&body).expect("a JSON list"));
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            assert_close(*g, *e, 1e-9, "prediction through the endpoint");
        }
    }
    // Smooth weighted round-robin: exactly 6 and 2 of 8.
    assert_eq!((scored(blue), scored(green)), (6, 2));
    // The header pins a deployment whatever the weights; the secondary key works too.
    assert_eq!(score(Some(keys["secondaryKey"].as_str().expect("secondary")), Some("green")).0, 200);
    assert_eq!(scored(green), 3);
    let (status, body) = score(Some(&key), Some("red"));
    assert_eq!(status, 404, "{body}");

    // Mirror 50% to green: of 4 requests without the header, 2 copies reach it; answers come
    // from blue. A pinned request is not mirrored.
    put_traffic(json!({"blue": 100, "green": 0}), json!({"green": 50}));
    for _ in 0..4 {
        assert_eq!(score(Some(&key), None).0, 200);
    }
    assert_eq!(score(Some(&key), Some("blue")).0, 200);
    eventually("the mirrored copies", || scored(green) == 5);
    assert_eq!(scored(blue), 6 + 5);

    // A bad body reaches the model, whose 400 Azure turns into 424 naming it.
    let response =
        arm.http.post(&scoring_uri).bearer_auth(&key).json(&json!({"input_data": "x"})).send().expect("score");
    assert_eq!(response.status().as_u16(), 424);
    assert_eq!(response.headers()["ms-azureml-model-error-statuscode"], "400");

    // Deleting the endpoint stops both servers.
    assert_eq!(arm.send("DELETE", &url, API, None).status().as_u16(), 202);
    for port in [blue, green] {
        eventually("the server to stop", || std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}

#[test]
fn a_broken_model_ends_failed_with_its_logs() {
    let (standin, _, _blobs, ws, _) = standin_with_model();
    let dir = trained_model(&ws);
    for entry in std::fs::read_dir(&dir).expect("model dir") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|n| n != "MLmodel") && path.is_file() {
            std::fs::write(&path, b"{ not a model").expect("break");
        }
    }
    let broken = standin.upload_model((RG, WS), "broken", "1", &dir);
    let arm = Arm::new(&standin);
    let url = arm.endpoint("ep-broken");
    arm.put_and_wait(&url, API, endpoint_body("Key", json!({})));
    let done = arm.put_and_wait(&format!("{url}/deployments/blue"), API, deployment_body(&broken));
    assert_eq!(done["status"], "Failed", "{done}");
    assert!(done["error"]["message"].as_str().unwrap_or("").contains("exited"), "{done}");
    let (_, got) = arm.json("GET", &format!("{url}/deployments/blue"), API, None);
    assert_eq!(got["properties"]["provisioningState"], "Failed");
    let logs = |container: &str| {
        let (status, body) = arm.json(
            "POST",
            &format!("{url}/deployments/blue/getLogs"),
            API,
            Some(json!({"containerType": container, "tail": 50})),
        );
        assert_eq!(status, 200, "{body}");
        body["content"].as_str().expect("content").to_string()
    };
    assert!(logs("StorageInitializer").contains("Downloaded MLmodel"), "{}", logs("StorageInitializer"));
    let server = logs("InferenceServer");
    assert!(server.to_lowercase().contains("error"), "{server}");
}

/// The official azure-ai-ml (MLClient, unchanged) deploys the registered model, sets traffic,
/// invokes the endpoint with a split-DataFrame request file, reads logs and keys, sees a broken
/// model fail, and deletes the endpoint; no server is left behind.
#[test]
fn azure_ai_ml_deploys_scores_and_deletes_an_endpoint() {
    let (standin, model, _blobs, ws, dir) = standin_with_model();
    let broken_dir = ws.path().join("broken-model");
    std::fs::create_dir_all(&broken_dir).expect("mkdir");
    for entry in std::fs::read_dir(&dir).expect("model dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_owned();
        if path.is_file() {
            let bytes = if name == "MLmodel" { std::fs::read(&path).expect("read") } else { b"{ broken".to_vec() };
            std::fs::write(broken_dir.join(name), bytes).expect("write");
        }
    }
    let broken = standin.upload_model((RG, WS), "broken", "1", &broken_dir);
    let (request, expected) = request_and_expected(&ws, &dir);
    let request_file = ws.write("request.json", &request.to_string());
    let out = std::process::Command::new(crate::support::python())
        .arg(crate::support::repo().join("tests/python/azureml_endpoint_conformance.py"))
        .args([
            &standin.url(),
            crate::standin::TENANT,
            crate::standin::CLIENT_ID,
            crate::standin::CLIENT_SECRET,
            crate::standin::SUBSCRIPTION,
            RG,
            WS,
            &model,
            &broken,
            &request_file.display().to_string(),
        ])
        .env("AZUREML_DEV_URL_MFE", standin.url())
        .env("REQUESTS_CA_BUNDLE", &standin.ca_pem)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("AZURE_AUTHORITY_HOST")
        .output()
        .expect("python");
    assert!(out.status.success(), "azureml_endpoint_conformance.py failed:\n{}", crate::support::stderr(&out));
    // azure-ai-ml prints progress dots (no newline) on stdout while it waits; the answer is the
    // JSON object after them.
    let text = String::from_utf8_lossy(&out.stdout);
    let answer = text.find('{').map_or("", |at| &text[at..]);
    let seen: Value = serde_json::from_str(answer).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(seen["endpoint_state"], "Succeeded", "{seen}");
    assert_eq!(seen["deployment_state"], "Succeeded");
    assert_eq!(seen["traffic"], json!({"blue": 100}));
    assert_eq!(seen["auth_mode"], "key");
    assert_eq!(seen["deployment_model"], model.as_str());
    assert_eq!(seen["request_timeout_ms"], 5000);
    for field in ["predictions", "pinned_predictions"] {
        let got = floats(&seen[field]);
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            assert_close(*g, *e, 1e-9, field);
        }
    }
    assert!(seen["storage_log"].as_str().unwrap_or("").contains("Downloaded MLmodel"), "{seen}");
    assert!(seen["server_log"].is_string());
    assert_eq!(seen["primary_changed"], true);
    assert_eq!(seen["secondary_kept"], true);
    assert_eq!((seen["old_key_status"].as_u64(), seen["new_key_status"].as_u64()), (Some(401), Some(200)));
    assert!(seen["broken"].as_str().unwrap_or("").contains("exited"), "{seen}");
    assert_eq!(seen["broken_state"], "Failed");
    assert!(seen["broken_log"].as_str().unwrap_or("").to_lowercase().contains("error"), "{seen}");
    assert_eq!(seen["endpoints_after_delete"], json!([]));
    let ports = standin.deployment_ports();
    assert_eq!(ports.len(), 2, "{ports:?}");
    for port in ports {
        eventually("the servers to stop", || std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}

/// AMLToken endpoints take the tokens `token` issues and not the keys; dropping the stand-in
/// stops the servers its deployments run.
#[test]
fn aml_token_auth_and_no_server_outlives_the_standin() {
    let (standin, model, _blobs, ws, dir) = standin_with_model();
    let arm = Arm::new(&standin);
    let url = arm.endpoint("ep-token");
    arm.put_and_wait(&url, API, endpoint_body("AMLToken", json!({})));
    let done = arm.put_and_wait(&format!("{url}/deployments/blue"), API, deployment_body(&model));
    assert_eq!(done["status"], "Succeeded", "{done}");
    let mut body = endpoint_body("AMLToken", json!({"blue": 100}));
    body["properties"]["mirrorTraffic"] = json!({});
    arm.put_and_wait(&url, API, body);
    let (_, endpoint) = arm.json("GET", &url, API, None);
    let scoring_uri = endpoint["properties"]["scoringUri"].as_str().expect("scoringUri").to_string();
    let (request, expected) = request_and_expected(&ws, &dir);
    let score = |secret: &str| {
        let response = arm.http.post(&scoring_uri).bearer_auth(secret).json(&request).send().expect("score");
        (response.status().as_u16(), response.text().expect("text"))
    };
    let (_, keys) = arm.json("POST", &format!("{url}/listKeys"), API, None);
    assert_eq!(score(keys["primaryKey"].as_str().expect("key")).0, 401, "keys do not score on an AMLToken endpoint");
    let (_, token) = arm.json("POST", &format!("{url}/token"), API, None);
    let (status, answer) = score(token["accessToken"].as_str().expect("token"));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(floats(&serde_json::from_str(&answer).expect("list")).len(), expected.len());

    let ports = standin.deployment_ports();
    assert_eq!(ports.len(), 1);
    assert!(std::net::TcpStream::connect(("127.0.0.1", ports[0])).is_ok(), "the server runs");
    drop(standin);
    eventually("the server to stop", || std::net::TcpStream::connect(("127.0.0.1", ports[0])).is_err());
}

/// A custom-container deployment: the environment's image, pushed by `mlops image push` to the
/// stand-in's registry, is pulled and unpacked, and its own entrypoint serves the baked-in
/// model; an `inferenceConfig` port the image does not expose fails the deployment.
#[test]
fn a_custom_container_runs_the_image_entrypoint_from_the_registry() {
    let (standin, _, _blobs, ws, dir) = standin_with_model();
    let tag = crate::endpoints_cli::pushed_image(&ws, &standin, &dir);

    let arm = Arm::new(&standin);
    let workspace_id = arm.workspace().trim_start_matches(&standin.url()).to_string();
    let environment = |name: &str, port: u16| {
        let body = json!({"properties": {"image": tag, "osType": "Linux", "inferenceConfig": {
            "livenessRoute": {"path": "/health", "port": port},
            "readinessRoute": {"path": "/ready", "port": port},
            "scoringRoute": {"path": "/score", "port": port}}}});
        let url = format!("{}/environments/{name}/versions/1", arm.workspace());
        let (status, answer) = arm.json("PUT", &url, API, Some(body));
        assert!(status == 200 || status == 201, "{answer}");
        format!("{workspace_id}/environments/{name}/versions/1")
    };
    let deployment = |environment_id: &str| {
        let mut body = deployment_body("");
        let properties = body["properties"].as_object_mut().expect("properties");
        properties.remove("model");
        properties.insert("environmentId".into(), json!(environment_id));
        body
    };
    let url = arm.endpoint("ep-image");
    arm.put_and_wait(&url, API, endpoint_body("Key", json!({})));
    let done = arm.put_and_wait(&format!("{url}/deployments/blue"), API, deployment(&environment("serve", 5001)));
    assert_eq!(done["status"], "Succeeded", "{done}");
    let wrong = arm.put_and_wait(&format!("{url}/deployments/red"), API, deployment(&environment("wrong-port", 8080)));
    assert_eq!(wrong["status"], "Failed", "{wrong}");
    assert!(wrong["error"]["message"].as_str().unwrap_or("").contains("8080"), "{wrong}");

    let mut body = endpoint_body("Key", json!({"blue": 100}));
    body["properties"]["mirrorTraffic"] = json!({});
    arm.put_and_wait(&url, API, body);
    let (_, endpoint) = arm.json("GET", &url, API, None);
    let (_, keys) = arm.json("POST", &format!("{url}/listKeys"), API, None);
    let (request, expected) = request_and_expected(&ws, &dir);
    let response = arm
        .http
        .post(endpoint["properties"]["scoringUri"].as_str().expect("uri"))
        .bearer_auth(keys["primaryKey"].as_str().expect("key"))
        .json(&request)
        .send()
        .expect("score");
    assert_eq!(response.status().as_u16(), 200);
    let got = floats(&response.json::<Value>().expect("list"));
    for (g, e) in got.iter().zip(&expected) {
        assert_close(*g, *e, 1e-9, "prediction from the image");
    }
    assert_eq!(got.len(), expected.len());
    let (_, logs) = arm.json(
        "POST",
        &format!("{url}/deployments/blue/getLogs"),
        API,
        Some(json!({"containerType": "StorageInitializer"})),
    );
    assert!(logs["content"].as_str().unwrap_or("").contains(&format!("Pulled image {tag}")), "{logs}");
    // The image's own binary serves the model baked into the image's root filesystem.
    let (_, server) = arm.json("POST", &format!("{url}/deployments/blue/getLogs"), API, Some(json!({"tail": 20})));
    assert!(server["content"].as_str().unwrap_or("").contains("rootfs/model"), "{server}");
}
