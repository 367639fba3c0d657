//! Registry modules (`br:` and `br/<alias>:`): reference parsing, `bicepconfig.json` aliases and
//! cache root, and the on-disk cache laid out as the official `bicep` CLI lays it out, so that a
//! module restored by either tool is found by both. No network here: `infra::restore` fills the cache.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The media type of the layer that holds a module's compiled ARM template.
pub const MODULE_LAYER: &str = "application/vnd.ms.bicep.module.layer.v1+json";
/// The manifest's `artifactType` and config media type of a Bicep module.
pub const MODULE_ARTIFACT: &str = "application/vnd.ms.bicep.module.artifact";
pub const MODULE_CONFIG: &str = "application/vnd.ms.bicep.module.config.v1+json";

/// Overrides the cache root (tests; the official tool only reads `cacheRootDirectory`).
pub const CACHE_ENV: &str = crate::env_vars::MLOPS_BICEP_CACHE;

/// One registry module: `registry/repository` and a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleRef {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ModuleRef {
    /// The tag or digest, as the manifest URL takes it.
    pub fn version(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or_default()
    }
}

impl std::fmt::Display for ModuleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.digest {
            Some(d) => write!(f, "br:{}/{}@{d}", self.registry, self.repository),
            None => write!(f, "br:{}/{}:{}", self.registry, self.repository, self.version()),
        }
    }
}

/// What `bicepconfig.json` says about registry modules.
#[derive(Debug, Clone)]
pub struct Config {
    /// alias → (registry, module path prefix)
    pub aliases: BTreeMap<String, (String, Option<String>)>,
    /// Template-spec alias (`ts/<alias>:`) → (subscription, resource group); either may be
    /// missing in the file, which is an error only when the alias is used (as the official tool has it).
    pub spec_aliases: BTreeMap<String, (Option<String>, Option<String>)>,
    pub cache_root: PathBuf,
    /// The bicepconfig.json that was read, if any.
    pub file: Option<PathBuf>,
}

/// Whether a module path names a registry module rather than a file or a template spec.
pub fn is_registry(path: &str) -> bool {
    path.starts_with("br:") || path.starts_with("br/")
}

impl Config {
    /// The configuration that applies to `bicep_file`: the nearest `bicepconfig.json` in its
    /// directory or above (as the official tool looks for it), merged over the built-in `public` alias.
    pub fn for_file(bicep_file: &Path) -> Result<Config, String> {
        let mut aliases = BTreeMap::new();
        let mut spec_aliases = BTreeMap::new();
        aliases.insert("public".to_string(), ("mcr.microsoft.com".to_string(), Some("bicep".to_string())));
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        let mut cache_root = home.join(".bicep");
        let start = std::fs::canonicalize(bicep_file).unwrap_or_else(|_| bicep_file.to_path_buf());
        let file = start.ancestors().skip(1).map(|d| d.join("bicepconfig.json")).find(|f| f.is_file());
        if let Some(file) = &file {
            let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let json: Value = serde_json::from_str(&strip_comments(&text))
                .map_err(|e| format!("{}: not valid JSON: {e}", file.display()))?;
            if let Some(br) = json["moduleAliases"]["br"].as_object() {
                for (name, alias) in br {
                    let Some(registry) = alias["registry"].as_str() else {
                        return Err(format!("{}: moduleAliases.br.{name} has no 'registry'", file.display()));
                    };
                    let prefix = alias["modulePath"].as_str().map(str::to_string);
                    aliases.insert(name.clone(), (registry.to_string(), prefix));
                }
            }
            if let Some(ts) = json["moduleAliases"]["ts"].as_object() {
                for (name, alias) in ts {
                    let field = |key: &str| alias[key].as_str().map(str::to_string);
                    spec_aliases.insert(name.clone(), (field("subscription"), field("resourceGroup")));
                }
            }
            if let Some(root) = json["cacheRootDirectory"].as_str() {
                cache_root = match root.strip_prefix('~') {
                    Some(rest) => home.join(rest.trim_start_matches(['/', '\\'])),
                    None => file.parent().unwrap_or(Path::new("")).join(root),
                };
            }
        }
        if let Some(root) = std::env::var_os(CACHE_ENV).filter(|v| !v.is_empty()) {
            cache_root = PathBuf::from(root);
        }
        Ok(Config { aliases, spec_aliases, cache_root, file })
    }

