//! Container registry sign-in for `mlops image`: `--registry-auth`, `--username` with
//! `MLOPS_REGISTRY_PASSWORD` (or a password read from stdin), `--plain-http`, and `SSL_CERT_FILE`.

use std::path::PathBuf;

use crate::cli::{RegistryArgs, RegistryAuthArg};
use crate::env_vars;
use crate::error_kind::UsageError;
use crate::http::TransportOptions;
use crate::secret::Secret;

/// How to sign in to one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryAuth {
    Anonymous,
    Basic {
        username: String,
        password: Secret,
    },
    /// Entra ID, exchanged for ACR tokens.
    Azure,
}

/// Resolved registry settings.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    pub auth: RegistryAuth,
    pub plain_http: bool,
    pub transport: TransportOptions,
}

/// Resolves the registry flags for the registry `host`. `stdin_password` is what
/// `--password-stdin` read. Without `--registry-auth`: Basic when a user name is given, Azure for
/// an Azure Container Registry host (`*.azurecr.io`, `.cn`, `.us`), else anonymous.
pub fn resolve_registry(
    args: &RegistryArgs,
    host: &str,
    stdin_password: Option<String>,
) -> Result<RegistrySettings, UsageError> {
    let password = stdin_password
        .or_else(|| std::env::var(env_vars::MLOPS_REGISTRY_PASSWORD).ok())
        .map(|p| p.trim_end_matches(['\r', '\n']).to_string())
        .filter(|p| !p.is_empty());
    let username = args.username.clone().filter(|u| !u.trim().is_empty());
    let name = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    let acr = [".azurecr.io", ".azurecr.cn", ".azurecr.us"].iter().any(|s| name.ends_with(s));
    let kind = args.registry_auth.unwrap_or(if username.is_some() {
        RegistryAuthArg::Basic
    } else if acr {
        RegistryAuthArg::Azure
    } else {
        RegistryAuthArg::Anonymous
    });
    let auth = match kind {
        RegistryAuthArg::Anonymous => RegistryAuth::Anonymous,
        RegistryAuthArg::Azure => RegistryAuth::Azure,
        RegistryAuthArg::Basic => {
            let username = username.ok_or_else(|| UsageError("--registry-auth basic needs --username".into()))?;
            let password = password.ok_or_else(|| {
                UsageError(format!(
                    "--username {username} needs a password: set {} or pass --password-stdin",
                    env_vars::MLOPS_REGISTRY_PASSWORD
                ))
            })?;
            RegistryAuth::Basic { username, password: Secret::new(password) }
        }
    };
    let transport = TransportOptions {
        ca_bundle: std::env::var(env_vars::SSL_CERT_FILE).ok().filter(|v| !v.trim().is_empty()).map(PathBuf::from),
        insecure: false,
        // Layers are uploaded in chunks; one chunk on a slow link is the longest single request.
        timeout: Some(std::time::Duration::from_secs(300)),
    };
    Ok(RegistrySettings { auth, plain_http: args.plain_http, transport })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(auth: Option<RegistryAuthArg>, username: Option<&str>) -> RegistryArgs {
        RegistryArgs {
            registry_auth: auth,
            username: username.map(str::to_string),
            password_stdin: false,
            plain_http: false,
        }
    }

    #[test]
    fn picks_the_sign_in_from_the_flags_and_the_host() {
        let password = || Some("pw\n".to_string());
        let basic = resolve_registry(&args(None, Some("me")), "r.example", password()).expect("basic");
        assert_eq!(basic.auth, RegistryAuth::Basic { username: "me".into(), password: Secret::new("pw") });
        assert_eq!(
            resolve_registry(&args(None, None), "myacr.azurecr.io", None).expect("acr").auth,
            RegistryAuth::Azure
        );
        assert_eq!(
            resolve_registry(&args(None, None), "127.0.0.1:5000", None).expect("local").auth,
            RegistryAuth::Anonymous
        );
        let forced = resolve_registry(&args(Some(RegistryAuthArg::Anonymous), None), "x.azurecr.io", None);
        assert_eq!(forced.expect("forced").auth, RegistryAuth::Anonymous);
        let no_user = resolve_registry(&args(Some(RegistryAuthArg::Basic), None), "r.example", password());
        assert!(no_user.is_err_and(|e| e.0.contains("--username")));
    }
}
