//! Azure Container Registry: the Entra ID token exchange (`POST /oauth2/exchange` →
//! refresh token, `POST /oauth2/token` → access token, `GET /oauth2/token` with the admin user's
//! Basic credentials) and the registry API: push (`HEAD` blobs, chunked uploads, manifests) and
//! pull (`GET` manifests and blobs, the stored bytes as they were pushed), answering 401 with
//! ACR's Bearer challenge to requests without a token whose scope covers the repository and action. After the ACR REST spec (2021-07-01) and `az acr login`.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::{Incoming, Reply, State};

/// The admin user of the stand-in registry (ACR's admin account signs in with Basic).
pub const ADMIN_USER: &str = "standinacr";
pub const ADMIN_PASSWORD: &str = "standin-acr-admin-password";

/// What the registry holds and what it was asked.
#[derive(Default)]
pub struct AcrState {
    refresh_tokens: HashSet<String>,
    /// Access token → the scopes it grants.
    access_tokens: HashMap<String, Vec<String>>,
    uploads: HashMap<String, Vec<u8>>,
    blobs: HashMap<String, Vec<u8>>,
    /// (repository, tag or digest) → manifest bytes.
    pub manifests: HashMap<(String, String), Vec<u8>>,
    /// The form of every exchange asked for, secrets left out: (grant_type, service, tenant).
    pub exchanges: Vec<(String, String, Option<String>)>,
    /// Scopes access tokens were issued for.
    pub scopes: Vec<String>,
}

impl AcrState {
    /// A stored blob (layer or config) by digest.
    pub fn blob(&self, digest: &str) -> Option<&[u8]> {
        self.blobs.get(digest).map(Vec::as_slice)
    }
}

