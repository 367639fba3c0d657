//! Entra ID: the v2.0 token endpoint (client secret and client assertions), OpenID configuration,
//! and the token sources CI systems offer (GitHub Actions OIDC, Azure Pipelines OIDC, App Service
//! managed identity).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::{
    CERT_CLIENT_ID, CLIENT_ID, CLIENT_SECRET, FEDERATED_CLIENT_ID, GITHUB_REQUEST_TOKEN, Incoming, MSI_HEADER,
    PIPELINES_ACCESS_TOKEN, Reply, SERVICE_CONNECTION_ID, State, TENANT,
};

pub fn route(state: &mut State, req: &Incoming) -> Option<Reply> {
    let lower = req.path.to_ascii_lowercase();
    let segments: Vec<&str> = lower.trim_matches('/').split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("POST", [tenant, "oauth2", "v2.0", "token"]) => Some(token(state, req, tenant)),
        ("GET", [tenant, "v2.0", ".well-known", "openid-configuration"]) => Some(openid(state, tenant)),
        ("GET", ["github", "idtoken"]) => Some(github(state, req)),
        ("POST", ["pipelines", "oidc"]) => Some(pipelines(state, req)),
        ("GET", ["msi", "token"]) => Some(managed_identity(state, req)),
        _ => None,
    }
}

fn entra_error(status: u16, error: &str, code: u32, description: &str) -> Reply {
    Reply::json(
        status,
        json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description}"),
            "error_codes": [code],
            "timestamp": "2026-01-01 00:00:00Z",
            "trace_id": uuid::Uuid::new_v4().to_string(),
            "correlation_id": uuid::Uuid::new_v4().to_string(),
        }),
    )
}

fn issue(state: &mut State) -> Reply {
    let token = format!("standin-at-{}", uuid::Uuid::new_v4().simple());
    state.tokens.insert(token.clone());
    Reply::json(200, json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}))
}

fn token(state: &mut State, req: &Incoming, tenant: &str) -> Reply {
    if !tenant.eq_ignore_ascii_case(TENANT) {
        return entra_error(400, "invalid_request", 90002, &format!("Tenant '{tenant}' not found."));
    }
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&req.body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return entra_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.");
    }
    let scope_ok = form.get("scope").is_some_and(|s| s.split(' ').all(|s| s.ends_with("/.default")));
    if !scope_ok {
        return entra_error(400, "invalid_scope", 1002012, "The provided value for scope is not valid.");
    }
    let client = form.get("client_id").cloned().unwrap_or_default();
    if let Some(secret) = form.get("client_secret") {
        if client == CLIENT_ID && secret == CLIENT_SECRET {
            return issue(state);
        }
        return entra_error(401, "invalid_client", 7000215, "Invalid client secret provided.");
    }
    let assertion_type = form.get("client_assertion_type").map(String::as_str);
    let Some(assertion) = form.get("client_assertion").map(|a| a.trim().to_string()) else {
        return entra_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain client_secret or client_assertion.",
        );
    };
    if assertion_type != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
        return entra_error(400, "invalid_request", 50027, "Invalid client_assertion_type.");
    }
    if client == FEDERATED_CLIENT_ID {
        if state.federated.contains(&assertion) {
            return issue(state);
        }
        return entra_error(
            400,
            "invalid_client",
            700213,
            "No matching federated identity record found for presented assertion.",
        );
    }
    if client == CERT_CLIENT_ID {
        let endpoint = format!("{}/{tenant}/oauth2/v2.0/token", state.base);
        return match verify_certificate_assertion(state, &assertion, &endpoint) {
            Ok(()) => issue(state),
            Err(reason) => entra_error(
                401,
                "invalid_client",
                700027,
                &format!("Client assertion failed signature validation: {reason}"),
            ),
        };
    }
    entra_error(
        400,
        "unauthorized_client",
        700016,
        &format!("Application with identifier '{client}' was not found in the directory."),
    )
}

