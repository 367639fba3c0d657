//! Image references as people type them (`registry[:port]/repository[:tag][@digest]`), with
//! Docker Hub's defaults for short names (`debian:12-slim` is `docker.io/library/debian:12-slim`).

use std::fmt;

use super::{Digest, OciError};

/// Where an image is: a registry, a repository in it, and a tag and/or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]` as typed (`docker.io` for Docker Hub).
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    pub fn parse(text: &str) -> Result<Self, OciError> {
        let invalid = |reason: &str| OciError::Reference { value: text.to_string(), reason: reason.to_string() };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(Digest::parse(digest).map_err(|e| invalid(&e))?)),
            None => (text, None),
        };
        // A tag is after the last ':' that follows the last '/' (a ':' before it is a port).
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(rest[slash + i + 1..].to_string())),
            None => (rest, None),
        };
        let (registry, repository) = match name.split_once('/') {
            // The first part is a registry when it looks like a host (a dot, a port, or localhost).
            Some((first, repo)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_string(), repo.to_string())
            }
            Some(_) => ("docker.io".to_string(), name.to_string()),
            None => ("docker.io".to_string(), format!("library/{name}")),
        };
        if !valid_repository(&repository) {
            return Err(invalid(
                "the repository must be lower-case letters, digits and separators (. _ __ -), in /-separated parts",
            ));
        }
        if let Some(tag) = &tag
            && !valid_tag(tag)
        {
            return Err(invalid(
                "a tag is at most 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'",
            ));
        }
        if registry.is_empty() || registry.contains(['/', '@', ' ']) {
            return Err(invalid("the registry must be host[:port]"));
        }
        Ok(Reference { registry, repository, tag, digest })
    }

    /// The host that serves the registry API (Docker Hub's API is not on docker.io itself).
    pub fn api_host(&self) -> &str {
        if self.registry == "docker.io" { "registry-1.docker.io" } else { &self.registry }
    }

    /// What to ask the registry for: the digest when there is one, else the tag (`latest` by default).
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference { tag: Some(tag.to_string()), digest: None, ..self.clone() }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*` (distribution spec).
fn valid_repository(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.split('/').all(valid_component)
}

fn valid_component(part: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut chars = part.chars().peekable();
    if !chars.peek().is_some_and(|c| alnum(*c)) || !part.ends_with(alnum) {
        return false;
    }
    let mut separator = String::new();
    for c in part.chars() {
        if alnum(c) {
            if !matches!(separator.as_str(), "" | "." | "_" | "__") && !separator.chars().all(|s| s == '-') {
                return false;
            }
            separator.clear();
        } else if matches!(c, '.' | '_' | '-') {
            separator.push(c);
        } else {
            return false;
        }
    }
    true
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
fn valid_tag(tag: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    tag.len() <= 128 && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') && tag.chars().all(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (String, String, Option<String>) {
        let r = Reference::parse(text).expect(text);
        (r.registry, r.repository, r.tag)
    }

    #[test]
    fn parses_registries_ports_tags_and_hub_defaults() {
        assert_eq!(parse("debian:12-slim"), ("docker.io".into(), "library/debian".into(), Some("12-slim".into())));
        assert_eq!(parse("org/app"), ("docker.io".into(), "org/app".into(), None));
        assert_eq!(
            parse("127.0.0.1:5000/mlops/diabetes:1"),
            ("127.0.0.1:5000".into(), "mlops/diabetes".into(), Some("1".into()))
        );
        assert_eq!(parse("localhost/x"), ("localhost".into(), "x".into(), None));
        let r = Reference::parse(
            "myacr.azurecr.io/a/b@sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        )
        .expect("digest ref");
        assert_eq!(r.reference(), "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
        assert_eq!(Reference::parse("docker.io/library/debian").expect("hub").api_host(), "registry-1.docker.io");
        assert_eq!(r.with_tag("v2").to_string(), "myacr.azurecr.io/a/b:v2");
    }

    #[test]
    fn rejects_bad_names_and_tags() {
        for bad in ["Upper/case", "reg.io/a//b", "reg.io/-a", "reg.io/a:-tag", "reg.io/a:t@sha256:00", "reg.io/a_-b"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
        assert!(Reference::parse("reg.io/a__b.c--d").is_ok());
    }
}
