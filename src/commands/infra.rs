//! `mlops infra deploy | validate | what-if | show | cancel` (stacks: `infra_stack`).

use std::io::{IsTerminal, Write};

use serde_json::Value;

use super::infra_common::{connect, ensure_group, outputs_table, prepare, restore_modules, subscription};
use crate::azure::deployments::{DeploymentScope, DeploymentsClient, Validation, check_name};
use crate::cli::{GlobalArgs, InfraCommand, InfraDeployArgs, InfraNameArgs, InfraTemplateArgs};
use crate::error_kind::UsageError;
use crate::exit;
use crate::infra::deploy::{self, Waited};
use crate::infra::prepare::Prepared;
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
    let prepared = prepare(&args.template, &azure, global.quiet)?;
    if args.confirm_with_what_if && !args.yes && !std::io::stdin().is_terminal() {
        return Err(UsageError(
            "--confirm-with-what-if needs a terminal to ask on; add --yes to deploy without asking".to_string(),
        )
        .into());
    }
    let (client, groups) = connect(&azure).await?;
    let Prepared { scope, name, body, .. } = prepared;
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
    let Prepared { scope, name, body, .. } = prepare(args, &azure, global.quiet)?;
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
    let Prepared { scope, name, body, .. } = prepare(args, &azure, global.quiet)?;
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
