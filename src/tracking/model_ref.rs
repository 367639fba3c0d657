//! Model references users type: a directory, or `runs:/RUN_ID/PATH` in a tracking store.

use std::path::PathBuf;

use super::StoreError;

/// Where a model is, before it is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// A model directory on disk.
    Dir(PathBuf),
    /// An artifact path inside a run: `runs:/<run_id>/<path>`.
    Run { run_id: String, path: String },
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
        if let Some((scheme, _)) = text.split_once(":/")
            && scheme.len() > 1
        {
            return Err(StoreError::InvalidValue {
                what: "model URI",
                value: text.to_string(),
                message: format!("unsupported scheme {scheme:?}: use a directory or runs:/<run_id>/<path>"),
            });
        }
        Ok(ModelRef::Dir(PathBuf::from(text)))
    }
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
    }
}
