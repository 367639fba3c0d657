//! The registry in MLflow's file-store layout: `models/<name>/meta.yaml`,
//! `models/<name>/version-<n>/{meta.yaml,tags/}`, `models/<name>/aliases/<alias>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{ModelVersion, NewVersion, RegisteredModel, RegistryError};
use crate::tracking::local::{publish_dir, read_yaml, write_file, write_staged, write_yaml, yaml_int, yaml_str};
use crate::tracking::uri::file_uri;
use crate::tracking::{LocalStore, StoreError, now_millis};

/// The registry beside a local tracking store.
#[derive(Debug, Clone)]
pub struct LocalRegistry {
    store: LocalStore,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Store(StoreError::Io { path: path.to_path_buf(), source })
}

impl LocalRegistry {
    pub fn new(store: LocalStore) -> Self {
        LocalRegistry { store }
    }

    fn model_dir(&self, name: &str) -> PathBuf {
        self.store.root().join("models").join(name)
    }

    fn require_model(&self, name: &str) -> Result<PathBuf, RegistryError> {
        let dir = self.model_dir(name);
        if dir.join("meta.yaml").is_file() {
            Ok(dir)
        } else {
            Err(RegistryError::ModelNotFound { name: name.to_string() })
        }
    }

    /// Registers the run's `model` artifact as the next version (creating the model if needed).
    pub fn create_version(&self, new: &NewVersion) -> Result<ModelVersion, RegistryError> {
        let model_dir = self.store.artifact_dir(&new.run_id)?.join("model");
        if !model_dir.join("MLmodel").is_file() {
            return Err(RegistryError::NoModel { run_id: new.run_id.clone() });
        }
        let dir = self.model_dir(&new.name);
        let now = now_millis();
        // Model and version directories appear whole (see `publish_dir`): MLflow's registry
        // fails on one without its meta.yaml. A model's is staged in `.trash/mlops-staging`: the
        // registry never looks into `.trash`, and MLflow's listing of deleted experiments takes
        // `mlops-staging` for a malformed one and skips it with a warning (a name starting with a
        // dot would be an invalid experiment id: an error), and only while the staging exists.
        if !dir.join("meta.yaml").is_file() {
            #[derive(Serialize)]
            struct ModelMeta<'a> {
                creation_timestamp: i64,
                description: Option<&'a str>,
                last_updated_timestamp: i64,
                name: &'a str,
            }
            let meta =
                ModelMeta { creation_timestamp: now, description: None, last_updated_timestamp: now, name: &new.name };
            if let Some(models) = dir.parent() {
                std::fs::create_dir_all(models).map_err(io(models))?;
            }
            let staging = self.store.root().join(".trash").join("mlops-staging");
            publish_dir(&dir, &staging, |temp| write_yaml(&temp.join("meta.yaml"), &meta))?;
            // Fails while another writer stages there; the last one out removes it.
            let _ = std::fs::remove_dir(&staging);
        }
        #[derive(Serialize)]
        struct VersionMeta<'a> {
            creation_timestamp: i64,
            current_stage: &'a str,
            description: Option<&'a str>,
            last_updated_timestamp: i64,
            model_id: Option<&'a str>,
            name: &'a str,
            run_id: &'a str,
            run_link: Option<&'a str>,
            source: &'a str,
            status: &'a str,
            status_message: Option<&'a str>,
            user_id: Option<&'a str>,
            version: u64,
        }
        for key in new.tags.keys() {
            safe_key(key)?;
        }
        let source = file_uri(&model_dir);
        // The next free version number; publishing refuses one another process took first.
        let mut version = self.version_numbers(&dir)?.last().copied().unwrap_or(0) + 1;
        loop {
            let meta = VersionMeta {
                creation_timestamp: now,
                current_stage: "None",
                description: new.description.as_deref(),
                last_updated_timestamp: now,
                model_id: None,
                name: &new.name,
                run_id: &new.run_id,
                run_link: None,
                source: &source,
                status: "READY",
                status_message: None,
                user_id: None,
                version,
            };
            // Staged in the model's directory under a name MLflow does not list (`version-*` only).
            let published = publish_dir(&dir.join(format!("version-{version}")), &dir, |staging| {
                write_yaml(&staging.join("meta.yaml"), &meta)?;
                for (key, value) in &new.tags {
                    write_file(&staging.join("tags").join(key), value.as_bytes())?;
                }
                Ok(())
            })?;
            if published {
                break;
            }
            version += 1;
        }
        self.version(&new.name, version)
    }

    fn version_numbers(&self, dir: &Path) -> Result<Vec<u64>, RegistryError> {
        let mut numbers: Vec<u64> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.strip_prefix("version-")?.parse().ok())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(dir)(e)),
        };
        numbers.sort_unstable();
        Ok(numbers)
    }

    pub fn versions(&self, name: &str) -> Result<Vec<ModelVersion>, RegistryError> {
        let dir = self.require_model(name)?;
        self.version_numbers(&dir)?.into_iter().map(|v| self.version(name, v)).collect()
    }

    pub fn version(&self, name: &str, version: u64) -> Result<ModelVersion, RegistryError> {
        let dir = self.require_model(name)?;
        let version_dir = dir.join(format!("version-{version}"));
        let meta_path = version_dir.join("meta.yaml");
        if !meta_path.is_file() {
            return Err(RegistryError::VersionNotFound { name: name.to_string(), version: version.to_string() });
        }
        let meta = read_yaml(&meta_path)?;
        let aliases = self.aliases(&dir)?.into_iter().filter(|(_, v)| *v == version).map(|(a, _)| a).collect();
        Ok(ModelVersion {
            name: name.to_string(),
            version,
            source: yaml_str(&meta, "source").unwrap_or_default(),
            run_id: yaml_str(&meta, "run_id"),
            model_id: yaml_str(&meta, "model_id"),
            description: yaml_str(&meta, "description"),
            creation_timestamp: yaml_int(&meta, "creation_timestamp").unwrap_or(0),
            tags: read_tags(&version_dir.join("tags"))?,
            aliases,
        })
    }

    fn aliases(&self, dir: &Path) -> Result<BTreeMap<String, u64>, RegistryError> {
        let alias_dir = dir.join("aliases");
        let mut out = BTreeMap::new();
        for (alias, value) in read_tags(&alias_dir)? {
            if let Ok(version) = value.trim().parse() {
                out.insert(alias, version);
            }
        }
        Ok(out)
    }

    pub fn by_alias(&self, name: &str, alias: &str) -> Result<Option<ModelVersion>, RegistryError> {
        let dir = self.model_dir(name);
        if !dir.join("meta.yaml").is_file() {
            return Ok(None);
        }
        match self.aliases(&dir)?.get(alias) {
            Some(version) => self.version(name, *version).map(Some),
            None => Ok(None),
        }
    }

    pub fn set_alias(&self, name: &str, alias: &str, version: u64) -> Result<(), RegistryError> {
        let dir = self.require_model(name)?;
        self.version(name, version)?;
        write_staged(&dir.join("aliases").join(alias), version.to_string().as_bytes(), &dir)?;
        Ok(())
    }

    pub fn delete_alias(&self, name: &str, alias: &str) -> Result<(), RegistryError> {
        let path = self.require_model(name)?.join("aliases").join(safe_key(alias)?);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(RegistryError::AliasNotFound { name: name.to_string(), alias: alias.to_string() })
            }
            Err(e) => Err(io(&path)(e)),
        }
    }

    pub fn models(&self) -> Result<Vec<RegisteredModel>, RegistryError> {
        let root = self.store.root().join("models");
        let mut names: Vec<String> = match std::fs::read_dir(&root) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .filter(|e| e.path().join("meta.yaml").is_file())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(&root)(e)),
        };
        names.sort();
        names.iter().map(|n| self.model(n)).collect()
    }

    pub fn model(&self, name: &str) -> Result<RegisteredModel, RegistryError> {
        let dir = self.require_model(name)?;
        let meta = read_yaml(&dir.join("meta.yaml"))?;
        Ok(RegisteredModel {
            name: name.to_string(),
            description: yaml_str(&meta, "description"),
            creation_timestamp: yaml_int(&meta, "creation_timestamp").unwrap_or(0),
            latest_version: self.version_numbers(&dir)?.last().copied(),
            aliases: self.aliases(&dir)?,
        })
    }
}

fn read_tags(dir: &Path) -> Result<BTreeMap<String, String>, RegistryError> {
    let mut out = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io(dir)(e)),
    };
    for entry in entries.filter_map(Result::ok) {
        if let Some(name) = entry.file_name().to_str()
            && !name.contains(".tmp-")
        {
            let value = std::fs::read_to_string(entry.path()).map_err(io(&entry.path()))?;
            out.insert(name.to_string(), value);
        }
    }
    Ok(out)
}

/// Tag keys and aliases become file names: no separators or dot segments.
fn safe_key(key: &str) -> Result<&str, RegistryError> {
    if key.is_empty() || key == "." || key == ".." || key.contains(['/', '\\']) {
        return Err(RegistryError::Store(StoreError::InvalidValue {
            what: "tag key",
            value: key.to_string(),
            message: "must be non-empty, without '/' or '\\', and not '.' or '..'".to_string(),
        }));
    }
    Ok(key)
}
