//! What an image says about its model: name, version, run, and the run's lineage (source
//! repository, revision, and when it was made). `created` comes from the run, never the clock,
//! so the same model gives the same image digest.

use std::path::Path;

use serde::Deserialize;

/// The model facts an image is annotated with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelInfo {
    pub name: String,
    pub version: Option<String>,
    pub run_id: Option<String>,
    /// RFC 3339, from the run (its end, else its start) or the model's `utc_time_created`.
    pub created: Option<String>,
    /// The git remote the run recorded (`mlflow.source.git.repoURL`).
    pub source: Option<String>,
    /// The git commit the run recorded (`mlflow.source.git.commit`).
    pub revision: Option<String>,
}

/// What a model directory's `MLmodel` says about the run that wrote it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MlmodelFacts {
    pub run_id: Option<String>,
    /// RFC 3339 (UTC) of `utc_time_created`.
    pub created: Option<String>,
}

/// Reads `run_id` and `utc_time_created` from `dir/MLmodel`; a missing or unreadable file gives none.
pub fn mlmodel_facts(dir: &Path) -> MlmodelFacts {
    #[derive(Deserialize)]
    struct Doc {
        #[serde(default)]
        run_id: Option<String>,
        #[serde(default)]
        utc_time_created: Option<String>,
    }
    let Ok(text) = std::fs::read_to_string(dir.join("MLmodel")) else { return MlmodelFacts::default() };
    let Ok(doc) = yaml_serde::from_str::<Doc>(&text) else { return MlmodelFacts::default() };
    // MLflow writes `%Y-%m-%d %H:%M:%S.%f` in UTC.
    let created = doc.utc_time_created.as_deref().and_then(|t| {
        chrono::NaiveDateTime::parse_from_str(t.trim(), "%Y-%m-%d %H:%M:%S%.f")
            .ok()
            .map(|d| d.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    });
    MlmodelFacts { run_id: doc.run_id.filter(|r| !r.is_empty()), created }
}

/// A run time (milliseconds since the epoch) as RFC 3339 in UTC, to the second.
pub fn rfc3339_millis(millis: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(millis).map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mlmodel_run_and_time() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("MLmodel"), "run_id: abc123\nutc_time_created: '2024-03-01 12:34:56.789012'\n")
            .expect("write");
        assert_eq!(
            mlmodel_facts(dir.path()),
            MlmodelFacts { run_id: Some("abc123".into()), created: Some("2024-03-01T12:34:56Z".into()) }
        );
        assert_eq!(mlmodel_facts(&dir.path().join("missing")), MlmodelFacts::default());
        assert_eq!(rfc3339_millis(1_700_000_000_123).as_deref(), Some("2023-11-14T22:13:20Z"));
    }
}
