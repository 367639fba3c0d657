//! Model references users type: a directory, `runs:/RUN_ID/PATH` in a tracking store, or a
//! registered model `models:/NAME@ALIAS` / `models:/NAME/VERSION` / `models:/NAME/latest`.

use std::path::PathBuf;

use super::StoreError;

/// Where a model is, before it is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// A model directory on disk.
    Dir(PathBuf),
    /// An artifact path inside a run: `runs:/<run_id>/<path>`.
    Run { run_id: String, path: String },
    /// A registered model version: `models:/<name>@<alias>`, `models:/<name>/<version>` or `models:/<name>/latest`.
    Registered { name: String, selector: VersionSelector },
}

/// Which version of a registered model a `models:/` URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    Alias(String),
    Version(u64),
    /// The highest version number, as MLflow resolves `models:/NAME/latest`.
    Latest,
}

impl std::fmt::Display for VersionSelector {
    /// The selector as it follows the name in a `models:/` URI.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionSelector::Alias(alias) => write!(f, "@{alias}"),
            VersionSelector::Version(version) => write!(f, "/{version}"),
            VersionSelector::Latest => write!(f, "/latest"),
        }
    }
}

impl ModelRef {
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        if let Some(rest) = text.strip_prefix("runs:/") {
            let rest = rest.trim_start_matches('/');
            let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
            if run_id.is_empty() || path.is_empty() {
                return Err(StoreError::InvalidValue {
                    what: "model URI",
                    value: text.to_string(),
                    message: "expected runs:/<run_id>/<artifact path>, e.g. runs:/0123…/model".to_string(),
                });
            }
            return Ok(ModelRef::Run { run_id: run_id.to_string(), path: path.trim_end_matches('/').to_string() });
        }
        if let Some(rest) = text.strip_prefix("models:/") {
            return parse_registered(text, rest.trim_start_matches('/'));
        }
        if let Some((scheme, _)) = text.split_once(":/")
            && scheme.len() > 1
        {
            return Err(StoreError::InvalidValue {
                what: "model URI",
                value: text.to_string(),
                message: format!(
                    "unsupported scheme {scheme:?}: use a directory, runs:/<run_id>/<path> or models:/<name>@<alias>"
                ),
            });
        }
        Ok(ModelRef::Dir(PathBuf::from(text)))
    }
}

fn parse_registered(text: &str, rest: &str) -> Result<ModelRef, StoreError> {
    let invalid = || StoreError::InvalidValue {
        what: "model URI",
        value: text.to_string(),
        message: "expected models:/<name>@<alias>, models:/<name>/<version> or models:/<name>/latest".to_string(),
    };
    let rest = rest.trim_end_matches('/');
    let (name, selector) = if let Some((name, alias)) = rest.rsplit_once('@') {
        (name, VersionSelector::Alias(alias.to_string()))
    } else if let Some((name, version)) = rest.rsplit_once('/') {
        // MLflow matches `latest` case-insensitively (`_parse_model_uri` in mlflow/store/artifact/utils/models.py).
        if version.eq_ignore_ascii_case("latest") {
            (name, VersionSelector::Latest)
        } else {
            (name, VersionSelector::Version(version.parse().map_err(|_| invalid())?))
        }
    } else {
        return Err(invalid());
    };
    if name.is_empty() || matches!(&selector, VersionSelector::Alias(a) if a.is_empty()) {
        return Err(invalid());
    }
    Ok(ModelRef::Registered { name: name.to_string(), selector })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            ModelRef::parse("runs:/abc/model").ok(),
            Some(ModelRef::Run { run_id: "abc".into(), path: "model".into() })
        );
        assert_eq!(ModelRef::parse("some/dir").ok(), Some(ModelRef::Dir("some/dir".into())));
        assert!(ModelRef::parse("runs:/abc").is_err());
        assert!(ModelRef::parse("s3://x").is_err());
        assert_eq!(
            ModelRef::parse("models:/diabetes@champion").ok(),
            Some(ModelRef::Registered { name: "diabetes".into(), selector: VersionSelector::Alias("champion".into()) })
        );
        assert_eq!(
            ModelRef::parse("models:/diabetes/3").ok(),
            Some(ModelRef::Registered { name: "diabetes".into(), selector: VersionSelector::Version(3) })
        );
        assert!(ModelRef::parse("models:/diabetes").is_err());
        assert_eq!(
            ModelRef::parse("models:/diabetes/latest").ok(),
            Some(ModelRef::Registered { name: "diabetes".into(), selector: VersionSelector::Latest })
        );
        assert!(ModelRef::parse("models:/diabetes/newest").is_err());
        assert!(ModelRef::parse("models:/@x").is_err());
    }
}
