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
    /// An Azure Machine Learning workspace's MLflow endpoint (`azureml://…`).
    AzureMl(AzureMlUri),
}

/// An `azureml://{host}/mlflow/v1.0/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}` URI,
/// as a workspace's `mlFlowTrackingUri` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureMlUri {
    /// `{region}.api.azureml.ms` (with a port, if any).
    pub host: String,
    pub subscription: String,
    pub resource_group: String,
    pub workspace: String,
}

impl AzureMlUri {
    /// The workspace scope: `subscriptions/…/workspaces/{ws}`.
    fn scope(&self) -> String {
        format!(
            "subscriptions/{}/resourceGroups/{}/providers/Microsoft.MachineLearningServices/workspaces/{}",
            self.subscription, self.resource_group, self.workspace
        )
    }

    /// The REST base MLflow ≥ 2 clients use, as the azureml-mlflow plugin maps it: `https://`, the
    /// same host, `/mlflow/v2.0/` and the workspace scope; `/api/2.0/mlflow/…` follows.
    pub fn rest_base(&self) -> String {
        format!("https://{}/mlflow/v2.0/{}", self.host, self.scope())
    }

    fn parse(uri: &str) -> Result<Self, String> {
        let rest = &uri["azureml://".len()..];
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() {
            return Err("the host is missing (expected azureml://<region>.api.azureml.ms/mlflow/v1.0/…)".into());
        }
        let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let expected = [
            "mlflow",
            "v1.0",
            "subscriptions",
            "{subscription}",
            "resourceGroups",
            "{resource group}",
            "providers",
            "Microsoft.MachineLearningServices",
            "workspaces",
            "{workspace}",
        ];
        for (index, want) in expected.iter().enumerate() {
            let got = parts.get(index).copied().unwrap_or("");
            let ok = if want.starts_with('{') {
                !got.is_empty()
            } else if *want == "v1.0" {
                got.eq_ignore_ascii_case("v1.0") || got.eq_ignore_ascii_case("v2.0")
            } else {
                got.eq_ignore_ascii_case(want)
            };
            if !ok {
                let found = if got.is_empty() { "nothing".to_string() } else { format!("{got:?}") };
                return Err(format!(
                    "path segment {} should be {} but is {found}; the URI must look like azureml://<host>/mlflow/v1.0/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.MachineLearningServices/workspaces/<name> (copy it from the workspace's MLflow tracking URI)",
                    index + 1,
                    if want.starts_with('{') {
                        format!("the {}", want.trim_matches(['{', '}']))
                    } else {
                        format!("{want:?}")
                    },
                ));
            }
        }
        if parts.len() > expected.len() {
            return Err(format!(
                "unexpected {:?} after the workspace name; the URI ends with workspaces/<name>",
                parts[expected.len()..].join("/")
            ));
        }
        Ok(AzureMlUri {
            host: host.to_string(),
            subscription: parts[3].to_string(),
            resource_group: parts[5].to_string(),
            workspace: parts[9].to_string(),
        })
    }
}

/// The embedded default store, relative to the current directory.
pub const DEFAULT_LOCAL_STORE: &str = "mlruns";

impl TrackingUri {
    /// Parses a URI: `http(s)://…` is a server, `azureml://…` an Azure ML workspace, `file:…` or
    /// any path is a local store.
    pub fn parse(uri: &str) -> Result<Self, StoreError> {
        let invalid = |message: &str| StoreError::InvalidUri { uri: uri.to_string(), message: message.to_string() };
        if uri.trim().is_empty() {
            return Err(invalid("empty"));
        }
        let lower = uri.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            // Checked here, not when the client is built, so that `http://` is a bad URI (exit 2)
            // like every other, not a failure to build a client.
            match reqwest::Url::parse(uri) {
                Ok(url) if url.host_str().is_some_and(|h| !h.is_empty()) => {}
                Ok(_) => return Err(invalid("the URL has no host")),
                Err(err) => return Err(invalid(&format!("not a valid URL: {err}"))),
            }
            return Ok(TrackingUri::Http(uri.trim_end_matches('/').to_string()));
        }
        if lower.starts_with("azureml://") {
            return AzureMlUri::parse(uri).map(TrackingUri::AzureMl).map_err(|message| invalid(&message));
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
                "unsupported scheme {scheme:?}: use a directory, file:, http://, https:// or azureml://"
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
            TrackingUri::AzureMl(aml) => write!(f, "azureml://{}/mlflow/v1.0/{}", aml.host, aml.scope()),
        }
    }
}

/// `file://` URI of a path, made absolute against the current directory.
pub fn file_uri(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    format!("file://{}", absolute.display())
}

pub(crate) fn percent_decode(text: &str) -> String {
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
        for bad in ["http://", "https://", "http://:5000", "http://[::1"] {
            assert!(matches!(TrackingUri::parse(bad), Err(StoreError::InvalidUri { .. })), "{bad}");
        }
    }

    const AML: &str = "azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/s-1/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws";

    #[test]
    fn azureml_maps_to_the_v2_rest_base() {
        let Ok(TrackingUri::AzureMl(aml)) = TrackingUri::parse(AML) else { panic!("azureml URI not parsed") };
        assert_eq!(
            aml.rest_base(),
            "https://westeurope.api.azureml.ms/mlflow/v2.0/subscriptions/s-1/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
        );
        assert_eq!(TrackingUri::AzureMl(aml).to_string(), AML);
        let lower = AML
            .replace("resourceGroups", "resourcegroups")
            .replace("Microsoft.MachineLearningServices", "microsoft.machinelearningservices");
        assert!(TrackingUri::parse(&lower).is_ok(), "segments match case-insensitively");
        assert!(TrackingUri::parse(&format!("{AML}/")).is_ok());
    }

    #[test]
    fn malformed_azureml_names_the_wrong_part() {
        let message = |uri: &str| TrackingUri::parse(uri).err().map(|e| e.to_string()).unwrap_or_default();
        let text = message(&AML.replace("resourceGroups", "resourceGroup"));
        assert!(text.contains("\"resourceGroups\"") && text.contains("\"resourceGroup\""), "{text}");
        let text = message(&AML.replace("Microsoft.MachineLearningServices", "Microsoft.ML"));
        assert!(text.contains("Microsoft.MachineLearningServices") && text.contains("segment 8"), "{text}");
        let text = message(&AML.replace("/workspaces/ws", "/workspaces"));
        assert!(text.contains("the workspace but is nothing"), "{text}");
        assert!(message("azureml:///mlflow/v1.0").contains("host is missing"));
        assert!(message(&format!("{AML}/extra")).contains("\"extra\""));
    }
}
