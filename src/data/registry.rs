//! The local dataset registry: named datasets with numbered versions, a new version only when the
//! file's SHA-256 changed. Each version keeps a copy of its file, so a version stays trainable
//! after the original file changes.
//!
//! Layout: `ROOT/NAME/VERSION/dataset.json` and `ROOT/NAME/VERSION/FILE_NAME`, where ROOT sits
//! beside the tracking store (`mlruns-datasets` for `mlruns`): MLflow's file store treats every
//! directory inside its root as an experiment, so the registry must not live there.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::DataError;

/// One registered version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetVersion {
    pub name: String,
    pub version: u32,
    pub sha256: String,
    /// MLflow's short digest: the first 16 hex digits of the SHA-256.
    pub digest: String,
    pub description: Option<String>,
    pub created_at: String,
    /// The file as the user gave it when registering.
    pub original_path: String,
    /// The registry's own copy, which training reads.
    pub path: String,
    pub size_bytes: u64,
    /// The content-addressed blob, once uploaded to a datastore.
    pub blob_url: Option<String>,
}

/// Which version of a dataset: `NAME`, `NAME:latest` or `NAME:3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRef {
    pub name: String,
    pub version: Option<u32>,
}

impl DatasetRef {
    pub fn parse(text: &str) -> Result<Self, DataError> {
        let invalid = |message: &str| DataError::DatasetRef { text: text.to_string(), message: message.to_string() };
        let (name, version) = match text.split_once(':') {
            None => (text, None),
            Some((name, "latest")) => (name, None),
            Some((name, v)) => {
                let version: u32 = v.parse().map_err(|_| invalid("the version must be a number or \"latest\""))?;
                if version == 0 {
                    return Err(invalid("versions start at 1"));
                }
                (name, Some(version))
            }
        };
        check_name(name).map_err(|m| invalid(&m))?;
        Ok(DatasetRef { name: name.to_string(), version })
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let ok_first = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok_first && ok_rest && name.len() <= 100 {
        Ok(())
    } else {
        Err("a dataset name is 1 to 100 letters, digits, '-', '_' or '.', starting with a letter or digit".to_string())
    }
}

/// The outcome of a registration.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    /// False when the latest version already had this content.
    pub created: bool,
    #[serde(flatten)]
    pub dataset: DatasetVersion,
}

/// A registry directory.
#[derive(Debug, Clone)]
pub struct DatasetRegistry {
    root: PathBuf,
}

