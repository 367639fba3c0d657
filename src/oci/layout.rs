//! The OCI image layout on disk: `oci-layout`, `index.json` naming the image (with the
//! `org.opencontainers.image.ref.name` annotation), and `blobs/sha256/<hex>`. Files are written
//! under a temporary name and renamed, so an interrupted write never leaves a half blob.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{ANNOTATION_REF_NAME, Descriptor, Digest, Image, Index, Manifest, OciError};

const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_VERSION: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// Writes `image` as the only image of the layout `dir` (created if needed), named `ref_name`.
pub fn write(dir: &Path, image: &Image, ref_name: Option<&str>) -> Result<(), OciError> {
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| OciError::io("create", &blobs, e))?;
    for (digest, data) in image.blobs.iter().chain(std::iter::once((&image.digest(), &image.manifest_bytes))) {
        let path = blobs.join(digest.hex());
        if !path.is_file() {
            write_atomic(&path, data)?;
        }
    }
    let mut descriptor = Descriptor::new(image.media_type(), image.digest(), image.manifest_bytes.len() as u64);
    if let Some(name) = ref_name {
        descriptor.annotations.insert(ANNOTATION_REF_NAME.to_string(), name.to_string());
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(super::MEDIA_TYPE_OCI_INDEX.to_string()),
        manifests: vec![descriptor],
    };
    let index_bytes = serde_json::to_vec(&index).unwrap_or_default();
    write_atomic(&dir.join(LAYOUT_FILE), LAYOUT_VERSION.as_bytes())?;
    write_atomic(&dir.join("index.json"), &index_bytes)
}

/// Reads the image of the layout `dir`: the one its index names, or the one named `ref_name`.
/// Returns the image and its `ref.name`.
pub fn read(dir: &Path, ref_name: Option<&str>) -> Result<(Image, Option<String>), OciError> {
    let bad = |message: String| OciError::Layout { path: dir.to_path_buf(), message };
    let version = std::fs::read(dir.join(LAYOUT_FILE))
        .map_err(|e| bad(format!("no {LAYOUT_FILE} file ({e}): not an OCI image layout")))?;
    if !String::from_utf8_lossy(&version).contains("1.0.0") {
        return Err(bad(format!("unsupported {LAYOUT_FILE}: {}", String::from_utf8_lossy(&version))));
    }
    let index_path = dir.join("index.json");
    let index: Index =
        serde_json::from_slice(&std::fs::read(&index_path).map_err(|e| OciError::io("read", &index_path, e))?)
            .map_err(|e| bad(format!("index.json: {e}")))?;
    let named = |d: &&Descriptor| d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) == ref_name;
    let descriptor = match ref_name {
        Some(name) => {
            index.manifests.iter().find(named).ok_or_else(|| bad(format!("index.json names no image {name:?}")))?
        }
        None if index.manifests.len() == 1 => &index.manifests[0],
        None => return Err(bad(format!("index.json names {} images; say which", index.manifests.len()))),
    };
    let manifest_bytes = read_blob(dir, &descriptor.digest)?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| bad(format!("manifest {} is not an image manifest: {e}", descriptor.digest)))?;
    let mut blobs = BTreeMap::new();
    for d in std::iter::once(&manifest.config).chain(manifest.layers.iter()) {
        blobs.insert(d.digest.clone(), read_blob(dir, &d.digest)?);
    }
    let name = descriptor.annotations.get(ANNOTATION_REF_NAME).cloned();
    Ok((Image { manifest, manifest_bytes, blobs }, name))
}

/// A blob of the layout, checked against its digest.
fn read_blob(dir: &Path, digest: &Digest) -> Result<Bytes, OciError> {
    let path = dir.join("blobs").join("sha256").join(digest.hex());
    let data = std::fs::read(&path).map_err(|e| OciError::io("read", &path, e))?;
    let actual = Digest::of(&data);
    if &actual != digest {
        return Err(OciError::Layout {
            path: path.clone(),
            message: format!("content has digest {actual}, not {digest}"),
        });
    }
    Ok(Bytes::from(data))
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<(), OciError> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, data).map_err(|e| OciError::io("write", &partial, e))?;
    std::fs::rename(&partial, path).map_err(|e| OciError::io("write", path, e))
}
