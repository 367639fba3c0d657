//! What a reproduction needs from the record: the training parameters, the lineage that must
//! match (mlops version, a clean tree), and the training data, found and checked by its digest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Problem;
use crate::data::registry::{DatasetRef, DatasetRegistry};
use crate::ml::split::TestSize;
use crate::tracking::Run;
use crate::tracking::lineage;

/// The recorded training parameters.
#[derive(Debug, Clone, Serialize)]
pub struct Params {
    pub alpha: f64,
    #[serde(serialize_with = "serialize_test_size")]
    pub test_size: TestSize,
    pub seed: u32,
    pub target: String,
}

fn serialize_test_size<S: serde::Serializer>(size: &TestSize, s: S) -> Result<S::Ok, S::Error> {
    match size {
        TestSize::Fraction(f) => s.serialize_f64(*f),
        TestSize::Rows(r) => s.serialize_u64(*r as u64),
    }
}

/// Reads the parameters `mlops train` logged; a missing or unreadable one is a problem.
pub fn params(run: &Run) -> Result<Params, Problem> {
    let get = |name: &str| {
        run.params.get(name).ok_or_else(|| {
            Problem::new(
                "params-missing",
                format!("run {} has no parameter {name:?}: it was not made by mlops train", run.info.run_id),
            )
        })
    };
    let bad = |name: &str, value: &str| {
        Problem::new("params-invalid", format!("run {}: parameter {name}={value:?} is not valid", run.info.run_id))
    };
    let alpha_text = get("alpha")?;
    let alpha: f64 =
        alpha_text.parse().ok().filter(|a: &f64| a.is_finite() && *a >= 0.0).ok_or_else(|| bad("alpha", alpha_text))?;
    let size_text = get("test_size")?;
    let test_size = TestSize::parse(size_text).map_err(|_| bad("test_size", size_text))?;
    let seed_text = get("seed")?;
    let seed = seed_text.parse().map_err(|_| bad("seed", seed_text))?;
    Ok(Params { alpha, test_size, seed, target: get("target")?.clone() })
}

/// The lineage a reproduction is judged against, as recorded and as it is here.
#[derive(Debug, Clone, Serialize)]
pub struct LineageCheck {
    pub recorded_mlops_version: Option<String>,
    pub mlops_version: String,
    pub recorded_build_target: Option<String>,
    pub build_target: String,
    pub git_commit: Option<String>,
    pub git_repo_url: Option<String>,
    pub git_dirty: Option<bool>,
}

/// Compares the run's lineage with this binary: another mlops version, or a dirty tree, means the
/// record does not pin down the code that trained the model.
pub fn check_lineage(
    tags: &BTreeMap<String, String>,
    mlops_version: &str,
    build_target: &str,
) -> (LineageCheck, Vec<Problem>, Vec<String>) {
    let check = LineageCheck {
        recorded_mlops_version: tags.get(lineage::MLOPS_VERSION).cloned(),
        mlops_version: mlops_version.to_string(),
        recorded_build_target: tags.get(lineage::BUILD_TARGET).cloned(),
        build_target: build_target.to_string(),
        git_commit: tags.get(lineage::GIT_COMMIT).cloned(),
        git_repo_url: tags.get(lineage::GIT_REPO_URL).cloned(),
        git_dirty: tags.get(lineage::GIT_DIRTY).map(|d| d == "true"),
    };
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    match &check.recorded_mlops_version {
        Some(recorded) if recorded != mlops_version => problems.push(Problem::new(
            "mlops-version",
            format!("trained by mlops {recorded}, reproduced with mlops {mlops_version}"),
        )),
        Some(_) => {}
        None => warnings
            .push(format!("the run does not record the mlops version that trained it ({})", lineage::MLOPS_VERSION)),
    }
    if check.git_dirty == Some(true) {
        problems.push(Problem::new(
            "dirty-tree",
            format!(
                "trained from a git work tree with uncommitted changes (commit {}, {}=true): the commit does not say what code ran",
                check.git_commit.as_deref().unwrap_or("unknown"),
                lineage::GIT_DIRTY
            ),
        ));
    }
    if let Some(recorded) = check.recorded_build_target.as_deref().filter(|t| *t != build_target) {
        warnings.push(format!("trained by a build for {recorded}, reproduced with one for {build_target}"));
    }
    (check, problems, warnings)
}