    /// Parses `br:<registry>/<repo>:<tag>`, `br:<registry>/<repo>@sha256:<hex>` or `br/<alias>:<path>:<tag>`.
    pub fn parse(&self, text: &str) -> Result<ModuleRef, String> {
        let (registry, rest) = if let Some(rest) = text.strip_prefix("br:") {
            match rest.split_once('/') {
                Some((registry, rest)) => (registry.to_string(), rest.to_string()),
                None => return Err(format!("'{text}' has no repository after the registry")),
            }
        } else if let Some(rest) = text.strip_prefix("br/") {
            let Some((alias, rest)) = rest.split_once(':') else {
                return Err(format!("'{text}' has no ':' after the alias"));
            };
            let Some((registry, prefix)) = self.aliases.get(alias) else {
                let known = self.aliases.keys().cloned().collect::<Vec<_>>().join(", ");
                let config = self.file.as_ref().map_or("no bicepconfig.json found".into(), |f| f.display().to_string());
                return Err(format!("unknown module alias '{alias}' (known: {known}; {config})"));
            };
            let path = match prefix.as_deref().filter(|p| !p.is_empty()) {
                Some(p) => format!("{}/{rest}", p.trim_end_matches('/')),
                None => rest.to_string(),
            };
            (registry.clone(), path)
        } else {
            return Err(format!("'{text}' is not a registry module reference"));
        };
        if registry.is_empty() || registry.len() > 255 {
            return Err(format!("'{text}': the registry name must have 1 to 255 characters"));
        }
        // The last path segment carries the version: split at its first '@' or ':'.
        let last_start = rest.rfind('/').map_or(0, |i| i + 1);
        let cut = rest[last_start..].find(['@', ':']).map(|i| i + last_start);
        let Some(cut) = cut else {
            return Err(format!("'{text}' has no tag (':<tag>') or digest ('@sha256:…')"));
        };
        let (repository, version) = (&rest[..cut], &rest[cut + 1..]);
        for segment in repository.split('/') {
            if !valid_segment(segment) {
                return Err(format!(
                    "'{text}': invalid repository segment '{segment}' (lowercase letters, digits, '.', '_', '-')"
                ));
            }
        }
        let (tag, digest) = if rest.as_bytes()[cut] == b'@' {
            let ok = version
                .strip_prefix("sha256:")
                .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            if !ok {
                return Err(format!("'{text}': the digest must be sha256:<64 lowercase hex digits>"));
            }
            (None, Some(version.to_string()))
        } else {
            let ok = (1..=128).contains(&version.len())
                && version
                    .bytes()
                    .enumerate()
                    .all(|(i, b)| b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && (b == b'.' || b == b'-')));
            if !ok {
                return Err(format!("'{text}': invalid tag '{version}'"));
            }
            (Some(version.to_string()), None)
        };
        Ok(ModuleRef { registry, repository: repository.to_string(), tag, digest })
    }

    /// The cache directory of one module version:
    /// `<root>/br/<registry, ':'→'$'>/<repository, '/'→'$'>/<tag$mask | digest ':'→'#'>/`.
    pub fn cache_dir(&self, module: &ModuleRef) -> PathBuf {
        let version = match (&module.digest, &module.tag) {
            (Some(d), _) => d.replace(':', "#"),
            (None, Some(tag)) => tag_dir(tag),
            (None, None) => String::new(),
        };
        self.cache_root
            .join("br")
            .join(module.registry.to_lowercase().replace(':', "$"))
            .join(module.repository.replace('/', "$"))
            .join(version)
    }

    /// The restored template of a module, or `None` if it is not in the cache.
    pub fn cached_template(&self, module: &ModuleRef) -> Option<Result<Value, String>> {
        let file = self.cache_dir(module).join("main.json");
        let bytes = std::fs::read(&file).ok()?;
        Some(
            serde_json::from_slice(&bytes).map_err(|e| format!("the cached {} is not valid JSON: {e}", file.display())),
        )
    }
}

