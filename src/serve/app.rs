//! The HTTP routes: scoring in two contracts, health, readiness, version, metrics and the OpenAPI
//! document, with a request id on every response and every request counted and timed.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use ndarray::ArrayView2;
use serde::Serialize;

use super::error::ApiError;
use super::input::{self, Batch, Route, Schema, ScoreContract};
use super::metrics::Metrics;
use super::request_log::{ModelInfo, RequestLog, RequestRecord};
use crate::ml::model::LinearModel;

/// The request-id header of Azure ML endpoints, honoured when sent and always returned.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-request-id");
static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Routes as they are labelled in metrics; anything else is `other`.
const ROUTES: [&str; 8] =
    ["/score", "/invocations", "/health", "/ready", "/ping", "/version", "/metrics", "/swagger.json"];

/// What every handler shares.
pub struct AppState {
    pub model: LinearModel,
    pub info: Arc<ModelInfo>,
    pub max_batch_rows: usize,
    pub max_body_bytes: usize,
    /// Time a client has to send the whole body once its headers are in.
    pub body_timeout: std::time::Duration,
    pub metrics: Metrics,
    pub log: Option<RequestLog>,
    pub openapi: Bytes,
}

/// The request id and trace context of one request.
#[derive(Clone)]
struct RequestContext {
    id: String,
    traceparent: Option<String>,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/score", post(score))
        .route("/invocations", post(invocations))
        .route("/health", get(ping))
        .route("/ping", get(ping))
        .route("/ready", get(ready))
        .route("/version", get(version))
        .route("/metrics", get(metrics))
        .route("/swagger.json", get(swagger))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Assigns the request id, then counts and times the request under its route.
async fn track(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Response {
    let start = Instant::now();
    let (route, context) = {
        let path = request.uri().path();
        let route = ROUTES.iter().find(|r| **r == path).copied().unwrap_or("other");
        let header = |name: &HeaderName| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.len() <= 256)
                .map(str::to_string)
        };
        let id = header(&REQUEST_ID).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let traceparent = header(&TRACEPARENT);
        (route, RequestContext { id, traceparent })
    };
    let id_value = HeaderValue::from_str(&context.id).ok();
    request.extensions_mut().insert(context);
    let mut response = next.run(request).await;
    if let Some(value) = id_value {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    state.metrics.observe(route, response.status().as_u16(), start.elapsed().as_secs_f64());
    response
}

#[derive(Serialize)]
struct ScoreResponse<'a> {
    result: &'a [f64],
}

#[derive(Serialize)]
struct InvocationsResponse<'a> {
    predictions: &'a [f64],
}

async fn score(
    State(state): State<Arc<AppState>>,
    Extension(context): Extension<RequestContext>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(&state, &headers, body, false).await?;
    let (batch, contract) = input::score_request(&input::parse_json(&body)?, state.schema())?;
    let predictions = state.predict(&batch)?;
    let response = match contract {
        ScoreContract::Reference => json_response(&ScoreResponse { result: &predictions }),
        // Azure ML's MLflow no-code server answers the predictions themselves.
        ScoreContract::AzureMl => json_response(&predictions),
    };
    state.log_request("/score", context, batch, predictions);
    Ok(response)
}

async fn invocations(
    State(state): State<Arc<AppState>>,
    Extension(context): Extension<RequestContext>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(&state, &headers, body, true).await?;
    let batch = input::parse_request(Route::Invocations, content_type(&headers), &body, state.schema())?;
    let predictions = state.predict(&batch)?;
    let response = json_response(&InvocationsResponse { predictions: &predictions });
    state.log_request("/invocations", context, batch, predictions);
    Ok(response)
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

/// Checks size and content type, then reads the body within `--max-body-bytes`.
async fn read_body(state: &AppState, headers: &HeaderMap, body: Body, allow_csv: bool) -> Result<Bytes, ApiError> {
    let limit = state.max_body_bytes;
    let too_large =
        || ApiError::too_large(format!("the body is larger than the limit of {limit} bytes (--max-body-bytes)"));
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    // The type is checked before the body is read: a 415 should not wait for a large upload.
    input::content_kind(content_type(headers), allow_csv)?;
    let read = tokio::time::timeout(state.body_timeout, axum::body::to_bytes(body, limit)).await;
    let Ok(read) = read else {
        state.metrics.timed_out.with_label_values(&["body"]).inc();
        return Err(ApiError::timeout(format!(
            "the body did not arrive within {} (--request-timeout)",
            crate::duration::human(state.body_timeout)
        )));
    };
    match read {
        Ok(bytes) => Ok(bytes),
        Err(err) => {
            let cause = err.into_inner();
            if cause.is::<http_body_util::LengthLimitError>() {
                Err(too_large())
            } else {
                Err(ApiError::bad_request(format!("cannot read the body: {cause}")))
            }
        }
    }
}

fn json_response<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => ([(CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes).into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode the response: {err}")).into_response(),
    }
}

impl AppState {
    fn schema(&self) -> Schema<'_> {
        Schema { features: &self.model.feature_names, max_rows: self.max_batch_rows }
    }

    fn predict(&self, batch: &Batch) -> Result<Vec<f64>, ApiError> {
        let n = self.model.feature_names.len();
        let x = ArrayView2::from_shape((batch.rows, n), &batch.values)
            .map_err(|e| ApiError::bad_request(format!("the batch does not have {n} columns: {e}")))?;
        let predictions = self.model.predict(&x).to_vec();
        if let Some(row) = predictions.iter().position(|p| !p.is_finite()) {
            return Err(ApiError::bad_request(format!(
                "row {row}: the prediction overflows a double; the inputs are too large"
            )));
        }
        self.metrics.rows_scored.inc_by(batch.rows as u64);
        Ok(predictions)
    }

    fn log_request(&self, route: &'static str, context: RequestContext, batch: Batch, predictions: Vec<f64>) {
        if let Some(log) = &self.log {
            log.record(RequestRecord {
                request_id: context.id,
                traceparent: context.traceparent,
                time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                route,
                model: self.info.clone(),
                inputs: batch.values,
                predictions,
            });
        }
    }
}

/// `/ping` and `/health`: what `mlflow models serve` answers, a newline with status 200.
async fn ping() -> Response {
    ([(CONTENT_TYPE, HeaderValue::from_static("application/json"))], "\n").into_response()
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    json_response(&serde_json::json!({
        "status": "ready",
        "model": &*state.info,
    }))
}

/// The mlops version as a bare string, as `mlflow models serve` reports its own.
async fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    if let Some(log) = &state.log {
        state.metrics.log_queue_depth.set(log.depth() as i64);
    }
    ([(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))], state.metrics.render())
        .into_response()
}

async fn swagger(State(state): State<Arc<AppState>>) -> Response {
    ([(CONTENT_TYPE, HeaderValue::from_static("application/json"))], state.openapi.clone()).into_response()
}

async fn not_found(request: Request) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("no route {}; the routes are {}", request.uri().path(), ROUTES.join(", ")),
    }
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!(
            "{} is not allowed on {}: scoring routes take POST, the others GET",
            request.method(),
            request.uri().path()
        ),
    }
}
