//! `mlops infra deploy | validate | what-if | show | cancel` (stacks: `infra_stack`).

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::Value;

use crate::azure::AzureCredential;
use crate::azure::arm::{ArmClient, ArmClientOptions};
use crate::azure::deployments::{DeploymentScope, DeploymentsClient, ResourceGroupsClient, Validation, check_name};
use crate::azure::lro::PollInterval;
use crate::cli::{
    BicepArg, GlobalArgs, InfraCommand, InfraDeployArgs, InfraNameArgs, InfraTemplateArgs, ModeArg, RegistryArgs,
    ScopeArg,
};
use crate::error_kind::UsageError;
use crate::exit;
use crate::infra::deploy::{self, Mode, Waited};
use crate::infra::prepare::{PrepareOptions, Prepared};
use crate::infra::template::{self, TemplateScope};
use crate::infra::{InfraError, whatif};
use crate::output::{self, Format};
use crate::progress::DeploymentProgress;
use crate::settings::{self, AzureSettings};

pub async fn run(command: &InfraCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    match command {
        InfraCommand::Build(args) => super::infra_build::run(args, global).await,
        InfraCommand::Restore(args) => super::infra_restore::run(args, global).await,
        InfraCommand::Publish(args) => super::infra_restore::publish(args, global).await,
        InfraCommand::Deploy(args) => deploy(args, global).await,
        InfraCommand::Validate(args) => validate(args, global).await,
        InfraCommand::WhatIf(args) => what_if(&args.template, args.exit_code, global).await,
        InfraCommand::Show(args) => show(args, global).await,
        InfraCommand::Cancel(args) => cancel(args, global).await,
        InfraCommand::Delete(args) => super::infra_stack::delete(args, global).await,
        InfraCommand::Stack(command) => super::infra_stack::run(command, global).await,
    }
}

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

/// Everything that can be checked without a request: settings, template, parameters, names.
pub(super) fn prepare(args: &InfraTemplateArgs, azure: &AzureSettings) -> anyhow::Result<Prepared> {
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
    Ok(crate::infra::prepare::prepare(&options)?)
}

pub(super) fn subscription(azure: &AzureSettings) -> anyhow::Result<String> {
    azure.subscription.clone().ok_or_else(|| {
        UsageError("no subscription: pass --subscription or set AZURE_SUBSCRIPTION_ID".to_string()).into()
    })
}

/// Signs in (failing early with the credentials tried) and builds the clients.
pub(super) async fn connect(azure: &AzureSettings) -> anyhow::Result<(DeploymentsClient, ResourceGroupsClient)> {
    let arm = arm_client(azure, crate::azure::arm::DEFAULT_API_VERSION).await?;
    Ok((DeploymentsClient::new(arm.clone(), PollInterval::default()), ResourceGroupsClient::new(arm)))
}