fn verify_certificate_assertion(state: &State, jwt: &str, endpoint: &str) -> Result<(), String> {
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;
    let key = state.cert_public_key.clone().ok_or("no certificate registered")?;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err("not a JWT".to_string());
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|e| e.to_string());
    let header: Value = serde_json::from_slice(&decode(header)?).map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" || header.get("x5t").is_none() {
        return Err("header must be RS256 with x5t".to_string());
    }
    let claims_value: Value = serde_json::from_slice(&decode(claims)?).map_err(|e| e.to_string())?;
    if claims_value["aud"] != endpoint || claims_value["iss"] != CERT_CLIENT_ID || claims_value["sub"] != CERT_CLIENT_ID
    {
        return Err(format!("wrong aud/iss/sub: {claims_value}"));
    }
    let now = chrono::Utc::now().timestamp();
    if claims_value["exp"].as_i64().is_none_or(|exp| exp < now) {
        return Err("expired".to_string());
    }
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    let signature = Signature::try_from(decode(signature)?.as_slice()).map_err(|e| e.to_string())?;
    VerifyingKey::<sha2::Sha256>::new(key).verify(signing_input.as_bytes(), &signature).map_err(|e| e.to_string())
}

fn openid(state: &State, tenant: &str) -> Reply {
    let base = &state.base;
    Reply::json(
        200,
        json!({
            "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
            "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/devicecode"),
            "issuer": format!("{base}/{tenant}/v2.0"),
            "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "EU",
        }),
    )
}

/// An unsigned-looking but well-formed JWT; the token endpoint recognises the ones it minted.
pub fn federated_jwt(subject: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
    let now = chrono::Utc::now().timestamp();
    let claims = URL_SAFE_NO_PAD.encode(
        json!({"iss": "https://token.actions.githubusercontent.com", "sub": subject, "aud": "api://AzureADTokenExchange", "iat": now, "exp": now + 300, "jti": uuid::Uuid::new_v4().to_string()})
            .to_string(),
    );
    format!("{header}.{claims}.{}", URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()))
}

fn github(state: &mut State, req: &Incoming) -> Reply {
    if req.bearer().as_deref() != Some(GITHUB_REQUEST_TOKEN) {
        return Reply::json(401, json!({"message": "Bad credentials"}));
    }
    if req.query.get("audience").map(String::as_str) != Some("api://AzureADTokenExchange") {
        return Reply::json(400, json!({"message": "audience must be api://AzureADTokenExchange"}));
    }
    let token = federated_jwt("repo:org/repo:ref:refs/heads/main");
    state.federated.insert(token.clone());
    Reply::json(200, json!({"count": 1, "value": token}))
}

fn pipelines(state: &mut State, req: &Incoming) -> Reply {
    if req.bearer().as_deref() != Some(PIPELINES_ACCESS_TOKEN) {
        return Reply::json(401, json!({"message": "TF400813: not authorized"})).header("x-vss-e2eid", "e2e-standin");
    }
    if req.query.get("serviceconnectionid").map(String::as_str) != Some(SERVICE_CONNECTION_ID) {
        return Reply::json(404, json!({"message": "service connection not found"}))
            .header("x-vss-e2eid", "e2e-standin");
    }
    let token = federated_jwt("sc://org/project/connection");
    state.federated.insert(token.clone());
    Reply::json(200, json!({"oidcToken": token}))
}

fn managed_identity(state: &mut State, req: &Incoming) -> Reply {
    let header = req.headers.get("x-identity-header").and_then(|v| v.to_str().ok());
    if header != Some(MSI_HEADER) {
        return Reply::json(
            401,
            json!({"error": "unauthorized", "error_description": "missing or wrong X-IDENTITY-HEADER"}),
        );
    }
    let token = format!("standin-at-{}", uuid::Uuid::new_v4().simple());
    state.tokens.insert(token.clone());
    let expires_on = chrono::Utc::now().timestamp() + 3600;
    Reply::json(
        200,
        json!({"access_token": token, "expires_on": expires_on.to_string(), "resource": req.query.get("resource").cloned().unwrap_or_default(), "token_type": "Bearer"}),
    )
}
