//! The scoring data plane of an online endpoint: POST a request body to its scoring URI with the
//! endpoint's key or token, optionally pinned to one deployment, and return the answer as sent.

use reqwest::{Method, Url};

use crate::http::{self, HttpError, RetryPolicy};
use crate::secret::Secret;
use crate::serve::smoke::DEPLOYMENT_HEADER;

/// A request file that cannot be read, or is not JSON (the service would refuse it only after
/// the round trip, with the model server's words).
#[derive(Debug, thiserror::Error)]
pub enum RequestFileError {
    #[error("cannot read the request file {}: {source}", path.display())]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("request file {}:{source}", path.display())]
    Invalid { path: std::path::PathBuf, source: crate::decode::DecodeError },
}

impl crate::error_kind::HasKind for RequestFileError {
    fn kind(&self) -> crate::error_kind::ErrorKind {
        crate::error_kind::ErrorKind::Input
    }
}

/// Reads the body of a request, checked to be one JSON document and then sent as is.
pub fn read_request(path: &std::path::Path) -> Result<Vec<u8>, RequestFileError> {
    let bytes = std::fs::read(path).map_err(|source| RequestFileError::Read { path: path.to_path_buf(), source })?;
    crate::decode::json_bytes(&bytes)
        .map_err(|source| RequestFileError::Invalid { path: path.to_path_buf(), source })?;
    Ok(bytes)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_file_is_json_sent_as_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("request.json");
        std::fs::write(&path, b"{\"input_data\": [[1, 2]]}\n").expect("write");
        assert_eq!(read_request(&path).expect("read"), b"{\"input_data\": [[1, 2]]}\n");
        std::fs::write(&path, b"{\"input_data\": [[1, 2]\n").expect("write");
        let err = read_request(&path).expect_err("not JSON").to_string();
        assert!(err.starts_with("request file ") && err.contains("request.json:2:"), "{err}");
        let missing = read_request(&dir.path().join("none.json")).expect_err("missing").to_string();
        assert!(missing.starts_with("cannot read the request file"), "{missing}");
    }
}