/// Signs in (failing early with the credentials tried) and builds an ARM client for `api_version`.
pub(super) async fn arm_client(azure: &AzureSettings, api_version: &str) -> anyhow::Result<ArmClient> {
    let credential = Arc::new(AzureCredential::new(&azure.auth, &azure.cloud, azure.forced)?);
    let scope = azure.cloud.arm_scope();
    credential.token(&[scope.as_str()]).await?;
    let options = ArmClientOptions {
        api_version: api_version.to_string(),
        retry: azure.network.retry(),
        timeout: azure.network.timeout,
    };
    Ok(ArmClient::new(azure.cloud.resource_manager.clone(), credential, scope, Some(options))?)
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

fn follow_hint(scope: &DeploymentScope, name: &str) -> String {
    let target = match scope {
        DeploymentScope::ResourceGroup { resource_group, .. } => format!(" -g {resource_group}"),
        DeploymentScope::Subscription { .. } => String::new(),
    };
    format!("follow it with `mlops infra show {name}{target}`, cancel it with `mlops infra cancel {name}{target}`")
}

async fn deploy(args: &InfraDeployArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    if args.what_if {
        return what_if(&args.template, false, global).await;
    }
    if args.stack.name.is_some() {
        return super::infra_stack::deploy(args, global).await;
    }
    let azure = settings::resolve_azure(&args.template.azure)?;
    restore_modules(&args.template).await?;
    let prepared = prepare(&args.template, &azure)?;
    if args.confirm_with_what_if && !args.yes && !std::io::stdin().is_terminal() {
        return Err(UsageError(
            "--confirm-with-what-if needs a terminal to ask on; add --yes to deploy without asking".to_string(),
        )
        .into());
    }
    let (client, groups) = connect(&azure).await?;
    let Prepared { scope, name, body } = prepared;
    ensure_group(&groups, &scope, args.template.location.as_deref(), global.quiet).await?;
    if args.confirm_with_what_if {
        let result = run_what_if(&client, &scope, &name, &body, global).await?;
        let Some(result) = result else {
            return Ok(exit::INTERRUPTED);
        };
        crate::output::to_stderr_raw(whatif::render(&result));
        if !args.yes && !confirm()? {
            output::note(global.quiet, "deployment not started");
            return Ok(exit::OK);
        }
    }
    let (accepted, mut poller) = client.begin_create_or_update(&scope, &name, &body).await?;
    if args.no_wait {
        let value: Value = accepted.json()?;
        output::note(global.quiet, format!("deployment {name} accepted; {}", follow_hint(&scope, &name)));
        output::emit(global.output, &value, || format!("{name}: {}", deploy::state(&value)))?;
        return Ok(exit::OK);
    }
    let mut progress = DeploymentProgress::new(global.quiet, &format!("deploying {name}"));
    let waited = deploy::wait_for_deployment(
        &client,
        &scope,
        &name,
        &mut poller,
        &mut progress,
        super::signals::interrupt().as_mut(),
    )
    .await?;
    let resource = match waited {
        Waited::Finished(resource) => resource,
        Waited::Interrupted => {
            crate::output::to_stderr(format!(
                "stopped waiting: deployment {name} goes on in Azure; {}",
                follow_hint(&scope, &name)
            ));
            return Ok(exit::INTERRUPTED);
        }
    };
    print_deployment(global.output, &resource)?;
    if deploy::state(&resource).eq_ignore_ascii_case("succeeded") {
        return Ok(exit::OK);
    }
    let operations = client.list_operations(&scope, &name).await.unwrap_or_default();
    Err(deploy::failure(&name, &resource, &operations).into())
}

fn confirm() -> anyhow::Result<bool> {
    crate::output::to_stderr_raw("Are you sure you want to execute the deployment? (y/n): ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

async fn run_what_if(
    client: &DeploymentsClient,
    scope: &DeploymentScope,
    name: &str,
    body: &Value,
    global: &GlobalArgs,
) -> anyhow::Result<Option<Value>> {
    let mut body = body.clone();
    body["properties"]["whatIfSettings"] = serde_json::json!({"resultFormat": "FullResourcePayloads"});
    let mut poller = client.begin_what_if(scope, name, &body).await?;
    let mut progress = DeploymentProgress::new(global.quiet, &format!("what-if {name}"));
    match deploy::wait_for_result(client, &mut poller, &mut progress, super::signals::interrupt().as_mut()).await? {
        Waited::Finished(result) => Ok(Some(result)),
        Waited::Interrupted => {
            crate::output::to_stderr(format!("stopped waiting for the what-if of {name}"));
            Ok(None)
        }
    }
}

async fn what_if(args: &InfraTemplateArgs, exit_code: bool, global: &GlobalArgs) -> anyhow::Result<u8> {
    let azure = settings::resolve_azure(&args.azure)?;
    restore_modules(args).await?;
    let Prepared { scope, name, body } = prepare(args, &azure)?;
    let (client, _) = connect(&azure).await?;
    let Some(result) = run_what_if(&client, &scope, &name, &body, global).await? else {
        return Ok(exit::INTERRUPTED);
    };
    output::emit(global.output, &result, || whatif::render(&result))?;
    if exit_code && whatif::has_changes(&result) {
        return Ok(exit::CHANGES_PRESENT);
    }
    Ok(exit::OK)
}

async fn validate(args: &InfraTemplateArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let azure = settings::resolve_azure(&args.azure)?;
    restore_modules(args).await?;
    let Prepared { scope, name, body } = prepare(args, &azure)?;
    let (client, _) = connect(&azure).await?;
    let (validation, poller) = client.validate(&scope, &name, &body).await?;
    let result = match (validation, poller) {
        (_, Some(mut poller)) => {
            let mut progress = DeploymentProgress::new(global.quiet, &format!("validating {name}"));
            match deploy::wait_for_result(&client, &mut poller, &mut progress, super::signals::interrupt().as_mut())
                .await?
            {
                Waited::Finished(value) => Validation::Valid(value),
                Waited::Interrupted => return Ok(exit::INTERRUPTED),
            }
        }
        (validation, None) => validation,
    };
    match result {
        Validation::Valid(value) => {
            output::emit(global.output, &value, || {
                let count =
                    value.pointer("/properties/validatedResources").and_then(Value::as_array).map_or(0, Vec::len);
                format!("deployment {name} is valid ({count} resources validated)")
            })?;
            Ok(exit::OK)
        }
        Validation::Invalid(value) => {
            if global.output == Format::Json {
                output::emit(global.output, &value, String::new)?;
            }
            let details = value
                .get("error")
                .and_then(|e| serde_json::from_value::<crate::azure::ErrorDetail>(e.clone()).ok())
                .map(|e| e.render())
                .unwrap_or_else(|| value.to_string());
            Err(InfraError::Rejected { name, details }.into())
        }
    }
}

fn name_scope(args: &InfraNameArgs, azure: &AzureSettings) -> anyhow::Result<DeploymentScope> {
    check_name("deployment", &args.name, 64).map_err(UsageError)?;
    let subscription = subscription(azure)?;
    Ok(match &args.resource_group {
        Some(rg) => {
            check_name("resource group", rg, 90).map_err(UsageError)?;
            DeploymentScope::ResourceGroup { subscription, resource_group: rg.clone() }
        }
        None => DeploymentScope::Subscription { subscription },
    })
}

fn not_found(err: crate::azure::HttpError, name: &str, scope: &DeploymentScope) -> anyhow::Error {
    if err.status == Some(404) {
        anyhow::Error::from(InfraError::NotFound { name: name.to_string(), scope: scope.path() })
            .context(err.to_string())
    } else {
        err.into()
    }
}

async fn show(args: &InfraNameArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let azure = settings::resolve_azure(&args.azure)?;
    let scope = name_scope(args, &azure)?;
    let (client, _) = connect(&azure).await?;
    let resource = client.get(&scope, &args.name).await.map_err(|e| not_found(e, &args.name, &scope))?;
    print_deployment(global.output, &resource)?;
    Ok(exit::OK)
}

async fn cancel(args: &InfraNameArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let azure = settings::resolve_azure(&args.azure)?;
    let scope = name_scope(args, &azure)?;
    let (client, _) = connect(&azure).await?;
    client.cancel(&scope, &args.name).await.map_err(|e| not_found(e, &args.name, &scope))?;
    let resource = client.get(&scope, &args.name).await?;
    output::note(global.quiet, format!("cancel requested for deployment {}", args.name));
    print_deployment(global.output, &resource)?;
    Ok(exit::OK)
}

/// The deployment resource: as ARM returned it in JSON, or state, times and outputs as text.
fn print_deployment(format: Format, resource: &Value) -> anyhow::Result<()> {
    output::emit(format, resource, || {
        let props = resource.get("properties").cloned().unwrap_or_default();
        let text = |key: &str| props.get(key).and_then(Value::as_str).unwrap_or("-").to_string();
        let mut out = format!(
            "deployment {}: {}\n  timestamp: {}\n  duration: {}\n  correlation id: {}\n",
            resource.get("name").and_then(Value::as_str).unwrap_or("?"),
            text("provisioningState"),
            text("timestamp"),
            text("duration"),
            text("correlationId"),
        );
        out.push_str(&outputs_table(&props));
        out
    })
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