fn form(req: &Incoming) -> HashMap<String, String> {
    url::form_urlencoded::parse(&req.body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn errors(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, json!({"errors": [{"code": code, "message": message}]}))
}

pub fn route(state: &mut State, req: &Incoming) -> Option<Reply> {
    let path = req.path.clone();
    match (req.method.as_str(), path.as_str()) {
        ("POST", "/oauth2/exchange") => return Some(exchange(state, req)),
        ("POST", "/oauth2/token") => return Some(token_from_refresh(state, req)),
        ("GET", "/oauth2/token") => return Some(token_from_basic(state, req)),
        _ => {}
    }
    let rest = path.strip_prefix("/v2/")?;
    if rest.is_empty() {
        return Some(match authorized(state, req, None) {
            Ok(()) => Reply::json(200, json!({})),
            Err(reply) => reply,
        });
    }
    // `<repo>/blobs/<digest>`, `<repo>/blobs/uploads/[<id>]`, `<repo>/manifests/<ref>`.
    let (repository, tail) = if let Some(i) = rest.find("/blobs/") {
        (&rest[..i], &rest[i + 1..])
    } else if let Some(i) = rest.find("/manifests/") {
        (&rest[..i], &rest[i + 1..])
    } else {
        return Some(errors(404, "NAME_UNKNOWN", "repository name not known to registry"));
    };
    let action = if matches!(req.method.as_str(), "GET" | "HEAD") { "pull" } else { "push" };
    if let Err(reply) = authorized(state, req, Some((repository, action))) {
        return Some(reply);
    }
    let acr = &mut state.acr;
    let segments: Vec<&str> = tail.split('/').collect();
    Some(match (req.method.as_str(), segments.as_slice()) {
        ("HEAD", ["blobs", digest]) => match acr.blobs.get(*digest) {
            Some(_) => Reply::empty(200).header("Docker-Content-Digest", *digest),
            None => Reply::empty(404),
        },
        // Served here, not redirected to storage as ACR may do (unverified, see the reference).
        ("GET", ["blobs", digest]) => match acr.blobs.get(*digest) {
            Some(data) => {
                Reply::bytes(200, "application/octet-stream", data.clone()).header("Docker-Content-Digest", *digest)
            }
            None => errors(404, "BLOB_UNKNOWN", "blob unknown to registry"),
        },
        ("GET", ["manifests", reference]) => {
            let Some(data) = acr.manifests.get(&(repository.to_string(), reference.to_string())) else {
                return Some(errors(404, "MANIFEST_UNKNOWN", "manifest unknown"));
            };
            // The Content-Type is the manifest's own mediaType, as it was pushed.
            let media_type = serde_json::from_slice::<serde_json::Value>(data)
                .ok()
                .and_then(|m| m["mediaType"].as_str().map(str::to_string))
                .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".to_string());
            let digest = format!("sha256:{}", hex::encode(Sha256::digest(data)));
            Reply::bytes(200, &media_type, data.clone()).header("Docker-Content-Digest", digest)
        }
        ("POST", ["blobs", "uploads", ""]) => {
            let id = uuid::Uuid::new_v4().to_string();
            acr.uploads.insert(id.clone(), Vec::new());
            Reply::empty(202)
                .header("Location", format!("/v2/{repository}/blobs/uploads/{id}?_nouploadcache=false&_state=s0"))
                .header("Range", "0-0")
                .header("Docker-Upload-Uuid", id)
        }
        ("PATCH", ["blobs", "uploads", id]) => {
            let Some(data) = acr.uploads.get_mut(*id) else {
                return Some(errors(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry"));
            };
            let start = data.len();
            let range = req.headers.get("content-range").and_then(|v| v.to_str().ok()).unwrap_or_default();
            if !range.is_empty() && !range.starts_with(&format!("{start}-")) {
                return Some(errors(416, "BLOB_UPLOAD_INVALID", "chunk out of order"));
            }
            data.extend_from_slice(&req.body);
            Reply::empty(202)
                .header(
                    "Location",
                    format!("/v2/{repository}/blobs/uploads/{id}?_nouploadcache=false&_state=s{}", data.len()),
                )
                .header("Range", format!("0-{}", data.len().saturating_sub(1)))
                .header("Docker-Upload-Uuid", *id)
        }
        ("PUT", ["blobs", "uploads", id]) => {
            let Some(mut data) = acr.uploads.remove(*id) else {
                return Some(errors(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry"));
            };
            data.extend_from_slice(&req.body);
            let digest = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
            if req.query.get("digest") != Some(&digest) {
                return Some(errors(400, "DIGEST_INVALID", "provided digest did not match uploaded content"));
            }
            acr.blobs.insert(digest.clone(), data);
            Reply::empty(201)
                .header("Location", format!("/v2/{repository}/blobs/{digest}"))
                .header("Docker-Content-Digest", digest)
        }
        ("PUT", ["manifests", reference]) => {
            let digest = format!("sha256:{}", hex::encode(Sha256::digest(&req.body)));
            let manifest: serde_json::Value = match serde_json::from_slice(&req.body) {
                Ok(m) => m,
                Err(_) => return Some(errors(400, "MANIFEST_INVALID", "manifest invalid")),
            };
            let named = manifest["layers"].as_array().into_iter().flatten().chain(std::iter::once(&manifest["config"]));
            for d in named {
                if !d["digest"].as_str().is_some_and(|d| acr.blobs.contains_key(d)) {
                    return Some(errors(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry"));
                }
            }
            acr.manifests.insert((repository.to_string(), reference.to_string()), req.body.to_vec());
            acr.manifests.insert((repository.to_string(), digest.clone()), req.body.to_vec());
            Reply::empty(201)
                .header("Location", format!("/v2/{repository}/manifests/{digest}"))
                .header("Docker-Content-Digest", digest)
        }
        _ => errors(404, "UNSUPPORTED", "the operation is unsupported"),
    })
}

/// Checks the Bearer token covers `repository:action`; else ACR's challenge.
fn authorized(state: &State, req: &Incoming, need: Option<(&str, &str)>) -> Result<(), Reply> {
    let granted = req.bearer().and_then(|t| state.acr.access_tokens.get(&t)).is_some_and(|scopes| match need {
        None => true,
        Some((repository, action)) => scopes.iter().any(|s| {
            let mut parts = s.split(':');
            parts.next() == Some("repository")
                && parts.next() == Some(repository)
                && parts.next().is_some_and(|actions| actions.split(',').any(|a| a == action))
        }),
    });
    if granted {
        return Ok(());
    }
    let host = state.base.trim_start_matches("https://");
    let mut challenge = format!("Bearer realm=\"{}/oauth2/token\",service=\"{host}\"", state.base);
    if let Some((repository, action)) = need {
        challenge.push_str(&format!(",scope=\"repository:{repository}:{action}\""));
    }
    Err(errors(401, "UNAUTHORIZED", "authentication required").header("Www-Authenticate", challenge))
}

fn exchange(state: &mut State, req: &Incoming) -> Reply {
    let form = form(req);
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    let service = form.get("service").cloned().unwrap_or_default();
    state.acr.exchanges.push((grant.clone(), service.clone(), form.get("tenant").cloned()));
    let host = state.base.trim_start_matches("https://");
    if grant != "access_token" || service != host {
        return errors(400, "UNSUPPORTED", "grant_type must be access_token and service the login server");
    }
    if !form.get("access_token").is_some_and(|t| state.tokens.contains(t)) {
        return errors(401, "UNAUTHORIZED", "the Entra ID access token is invalid");
    }
    let refresh = format!("acr-rt-{}", uuid::Uuid::new_v4().simple());
    state.acr.refresh_tokens.insert(refresh.clone());
    Reply::json(200, json!({"refresh_token": refresh}))
}

fn issue(state: &mut State, scopes: Vec<String>) -> Reply {
    let token = format!("acr-at-{}", uuid::Uuid::new_v4().simple());
    state.acr.scopes.extend(scopes.iter().cloned());
    state.acr.access_tokens.insert(token.clone(), scopes);
    Reply::json(200, json!({"access_token": token}))
}

fn token_from_refresh(state: &mut State, req: &Incoming) -> Reply {
    let form = form(req);
    if form.get("grant_type").map(String::as_str) != Some("refresh_token")
        || !form.get("refresh_token").is_some_and(|t| state.acr.refresh_tokens.contains(t))
    {
        return errors(401, "UNAUTHORIZED", "the refresh token is invalid");
    }
    let scopes =
        url::form_urlencoded::parse(&req.body).filter(|(k, _)| k == "scope").map(|(_, v)| v.into_owned()).collect();
    issue(state, scopes)
}

fn token_from_basic(state: &mut State, req: &Incoming) -> Reply {
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{ADMIN_USER}:{ADMIN_PASSWORD}"));
    let sent = req.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if sent != format!("Basic {expected}") {
        return errors(401, "UNAUTHORIZED", "the user name or password is wrong");
    }
    let scope = req.query.get("scope").cloned().into_iter().collect();
    issue(state, scope)
}
