//! The one HTTP error: what a person needs to debug a failed call to any service (MLflow, ARM,
//! Entra ID, Azure ML, Blob storage) — method, URL without secrets, status, the service's error
//! tree, request and correlation ids, and a bounded excerpt of a body that was not an error
//! document.

use std::fmt;
use std::path::PathBuf;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::error_kind::{ErrorKind, HasKind, chain};

/// A service's error document, recursive through `details` (ARM's envelope; MLflow's
/// `error_code`/`message` and Blob storage's XML `Code`/`Message` read into the same shape).
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
    /// Reads a service error document from a response body: ARM's `{"error": {...}}` (or a bare
    /// error object with a code), MLflow's `{"error_code": …, "message": …}`, or Blob storage's
    /// `<Error><Code>…</Code><Message>…</Message></Error>`.
    pub fn from_body(body: &[u8]) -> Option<ErrorDetail> {
        #[derive(Deserialize)]
        struct Envelope {
            error: ErrorDetail,
        }
        #[derive(Deserialize)]
        struct Mlflow {
            error_code: String,
            #[serde(default)]
            message: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct BlobXml {
            code: Option<String>,
            message: Option<String>,
        }
        if let Ok(envelope) = serde_json::from_slice::<Envelope>(body) {
            return Some(envelope.error);
        }
        if let Ok(mlflow) = serde_json::from_slice::<Mlflow>(body) {
            return Some(ErrorDetail { code: Some(mlflow.error_code), message: mlflow.message, ..Default::default() });
        }
        if let Ok(detail) = serde_json::from_slice::<ErrorDetail>(body)
            && detail.code.is_some()
        {
            return Some(detail);
        }
        let text = std::str::from_utf8(body).ok()?;
        if text.trim_start().starts_with('<') {
            let xml: BlobXml = quick_xml::de::from_str(text).ok()?;
            if xml.code.is_some() || xml.message.is_some() {
                // Blob messages carry a second line "RequestId:… Time:…" that the ids already say.
                let message = xml.message.map(|m| m.lines().next().unwrap_or_default().to_string());
                return Some(ErrorDetail { code: xml.code, message, ..Default::default() });
            }
        }
        None
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

/// A failed HTTP call, or a client that could not be set up to make one.
///
/// Boxed so that `Result<_, HttpError>` stays small on the happy path.
#[derive(Debug, thiserror::Error)]
pub struct HttpError(Box<HttpErrorData>);

/// What an [`HttpError`] knows.
#[derive(Debug)]
pub struct HttpErrorData {
    /// Empty when no call was made (a client that could not be built).
    pub method: String,
    /// The URL without query, fragment or user info, which may carry signatures and passwords.
    pub url: String,
    pub status: Option<u16>,
    /// The service's error document, when the body was one.
    pub error: Option<ErrorDetail>,
    pub request_id: Option<String>,
    pub correlation_id: Option<String>,
    /// The start of a body that was not an error document (an HTML page, plain text).
    pub body: Option<String>,
    /// What went wrong when there was no usable response.
    pub failure: Option<Failure>,
    /// The service a client talks to, named when it could not be reached ("the storage service").
    pub service: Option<&'static str>,
    /// No connection could be made at all (refused, unknown host), as opposed to one that broke
    /// or timed out: the retry policy gives it fewer attempts.
    pub no_connection: bool,
    /// The wait the server asked for (`Retry-After` and its millisecond variants).
    pub retry_after: Option<std::time::Duration>,
}

/// Why a call had no usable response.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The connection could not be made, or broke (refused, DNS, TLS, reset, timeout).
    Connect(String),
    /// The response came but is not the document expected.
    Decode(String),
    /// The request could not be built or sent (an invalid URL or body).
    Request(String),
    /// The CA bundle the user named cannot be used.
    CaBundle { path: PathBuf, message: String },
    /// No access token could be had for a service that authenticates with Entra ID.
    Credential(String),
}

/// How much of an unexpected body an error keeps.
const BODY_LIMIT: usize = 2048;

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

impl HttpError {
    fn new(method: &str, url: &str, failure: Option<Failure>) -> Self {
        HttpError(Box::new(HttpErrorData {
            method: method.to_string(),
            url: url.to_string(),
            status: None,
            error: None,
            request_id: None,
            correlation_id: None,
            body: None,
            failure,
            service: None,
            no_connection: false,
            retry_after: None,
        }))
    }

    /// A response with a failure status. `header` reads a response header by name.
    pub fn from_response(
        method: &str,
        url: &Url,
        status: u16,
        header: impl Fn(&str) -> Option<String>,
        body: &[u8],
    ) -> Self {
        let error = ErrorDetail::from_body(body).or_else(|| {
            // Blob storage puts the code in a header when the body is empty (HEAD requests).
            header("x-ms-error-code").map(|code| ErrorDetail { code: Some(code), ..Default::default() })
        });
        let body = if error.is_none() && !body.is_empty() {
            Some(excerpt(&String::from_utf8_lossy(body), BODY_LIMIT))
        } else {
            None
        };
        let mut err = HttpError::new(method, &redact_url(url), None);
        err.status = Some(status);
        err.error = error;
        err.request_id = header("x-ms-request-id").or_else(|| header("x-request-id"));
        err.correlation_id = header("x-ms-correlation-request-id");
        err.retry_after = super::retry::retry_after(&header);
        err.body = body;
        err
    }

    /// A reqwest response with a failure status; reads its body.
    pub async fn from_reqwest(method: &reqwest::Method, response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let url = response.url().clone();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_default();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        HttpError::from_response(method.as_str(), &url, status, header, &body)
    }

    /// No usable response: the connection failed or broke. `reason` is the whole cause chain.
    pub fn connect(method: &str, url: &Url, reason: String) -> Self {
        HttpError::new(method, &redact_url(url), Some(Failure::Connect(reason)))
    }

    /// A connection failure known by its already-redacted URL text (a copy of another error's).
    pub fn connect_text(method: &str, shown_url: &str, reason: String) -> Self {
        let mut err = HttpError::new(method, shown_url, Some(Failure::Connect(reason)));
        err.no_connection = true;
        err
    }

    /// A reqwest failure to connect or to read, with its cause chain. reqwest's own message
    /// names the full URL, SAS signature included; it is dropped for the redacted one.
    pub fn from_reqwest_error(method: &reqwest::Method, url: &Url, err: reqwest::Error) -> Self {
        let err = &err.without_url();
        // A body cut off by the timeout or a broken connection surfaces as a decode error of the
        // body; it is the connection that failed, and another attempt may get the whole body.
        if err.is_decode() && !err.is_timeout() && !is_body_error(err) {
            return HttpError::decode(method.as_str(), url, chain(err));
        }
        if err.is_builder() {
            return HttpError::request(method.as_str(), url, chain(err));
        }
        let mut out = HttpError::connect(method.as_str(), url, chain(err));
        out.no_connection = err.is_connect() && !err.is_timeout();
        out
    }

    /// A retried call cut short because the retry budget ran out.
    pub fn budget_spent(method: &str, url: &Url, budget: std::time::Duration) -> Self {
        let reason = format!("no answer within the {} retry budget", crate::duration::human(budget));
        HttpError::new(method, &redact_url(url), Some(Failure::Connect(reason)))
    }

    /// A response that is not the document expected.
    pub fn decode(method: &str, url: &Url, message: String) -> Self {
        HttpError::new(method, &redact_url(url), Some(Failure::Decode(message)))
    }

    /// A request that could not be built or sent.
    pub fn request(method: &str, url: &Url, message: String) -> Self {
        HttpError::new(method, &redact_url(url), Some(Failure::Request(message)))
    }

    /// A client that could not be built (no call was made).
    pub fn client(message: String) -> Self {
        HttpError::new("", "", Some(Failure::Request(message)))
    }

    pub fn ca_bundle(path: PathBuf, message: String) -> Self {
        HttpError::new("", "", Some(Failure::CaBundle { path, message }))
    }

    pub fn credential(message: String) -> Self {
        HttpError::new("", "", Some(Failure::Credential(message)))
    }

    /// Names the service the call was for, as messages about an unreachable service say it.
    pub fn for_service(mut self, service: &'static str) -> Self {
        self.service = Some(service);
        self
    }

    /// The service's error code (`RESOURCE_DOES_NOT_EXIST`, `ContainerAlreadyExists`, …).
    pub fn code(&self) -> Option<&str> {
        self.error.as_ref().and_then(|e| e.code.as_deref())
    }

    /// The service's error message.
    pub fn message(&self) -> Option<&str> {
        self.error.as_ref().and_then(|e| e.message.as_deref())
    }

    /// Whether the server could not be reached at all (the offline case).
    pub fn is_unreachable(&self) -> bool {
        matches!(self.failure, Some(Failure::Connect(_)))
    }

    /// Whether retrying the same call may succeed: connection failures, 408, 429 and 5xx. Any
    /// other 4xx is the server's answer and is never retried (a duplicate insert refused with 400
    /// stays refused however often it is sent).
    pub fn is_transient(&self) -> bool {
        match self.status {
            Some(status) => super::retry::retryable_status(status),
            None => self.is_unreachable(),
        }
    }

    /// What this failure is worth to the retry policy.
    pub fn verdict(&self) -> super::retry::Verdict {
        use super::retry::Verdict;
        if !self.is_transient() {
            return Verdict::Final;
        }
        let reason = self.summary();
        if self.no_connection {
            Verdict::NoConnection(reason)
        } else {
            Verdict::Transient { reason, retry_after: self.retry_after }
        }
    }

    /// Why the call failed, on one line (for the retry log): the status or the connection error.
    pub fn summary(&self) -> String {
        match (self.status, &self.failure) {
            (Some(status), _) => format!("HTTP {status}"),
            (None, Some(Failure::Connect(reason))) => format!("cannot connect: {reason}"),
            _ => self.to_string().lines().next().unwrap_or_default().to_string(),
        }
    }
}

impl HasKind for HttpError {
    /// 401/403 are credential problems; 404 with a service error a missing thing; a bad CA
    /// bundle the user's input; the rest a failing or unreachable service.
    fn kind(&self) -> ErrorKind {
        match (self.status, &self.failure) {
            (Some(401 | 403), _) => ErrorKind::Auth,
            (Some(404), _) if self.error.is_some() => ErrorKind::NotFound,
            (_, Some(Failure::CaBundle { .. })) => ErrorKind::Input,
            (_, Some(Failure::Credential(_))) => ErrorKind::Auth,
            _ => ErrorKind::Remote,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            Some(Failure::CaBundle { path, message }) => {
                return write!(f, "cannot use CA bundle {}: {message}", path.display());
            }
            Some(Failure::Credential(message)) => return write!(f, "cannot get an access token: {message}"),
            Some(Failure::Request(message)) if self.method.is_empty() => {
                return write!(f, "cannot build the HTTP client: {message}");
            }
            _ => {}
        }
        write!(f, "{} {}", self.method, self.url)?;
        if let Some(status) = self.status {
            write!(f, " returned HTTP {status}")?;
            if let Some(reason) = reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()) {
                write!(f, " {reason}")?;
            }
        }
        match &self.failure {
            Some(Failure::Connect(reason)) => match self.service {
                Some(service) => write!(f, ": cannot reach {service}: cannot connect: {reason}")?,
                None => write!(f, ": cannot connect: {reason}")?,
            },
            Some(Failure::Decode(reason)) => write!(f, ": the response is not the document expected: {reason}")?,
            Some(Failure::Request(reason)) => write!(f, ": cannot send the request: {reason}")?,
            _ => {}
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

/// Whether a reqwest error was caused by the body's transfer rather than its content.
fn is_body_error(err: &reqwest::Error) -> bool {
    let mut cause = std::error::Error::source(err);
    while let Some(current) = cause {
        if let Some(inner) = current.downcast_ref::<reqwest::Error>()
            && (inner.is_body() || inner.is_timeout())
        {
            return true;
        }
        if current.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        cause = current.source();
    }
    false
}

/// A URL fit for messages and logs: scheme, host and path; never the query (SAS tokens,
/// signatures, codes), the fragment or the user info (passwords).
pub fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

/// The start of a text, at most `limit` bytes cut at a character boundary, on one line.
pub fn excerpt(text: &str, limit: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.len() <= limit {
        return flat;
    }
    let mut end = limit;
    while !flat.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &flat[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, body: &[u8]) -> HttpError {
        let url = Url::parse("https://u:p@h/x?sig=SECRET&api-version=1").expect("url");
        HttpError::from_response("PUT", &url, code, |_| None, body)
    }

    #[test]
    fn renders_nested_arm_errors_and_hides_secrets() {
        let body = br#"{"error":{"code":"DeploymentFailed","message":"outer","details":[{"code":"Conflict","message":"inner","target":"sa1","details":[{"code":"Deep","message":"deepest"}]}]}}"#;
        let text = status(400, body).to_string();
        assert!(text.starts_with("PUT https://h/x returned HTTP 400 Bad Request"), "{text}");
        assert!(
            text.contains("    DeploymentFailed: outer\n      Conflict: inner [target: sa1]\n        Deep: deepest"),
            "{text}"
        );
        assert!(!text.contains("SECRET") && !text.contains(":p@"), "{text}");
    }

    #[test]
    fn reads_every_service_error_document() {
        let mlflow = status(404, br#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no run"}"#);
        assert_eq!((mlflow.code(), mlflow.message()), (Some("RESOURCE_DOES_NOT_EXIST"), Some("no run")));
        assert_eq!(mlflow.kind(), ErrorKind::NotFound);
        let blob = status(
            409,
            b"<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ContainerAlreadyExists</Code><Message>exists\nRequestId:1</Message></Error>",
        );
        assert_eq!((blob.code(), blob.message()), (Some("ContainerAlreadyExists"), Some("exists")));
        let html = status(502, b"<html><body>Bad gateway</body></html>");
        assert!(html.error.is_none() && html.body.as_deref().is_some_and(|b| b.contains("Bad gateway")));
    }

    #[test]
    fn transient_and_kinds() {
        assert!(status(503, b"").is_transient());
        assert!(status(429, b"").is_transient());
        assert!(!status(400, b"").is_transient());
        assert_eq!(status(401, b"").kind(), ErrorKind::Auth);
        assert_eq!(status(500, b"").kind(), ErrorKind::Remote);
        let url = Url::parse("http://127.0.0.1:1/").expect("url");
        let refused = HttpError::connect("GET", &url, "connection refused".into());
        assert!(refused.is_unreachable() && refused.is_transient());
        assert_eq!(HttpError::ca_bundle("ca.pem".into(), "no PEM".into()).kind(), ErrorKind::Input);
    }

    #[test]
    fn verdicts_follow_the_retry_policy() {
        use crate::http::Verdict;
        let url = Url::parse("http://127.0.0.1:1/").expect("url");
        let refused = HttpError::connect_text("GET", "http://127.0.0.1:1/", "refused".into());
        assert_eq!(refused.verdict(), Verdict::NoConnection("cannot connect: refused".into()));
        let timeout = HttpError::connect("GET", &url, "operation timed out".into());
        assert!(matches!(timeout.verdict(), Verdict::Transient { retry_after: None, .. }));
        let throttled = HttpError::from_response("GET", &url, 429, |h| (h == "retry-after").then(|| "7".into()), b"");
        assert!(matches!(
            throttled.verdict(),
            Verdict::Transient { retry_after: Some(d), .. } if d == std::time::Duration::from_secs(7)
        ));
        // A 4xx is an answer, even one that names a database race.
        let integrity = status(400, br#"{"error_code":"INVALID_PARAMETER_VALUE","message":"IntegrityError"}"#);
        assert_eq!(integrity.verdict(), Verdict::Final);
        assert_eq!(status(404, b"").verdict(), Verdict::Final);
    }

    #[test]
    fn bodies_are_bounded() {
        let long = "x".repeat(10_000);
        let err = status(500, long.as_bytes());
        let body = err.body.as_deref().expect("body kept");
        assert!(body.len() < BODY_LIMIT + 40, "{}", body.len());
        assert!(body.ends_with("(10000 bytes in all)"), "{body}");
    }
}
