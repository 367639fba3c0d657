//! `mlops endpoint` beyond create-deploy-invoke: what `deploy --image` sends and that the pushed
//! container serves, `aml_token` endpoints (invoke, `keys` giving a token, rollouts), mirrored
//! traffic set through the CLI, Kubernetes endpoints, log tails, pinned invokes, `create` run
//! again, Ctrl-C while waiting, and the errors of bad flags, each with its documented exit code
//! and the field it names. azure-ai-ml reads back what mlops made.

use serde_json::{Value, json};

use crate::endpoints::{azure_ai_ml, deploy, json_ok, request_file, run};
use crate::online_endpoints::{Arm, RG, WS, standin_with_model};
use crate::standin::{Logged, StandIn};
use crate::support::{Workspace, assert_close, floats, stderr};

/// The body of the last write (`method`) whose path ends with `suffix` (compared in lower case).
fn sent(standin: &StandIn, method: &str, suffix: &str) -> Value {
    let suffix = suffix.to_ascii_lowercase();
    standin
        .log()
        .into_iter()
        .rev()
        .find(|l| l.method == method && l.path.to_ascii_lowercase().ends_with(&suffix))
        .and_then(|l| l.body)
        .unwrap_or_else(|| panic!("no {method} …{suffix} with a JSON body was sent"))
}

fn writes_to(standin: &StandIn, path_contains: &str) -> Vec<Logged> {
    let needle = path_contains.to_ascii_lowercase();
    standin.log().into_iter().filter(|l| l.method != "GET" && l.path.to_ascii_lowercase().contains(&needle)).collect()
}

/// Asserts exit `code` and that stderr says every one of `says`.
fn fails(out: &std::process::Output, code: i32, says: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    for s in says {
        assert!(err.contains(s), "stderr lacks {s:?}: {err}");
    }
}

/// `mlops image build` of the model in `dir` (a run of `ws`'s local store), pushed to the
/// stand-in's registry; returns the image reference.
pub(crate) fn pushed_image(ws: &Workspace, standin: &StandIn, dir: &std::path::Path) -> String {
    let run_id = dir.parent().and_then(|p| p.parent()).and_then(|p| p.file_name()).expect("run dir");
    let run_id = run_id.to_string_lossy().to_string();
    ws.json(&["image", "build", "--model", &format!("runs:/{run_id}/model"), "--out", "img"]);
    let tag = format!("127.0.0.1:{}/mlops/diabetes:1", standin.port);
    let out = ws
        .mlops(&["image", "push", "img", "--tag", &tag, "--username", crate::standin::ACR_ADMIN_USER, "-o", "json"])
        .env("MLOPS_REGISTRY_PASSWORD", crate::standin::ACR_ADMIN_PASSWORD)
        .env("SSL_CERT_FILE", &standin.ca_pem)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .expect("push");
    assert!(out.status.success(), "{}", stderr(&out));
    tag
}