impl DatasetRegistry {
    /// The registry that belongs to the local tracking store at `store`.
    pub fn for_store(store: &Path) -> Self {
        let name = store.file_name().map_or_else(|| "mlruns".into(), |n| n.to_string_lossy().into_owned());
        let parent = store.parent().map(Path::to_path_buf).unwrap_or_default();
        DatasetRegistry { root: parent.join(format!("{name}-datasets")) }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Registers `data` under `name`: a new version when its SHA-256 differs from the latest.
    pub fn register(&self, name: &str, data: &Path, description: Option<&str>) -> Result<Registration, DataError> {
        let bytes = std::fs::read(data).map_err(|source| DataError::Open { path: data.to_path_buf(), source })?;
        let file_name = data.file_name().map_or_else(|| "data.csv".into(), |n| n.to_string_lossy().into_owned());
        let original = std::path::absolute(data).unwrap_or_else(|_| data.to_path_buf()).display().to_string();
        self.register_bytes(name, &file_name, &bytes, &original, description)
    }

    /// Registers content that is not a local file (a blob): `file_name` names the registry's copy,
    /// `original` (a path or URL) is recorded as where it came from.
    pub fn register_bytes(
        &self,
        name: &str,
        file_name: &str,
        bytes: &[u8],
        original: &str,
        description: Option<&str>,
    ) -> Result<Registration, DataError> {
        check_name(name).map_err(|message| DataError::DatasetRef { text: name.to_string(), message })?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        let versions = self.versions(name)?;
        if let Some(latest) = versions.last().filter(|v| v.sha256 == sha256) {
            return Ok(Registration { created: false, dataset: latest.clone() });
        }
        let version = versions.last().map_or(1, |v| v.version + 1);
        let dir = self.root.join(name).join(version.to_string());
        let file_name = Path::new(file_name).file_name().map_or_else(|| "data.csv".into(), |n| n.to_string_lossy());
        let copy = dir.join(file_name.as_ref());
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        std::fs::write(&copy, bytes).map_err(io(&copy))?;
        let dataset = DatasetVersion {
            name: name.to_string(),
            version,
            digest: sha256.chars().take(16).collect(),
            sha256,
            description: description.map(str::to_string),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            original_path: original.to_string(),
            path: std::path::absolute(&copy).unwrap_or(copy).display().to_string(),
            size_bytes: bytes.len() as u64,
            blob_url: None,
        };
        self.write(&dataset)?;
        Ok(Registration { created: true, dataset })
    }

    /// Records where a version was uploaded.
    pub fn set_blob_url(&self, dataset: &DatasetVersion, url: &str) -> Result<DatasetVersion, DataError> {
        let mut updated = dataset.clone();
        updated.blob_url = Some(url.to_string());
        self.write(&updated)?;
        Ok(updated)
    }

    /// One version (the latest when the reference names none).
    pub fn get(&self, reference: &DatasetRef) -> Result<DatasetVersion, DataError> {
        let versions = self.versions(&reference.name)?;
        let found = match reference.version {
            None => versions.last().cloned(),
            Some(v) => versions.into_iter().find(|d| d.version == v),
        };
        found.ok_or_else(|| DataError::DatasetNotFound {
            name: reference.name.clone(),
            version: reference.version,
            registry: self.root.clone(),
        })
    }

    /// Every version of a dataset, oldest first (none when the dataset is unknown).
    pub fn versions(&self, name: &str) -> Result<Vec<DatasetVersion>, DataError> {
        let dir = self.root.join(name);
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut versions = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let meta = entry.path().join("dataset.json");
            if entry.file_name().to_string_lossy().parse::<u32>().is_err() || !meta.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&meta).map_err(io(&meta))?;
            let version: DatasetVersion = serde_json::from_str(&text)
                .map_err(|e| DataError::Registry { path: meta.clone(), message: e.to_string() })?;
            versions.push(version);
        }
        versions.sort_by_key(|v| v.version);
        Ok(versions)
    }

    /// The names of every registered dataset, sorted.
    pub fn names(&self) -> Result<Vec<String>, DataError> {
        if !self.root.is_dir() {
            return Ok(Vec::new());
        }
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(io(&self.root))? {
            let entry = entry.map_err(io(&self.root))?;
            if entry.path().is_dir() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn write(&self, dataset: &DatasetVersion) -> Result<(), DataError> {
        let path = self.root.join(&dataset.name).join(dataset.version.to_string()).join("dataset.json");
        let text = serde_json::to_string_pretty(dataset)
            .map_err(|e| DataError::Registry { path: path.clone(), message: e.to_string() })?;
        // Write then rename, so a reader never sees half a record.
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }
}

/// The content-addressed blob name of a version: the same bytes always land at the same name.
pub fn blob_name(dataset: &DatasetVersion) -> String {
    let file =
        Path::new(&dataset.path).file_name().map_or_else(|| "data.csv".into(), |n| n.to_string_lossy().into_owned());
    format!("datasets/{}/sha256/{}/{file}", dataset.name, dataset.sha256)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::RegistryIo { path: path.to_path_buf(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_bump_only_on_new_content() {
        let dir = tempfile::tempdir().expect("temp dir");
        let registry = DatasetRegistry::for_store(&dir.path().join("mlruns"));
        assert_eq!(registry.root(), dir.path().join("mlruns-datasets"));
        let data = dir.path().join("d.csv");
        std::fs::write(&data, "a\n1\n").expect("write");
        let first = registry.register("d", &data, Some("first")).expect("register");
        assert!(first.created);
        assert_eq!(first.dataset.version, 1);
        assert!(!registry.register("d", &data, None).expect("again").created);
        std::fs::write(&data, "a\n2\n").expect("write");
        let second = registry.register("d", &data, None).expect("changed");
        assert_eq!((second.created, second.dataset.version), (true, 2));
        let v1 = registry.get(&DatasetRef::parse("d:1").expect("ref")).expect("v1");
        assert_eq!(std::fs::read_to_string(&v1.path).expect("copy"), "a\n1\n", "v1 keeps its content");
        assert_eq!(registry.get(&DatasetRef::parse("d").expect("ref")).expect("latest").version, 2);
        assert!(matches!(
            registry.get(&DatasetRef::parse("d:9").expect("ref")),
            Err(DataError::DatasetNotFound { .. })
        ));
        assert_eq!(registry.names().expect("names"), ["d"]);
    }

    #[test]
    fn references() {
        assert_eq!(DatasetRef::parse("diabetes:latest").expect("ok").version, None);
        assert_eq!(DatasetRef::parse("diabetes:2").expect("ok").version, Some(2));
        assert!(DatasetRef::parse("diabetes:0").is_err());
        assert!(DatasetRef::parse("../x").is_err());
        assert!(DatasetRef::parse("").is_err());
    }
}
