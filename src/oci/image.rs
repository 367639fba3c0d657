//! An image held in memory (manifest, config and layer blobs), and moving one between a
//! registry and an image layout: push (existing blobs skipped), pull (one platform).

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;

use super::TransferProgress;
use super::client::OciClient;
use super::{Descriptor, Digest, ImageConfig, Index, Manifest, OciError, Reference};

/// An image: its manifest (bytes as pushed, so the digest is stable) and every blob it names.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest: Manifest,
    pub manifest_bytes: Bytes,
    pub blobs: BTreeMap<Digest, Bytes>,
}

impl Image {
    /// Serialises `manifest` and keeps `blobs`; every blob the manifest names must be there.
    pub fn new(manifest: Manifest, blobs: BTreeMap<Digest, Bytes>) -> Self {
        let manifest_bytes = Bytes::from(serde_json::to_vec(&manifest).unwrap_or_default());
        Image { manifest, manifest_bytes, blobs }
    }

    pub fn digest(&self) -> Digest {
        Digest::of(&self.manifest_bytes)
    }

    pub fn media_type(&self) -> &str {
        self.manifest.media_type.as_deref().unwrap_or(super::MEDIA_TYPE_OCI_MANIFEST)
    }

    /// The config blob, parsed.
    pub fn config(&self) -> Result<ImageConfig, String> {
        let bytes = self.blobs.get(&self.manifest.config.digest).ok_or("the config blob is missing")?;
        serde_json::from_slice(bytes).map_err(|e| format!("the config is not an image config: {e}"))
    }

    /// Config first, then layers: the order blobs are pushed in.
    pub fn descriptors(&self) -> impl Iterator<Item = &Descriptor> {
        std::iter::once(&self.manifest.config).chain(self.manifest.layers.iter())
    }

    /// Compressed size: the manifest, the config and the layers.
    pub fn size(&self) -> u64 {
        self.manifest_bytes.len() as u64 + self.descriptors().map(|d| d.size).sum::<u64>()
    }
}

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    pub reference: String,
    pub digest: String,
    pub blobs_uploaded: usize,
    pub blobs_skipped: usize,
    pub bytes_uploaded: u64,
}

/// Pushes `image` to `reference`: each blob the repository lacks (asked with `HEAD`), then the
/// manifest under the tag. A push that stopped half-way and is run again uploads only the rest.
pub async fn push(
    client: &OciClient,
    reference: &Reference,
    image: &Image,
    progress: &mut dyn TransferProgress,
) -> Result<PushReport, OciError> {
    let repository = &reference.repository;
    let mut report = PushReport {
        reference: reference.to_string(),
        digest: image.digest().to_string(),
        blobs_uploaded: 0,
        blobs_skipped: 0,
        bytes_uploaded: 0,
    };
    for descriptor in image.descriptors() {
        let digest = &descriptor.digest;
        if client.blob_exists(repository, digest).await? {
            report.blobs_skipped += 1;
            continue;
        }
        let data = image.blobs.get(digest).ok_or_else(|| OciError::Unsupported {
            reference: reference.to_string(),
            message: format!("blob {digest} is named by the manifest but not in the image"),
        })?;
        client.push_blob(repository, digest, data, progress).await?;
        report.blobs_uploaded += 1;
        report.bytes_uploaded += data.len() as u64;
    }
    let tag = reference.tag.clone().unwrap_or_else(|| image.digest().to_string());
    client.push_manifest(repository, &tag, image.media_type(), &image.manifest_bytes).await?;
    Ok(report)
}

/// Pulls the `os/architecture` image of `reference` (choosing from an index when it is one).
pub async fn pull(
    client: &OciClient,
    reference: &Reference,
    os: &str,
    architecture: &str,
    progress: &mut dyn TransferProgress,
) -> Result<Image, OciError> {
    let repository = &reference.repository;
    let unsupported = |message: String| OciError::Unsupported { reference: reference.to_string(), message };
    let (mut media_type, mut bytes) = client.get_manifest(repository, &reference.reference()).await?;
    if media_type == super::MEDIA_TYPE_OCI_INDEX || media_type == super::MEDIA_TYPE_DOCKER_LIST {
        let index: Index = serde_json::from_slice(&bytes).map_err(|e| unsupported(format!("invalid index: {e}")))?;
        let chosen = index
            .manifests
            .iter()
            .find(|m| m.platform.as_ref().is_some_and(|p| p.os == os && p.architecture == architecture))
            .ok_or_else(|| unsupported(format!("no {os}/{architecture} image in its index")))?;
        (media_type, bytes) = client.get_manifest(repository, chosen.digest.as_str()).await?;
    }
    if media_type != super::MEDIA_TYPE_OCI_MANIFEST && media_type != super::MEDIA_TYPE_DOCKER_MANIFEST {
        return Err(unsupported(format!("unsupported manifest type {media_type:?}")));
    }
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| unsupported(format!("invalid manifest: {e}")))?;
    if let Some(layer) = manifest.layers.iter().find(|l| !super::is_gzip_layer(&l.media_type)) {
        return Err(unsupported(format!(
            "layer {} is {}, only gzip tar layers are supported",
            layer.digest, layer.media_type
        )));
    }
    let mut blobs = BTreeMap::new();
    for descriptor in std::iter::once(&manifest.config).chain(manifest.layers.iter()) {
        let data = client.get_blob(repository, &descriptor.digest, progress).await?;
        blobs.insert(descriptor.digest.clone(), data);
    }
    Ok(Image { manifest, manifest_bytes: bytes, blobs })
}