/// `deploy --image`: the `mlops-scoring` environment carries the image and its three routes on
/// `--port`, the deployment PUT has what the service requires (compute type, model and
/// environment ids, instance type and count, the probes and variables of `--settings`), and the
/// container pulled from the registry answers what `mlops predict` answers. A port the image
/// does not expose fails the deployment (15); logs tail; bad sizes are refused before sending.
#[test]
fn deploy_with_image_sends_the_container_and_it_serves_predictions() {
    let (standin, model, _blobs, ws, dir) = standin_with_model();
    // The image carries another model than the asset deployed: Azure ML mounts the asset at
    // AZUREML_MODEL_DIR, and that is what the deployment must serve.
    let trained = ws.json(&["train", "--data", &crate::support::diabetes().display().to_string(), "--alpha", "5"]);
    let other = mlops::tracking::LocalStore::open(&ws.path().join("mlruns"))
        .and_then(|store| store.artifact_dir(trained["run_id"].as_str().expect("run id")))
        .expect("the second run's artifacts")
        .join("model");
    let tag = pushed_image(&ws, &standin, &other);
    json_ok(&ws, &standin, &["endpoint", "create", "ep-image"]);
    let out = deploy(&ws, &standin, "ep-image", "blue", "models:/diabetes/1", &["--image", &tag]);
    assert!(out.status.success(), "{}", stderr(&out));
    let deployed: Value = serde_json::from_slice(&out.stdout).expect("deployment JSON");
    assert_eq!(deployed["provisioning_state"], "Succeeded");

    let environment = sent(&standin, "PUT", "/environments/mlops-scoring/versions/1");
    let props = &environment["properties"];
    assert_eq!(props["image"], tag.as_str());
    assert_eq!(props["osType"], "Linux");
    assert_eq!(
        props["inferenceConfig"],
        json!({"livenessRoute": {"path": "/health", "port": 5001},
               "readinessRoute": {"path": "/ready", "port": 5001},
               "scoringRoute": {"path": "/score", "port": 5001}})
    );
    let body = sent(&standin, "PUT", "/onlineEndpoints/ep-image/deployments/blue");
    assert_eq!(body["location"], "westeurope");
    assert_eq!(body["sku"], json!({"name": "Default", "capacity": 1}));
    let props = &body["properties"];
    assert_eq!(props["endpointComputeType"], "Managed");
    assert!(props["model"].as_str().is_some_and(|m| m.eq_ignore_ascii_case(&model)), "{body}");
    let environment_id = props["environmentId"].as_str().expect("environmentId");
    assert!(environment_id.ends_with("/workspaces/ws-ml/environments/mlops-scoring/versions/1"), "{body}");
    assert_eq!(deployed["environment"], environment_id);
    assert_eq!(props["instanceType"], "Standard_DS3_v2");
    assert_eq!(props["scaleSettings"], json!({"scaleType": "Default"}));
    assert_eq!(
        props["readinessProbe"],
        json!({"initialDelay": "PT0S", "period": "PT1S", "timeout": "PT2S", "failureThreshold": 100})
    );
    assert_eq!(props["environmentVariables"], json!({"MLOPS_LOG": "info"}));
    assert!(props.get("codeConfiguration").is_none(), "a custom container has no scoring script: {body}");
    let seen = azure_ai_ml(&standin, &["read", "ep-image", "blue"]);
    assert_eq!(seen["deployment_type"], "ManagedOnlineDeployment");
    assert!(seen["environment"].as_str().is_some_and(|e| e.contains("mlops-scoring")), "{seen}");

    let (request, expected) = request_file(&ws, &dir);
    let (_, baked) = request_file(&ws, &other);
    assert!(baked.iter().zip(&expected).any(|(b, e)| (b - e).abs() > 1e-6), "the two models must differ");
    let answer = json_ok(&ws, &standin, &["endpoint", "invoke", "ep-image", "--data", &request.display().to_string()]);
    let got = floats(&answer);
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_close(*g, *e, 1e-9, "the container's predictions");
    }

    // The storage initializer fetched the model, then pulled the image; `--lines` tails a log
    // (both logs are complete once the deployment is ready).
    let logs = |extra: &[&str]| {
        let args = [&["endpoint", "logs", "ep-image", "--deployment", "blue"][..], extra].concat();
        json_ok(&ws, &standin, &args)["content"].as_str().expect("content").to_string()
    };
    let storage = logs(&["--container", "storage-initializer"]);
    let lines: Vec<&str> = storage.lines().collect();
    assert!(lines.len() > 3 && lines[0].starts_with("Downloading model files from azureml://"), "{storage}");
    assert_eq!(lines[lines.len() - 2..], ["Model files ready".to_string(), format!("Pulled image {tag}")]);
    let tail = logs(&["--container", "storage-initializer", "--lines", "2"]);
    assert_eq!(tail, format!("Model files ready\nPulled image {tag}\n"));
    let server = logs(&["--lines", "1"]);
    assert!(server.starts_with("mlops serve: listening on ") && server.lines().count() == 1, "{server:?}");
    let logged = writes_to(&standin, "/deployments/blue/getlogs");
    assert_eq!(
        logged.iter().map(|l| l.body.clone().unwrap_or_default()).collect::<Vec<_>>(),
        [
            json!({"containerType": "StorageInitializer"}),
            json!({"containerType": "StorageInitializer", "tail": 2}),
            json!({"containerType": "InferenceServer", "tail": 1})
        ]
    );
    let out = run(&ws, &standin, &["endpoint", "logs", "ep-image", "--deployment", "nope"]);
    fails(&out, 8, &["\"ep-image/nope\""]);

    // The image exposes 5001 only: a deployment declaring 8080 ends Failed, traffic untouched.
    let out = deploy(&ws, &standin, "ep-image", "red", "models:/diabetes/1", &["--image", &tag, "--port", "8080"]);
    fails(&out, 15, &["\"red\"", "8080", "traffic is unchanged"]);
    let environment = sent(&standin, "PUT", "/environments/mlops-scoring/versions/2");
    assert_eq!(environment["properties"]["inferenceConfig"]["scoringRoute"], json!({"path": "/score", "port": 8080}));
    assert_eq!(json_ok(&ws, &standin, &["endpoint", "show", "ep-image"])["traffic"], json!({"blue": 100}));

    // Sizes and ports the service would refuse are refused before anything is sent.
    let before = writes_to(&standin, "/deployments/").len();
    let base = ["endpoint", "deploy", "ep-image", "--deployment", "green", "--model", "models:/diabetes/1"];
    let out =
        run(&ws, &standin, &["endpoint", "deploy", "ep-image", "--deployment", "g_1", "--model", "models:/diabetes/1"]);
    fails(&out, 2, &["--deployment \"g_1\"", "3 to 32 characters"]);
    let out = run(&ws, &standin, &[&base[..], &["--instance-count", "0"]].concat());
    fails(&out, 2, &["--instance-count must be at least 1"]);
    let out = run(&ws, &standin, &[&base[..], &["--image", &tag, "--port", "0"]].concat());
    fails(&out, 2, &["--port"]);
    let out = run(&ws, &standin, &[&base[..], &["--port", "5002"]].concat());
    fails(&out, 2, &["--image"]);
    let out = run(&ws, &standin, &["endpoint", "logs", "ep-image", "--deployment", "blue", "--lines=-1"]);
    fails(&out, 2, &["--lines"]);
    assert_eq!(writes_to(&standin, "/deployments/").len(), before, "a refused flag sent a deployment write");
}

