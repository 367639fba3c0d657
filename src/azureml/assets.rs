//! Versioned assets (environments, components): registered idempotently. A version carries the
//! hash of its content in the tag `mlops.content_hash`; the same content finds its version again
//! instead of making a new one, changed content gets the next integer version.

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{AzureMlClient, AzureMlError};

/// The tag holding the hash of a version's content.
pub const TAG_CONTENT_HASH: &str = "mlops.content_hash";

/// A registered version.
#[derive(Debug, Clone, Serialize)]
pub struct AssetVersion {
    /// `environments` or `components`.
    pub kind: String,
    pub name: String,
    pub version: String,
    /// ARM id of the version.
    pub id: String,
    /// False when a version with this content already existed.
    pub created: bool,
    pub content_hash: String,
}

/// The first 16 hex digits of the SHA-256 of the JSON text.
pub fn content_hash(value: &Value) -> String {
    let digest = Sha256::digest(serde_json::to_vec(value).unwrap_or_default());
    hex::encode(&digest[..8])
}

/// Registers `properties` as a version of `{collection}/{name}` unless a version with the same
/// content exists. A `componentSpec` in `properties` gets the chosen name and version.
pub async fn ensure_version(
    client: &AzureMlClient,
    collection: &str,
    name: &str,
    properties: Value,
) -> Result<AssetVersion, AzureMlError> {
    let hash = content_hash(&properties);
    let existing = versions(client, collection, name).await?;
    let found = existing.iter().find(|v| {
        v.pointer(&format!("/properties/tags/{}", TAG_CONTENT_HASH.replace('/', "~1"))).and_then(Value::as_str)
            == Some(hash.as_str())
    });
    if let Some(found) = found {
        let version = found.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        return Ok(AssetVersion {
            kind: collection.to_string(),
            name: name.to_string(),
            id: client.id(&format!("{collection}/{name}/versions/{version}")),
            version,
            created: false,
            content_hash: hash,
        });
    }
    let next = existing
        .iter()
        .filter_map(|v| v.get("name").and_then(Value::as_str).and_then(|s| s.parse::<u64>().ok()))
        .max()
        .unwrap_or(0)
        + 1;
    let version = next.to_string();
    let mut properties = properties;
    if let Some(spec) = properties.get_mut("componentSpec").and_then(Value::as_object_mut) {
        spec.insert("name".to_string(), json!(name));
        spec.insert("version".to_string(), json!(version));
    }
    match properties.get_mut("tags").and_then(Value::as_object_mut) {
        Some(tags) => {
            tags.insert(TAG_CONTENT_HASH.to_string(), json!(hash));
        }
        None => properties["tags"] = json!({TAG_CONTENT_HASH: hash}),
    }
    let relative = format!("{collection}/{name}/versions/{version}");
    client.put(&relative, &json!({"properties": properties})).await?;
    Ok(AssetVersion {
        kind: collection.to_string(),
        name: name.to_string(),
        id: client.id(&relative),
        version,
        created: true,
        content_hash: hash,
    })
}

/// Every version of an asset (none when the asset does not exist yet).
pub async fn versions(client: &AzureMlClient, collection: &str, name: &str) -> Result<Vec<Value>, AzureMlError> {
    if client.get_optional(&format!("{collection}/{name}")).await?.is_none() {
        return Ok(Vec::new());
    }
    client.list(&format!("{collection}/{name}/versions")).await
}

/// The newest version (highest integer, else the last listed) of an asset.
pub async fn latest_version(
    client: &AzureMlClient,
    collection: &str,
    name: &str,
) -> Result<Option<Value>, AzureMlError> {
    let all = versions(client, collection, name).await?;
    let numeric = all
        .iter()
        .filter_map(|v| v.get("name").and_then(Value::as_str).and_then(|s| s.parse::<u64>().ok()).map(|n| (n, v)))
        .max_by_key(|(n, _)| *n)
        .map(|(_, v)| v.clone());
    Ok(numeric.or_else(|| all.last().cloned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_follows_content() {
        let a = json!({"image": "x", "tags": {}});
        assert_eq!(content_hash(&a), content_hash(&json!({"image": "x", "tags": {}})));
        assert_ne!(content_hash(&a), content_hash(&json!({"image": "y", "tags": {}})));
        assert_eq!(content_hash(&a).len(), 16);
    }
}
