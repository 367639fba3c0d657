//! The JSON error every scoring route answers a bad request with, in MLflow's shape
//! (`{"error_code": …, "message": …}`) so MLflow clients report it as they would MLflow's own.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A request the service refuses: the status and a message naming the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::PAYLOAD_TOO_LARGE, message: message.into() }
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::UNSUPPORTED_MEDIA_TYPE, message: message.into() }
    }

    /// The body did not arrive in time; the connection is closed after this answer.
    pub fn timeout(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::REQUEST_TIMEOUT, message: message.into() }
    }

    /// MLflow's error code for the status (`BAD_REQUEST` is what `mlflow models serve` sends).
    pub fn error_code(&self) -> &'static str {
        match self.status {
            StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
            StatusCode::NOT_FOUND => "ENDPOINT_NOT_FOUND",
            StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
            StatusCode::REQUEST_TIMEOUT => "REQUEST_TIMEOUT",
            _ => "BAD_REQUEST",
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error_code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body { error_code: self.error_code(), message: &self.message };
        if self.status == StatusCode::REQUEST_TIMEOUT {
            // The rest of a late body is not worth waiting for: hyper closes the connection.
            return (self.status, [(axum::http::header::CONNECTION, "close")], axum::Json(body)).into_response();
        }
        (self.status, axum::Json(body)).into_response()
    }
}
