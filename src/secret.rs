//! Secrets that cannot print by accident: `Debug` is redacted and there is no `Display`; and, as
//! CI systems mask their secret variables, every secret value this process holds is replaced by
//! `***` in everything it writes ([`mask`], applied by the output layer), including text a server
//! echoed back.

use std::borrow::Cow;
use std::fmt;
use std::sync::RwLock;

use base64::Engine as _;

/// A password, token or key. Read it with [`Secret::expose`] at the one place it is sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value` and registers it for masking.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        register(&value);
        Secret(value)
    }

    /// The secret value, for the header or signature that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<Secret> for azure_core::credentials::Secret {
    fn from(secret: Secret) -> Self {
        azure_core::credentials::Secret::new(secret.0)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

/// Shorter values are not masked: replacing every "ab" in the output would hide more than it
/// protects, and no real credential is that short.
const MIN_MASKED: usize = 4;

/// The masked values, longest first (so a secret containing another is replaced whole).
static MASKS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Masks `value` from now on, in the forms it travels in: as is, percent-encoded (in a query or
/// form body) and, for a SAS query string, each signature in it.
pub fn register(value: &str) {
    let value = value.trim();
    if value.len() < MIN_MASKED {
        return;
    }
    // As sent in a query or form body (`~` is escaped by form encoders, not by URL encoders),
    // and as it appears inside a JSON string.
    let mut forms = vec![value.to_string(), percent_encode(value), percent_encode(value).replace('~', "%7E")];
    if let Ok(json) = serde_json::to_string(value) {
        forms.push(json.trim_matches('"').to_string());
    }
    for pair in value.trim_start_matches('?').split('&') {
        if let Some((name, v)) = pair.split_once('=')
            && is_credential_param(name)
        {
            forms.push(v.to_string());
            forms.push(percent_decode(v));
        }
    }
    let mut masks = MASKS.write().unwrap_or_else(|p| p.into_inner());
    for form in forms {
        if form.len() >= MIN_MASKED && !masks.contains(&form) {
            masks.push(form);
        }
    }
    masks.sort_by_key(|m| std::cmp::Reverse(m.len()));
}

/// Masks the user name and password of HTTP basic auth in every form: the password, and the
/// `user:password` pair as it goes in the `Authorization` header (base64).
pub fn register_basic(username: &str, password: &str) {
    register(password);
    let pair = format!("{username}:{password}");
    register(&base64::engine::general_purpose::STANDARD.encode(&pair));
}

/// `text` with every registered secret replaced by `***`, the password of every URL in it
/// (`scheme://user:password@host`) and the value of every credential-bearing query parameter
/// (`sig=`, `token=`, `client_secret=`, …) too.
pub fn mask(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let masks = MASKS.read().unwrap_or_else(|p| p.into_inner());
        for secret in masks.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), "***"));
            }
        }
    }
    if let Some(redacted) = redact_urls(&out) {
        out = Cow::Owned(redacted);
    }
    out
}

/// Query parameters whose value is a credential.
fn is_credential_param(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "sig",
        "signature",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "client_assertion",
        "code",
        "password",
        "pwd",
        "secret",
        "key",
        "apikey",
        "api_key",
        "accountkey",
        "sharedaccesssignature",
        "x-amz-signature",
        "x-goog-signature",
    ];
    let name = name.trim().to_ascii_lowercase();
    NAMES.contains(&name.as_str())
}

/// Redacts URL passwords and credential query values; `None` when there was nothing to redact.
fn redact_urls(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    // URL user info: `://user:password@`.
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@').and_then(|a| authority[..a].find(':').map(|c| (c, a))) {
            Some((colon, at)) if at > colon + 1 && authority[colon + 1..at] != *"***" => {
                out.push_str(&authority[..=colon]);
                out.push_str("***");
                out.push_str(&authority[at..]);
                changed = true;
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    // Credential query parameters, wherever a `name=value` follows `?` or `&`.
    let text = out;
    let mut out = String::with_capacity(text.len());
    let chars = text.char_indices();
    let mut last = 0;
    for (i, c) in chars {
        if i < last || (c != '?' && c != '&') {
            continue;
        }
        let start = i + 1;
        let Some(eq) = text[start..].find('=').map(|e| start + e) else { continue };
        let name = &text[start..eq];
        if name.is_empty()
            || name.len() > 32
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            continue;
        }
        if !is_credential_param(name) {
            continue;
        }
        let value_end = text[eq + 1..]
            .find(|c: char| c == '&' || c == '#' || c.is_whitespace() || c == '"' || c == '\'' || c == '<' || c == ')')
            .map_or(text.len(), |e| eq + 1 + e);
        if &text[eq + 1..value_end] == "***" || value_end == eq + 1 {
            continue;
        }
        out.push_str(&text[last..=eq]);
        out.push_str("***");
        last = value_end;
        changed = true;
    }
    out.push_str(&text[last..]);
    changed.then_some(out)
}

fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(Ok(b)) = value.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16))
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(Secret(***))");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn held_secrets_and_url_credentials_are_masked() {
        let _ = Secret::new("tok-planted-91x");
        register_basic("alice", "pw-planted-77");
        register("sv=2024-01-01&sig=AbC%2Bd%3D&se=2030");
        let echoed = format!(
            "400: echoed Authorization: Bearer tok-planted-91x, Basic {}, form grant_type=x&client_secret=zzz-unregistered, \
             body {{\"password\": \"pw-planted-77\"}} url http://bob:hunter22@h:1/x?a=1&sig=AbC+d= and ?code=c0de&x=1",
            base64::engine::general_purpose::STANDARD.encode("alice:pw-planted-77")
        );
        let masked = mask(&echoed);
        for leak in ["tok-planted-91x", "pw-planted-77", "YWxpY2U6", "zzz-unregistered", "hunter22", "AbC", "c0de"] {
            assert!(!masked.contains(leak), "{leak} in {masked}");
        }
        assert!(masked.contains("http://bob:***@h:1/x?a=1&sig=***"), "{masked}");
        assert!(masked.contains("&x=1"), "{masked}");
        register("quote\"and~tilde");
        assert_eq!(mask(r#"{"m": "quote\"and~tilde", "f": "quote%22and%7Etilde"}"#), r#"{"m": "***", "f": "***"}"#);
        assert_eq!(mask("nothing here"), "nothing here");
        assert_eq!(mask("a=b&c=d?x"), "a=b&c=d?x");
    }
}
