//! What the `mlops infra` handlers of deployments and of stacks share: module restore, the local
//! preparation of a template deployment, sign-in and clients, the resource group, the outputs table.

use anyhow::Context as _;
use serde_json::Value;

use crate::azure::deployments::{DeploymentScope, DeploymentsClient, ResourceGroupsClient};
use crate::azure::lro::PollInterval;
use crate::cli::{BicepArg, InfraTemplateArgs, ModeArg, RegistryArgs, ScopeArg};
use crate::error_kind::UsageError;
use crate::infra::InfraError;
use crate::infra::deploy::Mode;
use crate::infra::prepare::{PrepareOptions, Prepared};
use crate::infra::template::{self, TemplateScope};
use crate::output;
use crate::settings::AzureSettings;

/// Fetches the registry modules of a .bicep template the native compiler will read (anonymous, or
/// Entra ID for ACR hosts; `mlops infra restore` has the other sign-in flags).
pub(super) async fn restore_modules(args: &InfraTemplateArgs) -> anyhow::Result<()> {
    let bicep = args.template.extension().is_some_and(|e| e.eq_ignore_ascii_case("bicep"));
    if bicep && args.bicep != BicepArg::External {
        let registry = RegistryArgs { registry_auth: None, username: None, password_stdin: false, plain_http: false };
        super::infra_restore::restore(&args.template, false, &registry, &args.azure).await?;
    }
    Ok(())
}

/// Everything that can be checked without a request: settings, template, parameters, names. The
/// compiler's warnings go to stderr, as `infra build` writes them.
pub(super) fn prepare(args: &InfraTemplateArgs, azure: &AzureSettings, quiet: bool) -> anyhow::Result<Prepared> {
    let options = PrepareOptions {
        template: &args.template,
        compiler: match args.bicep {
            BicepArg::Native => template::BicepCompiler::Native,
            BicepArg::External => template::BicepCompiler::External,
            BicepArg::Check => template::BicepCompiler::Check,
        },
        scope: args.scope.map(|scope| match scope {
            ScopeArg::ResourceGroup => TemplateScope::ResourceGroup,
            ScopeArg::Subscription => TemplateScope::Subscription,
        }),
        subscription: subscription(azure)?,
        resource_group: args.resource_group.as_deref(),
        location: args.location.as_deref(),
        mode: match args.mode {
            ModeArg::Incremental => Mode::Incremental,
            ModeArg::Complete => Mode::Complete,
        },
        parameters: &args.parameters,
        name: args.name.as_deref(),
    };
    let prepared = crate::infra::prepare::prepare(&options)?;
    output::note_each(quiet, &prepared.warnings);
    Ok(prepared)
}

pub(super) fn subscription(azure: &AzureSettings) -> anyhow::Result<String> {
    azure.subscription.clone().ok_or_else(|| {
        UsageError("no subscription: pass --subscription or set AZURE_SUBSCRIPTION_ID".to_string()).into()
    })
}

/// Signs in (failing early with the credentials tried) and builds the clients.
pub(super) async fn connect(azure: &AzureSettings) -> anyhow::Result<(DeploymentsClient, ResourceGroupsClient)> {
    let arm = super::connect::arm_client(azure, crate::azure::arm::DEFAULT_API_VERSION).await?;
    Ok((DeploymentsClient::new(arm.clone(), PollInterval::default()), ResourceGroupsClient::new(arm)))
}

/// Creates the resource group of a resource-group deployment when it is missing and a location
/// was given; without one, a missing group is an error that says to pass --location.
pub(super) async fn ensure_group(
    groups: &ResourceGroupsClient,
    scope: &DeploymentScope,
    location: Option<&str>,
    quiet: bool,
) -> anyhow::Result<()> {
    let DeploymentScope::ResourceGroup { subscription, resource_group } = scope else {
        return Ok(());
    };
    if groups.check_existence(subscription, resource_group).await? {
        return Ok(());
    }
    match location {
        Some(location) => {
            groups.create_or_update(subscription, resource_group, location).await?;
            output::note(quiet, format!("created resource group {resource_group} in {location}"));
            Ok(())
        }
        None => Err(InfraError::NotFound {
            name: resource_group.clone(),
            scope: format!("subscription {subscription} (pass --location to create the resource group)"),
        })
        .context("resource group not found"),
    }
}

/// The `Outputs:` table of a deployment's or stack's properties (empty without outputs); a
/// secure output, which ARM returns without a value, shows as `(secure)`.
pub(super) fn outputs_table(props: &Value) -> String {
    let Some(outputs) = props.get("outputs").and_then(Value::as_object).filter(|o| !o.is_empty()) else {
        return String::new();
    };
    let rows: Vec<Vec<String>> = outputs
        .iter()
        .map(|(k, v)| {
            let value = match v.get("value") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => "(secure)".to_string(),
            };
            vec![k.clone(), v.get("type").and_then(Value::as_str).unwrap_or("").to_string(), value]
        })
        .collect();
    format!("\nOutputs:\n{}", output::table(&["NAME", "TYPE", "VALUE"], &rows))
}