/// An `aml_token` endpoint: invoke signs with a token from `token` (never `listKeys`), the
/// scoring URI refuses no secret and a key, `keys` prints the token as azure-ai-ml's `get_keys`
/// gives it, and `--regenerate` is refused as azure-ai-ml refuses it. Then mirrored traffic set
/// through `traffic --mirror`, shown by `show`, cleared by a `traffic` without it, and every
/// invalid mirror refused with the flag it names.
#[test]
fn aml_token_endpoints_and_mirrored_traffic_through_the_cli() {
    let (standin, _, _blobs, ws, dir) = standin_with_model();
    let created = json_ok(&ws, &standin, &["endpoint", "create", "ep-tok", "--auth-mode", "aml_token"]);
    assert_eq!(created["auth_mode"], "AMLToken");
    assert_eq!(sent(&standin, "PUT", "/onlineEndpoints/ep-tok")["properties"]["authMode"], "AMLToken");
    for deployment in ["blue", "green"] {
        let out = deploy(&ws, &standin, "ep-tok", deployment, "models:/diabetes/1", &[]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let shown = json_ok(&ws, &standin, &["endpoint", "show", "ep-tok"]);
    assert_eq!(shown["traffic"], json!({"blue": 100}), "the first deployment took the traffic");

    let (request, expected) = request_file(&ws, &dir);
    let request = request.display().to_string();
    let answer = floats(&json_ok(&ws, &standin, &["endpoint", "invoke", "ep-tok", "--data", &request]));
    assert_eq!(answer.len(), expected.len());
    for (g, e) in answer.iter().zip(&expected) {
        assert_close(*g, *e, 1e-9, "invoke with a token");
    }
    assert!(writes_to(&standin, "/onlineEndpoints/ep-tok/token").iter().any(|l| l.status == 200));
    assert!(writes_to(&standin, "/onlineEndpoints/ep-tok/listKeys").is_empty(), "no keys for an AMLToken endpoint");

    let keys = json_ok(&ws, &standin, &["endpoint", "keys", "ep-tok"]);
    let token = keys["accessToken"].as_str().expect("accessToken").to_string();
    assert_eq!(keys["tokenType"], "Bearer");
    assert!(keys["expiryTimeUtc"].as_i64().is_some_and(|t| t > chrono::Utc::now().timestamp()), "{keys}");
    assert!(keys.get("primaryKey").is_none(), "{keys}");
    let text = run(&ws, &standin, &["endpoint", "keys", "ep-tok"]);
    assert!(String::from_utf8_lossy(&text.stdout).starts_with("token:   "), "{}", stderr(&text));
    assert!(writes_to(&standin, "/onlineEndpoints/ep-tok/listKeys").is_empty());

    let arm = Arm::new(&standin);
    let scoring_uri = shown["scoring_uri"].as_str().expect("scoring uri");
    let score = |secret: Option<&str>| {
        let mut call = arm.http.post(scoring_uri).header("content-type", "application/json");
        if let Some(secret) = secret {
            call = call.bearer_auth(secret);
        }
        call.body(std::fs::read(&request).expect("request")).send().expect("score").status().as_u16()
    };
    assert_eq!(score(None), 401, "no secret");
    let (_, keys_of) = arm.json("POST", &format!("{}/listKeys", arm.endpoint("ep-tok")), "2024-10-01", None);
    assert_eq!(score(keys_of["primaryKey"].as_str()), 401, "a key on an AMLToken endpoint");
    assert_eq!(score(Some(&token)), 200, "the token `keys` printed");

    // azure-ai-ml's get_keys gives a token too, and refuses to regenerate keys the same way.
    let seen = azure_ai_ml(&standin, &["keys", "ep-tok"]);
    assert_eq!((&seen["type"], &seen["has_access_token"]), (&json!("EndpointAuthToken"), &json!(true)), "{seen}");
    assert!(seen["regenerate"].as_str().is_some_and(|m| m.contains("does not use keys for authentication")), "{seen}");
    let out = run(&ws, &standin, &["endpoint", "keys", "ep-tok", "--regenerate", "primary"]);
    fails(&out, 2, &["--regenerate", "\"ep-tok\" does not use keys", "AMLToken", "prints a fresh token"]);
    assert!(writes_to(&standin, "/regenerateKeys").is_empty(), "nothing was regenerated");

    // Mirrored traffic: set, shown (JSON and text), then cleared by a `traffic` without it.
    let set = json_ok(&ws, &standin, &["endpoint", "traffic", "ep-tok", "blue=100", "--mirror", "green=10"]);
    assert_eq!(set["mirror_traffic"], json!({"green": 10}));
    let body = sent(&standin, "PUT", "/onlineEndpoints/ep-tok");
    assert_eq!(body["properties"]["traffic"], json!({"blue": 100}));
    assert_eq!(body["properties"]["mirrorTraffic"], json!({"green": 10}));
    assert_eq!(body["properties"]["authMode"], "AMLToken", "a traffic change keeps the auth mode");
    let shown = json_ok(&ws, &standin, &["endpoint", "show", "ep-tok"]);
    assert_eq!((&shown["traffic"], &shown["mirror_traffic"]), (&json!({"blue": 100}), &json!({"green": 10})));
    let text = String::from_utf8_lossy(&run(&ws, &standin, &["endpoint", "show", "ep-tok"]).stdout).into_owned();
    assert!(text.contains("mirror       green=10\n"), "{text}");
    assert_eq!(azure_ai_ml(&standin, &["read", "ep-tok", "green"])["mirror_traffic"], json!({"green": 10}));

    let puts = writes_to(&standin, "/onlineEndpoints/ep-tok").len();
    for (args, code, says) in [
        (&["blue=100", "--mirror", "green=60"][..], 2, &["--mirror green=60", "at most 50"][..]),
        (&["blue=100", "--mirror", "blue=10"], 2, &["--mirror blue", "not both"]),
        (&["blue=90", "green=10", "--mirror", "green=10"], 2, &["--mirror green", "not both"]),
        (&["blue=100", "--mirror", "green=10", "--mirror", "red=5"], 2, &["--mirror", "one deployment only"]),
        (&["blue=100", "--mirror", "green"], 2, &["--mirror \"green\"", "DEPLOYMENT=PERCENT"]),
        (&["blue=100", "--mirror", "green=ten"], 2, &["--mirror \"green=ten\"", "whole number"]),
        (&["blue=100", "--mirror", "red=10"], 8, &["--mirror \"red\"", "\"ep-tok/red\""]),
        (&["red=100"], 8, &["traffic \"red\"", "\"ep-tok/red\""]),
        (&["blue=60", "green=30"], 2, &["add up to 100, not 90"]),
    ] {
        let out = run(&ws, &standin, &[&["endpoint", "traffic", "ep-tok"][..], args].concat());
        fails(&out, code, says);
    }
    assert_eq!(writes_to(&standin, "/onlineEndpoints/ep-tok").len(), puts, "a refused traffic change was sent");
    let cleared = json_ok(&ws, &standin, &["endpoint", "traffic", "ep-tok", "blue=100"]);
    assert_eq!((&cleared["traffic"], &cleared["mirror_traffic"]), (&json!({"blue": 100}), &json!({})));

    // A rollout's smoke tests on an AMLToken endpoint sign with tokens too.
    let tokens = writes_to(&standin, "/onlineEndpoints/ep-tok/token").len();
    let key_lists = writes_to(&standin, "/onlineEndpoints/ep-tok/listKeys").len();
    let out = deploy(&ws, &standin, "ep-tok", "green", "models:/diabetes/1", &["--rollout", "50,100"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report["outcome"], "completed");
    assert_eq!(report["final_traffic"], json!({"blue": 0, "green": 100}));
    assert!(writes_to(&standin, "/onlineEndpoints/ep-tok/token").len() > tokens, "the smoke tests took tokens");
    assert_eq!(writes_to(&standin, "/onlineEndpoints/ep-tok/listKeys").len(), key_lists, "the rollout listed keys");

    // An AADToken endpoint (made by another client) has neither keys nor AML tokens to give.
    arm.put_and_wait(
        &arm.endpoint("ep-aad"),
        "2024-10-01",
        crate::online_endpoints::endpoint_body("AADToken", json!({})),
    );
    fails(&run(&ws, &standin, &["endpoint", "keys", "ep-aad"]), 2, &["\"ep-aad\"", "AADToken", "Entra token"]);
    let out = run(&ws, &standin, &["endpoint", "keys", "ep-aad", "--regenerate", "primary"]);
    fails(&out, 2, &["\"ep-aad\" does not use keys for authentication (auth mode AADToken)"]);
    assert!(!stderr(&out).contains("fresh token"), "{}", stderr(&out));
    let out = run(&ws, &standin, &["endpoint", "invoke", "ep-aad", "--data", &request]);
    fails(&out, 2, &["\"ep-aad\"", "key and aml_token endpoints only"]);
    assert!(writes_to(&standin, "/onlineEndpoints/ep-aad/").is_empty(), "nothing was asked of ep-aad but reads");
}

/// `--kind kubernetes --compute AKS`: the compute must be given, exist and be an attached
/// Kubernetes compute (a compute cluster is refused), all before anything is created; the
/// endpoint PUT carries the compute's ARM id and its deployments are `Kubernetes` ones that
/// leave the instance type to the cluster. Azure ML mirrors no traffic there.
#[test]
fn kubernetes_endpoints_send_their_compute_and_kubernetes_deployments() {
    let (standin, _, _blobs, ws, dir) = standin_with_model();
    standin.attach_kubernetes_compute(RG, WS, "aks-ml");
    let create = |extra: &[&str]| run(&ws, &standin, &[&["endpoint", "create", "ep-k8s"][..], extra].concat());
    fails(&create(&["--kind", "kubernetes"]), 2, &["--compute"]);
    fails(&create(&["--kind", "kubernetes", "--compute", "nope"]), 8, &["compute \"nope\" not found"]);
    fails(
        &create(&["--kind", "kubernetes", "--compute", "cpu-cluster"]),
        2,
        &["--compute \"cpu-cluster\"", "AmlCompute", "not an attached Kubernetes compute"],
    );
    fails(&create(&["--compute", "aks-ml"]), 2, &["--compute \"aks-ml\"", "--kind kubernetes"]);
    let out = run(&ws, &standin, &["endpoint", "create", "9-lives"]);
    fails(&out, 2, &["endpoint name \"9-lives\"", "a letter first"]);
    assert!(writes_to(&standin, "/onlineEndpoints").is_empty(), "a refused create sent a write");

    let created =
        json_ok(&ws, &standin, &["endpoint", "create", "ep-k8s", "--kind", "kubernetes", "--compute", "aks-ml"]);
    assert_eq!(created["kind"], "kubernetes");
    let compute = created["compute"].as_str().expect("compute").to_string();
    assert!(compute.ends_with("/workspaces/ws-ml/computes/aks-ml"), "{created}");
    let body = sent(&standin, "PUT", "/onlineEndpoints/ep-k8s");
    assert_eq!(body["properties"]["compute"], compute.as_str());
    assert_eq!(body["properties"]["authMode"], "Key");
    assert_eq!(body["identity"], json!({"type": "SystemAssigned"}));
    let listed = json_ok(&ws, &standin, &["endpoint", "list"]);
    assert_eq!(listed["endpoints"][0]["kind"], "kubernetes");
    assert_eq!(listed["endpoints"][0]["compute"], compute.as_str());
    let text = String::from_utf8_lossy(&run(&ws, &standin, &["endpoint", "show", "ep-k8s"]).stdout).into_owned();
    assert!(text.contains("kind         kubernetes\n"), "{text}");

    let out = deploy(&ws, &standin, "ep-k8s", "blue", "models:/diabetes/1", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let deployed: Value = serde_json::from_slice(&out.stdout).expect("deployment JSON");
    assert_eq!(deployed["compute_type"], "Kubernetes");
    assert_eq!(deployed["instance_type"], "defaultinstancetype", "the cluster's default");
    let props = sent(&standin, "PUT", "/onlineEndpoints/ep-k8s/deployments/blue")["properties"].clone();
    assert_eq!(props["endpointComputeType"], "Kubernetes");
    assert!(props.get("instanceType").is_none(), "no managed VM size on Kubernetes: {props}");
    let seen = azure_ai_ml(&standin, &["read", "ep-k8s", "blue"]);
    assert_eq!(
        (&seen["endpoint_type"], &seen["deployment_type"]),
        (&json!("KubernetesOnlineEndpoint"), &json!("KubernetesOnlineDeployment")),
        "{seen}"
    );
    assert!(seen["compute"].as_str().is_some_and(|c| c.eq_ignore_ascii_case(&compute)), "{seen}");
    assert_eq!(seen["instance_type"], "defaultinstancetype");
    let (request, expected) = request_file(&ws, &dir);
    let answer =
        floats(&json_ok(&ws, &standin, &["endpoint", "invoke", "ep-k8s", "--data", &request.display().to_string()]));
    assert_eq!(answer.len(), expected.len());

    // A managed VM size is not an instance type of the cluster: the service's refusal names it.
    let out = deploy(&ws, &standin, "ep-k8s", "green", "models:/diabetes/1", &["--instance-type", "Standard_DS3_v2"]);
    fails(&out, 9, &["Standard_DS3_v2", "properties.instanceType"]);
    let out = deploy(&ws, &standin, "ep-k8s", "green", "models:/diabetes/1", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let puts = writes_to(&standin, "/onlineEndpoints/ep-k8s").len();
    let out = run(&ws, &standin, &["endpoint", "traffic", "ep-k8s", "blue=100", "--mirror", "green=10"]);
    fails(&out, 2, &["--mirror", "Kubernetes compute", "aks-ml"]);
    assert_eq!(writes_to(&standin, "/onlineEndpoints/ep-k8s").len(), puts, "the mirror was sent");
    let shown = json_ok(&ws, &standin, &["endpoint", "show", "ep-k8s"]);
    assert_eq!((&shown["traffic"], &shown["mirror_traffic"]), (&json!({"blue": 100}), &json!({})));
}

/// `invoke --deployment` reaches the pinned deployment whatever the traffic, an unknown one is
/// exit 8, a request file that is not JSON exit 6 before anything is sent. Re-running `create`
/// changes the definition and keeps live and mirrored traffic. A rollout refuses the deployment
/// that takes the live traffic (2) and makes a mirrored one live and no longer mirrored.
#[test]
fn pinned_invoke_create_again_and_a_rollout_over_a_mirror() {
    use crate::online_scoring::{eventually, scored};
    let (standin, _, _blobs, ws, dir) = standin_with_model();
    json_ok(&ws, &standin, &["endpoint", "create", "ep-pin"]);
    for deployment in ["blue", "green"] {
        let out = deploy(&ws, &standin, "ep-pin", deployment, "models:/diabetes/1", &[]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let (request, expected) = request_file(&ws, &dir);
    let request = request.display().to_string();
    let green = standin.deployment_port("ep-pin", "green").expect("green serves");
    let blue = standin.deployment_port("ep-pin", "blue").expect("blue serves");
    let blue_before = scored(blue);
    let answer =
        floats(&json_ok(&ws, &standin, &["endpoint", "invoke", "ep-pin", "--data", &request, "--deployment", "green"]));
    assert_eq!(answer.len(), expected.len());
    eventually("green to count the pinned request", || scored(green) == 1);
    assert_eq!(scored(blue), blue_before, "blue takes all live traffic but was not asked");

    let out = run(&ws, &standin, &["endpoint", "invoke", "ep-pin", "--data", &request, "--deployment", "nope"]);
    fails(&out, 8, &["nope"]);
    let scoring = || standin.log().iter().filter(|l| l.path.starts_with("/inference/")).count();
    let sent_before = scoring();
    let broken = ws.path().join("broken.json");
    std::fs::write(&broken, "{\"input_data\": [[1, 2]\n").expect("write");
    let out = run(&ws, &standin, &["endpoint", "invoke", "ep-pin", "--data", &broken.display().to_string()]);
    fails(&out, 6, &["broken.json:2:"]);
    let out = run(&ws, &standin, &["endpoint", "invoke", "ep-pin", "--data", "no-such.json"]);
    fails(&out, 6, &["no-such.json"]);
    assert_eq!(scoring(), sent_before, "a bad request file was sent");

    // Regenerating the secondary key changes only it.
    let keys = json_ok(&ws, &standin, &["endpoint", "keys", "ep-pin"]);
    let regenerated = json_ok(&ws, &standin, &["endpoint", "keys", "ep-pin", "--regenerate", "secondary"]);
    assert_eq!(regenerated["primaryKey"], keys["primaryKey"]);
    assert_ne!(regenerated["secondaryKey"], keys["secondaryKey"]);
    assert_eq!(sent(&standin, "POST", "/onlineEndpoints/ep-pin/regenerateKeys"), json!({"keyType": "Secondary"}));

    // `create` again: a new description, the same traffic.
    json_ok(&ws, &standin, &["endpoint", "traffic", "ep-pin", "blue=100", "--mirror", "green=20"]);
    let again = json_ok(&ws, &standin, &["endpoint", "create", "ep-pin", "--description", "diabetes, second take"]);
    assert_eq!(again["description"], "diabetes, second take");
    assert_eq!((&again["traffic"], &again["mirror_traffic"]), (&json!({"blue": 100}), &json!({"green": 20})));
    let body = sent(&standin, "PUT", "/onlineEndpoints/ep-pin");
    assert_eq!(body["properties"]["traffic"], json!({"blue": 100}));
    assert_eq!(body["properties"]["mirrorTraffic"], json!({"green": 20}));

    let out = deploy(&ws, &standin, "ep-pin", "blue", "models:/diabetes/1", &["--rollout", "10,100"]);
    fails(&out, 2, &["\"blue\" already takes 100%", "another deployment name"]);
    let out = deploy(&ws, &standin, "ep-pin", "green", "models:/diabetes/1", &["--rollout", "50,100"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report["outcome"], "completed");
    assert_eq!(report["previous_traffic"], json!({"blue": 100}));
    assert_eq!(report["stages"][0]["traffic"], json!({"blue": 50, "green": 50}));
    assert_eq!((&report["final_traffic"], &report["mirror_traffic"]), (&json!({"blue": 0, "green": 100}), &json!({})));
    let shown = json_ok(&ws, &standin, &["endpoint", "show", "ep-pin"]);
    assert_eq!((&shown["traffic"], &shown["mirror_traffic"]), (&json!({"blue": 0, "green": 100}), &json!({})));
}

/// Runs `args`, interrupts it (SIGINT) once it polls the operation of its PUT to `put_suffix`,
/// and returns its output.
fn interrupted_while_polling(
    ws: &Workspace,
    standin: &StandIn,
    args: &[&str],
    put_suffix: &str,
) -> std::process::Output {
    let earlier = standin.log().len();
    let child = crate::endpoints::mlops(ws, standin, args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let suffix = put_suffix.to_ascii_lowercase();
    let polled = |log: &[Logged]| {
        let log = &log[earlier..];
        let at = log.iter().position(|l| l.method == "PUT" && l.path.to_ascii_lowercase().ends_with(&suffix));
        at.is_some_and(|at| log[at + 1..].iter().any(|l| l.method == "GET" && l.path.contains("mfeOperationsStatus")))
    };
    let started = std::time::Instant::now();
    while !polled(&standin.log()) {
        assert!(started.elapsed() < std::time::Duration::from_secs(120), "mlops never polled its operation");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    child.wait_with_output().expect("wait")
}

/// Ctrl-C while `create` or `traffic` waits stops waiting (130) and says how to follow; what was
/// asked goes on in Azure ML: the endpoint exists, the new traffic is in place.
#[test]
fn ctrl_c_while_create_or_traffic_waits_leaves_the_operation_going() {
    let (standin, _, _blobs, ws, _) = standin_with_model();
    json_ok(&ws, &standin, &["endpoint", "create", "ep-wait"]);
    for deployment in ["blue", "green"] {
        let out = deploy(&ws, &standin, "ep-wait", deployment, "models:/diabetes/1", &[]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // Endpoint operations now take ten minutes, far longer than any test waits.
    standin.set_step(std::time::Duration::from_secs(600));

    let out = interrupted_while_polling(&ws, &standin, &["endpoint", "create", "ep-slow"], "/onlineEndpoints/ep-slow");
    fails(&out, 130, &["stopped waiting", "goes on in Azure ML", "mlops endpoint show ep-slow"]);
    assert_eq!(json_ok(&ws, &standin, &["endpoint", "show", "ep-slow"])["provisioning_state"], "Creating");

    let out = interrupted_while_polling(
        &ws,
        &standin,
        &["endpoint", "traffic", "ep-wait", "blue=50", "green=50"],
        "/onlineEndpoints/ep-wait",
    );
    fails(&out, 130, &["goes on in Azure ML", "mlops endpoint show ep-wait"]);
    let shown = json_ok(&ws, &standin, &["endpoint", "show", "ep-wait"]);
    assert_eq!(shown["provisioning_state"], "Updating");
    assert_eq!(shown["traffic"], json!({"blue": 50, "green": 50}));
}
