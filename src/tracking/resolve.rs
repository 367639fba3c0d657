//! Turning a model reference into the model directory on disk: the one place every command that
//! loads a model asks, so the model registry plugs in here.

use std::path::PathBuf;

use super::model_ref::VersionSelector;
use super::{LocalStore, ModelRef, StoreError, TrackingUri};

/// A model directory and the name and version it is known by (for logs and request records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    pub dir: PathBuf,
    /// What the user asked for: the directory, or the URI as typed.
    pub name: String,
    /// The run id for `runs:/`, the version number for `models:/`; none for a bare directory.
    pub version: Option<String>,
}

/// Finds the directory of `model`, looking `runs:/` URIs up in `tracking`.
pub fn resolve_model(model: &ModelRef, tracking: &TrackingUri) -> Result<ResolvedModel, StoreError> {
    match model {
        ModelRef::Dir(dir) => Ok(ResolvedModel { dir: dir.clone(), name: dir.display().to_string(), version: None }),
        ModelRef::Run { run_id, path } => match tracking {
            TrackingUri::Local(root) => Ok(ResolvedModel {
                dir: LocalStore::open(root)?.artifact_dir(run_id)?.join(path),
                name: format!("runs:/{run_id}/{path}"),
                version: Some(run_id.clone()),
            }),
            TrackingUri::Http(url) => Err(StoreError::Unsupported {
                what: format!("runs:/{run_id}/{path}"),
                message: format!(
                    "runs:/ URIs on a tracking server ({url}) cannot be resolved yet; download the model first"
                ),
            }),
        },
        ModelRef::Registered { name, selector } => {
            let uri = match selector {
                VersionSelector::Alias(alias) => format!("models:/{name}@{alias}"),
                VersionSelector::Version(version) => format!("models:/{name}/{version}"),
            };
            Err(StoreError::Unsupported {
                what: uri,
                message:
                    "the model registry is not available in this build; use a model directory or runs:/<run_id>/model"
                        .to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_resolve_to_themselves_and_registry_uris_are_refused() {
        let tracking = TrackingUri::default_local();
        let dir = resolve_model(&ModelRef::Dir("m".into()), &tracking).expect("dir");
        assert_eq!(dir.dir, PathBuf::from("m"));
        let err = resolve_model(&ModelRef::parse("models:/diabetes@champion").expect("parse"), &tracking)
            .expect_err("no registry");
        assert!(err.to_string().contains("models:/diabetes@champion"), "{err}");
    }
}