/// The training data the reproduction uses, and where it was found.
#[derive(Debug, Clone, Serialize)]
pub struct DataFound {
    /// `flag` (--data), `dataset` (a registered version), `path` or `blob`.
    pub from: &'static str,
    /// What was read: a path, or the blob URL.
    pub source: String,
    /// The local file training reads (a cached download for a blob).
    pub path: String,
    pub sha256: String,
}

/// Where the recorded data may be, in the order they are tried.
#[derive(Debug, Clone, PartialEq)]
pub enum Candidate {
    Flag(PathBuf),
    Path(PathBuf),
    Blob(String),
}

/// The recorded digest: the full SHA-256 when the run has it, else the dataset input's 16-digit prefix.
pub fn recorded_digest(run: &Run) -> Option<String> {
    run.tags
        .get(lineage::DATA_SHA256)
        .or_else(|| run.tags.get(lineage::DATASET_SHA256))
        .cloned()
        .or_else(|| run.inputs.first().map(|i| i.digest.clone()).filter(|d| !d.is_empty()))
}

/// Every place the run says its data came from: `--data`, the registered dataset version (its
/// registry copy, then its blob), the recorded source, the dataset input's URI, the `data` parameter.
pub fn candidates(run: &Run, flag: Option<&Path>, registry: &DatasetRegistry) -> Vec<Candidate> {
    let mut out = Vec::new();
    if let Some(path) = flag {
        out.push(Candidate::Flag(path.to_path_buf()));
    }
    if let (Some(name), Some(version)) = (run.tags.get(lineage::DATASET_NAME), run.tags.get(lineage::DATASET_VERSION))
        && let Ok(reference) = DatasetRef::parse(&format!("{name}:{version}"))
        && let Ok(dataset) = registry.get(&reference)
    {
        out.push(Candidate::Path(PathBuf::from(&dataset.path)));
        if let Some(url) = dataset.blob_url {
            out.push(Candidate::Blob(url));
        }
    }
    let mut source = |text: &str| {
        let candidate = if text.starts_with("https://") || text.starts_with("http://") {
            Candidate::Blob(text.to_string())
        } else {
            Candidate::Path(PathBuf::from(text.strip_prefix("file://").unwrap_or(text)))
        };
        // A relative `data` parameter often names the same file as the absolute source.
        let same = |c: &Candidate| match (c, &candidate) {
            (Candidate::Path(a), Candidate::Path(b)) => std::path::absolute(a).ok() == std::path::absolute(b).ok(),
            (a, b) => a == b,
        };
        if !out.iter().any(same) {
            out.push(candidate);
        }
    };
    if let Some(text) = run.tags.get(lineage::DATA_SOURCE) {
        source(text);
    }
    for input in &run.inputs {
        if let Some(uri) = serde_json::from_str::<serde_json::Value>(&input.source)
            .ok()
            .and_then(|v| v["uri"].as_str().map(String::from))
        {
            source(&uri);
        }
    }
    if let Some(data) = run.params.get("data") {
        source(data);
    }
    out
}

/// The hex SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `sha256` (full) matches the recorded digest (full, or a prefix of it).
pub fn digest_matches(sha256: &str, recorded: &str) -> bool {
    !recorded.is_empty() && sha256.starts_with(&recorded.to_ascii_lowercase())
}

