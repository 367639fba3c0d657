//! `bicep publish`: push an ARM template as a Bicep module artifact, laid out as the official tool
//! writes it (artifact type, the two-byte `{}` config, one `module.layer.v1+json` layer).

use bytes::Bytes;
use serde_json::json;

use super::bicep::registry::{self, ModuleRef};
use crate::oci::{Digest, MEDIA_TYPE_OCI_MANIFEST, NoProgress, OciClient, OciError};

/// Pushes `template` (the ARM JSON bytes, published as they are) to `module`; returns the manifest digest.
pub async fn publish(oci: &OciClient, module: &ModuleRef, template: Bytes) -> Result<Digest, OciError> {
    let config = Bytes::from_static(b"{}");
    let config_digest = Digest::of(&config);
    let layer_digest = Digest::of(&template);
    for (digest, data) in [(&config_digest, &config), (&layer_digest, &template)] {
        if !oci.blob_exists(&module.repository, digest).await? {
            oci.push_blob(&module.repository, digest, data, &mut NoProgress).await?;
        }
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_MANIFEST,
        "artifactType": registry::MODULE_ARTIFACT,
        "config": {"mediaType": registry::MODULE_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": [{
            "mediaType": registry::MODULE_LAYER,
            "digest": layer_digest.to_string(),
            "size": template.len(),
            "annotations": {"org.opencontainers.image.title": "Compiled ARM template"}
        }]
    });
    let bytes = Bytes::from(manifest.to_string());
    oci.push_manifest(&module.repository, module.version(), MEDIA_TYPE_OCI_MANIFEST, &bytes).await
}
