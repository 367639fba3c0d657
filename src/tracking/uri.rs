//! Tracking URIs: which store a URI names.

use std::path::{Path, PathBuf};

use super::StoreError;

/// Where runs are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackingUri {
    /// An MLflow file-store directory (a path or `file:` URI).
    Local(PathBuf),
    /// An MLflow tracking server.
    Http(String),
}

/// The embedded default store, relative to the current directory.
pub const DEFAULT_LOCAL_STORE: &str = "mlruns";

impl TrackingUri {
    /// Parses a URI: `http(s)://…` is a server, `file:…` or any path is a local store.
    pub fn parse(uri: &str) -> Result<Self, StoreError> {
        let invalid = |message: &str| StoreError::InvalidUri { uri: uri.to_string(), message: message.to_string() };
        if uri.trim().is_empty() {
            return Err(invalid("empty"));
        }
        let lower = uri.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Ok(TrackingUri::Http(uri.trim_end_matches('/').to_string()));
        }
        if let Some(rest) = uri.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(invalid("a file:// URI needs an absolute path, e.g. file:///home/me/mlruns"));
            }
            return Ok(TrackingUri::Local(PathBuf::from(percent_decode(rest))));
        }
        if let Some(rest) = uri.strip_prefix("file:") {
            return Ok(TrackingUri::Local(PathBuf::from(percent_decode(rest))));
        }
        if let Some((scheme, _)) = uri.split_once("://") {
            return Err(invalid(&format!(
                "unsupported scheme {scheme:?}: use a directory, file:, http:// or https://"
            )));
        }
        Ok(TrackingUri::Local(PathBuf::from(uri)))
    }

    /// The default store: `./mlruns`.
    pub fn default_local() -> Self {
        TrackingUri::Local(PathBuf::from(DEFAULT_LOCAL_STORE))
    }
}

impl std::fmt::Display for TrackingUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrackingUri::Local(path) => write!(f, "{}", file_uri(path)),
            TrackingUri::Http(url) => write!(f, "{url}"),
        }
    }
}

/// `file://` URI of a path, made absolute against the current directory.
pub fn file_uri(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    format!("file://{}", absolute.display())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        assert_eq!(TrackingUri::parse("mlruns").ok(), Some(TrackingUri::Local("mlruns".into())));
        assert_eq!(TrackingUri::parse("file:///tmp/a%20b").ok(), Some(TrackingUri::Local("/tmp/a b".into())));
        assert_eq!(TrackingUri::parse("file:rel/dir").ok(), Some(TrackingUri::Local("rel/dir".into())));
        assert_eq!(
            TrackingUri::parse("http://127.0.0.1:5000/").ok(),
            Some(TrackingUri::Http("http://127.0.0.1:5000".into()))
        );
        assert!(TrackingUri::parse("s3://bucket").is_err());
        assert!(TrackingUri::parse("").is_err());
    }
}
