//! `mlops infra restore`: fetch a Bicep file's registry modules into the module cache; also the
//! restore step `mlops infra build` runs before compiling; and `mlops infra publish`.

use std::io::Read;
use std::path::Path;

use anyhow::Context;

use crate::azure::template_specs::{self, TemplateSpecsClient};
use crate::cli::{AzureArgs, GlobalArgs, InfraPublishArgs, InfraRestoreArgs, RegistryArgs};
use crate::error_kind::UsageError;
use crate::exit;
use crate::infra::bicep::{self, registry};
use crate::infra::restore::{self, Restored};
use crate::oci::{OciClient, OciClientOptions, OciError};
use crate::output;
use crate::settings;

pub async fn run(args: &InfraRestoreArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let restored = restore(&args.file, args.force, &args.registry, &args.azure).await?;
    output::emit(global.output, &restored, || {
        if restored.is_empty() {
            return format!("{} uses no registry modules", args.file.display());
        }
        let lines: Vec<String> =
            restored.iter().map(|r| format!("{:8} {} -> {}", r.status, r.reference, r.cache.display())).collect();
        lines.join("\n")
    })?;
    Ok(exit::OK)
}

/// `mlops infra publish`: a .bicep file compiled natively, or an ARM .json template as it is.
pub async fn publish(args: &InfraPublishArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let template = if args.file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .map_err(|e| UsageError(format!("{} is not a JSON template: {e}", args.file.display())))?;
        bytes
    } else {
        restore(&args.file, false, &args.registry, &args.azure).await?;
        let compiled = bicep::build_file(&args.file)?;
        output::note_each(global.quiet, &compiled.warnings);
        bicep::to_pretty_json(&compiled.template).into_bytes()
    };
    let config = registry::Config::for_file(&args.file).map_err(UsageError)?;
    let module = config.parse(&args.target).map_err(|m| UsageError(format!("--target: {m}")))?;
    let stdin_password = read_password(&args.registry)?;
    let oci = client(&module.registry, &args.registry, &args.azure, stdin_password)?;
    let digest = crate::infra::publish::publish(&oci, &module, template.into()).await?;
    let result = serde_json::json!({"target": module.to_string(), "digest": digest.to_string()});
    output::emit(global.output, &result, || format!("published {} as {module} ({digest})", args.file.display()))?;
    Ok(exit::OK)
}

fn read_password(registry: &RegistryArgs) -> anyhow::Result<Option<String>> {
    if !registry.password_stdin {
        return Ok(None);
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("cannot read the registry password from stdin")?;
    Ok(Some(text))
}

/// A client for one registry host with the sign-in flags; a credential that cannot be made is
/// an authentication failure of that registry.
fn client(
    host: &str,
    registry: &RegistryArgs,
    azure: &AzureArgs,
    stdin_password: Option<String>,
) -> Result<OciClient, OciError> {
    let auth_error = |message: String| OciError::Auth { registry: host.to_string(), message };
    let settings = settings::resolve_registry(registry, host, stdin_password).map_err(|e| auth_error(e.to_string()))?;
    let credentials =
        super::connect::registry_credentials(&settings.auth, azure).map_err(|e| auth_error(format!("{e:#}")))?;
    let options = OciClientOptions {
        transport: settings.transport,
        plain_http: settings.plain_http,
        ..OciClientOptions::default()
    };
    OciClient::new(host, credentials, Some(options))
}

/// Restores the registry modules of `file` with the registry sign-in flags.
pub async fn restore(
    file: &Path,
    force: bool,
    registry: &RegistryArgs,
    azure: &AzureArgs,
) -> anyhow::Result<Vec<Restored>> {
    let stdin_password = read_password(registry)?;
    let client = |host: &str| client(host, registry, azure, stdin_password.clone());
    let template_specs = async || {
        template_specs_client(azure)
            .await
            .map_err(|e| restore::SignInFailure { kind: exit::kind_of(&e), message: format!("{e:#}") })
    };
    let restored = restore::restore(file, force, &client, template_specs).await?;
    for r in restored.iter().filter(|r| r.status == "restored") {
        match (&r.registry, &r.repository, &r.template_spec) {
            (Some(registry), Some(repository), _) => {
                tracing::info!("restored {} from {registry}/{repository}", r.reference)
            }
            (_, _, Some(id)) => tracing::info!("restored {} from {id}", r.reference),
            _ => tracing::info!("restored {}", r.reference),
        }
    }
    Ok(restored)
}

/// The ARM client template specs are read with, signed in (failing early with the credentials
/// tried) as every `mlops infra` command is.
async fn template_specs_client(azure: &AzureArgs) -> anyhow::Result<TemplateSpecsClient> {
    let azure = settings::resolve_azure(azure)?;
    Ok(TemplateSpecsClient::new(super::connect::arm_client(&azure, template_specs::API_VERSION).await?))
}
