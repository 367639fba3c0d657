//! Scoring images without a container engine: the mlops binary (with its runtime), CA
//! certificates and a model as reproducible OCI layers, stacked on nothing (`scratch`) or on a
//! base image, with an entrypoint that serves the model. The image is built in memory; `oci`
//! writes it as an image layout or pushes it.

mod layer;
mod lineage;
mod runtime;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Serialize;

pub use layer::{Layer, LayerBuilder};
pub use lineage::{MlmodelFacts, ModelInfo, mlmodel_facts, rfc3339_millis};
pub use runtime::{RuntimeFile, runtime_files};

use crate::error_kind::{ErrorKind, HasKind};
use crate::oci::{
    Descriptor, Digest, Healthcheck, History, Image, ImageConfig, MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_LAYER_GZIP,
    MEDIA_TYPE_OCI_MANIFEST, Manifest,
};

/// Where things are in the image.
pub const BINARY_PATH: &str = "/usr/local/bin/mlops";
pub const MODEL_PATH: &str = "/model";
pub const CA_PATH: &str = "/etc/ssl/certs/ca-certificates.crt";
/// distroless's `nonroot` user, so the same uid owns files on either base.
pub const USER: &str = "65532:65532";
/// The one platform images are built for.
pub const PLATFORM: &str = "linux/amd64";

/// A base image to stack on, already pulled.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// As the user named it, for the `base.name` annotation.
    pub name: String,
    pub image: Image,
}

/// A model to bake in.
#[derive(Debug, Clone)]
pub struct ModelSource {
    pub dir: PathBuf,
    pub info: ModelInfo,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    pub binary: PathBuf,
    pub ca_bundle: PathBuf,
    /// None builds a tool image: mlops on the PATH and no entrypoint (for jobs on a base with a shell).
    pub model: Option<ModelSource>,
    pub base: Option<BaseImage>,
    pub port: u16,
}

/// One layer, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct LayerSummary {
    pub what: String,
    pub digest: String,
    pub size: u64,
}

/// The built image and a description of its layers.
#[derive(Debug, Clone)]
pub struct Built {
    pub image: Image,
    pub layers: Vec<LayerSummary>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("binary {}: {message}", path.display())]
    Binary { path: PathBuf, message: String },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("base image {name}: {message}")]
    Base { name: String, message: String },
    #[error("cannot build a layer")]
    Layer(#[source] std::io::Error),
}

impl HasKind for ImageError {
    fn kind(&self) -> ErrorKind {
        match self {
            ImageError::Layer(_) => ErrorKind::Internal,
            _ => ErrorKind::Input,
        }
    }
}

