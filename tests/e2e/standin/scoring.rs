//! The scoring data plane of managed online endpoints: `POST /inference/<endpoint>/score`
//! (the endpoint's `scoringUri`), authenticated like Azure (`Authorization: Bearer <key>` for
//! Key endpoints, an issued token for AMLToken), routed by `azureml-model-deployment` or by the
//! traffic weights, mirrored, and proxied to the deployment's `mlops serve`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{HeaderMap, Response, StatusCode};
use serde_json::json;

use super::State;
use super::deployment_checks::iso_duration;
use super::endpoints::Endpoint;

pub fn owns(lower_path: &str) -> bool {
    lower_path.starts_with("/inference/")
}

fn reply(status: u16, message: &str) -> Response<Full<Bytes>> {
    let body = json!({"error": {"code": status_code_name(status), "message": message}}).to_string();
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn status_code_name(status: u16) -> &'static str {
    match status {
        401 => "Unauthorized",
        404 => "NotFound",
        408 => "RequestTimeout",
        _ => "Error",
    }
}

/// Where one request goes: the deployment's server, its timeout, and a mirror copy's server.
struct Plan {
    port: u16,
    path: String,
    timeout: Duration,
    mirror: Option<(u16, String)>,
}

/// Smooth weighted round-robin (nginx's): every pick adds each weight to its deployment's
/// current value, takes the largest and subtracts the total from it. Deterministic, and exact
/// over each cycle of 100 picks, so tests can count.
fn pick_live(endpoint: &mut Endpoint) -> Option<String> {
    let weights: Vec<(String, i64)> = endpoint.traffic("traffic").into_iter().filter(|(_, w)| *w > 0).collect();
    let total: i64 = weights.iter().map(|(_, w)| w).sum();
    let mut best: Option<(String, i64)> = None;
    for (name, weight) in &weights {
        let current = endpoint.wrr.entry(name.clone()).or_insert(0);
        *current += weight;
        if best.as_ref().is_none_or(|(_, b)| *current > *b) {
            best = Some((name.clone(), *current));
        }
    }
    let (name, _) = best?;
    if let Some(current) = endpoint.wrr.get_mut(&name) {
        *current -= total;
    }
    Some(name)
}

fn plan(state: &mut State, endpoint_name: &str, headers: &HeaderMap) -> Result<Plan, (u16, String)> {
    let Some(endpoint) = state.online.endpoints.values_mut().find(|e| e.name.eq_ignore_ascii_case(endpoint_name))
    else {
        return Err((404, format!("No endpoint {endpoint_name}")));
    };
    let secret = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string());
    let now = chrono::Utc::now().timestamp();
    let allowed = secret.is_some_and(|s| match endpoint.auth_mode() {
        "Key" => endpoint.keys.contains(&s),
        "AMLToken" => endpoint.tokens.get(&s).is_some_and(|expiry| *expiry > now),
        _ => false,
    });
    if !allowed {
        // The secret sent is never echoed.
        return Err((
            401,
            "Authentication failed: send Authorization: Bearer <key or token> of this endpoint".to_string(),
        ));
    }
    let pinned = headers.get("azureml-model-deployment").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (name, mirror) = match pinned {
        Some(name) => (name, None),
        None => {
            let Some(name) = pick_live(endpoint) else {
                // The service's documented answer when no deployment has a positive weight.
                return Err((404, "The endpoint doesn't have any valid deployment with positive weight.".to_string()));
            };
            // Mirror copies go to requests without the header, `percent` of them, spread evenly.
            let mirror = endpoint.traffic("mirrorTraffic").into_iter().find(|(_, p)| *p > 0).and_then(|(target, p)| {
                endpoint.mirror_credit += p;
                (endpoint.mirror_credit >= 100).then(|| {
                    endpoint.mirror_credit -= 100;
                    target
                })
            });
            (name, mirror)
        }
    };
    let Some(deployment) = endpoint.deployments.get(&name.to_ascii_lowercase()) else {
        return Err((404, format!("Deployment {name} not found in endpoint {}", endpoint.name)));
    };
    let Some(port) = deployment.run.port() else {
        return Err((
            404,
            format!(
                "Deployment {name} of endpoint {} is {}, not ready to score",
                endpoint.name,
                deployment.run.state()
            ),
        ));
    };
    let timeout = deployment.properties["requestSettings"]["requestTimeout"]
        .as_str()
        .and_then(iso_duration)
        .unwrap_or(Duration::from_secs(5));
    let mirror = mirror
        .and_then(|m| endpoint.deployments.get(&m.to_ascii_lowercase()))
        .and_then(|d| Some((d.run.port()?, d.run.scoring_path.clone())));
    let path = deployment.run.scoring_path.clone();
    Ok(Plan { port, path, timeout, mirror })
}

pub async fn serve(
    state: &Arc<Mutex<State>>,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response<Full<Bytes>> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (endpoint, route) = match parts.as_slice() {
        ["inference", endpoint, route @ ("score" | "swagger.json")] => (*endpoint, *route),
        _ => return reply(404, &format!("No route {path}")),
    };
    let expected = if route == "score" { "POST" } else { "GET" };
    if method != expected {
        return reply(405, &format!("{method} is not allowed on {path}"));
    }
    let plan = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        match plan(&mut s, endpoint, headers) {
            Ok(plan) => plan,
            Err((status, message)) => return reply(status, &message),
        }
    };
    let content_type =
        headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("application/json").to_string();
    let client = match reqwest::Client::builder().timeout(plan.timeout).build() {
        Ok(c) => c,
        Err(e) => return reply(500, &format!("cannot build the proxy client: {e}")),
    };
    if let Some((port, mirror_path)) = plan.mirror {
        let (client, content_type, body) = (client.clone(), content_type.clone(), body.clone());
        // The mirror's answer is discarded, as Azure does.
        tokio::spawn(async move {
            let _ = client
                .post(format!("http://127.0.0.1:{port}{mirror_path}"))
                .header("content-type", content_type)
                .body(body)
                .send()
                .await;
        });
    }
    let url = if route == "score" {
        format!("http://127.0.0.1:{}{}", plan.port, plan.path)
    } else {
        format!("http://127.0.0.1:{}/{route}", plan.port)
    };
    let sent = if route == "score" {
        client.post(url).header("content-type", content_type).body(body).send().await
    } else {
        client.get(url).send().await
    };
    let response = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return reply(408, &format!("The model did not answer within the request timeout of {:?}", plan.timeout));
        }
        Err(e) => return reply(502, &format!("The deployment's server did not answer: {e}")),
    };
    let status = response.status().as_u16();
    let answer_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("application/json").to_string();
    let bytes = response.bytes().await.unwrap_or_default();
    let mut builder = Response::builder().header("content-type", answer_type);
    // Azure answers 424 when the model's server answers anything but 200, naming its status.
    builder = if status == 200 {
        builder.status(200)
    } else {
        builder.status(424).header("ms-azureml-model-error-statuscode", status.to_string()).header(
            "ms-azureml-model-error-reason",
            StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("model error"),
        )
    };
    builder.body(Full::new(bytes)).unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
