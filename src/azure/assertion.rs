//! Client assertions azure_identity 1.0 has no credential for: a certificate-signed JWT and a
//! GitHub Actions OIDC token. Both plug into `azure_identity::ClientAssertionCredential`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use azure_core::http::{
    ClientMethodOptions, ClientOptions, Context, Method, Pipeline, PipelineSendOptions, Request, Url,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use sha1::Digest as _;

use crate::secret::Secret;

/// The audience Entra expects in federated tokens it exchanges.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Why a certificate or OIDC assertion could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    #[error("cannot read certificate file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("certificate file {}: {reason}", path.display())]
    Pem { path: PathBuf, reason: String },
    #[error("{what} is not a valid URL: {reason}")]
    Url { what: &'static str, reason: String },
}

/// Signs an RS256 JWT with a service principal's certificate key for every token request.
pub struct CertificateAssertion {
    client_id: String,
    token_endpoint: String,
    key: rsa::pkcs1v15::SigningKey<sha2::Sha256>,
    /// SHA-1 thumbprint of the DER certificate, base64url: the `x5t` header Entra matches.
    thumbprint: String,
}

impl std::fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("client_id", &self.client_id)
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl CertificateAssertion {
    /// Reads a PEM file holding an RSA private key (PKCS#8 or PKCS#1) and its certificate.
    pub fn from_pem_file(path: &Path, client_id: &str, token_endpoint: String) -> Result<Self, AssertionError> {
        let text = std::fs::read(path).map_err(|source| AssertionError::Read { path: path.to_path_buf(), source })?;
        let pem_error = |reason: String| AssertionError::Pem { path: path.to_path_buf(), reason };
        let blocks = pem::parse_many(&text).map_err(|e| pem_error(e.to_string()))?;
        let certificate = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or_else(|| pem_error("no CERTIFICATE block".to_string()))?;
        let key = blocks
            .iter()
            .find_map(|b| match b.tag() {
                "PRIVATE KEY" => Some(RsaPrivateKey::from_pkcs8_der(b.contents()).map_err(|e| e.to_string())),
                "RSA PRIVATE KEY" => Some(RsaPrivateKey::from_pkcs1_der(b.contents()).map_err(|e| e.to_string())),
                _ => None,
            })
            .ok_or_else(|| {
                pem_error("no PRIVATE KEY or RSA PRIVATE KEY block (Entra certificates are RSA)".to_string())
            })?
            .map_err(|e| pem_error(format!("private key: {e}")))?;
        let thumbprint = URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(certificate.contents()));
        Ok(CertificateAssertion {
            client_id: client_id.to_string(),
            token_endpoint,
            key: rsa::pkcs1v15::SigningKey::new(key),
            thumbprint,
        })
    }

    fn sign(&self) -> String {
        let now = chrono::Utc::now().timestamp();
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": self.thumbprint});
        let claims = serde_json::json!({
            "aud": self.token_endpoint,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + 600,
        });
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

#[async_trait::async_trait]
impl azure_identity::ClientAssertion for CertificateAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        let assertion = self.sign();
        crate::secret::register(&assertion);
        Ok(assertion)
    }
}

/// Fetches a GitHub Actions OIDC token for every token request (they live for minutes only).
pub struct GithubOidcAssertion {
    url: Url,
    request_token: Secret,
    pipeline: Arc<Pipeline>,
}

impl std::fmt::Debug for GithubOidcAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubOidcAssertion").field("url", &super::error::redact_url(&self.url)).finish_non_exhaustive()
    }
}

impl GithubOidcAssertion {
    /// `options` carry the transport and retry policy of the sign-in.
    pub fn new(request_url: &str, request_token: Secret, options: ClientOptions) -> Result<Self, AssertionError> {
        let mut url = Url::parse(request_url)
            .map_err(|e| AssertionError::Url { what: "ACTIONS_ID_TOKEN_REQUEST_URL", reason: e.to_string() })?;
        url.query_pairs_mut().append_pair("audience", TOKEN_EXCHANGE_AUDIENCE);
        let pipeline =
            Pipeline::new(Some("mlops"), Some(env!("CARGO_PKG_VERSION")), options, Vec::new(), Vec::new(), None);
        Ok(GithubOidcAssertion { url, request_token, pipeline: Arc::new(pipeline) })
    }
}

#[async_trait::async_trait]
impl azure_identity::ClientAssertion for GithubOidcAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        #[derive(serde::Deserialize)]
        struct IdToken {
            value: String,
        }
        let mut request = Request::new(self.url.clone(), Method::Get);
        request.insert_header("authorization", format!("bearer {}", self.request_token.expose()));
        request.insert_header("accept", "application/json");
        let response = self
            .pipeline
            .send(&Context::new(), &mut request, Some(PipelineSendOptions { skip_checks: true, ..Default::default() }))
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Credential,
                format!("the GitHub OIDC token endpoint {} returned {status}", super::error::redact_url(&self.url)),
            ));
        }
        let token: IdToken = response.into_body().json()?;
        crate::secret::register(&token.value);
        Ok(token.value)
    }
}