/// Builds the image: base layers (if any), then system files, mlops, the model.
pub fn build(spec: &BuildSpec) -> Result<Built, ImageError> {
    let read =
        |path: &Path| std::fs::read(path).map_err(|source| ImageError::Read { path: path.to_path_buf(), source });
    let (mut config, mut manifest_layers, mut blobs, mut summaries) = match &spec.base {
        Some(base) => base_parts(base)?,
        None => (ImageConfig::default(), Vec::new(), BTreeMap::new(), Vec::new()),
    };
    let created = spec.model.as_ref().and_then(|m| m.info.created.clone());
    let mut add = |what: &str, builder: LayerBuilder, config: &mut ImageConfig| -> Result<Digest, ImageError> {
        let layer = builder.build().map_err(ImageError::Layer)?;
        config.rootfs.diff_ids.push(layer.diff_id.clone());
        config.history.push(History {
            created: created.clone(),
            created_by: Some(format!("mlops image build: {what}")),
            ..History::default()
        });
        manifest_layers.push(Descriptor::new(
            MEDIA_TYPE_OCI_LAYER_GZIP,
            layer.digest.clone(),
            layer.compressed.len() as u64,
        ));
        summaries.push(LayerSummary {
            what: what.to_string(),
            digest: layer.digest.to_string(),
            size: layer.compressed.len() as u64,
        });
        blobs.insert(layer.digest.clone(), layer.compressed);
        Ok(layer.diff_id)
    };

    let mut system = LayerBuilder::default();
    system.file(CA_PATH, read(&spec.ca_bundle)?, 0o644);
    if spec.base.is_none() {
        // scratch has no users: name root and nonroot (65532, as distroless does) for tools that ask.
        system.file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
                .to_vec(),
            0o644,
        );
        system.file("etc/group", b"root:x:0:\nnonroot:x:65532:\n".to_vec(), 0o644);
        system.dir("tmp", 0o1777);
        system.dir("home/nonroot", 0o755);
    }
    add("system files", system, &mut config)?;

    let mut tool = LayerBuilder::default();
    tool.file(BINARY_PATH, read(&spec.binary)?, 0o755);
    // On a base the base's C library serves: its loader and libc replace ours, and a layer
    // holding `lib/` would hide a base whose /lib is a symlink (merged /usr).
    if spec.base.is_none() {
        for file in runtime_files(&spec.binary)? {
            tool.file(&file.image_path, read(&file.host_path)?, 0o755);
        }
    }
    add("mlops", tool, &mut config)?;

    let model_digest = match &spec.model {
        Some(model) => {
            let mut files = LayerBuilder::default();
            add_tree(&mut files, &model.dir, &model.dir)?;
            Some(add("model", files, &mut config)?)
        }
        None => None,
    };

    let annotations = annotations(spec, model_digest.as_ref());
    set_run_config(&mut config, spec, &annotations);
    config.created = created;
    config.architecture = "amd64".to_string();
    config.os = "linux".to_string();
    config.rootfs.kind = "layers".to_string();
    let config_bytes = Bytes::from(serde_json::to_vec(&config).unwrap_or_default());
    let config_digest = Digest::of(&config_bytes);
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_OCI_MANIFEST.to_string()),
        config: Descriptor::new(MEDIA_TYPE_OCI_CONFIG, config_digest.clone(), config_bytes.len() as u64),
        layers: manifest_layers,
        annotations: annotations.clone(),
    };
    blobs.insert(config_digest, config_bytes);
    Ok(Built { image: Image::new(manifest, blobs), layers: summaries, annotations })
}

type Parts = (ImageConfig, Vec<Descriptor>, BTreeMap<Digest, Bytes>, Vec<LayerSummary>);

/// The base's config and layers, to build on. Docker layer types become their OCI equal (the
/// bytes are the same).
fn base_parts(base: &BaseImage) -> Result<Parts, ImageError> {
    let bad = |message: String| ImageError::Base { name: base.name.clone(), message };
    let config = base.image.config().map_err(bad)?;
    if config.os != "linux" || config.architecture != "amd64" {
        return Err(bad(format!("it is {}/{}, not {PLATFORM}", config.os, config.architecture)));
    }
    if config.rootfs.diff_ids.len() != base.image.manifest.layers.len() {
        return Err(bad("its config and manifest name different numbers of layers".to_string()));
    }
    let mut layers = Vec::new();
    let mut blobs = BTreeMap::new();
    let mut summaries = Vec::new();
    for layer in &base.image.manifest.layers {
        let data =
            base.image.blobs.get(&layer.digest).ok_or_else(|| bad(format!("layer {} is missing", layer.digest)))?;
        layers.push(Descriptor::new(MEDIA_TYPE_OCI_LAYER_GZIP, layer.digest.clone(), layer.size));
        blobs.insert(layer.digest.clone(), data.clone());
        summaries.push(LayerSummary {
            what: format!("base {}", base.name),
            digest: layer.digest.to_string(),
            size: layer.size,
        });
    }
    Ok((config, layers, blobs, summaries))
}

