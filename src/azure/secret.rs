//! A value that must never reach a log, an error message or stdout: client secrets, tokens, keys.

use std::fmt;

/// A secret string. `Debug` prints a placeholder and there is no `Display`, so a secret cannot be
/// formatted into a message by accident; [`Secret::expose`] is the one deliberate way out.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it (a request body or header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<Secret> for azure_core::credentials::Secret {
    fn from(secret: Secret) -> Self {
        azure_core::credentials::Secret::new(secret.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(Secret(<redacted>))");
        assert_eq!(s.expose(), "hunter2");
    }
}
