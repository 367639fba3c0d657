//! Template-spec modules (`ts:<subscription>/<resource group>/<name>:<version>` and
//! `ts/<alias>:<name>:<version>`): reference parsing and validation as the official compiler does
//! it (`TemplateSpecModuleReference`), and the on-disk cache it uses, so that a spec restored by
//! either tool is found by both. A cached spec is the template spec version resource exactly as
//! ARM returned it (`<root>/ts/<sub>/<rg>/<name>/<version>/main.json`, lower case); its `id` is
//! what the compiled module links to and its `properties.mainTemplate` is what the module's
//! parameters and outputs are checked against. No network here: `infra::restore` fills the cache.

use std::path::PathBuf;

use serde_json::Value;

use super::registry::Config;

/// One template spec version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecRef {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
    pub version: String,
}

/// A restored template spec version: the id ARM gave it and its main template.
#[derive(Debug, Clone)]
pub struct CachedSpec {
    pub id: String,
    pub main_template: Value,
}

impl SpecRef {
    /// The ARM id of the version, as the official compiler builds it for the request.
    pub fn resource_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Resources/templateSpecs/{}/versions/{}",
            self.subscription, self.resource_group, self.name, self.version
        )
    }
}

impl std::fmt::Display for SpecRef {
    /// The fully qualified reference (`ts:` and the alias expanded), which import metadata names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ts:{}/{}/{}:{}", self.subscription, self.resource_group, self.name, self.version)
    }
}

/// Whether a module path names a template spec.
pub fn is_template_spec(path: &str) -> bool {
    path.starts_with("ts:") || path.starts_with("ts/")
}

/// Resource group names: up to 90 letters, digits, `-_.()`, not ending in `.`.
const MAX_NAME: usize = 90;

impl Config {
    /// Parses `ts:<sub>/<rg>/<name>:<version>` or `ts/<alias>:<name>:<version>`, with the checks
    /// of the official compiler (a GUID subscription, Azure's resource group and name rules).
    pub fn parse_spec(&self, text: &str) -> Result<SpecRef, String> {
        let value = if let Some(rest) = text.strip_prefix("ts:") {
            rest.to_string()
        } else if let Some(rest) = text.strip_prefix("ts/") {
            let Some((alias, rest)) = rest.split_once(':') else {
                return Err(format!("'{text}' has no ':' after the alias"));
            };
            let config = || self.file.as_ref().map_or("no bicepconfig.json found".into(), |f| f.display().to_string());
            let Some((subscription, group)) = self.spec_aliases.get(alias) else {
                let known = self.spec_aliases.keys().cloned().collect::<Vec<_>>().join(", ");
                return Err(format!("unknown template spec alias '{alias}' (known: {known}; {})", config()));
            };
            let Some(subscription) = subscription else {
                return Err(format!("the template spec alias '{alias}' has no 'subscription' ({})", config()));
            };
            let Some(group) = group else {
                return Err(format!("the template spec alias '{alias}' has no 'resourceGroup' ({})", config()));
            };
            format!("{subscription}/{group}/{rest}")
        } else {
            return Err(format!("'{text}' is not a template spec reference"));
        };
        let shape = || {
            format!(
                "'{text}' is not a template spec reference: expected 'ts:<subscription id>/<resource group>/<name>:<version>'"
            )
        };
        let mut parts = value.splitn(3, '/');
        let (Some(subscription), Some(group), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(shape());
        };
        let Some((name, version)) = rest.split_once(':') else {
            return Err(shape());
        };
        if rest.contains('/') || [subscription, group, name, version].iter().any(|p| p.is_empty()) {
            return Err(shape());
        }
        if uuid::Uuid::parse_str(subscription).is_err() {
            return Err(format!("'{text}': the subscription id '{subscription}' is not a GUID"));
        }
        if group.len() > MAX_NAME {
            return Err(format!("'{text}': the resource group name '{group}' is longer than {MAX_NAME} characters"));
        }
        if group.ends_with('.') || !group.chars().all(|c| c.is_alphanumeric() || "-_.()".contains(c)) {
            return Err(format!("'{text}': '{group}' is not a valid resource group name"));
        }
        for (what, part) in [("template spec name", name), ("template spec version", version)] {
            if part.len() > MAX_NAME {
                return Err(format!("'{text}': the {what} '{part}' is longer than {MAX_NAME} characters"));
            }
            if !valid_name(part) {
                return Err(format!("'{text}': '{part}' is not a valid {what}"));
            }
        }
        Ok(SpecRef {
            subscription: subscription.to_string(),
            resource_group: group.to_string(),
            name: name.to_string(),
            version: version.to_string(),
        })
    }