/// The container URL and blob name of a blob URL. Path-style URLs (an IP address or localhost, as
/// Azurite and other emulators serve them) carry the account as the first path segment.
pub fn split_blob_url(url: &str) -> Option<(String, String)> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let path_style = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok();
    let segments: Vec<&str> = parsed.path_segments()?.collect();
    let skip = usize::from(path_style);
    if segments.len() < skip + 2 {
        return None;
    }
    let origin = parsed.origin().ascii_serialization();
    let container = segments[..=skip].join("/");
    Some((format!("{origin}/{container}"), segments[skip + 1..].join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(params: &[(&str, &str)], tags: &[(&str, &str)]) -> Run {
        Run::finished("r1", params, tags)
    }

    #[test]
    fn reads_the_recorded_parameters_exactly() {
        let r = run(&[("alpha", "0.4"), ("test_size", "0.2"), ("seed", "7"), ("target", "Y")], &[]);
        let p = params(&r).expect("params");
        assert_eq!(p.alpha.to_bits(), 0.4f64.to_bits());
        assert_eq!(p.test_size, TestSize::Fraction(0.2));
        assert_eq!(p.seed, 7);
        let missing = params(&run(&[("alpha", "0.4")], &[])).expect_err("no test_size");
        assert_eq!(missing.kind, "params-missing");
        let bad = params(&run(&[("alpha", "-1"), ("test_size", "0.2"), ("seed", "0"), ("target", "Y")], &[]));
        assert_eq!(bad.expect_err("negative").kind, "params-invalid");
    }

    #[test]
    fn another_version_or_a_dirty_tree_is_a_problem() {
        let tags: BTreeMap<String, String> = [(lineage::MLOPS_VERSION, "0.0.1"), (lineage::GIT_DIRTY, "true")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (_, problems, _) = check_lineage(&tags, "0.1.0", "x");
        let kinds: Vec<&str> = problems.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, ["mlops-version", "dirty-tree"]);
        assert!(problems[0].message.contains("0.0.1") && problems[0].message.contains("0.1.0"));

        let clean: BTreeMap<String, String> = [(lineage::MLOPS_VERSION.to_string(), "0.1.0".to_string())].into();
        let (_, problems, warnings) = check_lineage(&clean, "0.1.0", "x");
        assert!(problems.is_empty() && warnings.is_empty());
        let (_, problems, warnings) = check_lineage(&BTreeMap::new(), "0.1.0", "x");
        assert!(problems.is_empty());
        assert_eq!(warnings.len(), 1, "an unrecorded version is a warning");
    }

    #[test]
    fn candidates_come_in_order_without_repeats() {
        let r = run(&[("data", "data/d.csv")], &[(lineage::DATA_SOURCE, "/abs/d.csv")]);
        let registry = DatasetRegistry::for_store(Path::new("/nonexistent/mlruns"));
        let found = candidates(&r, Some(Path::new("mine.csv")), &registry);
        assert_eq!(
            found,
            [
                Candidate::Flag("mine.csv".into()),
                Candidate::Path("/abs/d.csv".into()),
                Candidate::Path("data/d.csv".into())
            ]
        );
        let blob = run(&[], &[(lineage::DATA_SOURCE, "https://a.blob.core.windows.net/c/datasets/x/d.csv")]);
        assert_eq!(
            candidates(&blob, None, &registry),
            [Candidate::Blob("https://a.blob.core.windows.net/c/datasets/x/d.csv".into())]
        );
    }

    #[test]
    fn digests_and_blob_urls() {
        let full = sha256(b"abc");
        assert!(digest_matches(&full, &full));
        assert!(digest_matches(&full, &full[..16]));
        assert!(!digest_matches(&full, ""));
        assert!(!digest_matches(&sha256(b"abd"), &full));
        assert_eq!(
            split_blob_url("https://acct.blob.core.windows.net/c/datasets/d/sha256/x/d.csv"),
            Some(("https://acct.blob.core.windows.net/c".into(), "datasets/d/sha256/x/d.csv".into()))
        );
        assert_eq!(
            split_blob_url("http://127.0.0.1:10000/devstoreaccount1/c/d.csv"),
            Some(("http://127.0.0.1:10000/devstoreaccount1/c".into(), "d.csv".into()))
        );
        assert_eq!(split_blob_url("https://acct.blob.core.windows.net/c"), None);
    }
}
