//! Azure's side of the one HTTP error (`crate::http::HttpError`): reading azure_core responses
//! and transport failures into it.

use azure_core::http::Url;
use azure_core::http::headers::{HeaderName, Headers};

pub use crate::http::{ErrorDetail, HttpError, redact_url};

/// A response with a failure status, as the one HTTP error.
pub fn from_response(method: &str, url: &Url, status: u16, headers: &Headers, body: &[u8]) -> HttpError {
    HttpError::from_response(method, url, status, |name| header(headers, name), body)
}

fn header(headers: &Headers, name: &str) -> Option<String> {
    headers.get_optional_string(&HeaderName::from(name.to_ascii_lowercase()))
}