/// Every file below `dir`, at `/model/<relative path>` (symlinks followed; the download cache's
/// completion marker left out).
fn add_tree(layer: &mut LayerBuilder, root: &Path, dir: &Path) -> Result<(), ImageError> {
    let read_err = |path: &Path, source| ImageError::Read { path: path.to_path_buf(), source };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| read_err(dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| read_err(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if entry.file_name() == ".mlops-complete" {
            continue;
        }
        let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        let image_path = format!("{}/{relative}", MODEL_PATH.trim_start_matches('/'));
        if path.is_dir() {
            layer.dir(&image_path, 0o755);
            add_tree(layer, root, &path)?;
        } else {
            layer.file(&image_path, std::fs::read(&path).map_err(|e| read_err(&path, e))?, 0o644);
        }
    }
    Ok(())
}

/// The manifest's annotations (also the config's labels): OCI's keys for what and whence,
/// `mlops.model.*` for the model.
fn annotations(spec: &BuildSpec, model_digest: Option<&Digest>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            out.insert(key.to_string(), value.to_string());
        }
    };
    if let Some(model) = &spec.model {
        let info = &model.info;
        put("org.opencontainers.image.title", Some(&info.name));
        put("org.opencontainers.image.version", info.version.as_deref());
        put("org.opencontainers.image.created", info.created.as_deref());
        put("org.opencontainers.image.source", info.source.as_deref());
        put("org.opencontainers.image.revision", info.revision.as_deref());
        put("mlops.model.name", Some(&info.name));
        put("mlops.model.version", info.version.as_deref());
        put("mlops.model.run_id", info.run_id.as_deref());
        put("mlops.model.digest", model_digest.map(Digest::as_str));
    }
    if let Some(base) = &spec.base {
        put("org.opencontainers.image.base.name", Some(&base.name));
        put("org.opencontainers.image.base.digest", Some(base.image.digest().as_str()));
    }
    out
}

/// How the container runs: `mlops serve` on the model as a non-root user, or, with no model, a
/// tool image whose command is `mlops --help`.
fn set_run_config(config: &mut ImageConfig, spec: &BuildSpec, labels: &BTreeMap<String, String>) {
    let run = &mut config.config;
    let mut env = run.env.take().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string());
    }
    let binary = BINARY_PATH.to_string();
    match &spec.model {
        Some(_) => {
            env.retain(|e| !e.starts_with("MLOPS_MODEL="));
            env.push(format!("MLOPS_MODEL={MODEL_PATH}"));
            let port = spec.port.to_string();
            run.entrypoint = Some(vec![
                binary.clone(),
                "serve".into(),
                "--host".into(),
                "0.0.0.0".into(),
                "--port".into(),
                port.clone(),
            ]);
            run.cmd = None;
            run.user = Some(USER.to_string());
            run.exposed_ports = Some(BTreeMap::from([(format!("{port}/tcp"), Default::default())]));
            // No shell or curl in scratch: the binary probes itself.
            run.healthcheck = Some(Healthcheck {
                test: vec![
                    "CMD".into(),
                    binary,
                    "smoke-test".into(),
                    "--get".into(),
                    "--url".into(),
                    format!("http://127.0.0.1:{port}/ready"),
                    "--timeout".into(),
                    "4".into(),
                    "-q".into(),
                ],
                interval: 30_000_000_000,
                timeout: 5_000_000_000,
                start_period: 5_000_000_000,
                retries: 3,
            });
            run.stop_signal = Some("SIGTERM".to_string());
        }
        None => {
            run.entrypoint = None;
            run.cmd = Some(vec![binary, "--help".into()]);
            if spec.base.is_none() {
                run.user = Some(USER.to_string());
            }
        }
    }
    run.env = Some(env);
    if run.working_dir.as_deref().is_none_or(str::is_empty) {
        run.working_dir = Some(if spec.base.is_none() { "/home/nonroot".to_string() } else { "/".to_string() });
    }
    let mut all_labels = run.labels.take().unwrap_or_default();
    all_labels.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    run.labels = (!all_labels.is_empty()).then_some(all_labels);
}
