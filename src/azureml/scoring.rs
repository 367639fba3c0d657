//! The scoring data plane of an online endpoint: POST a request body to its scoring URI with the
//! endpoint's key or token, optionally pinned to one deployment, and return the answer as sent.

use reqwest::{Method, Url};

use crate::http::{self, HttpError, RetryPolicy};
use crate::secret::Secret;
use crate::serve::smoke::DEPLOYMENT_HEADER;

/// A request file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the request file {}: {source}", path.display())]
pub struct RequestFileError {
    pub path: std::path::PathBuf,
    pub source: std::io::Error,
}

impl crate::error_kind::HasKind for RequestFileError {
    fn kind(&self) -> crate::error_kind::ErrorKind {
        crate::error_kind::ErrorKind::Input
    }
}

/// Reads the body of a request, as is.
pub fn read_request(path: &std::path::Path) -> Result<Vec<u8>, RequestFileError> {
    std::fs::read(path).map_err(|source| RequestFileError { path: path.to_path_buf(), source })
}

/// One scoring request.
#[derive(Debug, Clone)]
pub struct ScoringRequest {
    pub scoring_uri: String,
    pub secret: Secret,
    /// Pins the request to this deployment (`azureml-model-deployment`).
    pub deployment: Option<String>,
    /// The body, sent as is (`Content-Type: application/json`).
    pub body: Vec<u8>,
}

/// Sends `request` under the one retry policy and returns the answer's body. A status other than
/// 2xx is an [`HttpError`] with the service's message; the secret never reaches it (it travels
/// in a header, and the URL is shown without its query).
pub async fn invoke(
    client: &reqwest::Client,
    retry: &RetryPolicy,
    request: &ScoringRequest,
) -> Result<Vec<u8>, HttpError> {
    let url = Url::parse(&request.scoring_uri).map_err(|e| {
        HttpError::client(format!("the endpoint's scoring URI {:?} is not a URL: {e}", request.scoring_uri))
    })?;
    let attempt = || async {
        let mut builder = client
            .post(url.clone())
            .header("content-type", "application/json")
            .bearer_auth(request.secret.expose())
            .body(request.body.clone());
        if let Some(deployment) = &request.deployment {
            builder = builder.header(DEPLOYMENT_HEADER, deployment);
        }
        let response = builder.send().await.map_err(|e| HttpError::from_reqwest_error(&Method::POST, &url, e))?;
        if !response.status().is_success() {
            return Err(HttpError::from_reqwest(&Method::POST, response).await.for_service("the scoring endpoint"));
        }
        response.bytes().await.map(|b| b.to_vec()).map_err(|e| HttpError::from_reqwest_error(&Method::POST, &url, e))
    };
    http::send_with_retries(retry, &Method::POST, &url, attempt).await
}
