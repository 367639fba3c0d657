//! Registry authentication: the `WWW-Authenticate` challenge, Basic credentials, the token
//! service of the distribution spec (`GET realm?service&scope`), and Azure Container Registry's
//! exchange of an Entra ID token (`POST /oauth2/exchange`, then `POST /oauth2/token`), as
//! `az acr login` and the .NET SDK do it.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use reqwest::Url;
use serde::Deserialize;

use crate::http::HttpError;
use crate::secret::Secret;

/// The user name ACR reserves for a login whose password is an ACR refresh token.
pub const ACR_TOKEN_USERNAME: &str = "00000000-0000-0000-0000-000000000000";

/// How the client proves who it is.
#[derive(Clone, Default)]
pub enum Credentials {
    /// No credentials; a registry that asks for a token gets an anonymous one.
    #[default]
    Anonymous,
    /// A user name and password (or ACR admin user, or a token as the password).
    Basic { username: String, password: Secret },
    /// An Entra ID access token from `credential` for `scope`, exchanged for ACR tokens.
    Entra { credential: Arc<dyn TokenCredential>, scope: String, tenant: Option<String> },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credentials::Entra { scope, .. } => write!(f, "Entra({scope})"),
        }
    }
}

/// What a 401 answer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

impl Challenge {
    /// Reads a `WWW-Authenticate` value: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
    pub fn parse(header: &str) -> Option<Challenge> {
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = parse_params(params);
        let get = |key: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.clone());
        Some(Challenge::Bearer { realm: get("realm")?, service: get("service"), scope: get("scope") })
    }
}

/// `key="value", key=value` pairs; quoted values may hold commas (scopes do: `pull,push`).
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else { break };
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        out.push((key, value));
        rest = remainder.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

#[derive(Deserialize)]
struct ExchangeAnswer {
    refresh_token: String,
}

/// Asks the token service of a Bearer challenge for a token for `scope`. `acr_refresh` keeps
/// the ACR refresh token of an Entra exchange, so one exchange serves every scope.
pub async fn bearer_token(
    http: &reqwest::Client,
    credentials: &Credentials,
    realm: &str,
    service: Option<&str>,
    scope: &str,
    acr_refresh: &mut Option<Secret>,
) -> Result<Secret, TokenError> {
    let realm_url = Url::parse(realm).map_err(|e| TokenError::Realm(format!("{realm:?}: {e}")))?;
    match credentials {
        Credentials::Entra { credential, scope: aad_scope, tenant } => {
            let service = service.unwrap_or_else(|| realm_url.host_str().unwrap_or_default());
            let refresh = match acr_refresh.take() {
                Some(refresh) => refresh,
                None => {
                    let aad = credential
                        .get_token(&[aad_scope.as_str()], None)
                        .await
                        .map_err(|e| TokenError::Http(Box::new(HttpError::credential(e.to_string()))))?;
                    acr_exchange(http, &realm_url, service, tenant.as_deref(), aad.token.secret()).await?
                }
            };
            let token = acr_access_token(http, &realm_url, service, scope, &refresh).await?;
            *acr_refresh = Some(refresh);
            Ok(token)
        }
        Credentials::Basic { username, password } if username == ACR_TOKEN_USERNAME => {
            let service = service.unwrap_or_else(|| realm_url.host_str().unwrap_or_default());
            acr_access_token(http, &realm_url, service, scope, password).await
        }
        Credentials::Basic { username, password } => {
            let request = token_get(http, &realm_url, service, scope).basic_auth(username, Some(password.expose()));
            read_token(request, &realm_url).await
        }
        Credentials::Anonymous => read_token(token_get(http, &realm_url, service, scope), &realm_url).await,
    }
}

fn token_get(http: &reqwest::Client, realm: &Url, service: Option<&str>, scope: &str) -> reqwest::RequestBuilder {
    let mut query = Vec::new();
    if let Some(service) = service {
        query.push(("service", service));
    }
    query.push(("scope", scope));
    http.get(realm.clone()).query(&query)
}

async fn read_token(request: reqwest::RequestBuilder, url: &Url) -> Result<Secret, TokenError> {
    let answer: TokenAnswer = send_json(request, &reqwest::Method::GET, url).await?;
    answer.token.or(answer.access_token).map(Secret::new).ok_or(TokenError::NoToken)
}

/// ACR: an Entra access token for an ACR refresh token. The exchange endpoint is the realm's
/// origin with the path `/oauth2/exchange`, as `az acr login` builds it.
async fn acr_exchange(
    http: &reqwest::Client,
    realm: &Url,
    service: &str,
    tenant: Option<&str>,
    aad_token: &str,
) -> Result<Secret, TokenError> {
    let mut url = realm.clone();
    url.set_path("/oauth2/exchange");
    url.set_query(None);
    let mut form = vec![("grant_type", "access_token"), ("service", service), ("access_token", aad_token)];
    if let Some(tenant) = tenant {
        form.push(("tenant", tenant));
    }
    let answer: ExchangeAnswer = send_json(http.post(url.clone()).form(&form), &reqwest::Method::POST, &url).await?;
    Ok(Secret::new(answer.refresh_token))
}

/// ACR: an access token for `scope` from an ACR refresh token.
async fn acr_access_token(
    http: &reqwest::Client,
    realm: &Url,
    service: &str,
    scope: &str,
    refresh: &Secret,
) -> Result<Secret, TokenError> {
    let form =
        [("grant_type", "refresh_token"), ("service", service), ("scope", scope), ("refresh_token", refresh.expose())];
    let answer: TokenAnswer = send_json(http.post(realm.clone()).form(&form), &reqwest::Method::POST, realm).await?;
    answer.access_token.or(answer.token).map(Secret::new).ok_or(TokenError::NoToken)
}

async fn send_json<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
    method: &reqwest::Method,
    url: &Url,
) -> Result<T, TokenError> {
    let http_err = |e| TokenError::Http(Box::new(e));
    let response = request.send().await.map_err(|e| http_err(HttpError::from_reqwest_error(method, url, e)))?;
    if !response.status().is_success() {
        return Err(http_err(HttpError::from_reqwest(method, response).await));
    }
    let body = response.bytes().await.map_err(|e| http_err(HttpError::from_reqwest_error(method, url, e)))?;
    // The body holds the token: a decode error must not quote it.
    serde_json::from_slice(&body)
        .map_err(|_| http_err(HttpError::decode(method.as_str(), url, "not a token answer".into())))
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the challenge's realm is not a URL: {0}")]
    Realm(String),
    #[error(transparent)]
    Http(Box<HttpError>),
    #[error("the token service answered without a token")]
    NoToken,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let acr = r#"Bearer realm="https://r.azurecr.io/oauth2/token",service="r.azurecr.io",scope="repository:a/b:pull,push""#;
        assert_eq!(
            Challenge::parse(acr),
            Some(Challenge::Bearer {
                realm: "https://r.azurecr.io/oauth2/token".into(),
                service: Some("r.azurecr.io".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            Challenge::parse("bearer realm=https://h/t, service=h"),
            Some(Challenge::Bearer { realm: "https://h/t".into(), service: Some("h".into()), scope: None })
        );
        assert_eq!(Challenge::parse(r#"Basic realm="Registry Realm""#), Some(Challenge::Basic));
        assert_eq!(Challenge::parse("Negotiate"), None);
        assert_eq!(Challenge::parse("Bearer service=\"x\""), None);
    }

    #[test]
    fn credentials_never_print() {
        let basic = Credentials::Basic { username: "u".into(), password: Secret::new("hunter2") };
        assert!(!format!("{basic:?}").contains("hunter2"));
    }
}