/// bicepconfig.json is JSON with comments (`//` and `/* */`), as the official tool reads it;
/// comments become spaces so that serde_json's error positions still match the file.
pub(super) fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\\' {
                out.extend(chars.next());
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                while chars.peek().is_some_and(|&n| n != '\n') {
                    chars.next();
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut last = ' ';
                for n in chars.by_ref() {
                    out.push(if n == '\n' { '\n' } else { ' ' });
                    if last == '*' && n == '/' {
                        break;
                    }
                    last = n;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

fn valid_segment(s: &str) -> bool {
    // ^[a-z0-9]+([._-][a-z0-9]+)*$
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && alnum(bytes[0])
        && alnum(bytes[bytes.len() - 1])
        && bytes.windows(2).all(|w| alnum(w[0]) || alnum(w[1]))
        && bytes.iter().all(|&b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
}

/// The official tool keeps tags that differ only in case apart on case-insensitive file systems:
/// the tag, `$`, and the hex bitmask of the positions of its uppercase letters.
fn tag_dir(tag: &str) -> String {
    let mask =
        tag.chars().enumerate().filter(|(_, c)| c.is_ascii_uppercase()).fold(0u128, |m, (i, _)| m | (1u128 << i));
    if mask == 0 { format!("{tag}$") } else { format!("{tag}${mask:X}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut aliases = BTreeMap::new();
        aliases.insert("public".to_string(), ("mcr.microsoft.com".to_string(), Some("bicep".to_string())));
        aliases.insert("mine".to_string(), ("example.azurecr.io".to_string(), None));
        Config { aliases, spec_aliases: BTreeMap::new(), cache_root: PathBuf::from("/c"), file: None }
    }

    #[test]
    fn references_parse_as_the_official_tool_reads_them() {
        let c = config();
        let m = c.parse("br/public:avm/res/network/virtual-network:0.5.2").expect("parses");
        assert_eq!(
            (m.registry.as_str(), m.repository.as_str()),
            ("mcr.microsoft.com", "bicep/avm/res/network/virtual-network")
        );
        assert_eq!(m.tag.as_deref(), Some("0.5.2"));
        let m = c.parse("br:localhost:5000/mods/storage:V1").expect("parses");
        assert_eq!((m.registry.as_str(), m.repository.as_str()), ("localhost:5000", "mods/storage"));
        assert_eq!(c.cache_dir(&m), PathBuf::from("/c/br/localhost$5000/mods$storage/V1$1"));
        let digest = format!("sha256:{}", "a".repeat(64));
        let m = c.parse(&format!("br/mine:x/y@{digest}")).expect("parses");
        assert_eq!(m.digest.as_deref(), Some(digest.as_str()));
        assert!(c.cache_dir(&m).ends_with(format!("x$y/sha256#{}", "a".repeat(64))));
        assert!(c.parse("br/nope:x:1").expect_err("refused").contains("unknown module alias 'nope'"));
        assert!(c.parse("br:host/Upper:1").is_err());
        assert!(c.parse("br:host/x").is_err());
        assert!(c.parse("br:host/x@sha256:12").is_err());
    }

    #[test]
    fn bicepconfig_comments_are_ignored_but_strings_kept() {
        let text = "// head\n{ \"a\": \"x//y\", /* b */ \"c\": 1 }";
        let json: Value = serde_json::from_str(&strip_comments(text)).expect("valid after stripping");
        assert_eq!(json["a"], "x//y");
        assert_eq!(json["c"], 1);
    }

    #[test]
    fn tag_directories_carry_the_uppercase_mask() {
        assert_eq!(tag_dir("v1"), "v1$");
        assert_eq!(tag_dir("V1"), "V1$1");
        assert_eq!(tag_dir("AbCd"), "AbCd$5");
    }
}
