//! Failures talking to Azure, keeping what a person needs to debug them.

use crate::error_kind::{ErrorKind, HasKind};
use std::fmt;

use serde::{Deserialize, Serialize};

/// The ARM error envelope's inner object, recursive through `details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_info: Vec<serde_json::Value>,
}

impl ErrorDetail {
    /// Reads `{"error": {...}}` (or a bare error object) from a response body.
    pub fn from_body(body: &[u8]) -> Option<ErrorDetail> {
        #[derive(Deserialize)]
        struct Envelope {
            error: ErrorDetail,
        }
        if let Ok(envelope) = serde_json::from_slice::<Envelope>(body) {
            return Some(envelope.error);
        }
        serde_json::from_slice::<ErrorDetail>(body).ok().filter(|e| e.code.is_some())
    }

    /// The error and its details as an indented tree, one line per error.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out, 0);
        out.trim_end().to_string()
    }

    fn render_into(&self, out: &mut String, depth: usize) {
        let indent = "  ".repeat(depth);
        let code = self.code.as_deref().unwrap_or("(no code)");
        let message = self.message.as_deref().unwrap_or("");
        out.push_str(&format!("{indent}{code}: {message}"));
        if let Some(target) = &self.target {
            out.push_str(&format!(" [target: {target}]"));
        }
        out.push('\n');
        for info in &self.additional_info {
            out.push_str(&format!("{indent}  additional info: {info}\n"));
        }
        for detail in &self.details {
            detail.render_into(out, depth + 1);
        }
    }
}

/// An HTTP exchange that failed: a non-success status or no usable response.
///
/// Boxed so that `Result<_, HttpError>` stays small on the happy path.
#[derive(Debug, thiserror::Error)]
pub struct HttpError(Box<HttpErrorData>);

impl HasKind for HttpError {
    /// 401/403 are credential problems; 404 a missing thing; the rest a failing service.
    fn kind(&self) -> ErrorKind {
        match self.status {
            Some(401 | 403) => ErrorKind::Auth,
            Some(404) => ErrorKind::NotFound,
            _ => ErrorKind::Remote,
        }
    }
}

impl std::ops::Deref for HttpError {
    type Target = HttpErrorData;
    fn deref(&self) -> &HttpErrorData {
        &self.0
    }
}

impl std::ops::DerefMut for HttpError {
    fn deref_mut(&mut self) -> &mut HttpErrorData {
        &mut self.0
    }
}

/// What an [`HttpError`] knows.
#[derive(Debug)]
pub struct HttpErrorData {
    pub method: String,
    /// The URL without its query string, which may carry signatures.
    pub url: String,
    pub status: Option<u16>,
    pub error: Option<ErrorDetail>,
    pub request_id: Option<String>,
    pub correlation_id: Option<String>,
    /// The start of the body when it was not an ARM error envelope.
    pub body: Option<String>,
    /// What went wrong when there was no response at all.
    pub transport: Option<String>,
}

/// How much of an unexpected body an error keeps.
const BODY_LIMIT: usize = 2048;

impl HttpError {
    pub fn from_response(
        method: &str,
        url: &azure_core::http::Url,
        status: u16,
        headers: &azure_core::http::headers::Headers,
        body: &[u8],
    ) -> Self {
        let error = ErrorDetail::from_body(body);
        let body = if error.is_none() && !body.is_empty() {
            Some(truncate(&String::from_utf8_lossy(body), BODY_LIMIT))
        } else {
            None
        };
        HttpError(Box::new(HttpErrorData {
            method: method.to_string(),
            url: redact_url(url),
            status: Some(status),
            error,
            request_id: header(headers, "x-ms-request-id"),
            correlation_id: header(headers, "x-ms-correlation-request-id"),
            body,
            transport: None,
        }))
    }

    pub fn transport(method: &str, url: &azure_core::http::Url, reason: String) -> Self {
        HttpError(Box::new(HttpErrorData {
            method: method.to_string(),
            url: redact_url(url),
            status: None,
            error: None,
            request_id: None,
            correlation_id: None,
            body: None,
            transport: Some(reason),
        }))
    }

    /// The service's error code, if it sent one.
    pub fn code(&self) -> Option<&str> {
        self.error.as_ref().and_then(|e| e.code.as_deref())
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)?;
        match self.status {
            Some(status) => write!(f, " returned {status}")?,
            None => write!(f, " failed")?,
        }
        if let Some(reason) = &self.transport {
            write!(f, ": {reason}")?;
        }
        if let Some(error) = &self.error {
            write!(f, "\n{}", indent(&error.render()))?;
        }
        if let Some(body) = &self.body {
            write!(f, "\n    body: {body}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, "\n    x-ms-request-id: {id}")?;
        }
        if let Some(id) = &self.correlation_id {
            write!(f, "\n    x-ms-correlation-request-id: {id}")?;
        }
        Ok(())
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

fn header(headers: &azure_core::http::headers::Headers, name: &'static str) -> Option<String> {
    headers.get_optional_string(&azure_core::http::headers::HeaderName::from_static(name))
}

/// A URL fit for messages and logs: scheme, host and path, never the query (SAS tokens, signatures).
pub fn redact_url(url: &azure_core::http::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_nested_errors_and_hides_query() {
        let body = br#"{"error":{"code":"DeploymentFailed","message":"outer","details":[{"code":"Conflict","message":"inner","target":"sa1","details":[{"code":"Deep","message":"deepest"}]}]}}"#;
        let url = azure_core::http::Url::parse("https://h/x?sig=SECRET&api-version=1").expect("url");
        let headers = azure_core::http::headers::Headers::new();
        let err = HttpError::from_response("PUT", &url, 400, &headers, body);
        let text = err.to_string();
        assert!(text.starts_with("PUT https://h/x returned 400"), "{text}");
        assert!(
            text.contains("    DeploymentFailed: outer\n      Conflict: inner [target: sa1]\n        Deep: deepest"),
            "{text}"
        );
        assert!(!text.contains("SECRET"));
        assert_eq!(err.code(), Some("DeploymentFailed"));
    }

    #[test]
    fn keeps_a_truncated_body_when_not_json() {
        let url = azure_core::http::Url::parse("https://h/x").expect("url");
        let headers = azure_core::http::headers::Headers::new();
        let body = "x".repeat(5000);
        let err = HttpError::from_response("GET", &url, 502, &headers, body.as_bytes());
        assert!(err.to_string().contains("(5000 bytes in all)"));
    }
}
