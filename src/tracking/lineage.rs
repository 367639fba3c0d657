//! Lineage tags: what a run records so that its model can be traced and rebuilt (data, code,
//! build, CI), and reading them back. MLflow's own `mlflow.source.git.*` keys are used where MLflow
//! has one; the rest are `mlops.*`.

use std::collections::BTreeMap;

use serde::Serialize;

pub const GIT_COMMIT: &str = "mlflow.source.git.commit";
pub const GIT_REPO_URL: &str = "mlflow.source.git.repoURL";
pub const GIT_BRANCH: &str = "mlflow.source.git.branch";
/// MLflow has no tag for uncommitted changes.
pub const GIT_DIRTY: &str = "mlops.source.git.dirty";
pub const MLOPS_VERSION: &str = "mlops.version";
pub const BUILD_TARGET: &str = "mlops.build.target";
pub const CI_BUILD_ID: &str = "mlops.ci.build_id";
pub const CI_BUILD_URL: &str = "mlops.ci.build_url";
/// The full SHA-256 of the training file (the dataset input's digest is its first 16 hex digits).
pub const DATA_SHA256: &str = "mlops.data.sha256";
/// Where the training file came from: an absolute path, or a blob URL for a dataset version in a datastore.
pub const DATA_SOURCE: &str = "mlops.data.source";
pub const DATASET_NAME: &str = "mlops.dataset.name";
pub const DATASET_VERSION: &str = "mlops.dataset.version";
pub const DATASET_SHA256: &str = "mlops.dataset.sha256";
/// On a run made by `mlops reproduce --log`: the run it reproduces.
pub const REPRODUCES: &str = "mlops.reproduces";

/// The run tags a model version copies, under the same names, so a version can be traced without its run.
pub const VERSION_TAGS: [&str; 14] = [
    GIT_COMMIT,
    GIT_REPO_URL,
    GIT_BRANCH,
    GIT_DIRTY,
    MLOPS_VERSION,
    BUILD_TARGET,
    CI_BUILD_ID,
    CI_BUILD_URL,
    DATA_SHA256,
    DATA_SOURCE,
    DATASET_NAME,
    DATASET_VERSION,
    DATASET_SHA256,
    REPRODUCES,
];

/// The training parameters a version copies as `mlops.param.NAME` tags.
pub const VERSION_PARAMS: [&str; 5] = ["alpha", "test_size", "seed", "target", "data"];

/// Where the code and the binary of a run came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CodeLineage {
    pub git_commit: Option<String>,
    /// The `origin` remote, without any user or password it was configured with.
    pub git_repo_url: Option<String>,
    pub git_branch: Option<String>,
    /// `None` outside a git work tree.
    pub git_dirty: Option<bool>,
    pub mlops_version: String,
    pub build_target: String,
    pub ci_build_id: Option<String>,
    pub ci_build_url: Option<String>,
}

impl CodeLineage {
    /// The lineage as run tags (absent facts are left out rather than recorded empty).
    pub fn tags(&self) -> Vec<(String, String)> {
        let mut tags = Vec::new();
        let mut push = |key: &str, value: Option<&str>| {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                tags.push((key.to_string(), value.to_string()));
            }
        };
        push(GIT_COMMIT, self.git_commit.as_deref());
        push(GIT_REPO_URL, self.git_repo_url.as_deref());
        push(GIT_BRANCH, self.git_branch.as_deref());
        push(GIT_DIRTY, self.git_dirty.map(|d| if d { "true" } else { "false" }));
        push(MLOPS_VERSION, Some(&self.mlops_version));
        push(BUILD_TARGET, Some(&self.build_target));
        push(CI_BUILD_ID, self.ci_build_id.as_deref());
        push(CI_BUILD_URL, self.ci_build_url.as_deref());
        tags
    }
}

/// A model version's lineage tags, copied from its run's tags and parameters.
pub fn version_tags(tags: &BTreeMap<String, String>, params: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> =
        VERSION_TAGS.iter().filter_map(|key| tags.get(*key).map(|v| (key.to_string(), v.clone()))).collect();
    for name in VERSION_PARAMS {
        if let Some(value) = params.get(name) {
            out.insert(format!("mlops.param.{name}"), value.clone());
        }
    }
    out
}

/// A git remote URL with any `user[:password]@` removed, so a token in it never reaches a tag.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if path.is_empty() && !rest.contains('/') {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}/{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_in_remote_urls() {
        assert_eq!(redact_url("https://user:ghp_secret@github.com/o/r.git"), "https://github.com/o/r.git");
        assert_eq!(redact_url("https://token@dev.azure.com/org/p/_git/r"), "https://dev.azure.com/org/p/_git/r");
        assert_eq!(redact_url("https://github.com/o/r.git"), "https://github.com/o/r.git");
        // scp-like SSH remotes carry no secret.
        assert_eq!(redact_url("git@github.com:o/r.git"), "git@github.com:o/r.git");
        assert_eq!(redact_url("ssh://git@host"), "ssh://host");
    }

    #[test]
    fn absent_facts_are_not_tags() {
        let lineage = CodeLineage {
            git_dirty: Some(true),
            mlops_version: "1.2.3".into(),
            build_target: "x86_64-unknown-linux-gnu".into(),
            ..Default::default()
        };
        let tags: BTreeMap<_, _> = lineage.tags().into_iter().collect();
        assert_eq!(tags.get(GIT_DIRTY).map(String::as_str), Some("true"));
        assert_eq!(tags.get(MLOPS_VERSION).map(String::as_str), Some("1.2.3"));
        assert!(!tags.contains_key(GIT_COMMIT));
        assert_eq!(tags.len(), 3);
    }

    #[test]
    fn versions_copy_lineage_and_params() {
        let tags = BTreeMap::from([
            (GIT_COMMIT.to_string(), "abc".to_string()),
            ("mlflow.user".to_string(), "me".to_string()),
        ]);
        let params = BTreeMap::from([("alpha".to_string(), "0.4".to_string())]);
        let out = version_tags(&tags, &params);
        assert_eq!(out.get(GIT_COMMIT).map(String::as_str), Some("abc"));
        assert_eq!(out.get("mlops.param.alpha").map(String::as_str), Some("0.4"));
        assert!(!out.contains_key("mlflow.user"));
    }
}
