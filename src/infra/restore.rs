//! `bicep restore`: fetch the registry modules (`br:`) a Bicep file uses over the OCI
//! distribution protocol into the cache the compiler reads, checking the artifact as the official
//! tool does (module artifact type, exactly one ARM layer, digests, valid JSON).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::bicep::registry::{self, Config, ModuleRef};
use super::bicep::{self, BicepError, RegistryUse};
use crate::error_kind::{ErrorKind, HasKind};
use crate::oci::{Digest, Manifest, NoProgress, OciClient, OciError};

/// Why a restore failed; every variant names the module reference and where it is used.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Bicep(#[from] BicepError),
    #[error("{}:{line}: module '{reference}': {message}", file.display())]
    Reference { file: PathBuf, line: usize, reference: String, message: String },
    #[error("{}:{line}: module '{reference}' cannot be restored", file.display())]
    Registry {
        file: PathBuf,
        line: usize,
        reference: String,
        #[source]
        source: Box<OciError>,
    },
    #[error("{}:{line}: module '{reference}': {message}", file.display())]
    Artifact { file: PathBuf, line: usize, reference: String, message: String },
    #[error("cannot write the module cache {}: {source}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl HasKind for RestoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            RestoreError::Bicep(e) => HasKind::kind(e),
            RestoreError::Reference { .. } => ErrorKind::Input,
            RestoreError::Registry { source, .. } => match source.as_ref() {
                // A missing manifest or repository is the reference's fault, not the registry's.
                OciError::Http { source, .. } if source.status == Some(404) => ErrorKind::NotFound,
                other => other.kind(),
            },
            RestoreError::Artifact { .. } => ErrorKind::Remote,
            RestoreError::Cache { .. } => ErrorKind::Internal,
        }
    }
}

/// One module of a restore: where it came from and where it is cached.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub reference: String,
    pub file: PathBuf,
    pub line: usize,
    pub registry: String,
    pub repository: String,
    pub version: String,
    pub digest: Option<String>,
    pub cache: PathBuf,
    /// `restored` (fetched now) or `cached` (already in the cache).
    pub status: &'static str,
}

/// Restores every registry module `file` (and its local modules) uses. With `force`, fetches
/// modules that are already cached again. `client` makes the client for one registry host.
pub async fn restore(
    file: &Path,
    force: bool,
    client: &dyn Fn(&str) -> Result<OciClient, OciError>,
) -> Result<Vec<Restored>, RestoreError> {
    let uses = bicep::registry_modules(file)?;
    let mut clients: BTreeMap<String, OciClient> = BTreeMap::new();
    let mut out = Vec::new();
    for using in uses {
        let config = Config::for_file(&using.file).map_err(|m| reference_error(&using, m))?;
        let module = config.parse(&using.reference).map_err(|m| reference_error(&using, m))?;
        let dir = config.cache_dir(&module);
        let cached = !force && dir.join("main.json").is_file() && dir.join("manifest").is_file();
        let mut digest = read_digest(&dir);
        if !cached {
            if !clients.contains_key(&module.registry) {
                let made = client(&module.registry).map_err(|source| registry_error(&using, source))?;
                clients.insert(module.registry.clone(), made);
            }
            let oci = &clients[&module.registry];
            digest = Some(fetch(oci, &module, &using, &dir).await?);
        }
        out.push(Restored {
            reference: using.reference.clone(),
            file: using.file.clone(),
            line: using.line,
            registry: module.registry.clone(),
            repository: module.repository.clone(),
            version: module.version().to_string(),
            digest,
            cache: dir,
            status: if cached { "cached" } else { "restored" },
        });
    }
    Ok(out)
}

fn reference_error(using: &RegistryUse, message: String) -> RestoreError {
    RestoreError::Reference { file: using.file.clone(), line: using.line, reference: using.reference.clone(), message }
}

fn registry_error(using: &RegistryUse, source: OciError) -> RestoreError {
    RestoreError::Registry {
        file: using.file.clone(),
        line: using.line,
        reference: using.reference.clone(),
        source: Box::new(source),
    }
}

fn artifact_error(using: &RegistryUse, message: String) -> RestoreError {
    RestoreError::Artifact { file: using.file.clone(), line: using.line, reference: using.reference.clone(), message }
}

fn read_digest(dir: &Path) -> Option<String> {
    let text = std::fs::read(dir.join("metadata")).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&text).ok()?;
    json["manifestDigest"].as_str().map(str::to_string)
}

/// Fetches the manifest and the ARM layer, checks them, and writes the cache directory; returns the manifest digest.
async fn fetch(oci: &OciClient, module: &ModuleRef, using: &RegistryUse, dir: &Path) -> Result<String, RestoreError> {
    let (_, bytes) =
        oci.get_manifest(&module.repository, module.version()).await.map_err(|e| registry_error(using, e))?;
    let manifest_digest = Digest::of(&bytes);
    let raw: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| artifact_error(using, format!("the manifest is not valid JSON: {e}")))?;
    if let Some(kind) = raw["artifactType"].as_str().filter(|k| !k.eq_ignore_ascii_case(registry::MODULE_ARTIFACT)) {
        return Err(artifact_error(
            using,
            format!("the artifact is a '{kind}', not a Bicep module ('{}')", registry::MODULE_ARTIFACT),
        ));
    }
    let manifest: Manifest = serde_json::from_value(raw)
        .map_err(|e| artifact_error(using, format!("the manifest is not an OCI image manifest: {e}")))?;
    if !manifest.config.media_type.eq_ignore_ascii_case(registry::MODULE_CONFIG) {
        return Err(artifact_error(
            using,
            format!(
                "the config media type is '{}', not a Bicep module's ('{}')",
                manifest.config.media_type,
                registry::MODULE_CONFIG
            ),
        ));
    }
    let layers: Vec<_> =
        manifest.layers.iter().filter(|l| l.media_type.eq_ignore_ascii_case(registry::MODULE_LAYER)).collect();
    let [layer] = layers.as_slice() else {
        return Err(artifact_error(
            using,
            format!("expected exactly one '{}' layer, found {}", registry::MODULE_LAYER, layers.len()),
        ));
    };
    let body =
        oci.get_blob(&module.repository, &layer.digest, &mut NoProgress).await.map_err(|e| registry_error(using, e))?;
    if body.len() as u64 != layer.size {
        return Err(artifact_error(
            using,
            format!("the layer has {} bytes, the manifest says {}", body.len(), layer.size),
        ));
    }
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&body) {
        return Err(artifact_error(using, format!("the module layer is not a JSON template: {e}")));
    }
    let metadata = serde_json::json!({ "manifestDigest": manifest_digest.to_string() });
    write_cache(dir, &bytes, &body, &metadata)?;
    Ok(manifest_digest.to_string())
}

/// Writes the files into a temporary sibling and renames it over the directory, so that a
/// concurrent compile never sees a half-written module.
fn write_cache(dir: &Path, manifest: &[u8], main: &[u8], metadata: &serde_json::Value) -> Result<(), RestoreError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RestoreError::Cache { path, source }
    };
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let tmp = parent.join(format!(".tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    std::fs::write(tmp.join("main.json"), main).map_err(io(&tmp))?;
    std::fs::write(tmp.join("manifest"), manifest).map_err(io(&tmp))?;
    std::fs::write(tmp.join("metadata"), metadata.to_string()).map_err(io(&tmp))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::rename(&tmp, dir).map_err(io(dir))
}