    /// The cache directory of one template spec version: `<root>/ts/<sub>/<rg>/<name>/<version>`,
    /// lower case.
    pub fn spec_cache_dir(&self, spec: &SpecRef) -> PathBuf {
        let path = format!("ts/{}/{}/{}/{}", spec.subscription, spec.resource_group, spec.name, spec.version);
        self.cache_root.join(path.to_lowercase())
    }

    /// The restored template spec version, or `None` if it is not in the cache.
    pub fn cached_spec(&self, spec: &SpecRef) -> Option<Result<CachedSpec, String>> {
        let file = self.spec_cache_dir(spec).join("main.json");
        let bytes = std::fs::read(&file).ok()?;
        Some(spec_from_bytes(&bytes).map_err(|m| format!("the cached {}: {m}", file.display())))
    }
}

/// Reads a template spec version resource as ARM returns it: an `id` and an object
/// `properties.mainTemplate`, as the official compiler requires. A byte-order mark is skipped, as
/// the official tool's file reader skips it.
pub fn spec_from_bytes(bytes: &[u8]) -> Result<CachedSpec, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let json: Value = serde_json::from_slice(bytes).map_err(|e| format!("is not valid JSON: {e}"))?;
    let Some(id) = json["id"].as_str() else {
        return Err("is not a template spec version (no 'id')".to_string());
    };
    let main_template = &json["properties"]["mainTemplate"];
    if !main_template.is_object() {
        return Err("is not a template spec version (no object 'properties.mainTemplate')".to_string());
    }
    Ok(CachedSpec { id: id.to_string(), main_template: main_template.clone() })
}

/// `^[-\w\.\(\)]{0,89}[-\w\(\)]$`: word characters, `-`, `.`, `(`, `)`, not ending in `.`.
fn valid_name(s: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-' || c == '(' || c == ')';
    s.chars().all(|c| word(c) || c == '.') && s.chars().last().is_some_and(word)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const SUB: &str = "00000000-0000-0000-0000-000000000000";

    fn config() -> Config {
        let mut spec_aliases = BTreeMap::new();
        spec_aliases.insert("specs".to_string(), (Some(SUB.to_string()), Some("test-rg".to_string())));
        spec_aliases.insert("half".to_string(), (Some(SUB.to_string()), None));
        Config { aliases: BTreeMap::new(), spec_aliases, cache_root: PathBuf::from("/c"), file: None }
    }

    #[test]
    fn references_parse_and_cache_as_the_official_tool_has_them() {
        let c = config();
        let direct = c.parse_spec(&format!("ts:{SUB}/Test-RG/storage-spec:1.0")).expect("parses");
        assert_eq!(
            direct.resource_id(),
            format!(
                "/subscriptions/{SUB}/resourceGroups/Test-RG/providers/Microsoft.Resources/templateSpecs/storage-spec/versions/1.0"
            )
        );
        assert_eq!(c.spec_cache_dir(&direct), PathBuf::from(format!("/c/ts/{SUB}/test-rg/storage-spec/1.0")));
        let aliased = c.parse_spec("ts/specs:storage-spec:1.0").expect("parses");
        assert_eq!(aliased.to_string(), format!("ts:{SUB}/test-rg/storage-spec:1.0"));
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        let c = config();
        let refused = |text: &str, says: &str| {
            let message = c.parse_spec(text).expect_err(text);
            assert!(message.contains(says), "{text}: {message}");
        };
        refused("ts:not-a-guid/rg/name:1", "is not a GUID");
        refused(&format!("ts:{SUB}/rg/name"), "expected 'ts:<subscription id>");
        refused(&format!("ts:{SUB}/rg/a/b:1"), "expected 'ts:<subscription id>");
        refused(&format!("ts:{SUB}/rg./name:1"), "not a valid resource group name");
        refused(&format!("ts:{SUB}/{}/name:1", "r".repeat(91)), "longer than 90");
        refused(&format!("ts:{SUB}/rg/name.:1"), "not a valid template spec name");
        refused(&format!("ts:{SUB}/rg/name:v1."), "not a valid template spec version");
        refused("ts/nope:name:1", "unknown template spec alias 'nope'");
        refused("ts/half:name:1", "has no 'resourceGroup'");
    }

    #[test]
    fn a_cached_spec_needs_an_id_and_a_main_template() {
        let ok = spec_from_bytes(br#"{"id": "/x", "properties": {"mainTemplate": {"resources": []}}}"#).expect("ok");
        assert_eq!(ok.id, "/x");
        assert!(spec_from_bytes(br#"{"properties": {"mainTemplate": {}}}"#).expect_err("no id").contains("no 'id'"));
        assert!(
            spec_from_bytes(br#"{"id": "/x", "properties": {}}"#).expect_err("no template").contains("mainTemplate")
        );
        assert!(spec_from_bytes(b"{").expect_err("not JSON").contains("not valid JSON"));
    }
}
