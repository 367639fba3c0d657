//! `bicep restore`: fetch the registry modules (`br:`) a Bicep file uses over the OCI
//! distribution protocol, and its template specs (`ts:`) from ARM, into the cache the compiler
//! reads, checking each as the official tool does (module artifact type, exactly one ARM layer,
//! digests, valid JSON; a template spec version with an id and a main template).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::bicep::registry::{self, Config, ModuleRef};
use super::bicep::template_spec::{self, SpecRef};
use super::bicep::{self, BicepError, ExternalUse};
use crate::azure::HttpError;
use crate::azure::template_specs::TemplateSpecsClient;
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
    #[error("{}:{line}: template spec '{reference}': cannot sign in to Azure: {message}", file.display())]
    SignIn { file: PathBuf, line: usize, reference: String, kind: ErrorKind, message: String },
    #[error("{}:{line}: template spec '{reference}' cannot be restored{}", file.display(),
        if source.status == Some(404) { " (no such template spec version)" } else { "" })]
    TemplateSpec {
        file: PathBuf,
        line: usize,
        reference: String,
        #[source]
        source: Box<HttpError>,
    },
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
            RestoreError::SignIn { kind, .. } => *kind,
            RestoreError::TemplateSpec { source, .. } => match source.status {
                Some(404) => ErrorKind::NotFound,
                _ => source.kind(),
            },
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
    /// Registry modules: the registry host and repository, and the manifest digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Template specs: the resource id of the version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_spec: Option<String>,
    pub cache: PathBuf,
    /// `restored` (fetched now) or `cached` (already in the cache).
    pub status: &'static str,
}

/// Why no template specs client could be made (no usable Azure settings or no sign-in), and
/// what kind of failure that is.
#[derive(Debug, Clone)]
pub struct SignInFailure {
    pub kind: ErrorKind,
    pub message: String,
}

/// Restores every registry module and template spec `file` (and its local modules) uses. With
/// `force`, fetches those that are already cached again. `registry` makes the client for one
/// registry host, `template_specs` signs in to ARM; each is called only when a module needs it,
/// so a file without template specs needs no Azure sign-in.
pub async fn restore(
    file: &Path,
    force: bool,
    registry: &dyn Fn(&str) -> Result<OciClient, OciError>,
    template_specs: impl AsyncFn() -> Result<TemplateSpecsClient, SignInFailure>,
) -> Result<Vec<Restored>, RestoreError> {
    let uses = bicep::external_references(file)?;
    let mut clients: BTreeMap<String, OciClient> = BTreeMap::new();
    let mut specs: Option<TemplateSpecsClient> = None;
    let mut out = Vec::new();
    for using in uses {
        let config = Config::for_file(&using.file).map_err(|m| reference_error(&using, m))?;
        if template_spec::is_template_spec(&using.reference) {
            let spec = config.parse_spec(&using.reference).map_err(|m| reference_error(&using, m))?;
            let dir = config.spec_cache_dir(&spec);
            let cached = !force && dir.join("main.json").is_file();
            if !cached {
                if specs.is_none() {
                    let made = template_specs().await.map_err(|failure| RestoreError::SignIn {
                        file: using.file.clone(),
                        line: using.line,
                        reference: using.reference.clone(),
                        kind: failure.kind,
                        message: failure.message,
                    })?;
                    specs = Some(made);
                }
                if let Some(client) = &specs {
                    fetch_spec(client, &spec, &using, &dir).await?;
                }
            }
            out.push(Restored {
                reference: using.reference.clone(),
                file: using.file.clone(),
                line: using.line,
                registry: None,
                repository: None,
                version: spec.version.clone(),
                digest: None,
                template_spec: Some(spec.resource_id()),
                cache: dir,
                status: if cached { "cached" } else { "restored" },
            });
            continue;
        }
        let module = config.parse(&using.reference).map_err(|m| reference_error(&using, m))?;
        let dir = config.cache_dir(&module);
        let cached = !force && dir.join("main.json").is_file() && dir.join("manifest").is_file();
        let mut digest = read_digest(&dir);
        if !cached {
            if !clients.contains_key(&module.registry) {
                let made = registry(&module.registry).map_err(|source| registry_error(&using, source))?;
                clients.insert(module.registry.clone(), made);
            }
            let oci = &clients[&module.registry];
            digest = Some(fetch(oci, &module, &using, &dir).await?);
        }
        out.push(Restored {
            reference: using.reference.clone(),
            file: using.file.clone(),
            line: using.line,
            registry: Some(module.registry.clone()),
            repository: Some(module.repository.clone()),
            version: module.version().to_string(),
            digest,
            template_spec: None,
            cache: dir,
            status: if cached { "cached" } else { "restored" },
        });
    }
    Ok(out)
}

fn reference_error(using: &ExternalUse, message: String) -> RestoreError {
    RestoreError::Reference { file: using.file.clone(), line: using.line, reference: using.reference.clone(), message }
}

fn registry_error(using: &ExternalUse, source: OciError) -> RestoreError {
    RestoreError::Registry {
        file: using.file.clone(),
        line: using.line,
        reference: using.reference.clone(),
        source: Box::new(source),
    }
}

fn artifact_error(using: &ExternalUse, message: String) -> RestoreError {
    RestoreError::Artifact { file: using.file.clone(), line: using.line, reference: using.reference.clone(), message }
}

fn read_digest(dir: &Path) -> Option<String> {
    let text = std::fs::read(dir.join("metadata")).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&text).ok()?;
    json["manifestDigest"].as_str().map(str::to_string)
}

/// Fetches the manifest and the ARM layer, checks them, and writes the cache directory; returns the manifest digest.
async fn fetch(oci: &OciClient, module: &ModuleRef, using: &ExternalUse, dir: &Path) -> Result<String, RestoreError> {
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
    let metadata = metadata.to_string();
    write_cache(dir, &[("main.json", &body), ("manifest", &bytes), ("metadata", metadata.as_bytes())])?;
    Ok(manifest_digest.to_string())
}

/// Fetches a template spec version, checks that the compiler can use it, and caches the body as
/// ARM sent it (as the official tool does).
async fn fetch_spec(
    client: &TemplateSpecsClient,
    spec: &SpecRef,
    using: &ExternalUse,
    dir: &Path,
) -> Result<(), RestoreError> {
    let body = client.get_version(&spec.resource_id()).await.map_err(|source| RestoreError::TemplateSpec {
        file: using.file.clone(),
        line: using.line,
        reference: using.reference.clone(),
        source: Box::new(source),
    })?;
    if let Err(m) = template_spec::spec_from_bytes(&body) {
        return Err(RestoreError::Artifact {
            file: using.file.clone(),
            line: using.line,
            reference: using.reference.clone(),
            message: format!("ARM's answer {m}"),
        });
    }
    write_cache(dir, &[("main.json", &body)])
}

/// Writes the files into a temporary sibling and renames it over the directory, so that a
/// concurrent compile never sees a half-written module.
fn write_cache(dir: &Path, files: &[(&str, &[u8])]) -> Result<(), RestoreError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RestoreError::Cache { path, source }
    };
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let tmp = parent.join(format!(".tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    for (name, bytes) in files {
        std::fs::write(tmp.join(name), bytes).map_err(io(&tmp))?;
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::rename(&tmp, dir).map_err(io(dir))
}
