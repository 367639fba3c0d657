//! `mlops infra deploy --stack`, `mlops infra delete --stack` and `mlops infra stack show | list`.

use std::io::{IsTerminal, Write};

use serde_json::{Value, json};

use super::connect::arm_client;
use super::infra_common::{connect, ensure_group, outputs_table, prepare, restore_modules, subscription};
use crate::azure::deployments::{DeploymentScope, check_name};
use crate::azure::lro::PollInterval;
use crate::azure::stacks::{self, DeploymentStacksClient};
use crate::cli::{
    DenyModeArg, GlobalArgs, InfraDeleteArgs, InfraDeployArgs, InfraNameArgs, InfraStackArgs, InfraStackCommand,
    InfraStackListArgs, ModeArg, UnmanageArg,
};
use crate::error_kind::UsageError;
use crate::exit;
use crate::infra::InfraError;
use crate::infra::deploy::{self, Waited};
use crate::infra::stack::{self as stack_domain, DenyMode, StackSettings, UnmanagePolicy};
use crate::output::{self, Format};
use crate::progress::DeploymentProgress;
use crate::settings::{self, AzureSettings};

pub async fn run(command: &InfraStackCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    match command {
        InfraStackCommand::Show(args) => show(args, global).await,
        InfraStackCommand::List(args) => list(args, global).await,
    }
}

fn policy(arg: Option<UnmanageArg>) -> UnmanagePolicy {
    match arg {
        None | Some(UnmanageArg::DetachAll) => UnmanagePolicy::DetachAll,
        Some(UnmanageArg::DeleteResources) => UnmanagePolicy::DeleteResources,
        Some(UnmanageArg::DeleteAll) => UnmanagePolicy::DeleteAll,
    }
}

fn stack_settings(args: &InfraStackArgs) -> StackSettings {
    StackSettings {
        unmanage: policy(args.action_on_unmanage),
        deny_mode: match args.deny_settings_mode {
            None | Some(DenyModeArg::None) => DenyMode::None,
            Some(DenyModeArg::DenyDelete) => DenyMode::DenyDelete,
            Some(DenyModeArg::DenyWriteAndDelete) => DenyMode::DenyWriteAndDelete,
        },
        excluded_principals: args.deny_settings_excluded_principals.clone(),
        excluded_actions: args.deny_settings_excluded_actions.clone(),
        apply_to_child_scopes: args.deny_settings_apply_to_child_scopes,
        description: args.description.clone(),
    }
}

/// The stack's scope from `-g` (none: the subscription), with the names checked before any request.
fn stack_scope(azure: &AzureSettings, resource_group: Option<&str>, name: &str) -> anyhow::Result<DeploymentScope> {
    check_name("deployment stack", name, 90).map_err(UsageError)?;
    let subscription = subscription(azure)?;
    Ok(match resource_group {
        Some(rg) => {
            check_name("resource group", rg, 90).map_err(UsageError)?;
            DeploymentScope::ResourceGroup { subscription, resource_group: rg.to_string() }
        }
        None => DeploymentScope::Subscription { subscription },
    })
}

async fn stacks_client(azure: &AzureSettings) -> anyhow::Result<DeploymentStacksClient> {
    Ok(DeploymentStacksClient::new(arm_client(azure, stacks::API_VERSION).await?, PollInterval::default()))
}

fn not_found(err: crate::azure::HttpError, name: &str, scope: &DeploymentScope) -> anyhow::Error {
    if err.status == Some(404) {
        anyhow::Error::from(InfraError::StackNotFound { name: name.to_string(), scope: scope.path() })
            .context(err.to_string())
    } else {
        err.into()
    }
}

fn show_hint(scope: &DeploymentScope, name: &str) -> String {
    match scope {
        DeploymentScope::ResourceGroup { resource_group, .. } => {
            format!("mlops infra stack show {name} -g {resource_group}")
        }
        DeploymentScope::Subscription { .. } => format!("mlops infra stack show {name}"),
    }
}

pub(super) async fn deploy(args: &InfraDeployArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let name = args.stack.name.as_deref().unwrap_or_default();
    if args.template.mode == ModeArg::Complete {
        return Err(UsageError(
            "--mode Complete does not apply to a stack: --action-on-unmanage decides what happens to resources the template leaves out".to_string(),
        )
        .into());
    }
    let azure = settings::resolve_azure(&args.template.azure)?;
    check_name("deployment stack", name, 90).map_err(UsageError)?;
    restore_modules(&args.template).await?;
    let prepared = prepare(&args.template, &azure, global.quiet)?;
    let body = stack_domain::request_body(&prepared.body, &stack_settings(&args.stack));
    let scope = prepared.scope;
    let (deployments, groups) = connect(&azure).await?;
    let client = stacks_client(&azure).await?;
    ensure_group(&groups, &scope, args.template.location.as_deref(), global.quiet).await?;
    let (accepted, mut poller) = client.begin_create_or_update(&scope, name, &body).await?;
    if args.no_wait {
        let value: Value = accepted.json()?;
        output::note(global.quiet, format!("stack {name} accepted; follow it with `{}`", show_hint(&scope, name)));
        output::emit(global.output, &value, || format!("{name}: {}", deploy::state(&value)))?;
        return Ok(exit::OK);
    }
    let mut progress = DeploymentProgress::new(global.quiet, &format!("deploying stack {name}"));
    let mut interrupt = super::signals::interrupt();
    let waited = stack_domain::wait_for_stack(
        &client,
        &deployments,
        &scope,
        name,
        &mut poller,
        &mut progress,
        interrupt.as_mut(),
    )
    .await?;
    let Waited::Finished(stack) = waited else {
        output::to_stderr(format!(
            "stopped waiting: stack {name} goes on in Azure; follow it with `{}`",
            show_hint(&scope, name)
        ));
        return Ok(exit::INTERRUPTED);
    };
    print_stack(global.output, &stack)?;
    if deploy::state(&stack).eq_ignore_ascii_case("succeeded") {
        return Ok(exit::OK);
    }
    let deployment =
        stack.pointer("/properties/deploymentId").and_then(Value::as_str).and_then(|id| id.rsplit('/').next());
    let operations = match deployment {
        Some(deployment) => deployments.list_operations(&scope, deployment).await.unwrap_or_default(),
        None => Vec::new(),
    };
    Err(deploy::failure(&format!("stack {name}"), &stack, &operations).into())
}

pub(super) async fn delete(args: &InfraDeleteArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let azure = settings::resolve_azure(&args.azure)?;
    let name = args.stack.as_str();
    let scope = stack_scope(&azure, args.resource_group.as_deref(), name)?;
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(
            UsageError(format!("refusing to delete stack {name:?} without --yes (no terminal to ask on)")).into()
        );
    }
    let client = stacks_client(&azure).await?;
    let stack = client.get(&scope, name).await.map_err(|e| not_found(e, name, &scope))?;
    let unmanage = policy(args.action_on_unmanage);
    let (deleted, detached) = stack_domain::delete_plan(&stack, unmanage.action());
    if !args.yes {
        let mut text = format!(
            "Deleting stack {name} with --action-on-unmanage {} deletes {} and detaches {} of the resources it manages:\n",
            unmanage.as_str(),
            deleted.len(),
            detached.len()
        );
        for id in &deleted {
            text.push_str(&format!("  delete  {id}\n"));
        }
        for id in &detached {
            text.push_str(&format!("  detach  {id}\n"));
        }
        output::to_stderr_raw(text);
        if !confirm(&format!("Delete stack {name}? (y/n): "))? {
            output::note(global.quiet, format!("stack {name} not deleted"));
            return Ok(exit::OK);
        }
    }
    let mut poller = client.begin_delete(&scope, name, unmanage.action()).await?;
    let mut report = json!({
        "name": name,
        "id": stack.get("id").cloned().unwrap_or_default(),
        "actionOnUnmanage": unmanage.as_str(),
        "deletedResources": deleted,
        "detachedResources": detached,
        "status": "Succeeded",
    });
    if args.no_wait {
        report["status"] = json!("Accepted");
        output::note(global.quiet, format!("delete of stack {name} accepted; it goes on in Azure"));
        output::emit(global.output, &report, || format!("{name}: delete accepted"))?;
        return Ok(exit::OK);
    }
    let mut progress = DeploymentProgress::new(global.quiet, &format!("deleting stack {name}"));
    let mut interrupt = super::signals::interrupt();
    if let Waited::Interrupted =
        stack_domain::wait_for_delete(&client, name, &mut poller, &mut progress, interrupt.as_mut()).await?
    {
        output::to_stderr(format!("stopped waiting: the delete of stack {name} goes on in Azure"));
        return Ok(exit::INTERRUPTED);
    }
    output::emit(global.output, &report, || {
        format!("deleted stack {name}: {} resources deleted, {} detached", deleted.len(), detached.len())
    })?;
    Ok(exit::OK)
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    output::to_stderr_raw(question);
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

async fn show(args: &InfraNameArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let azure = settings::resolve_azure(&args.azure)?;
    let scope = stack_scope(&azure, args.resource_group.as_deref(), &args.name)?;
    let client = stacks_client(&azure).await?;
    let stack = client.get(&scope, &args.name).await.map_err(|e| not_found(e, &args.name, &scope))?;
    print_stack(global.output, &stack)?;
    Ok(exit::OK)
}

async fn list(args: &InfraStackListArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let azure = settings::resolve_azure(&args.azure)?;
    let scope = stack_scope(&azure, args.resource_group.as_deref(), "list")?;
    let client = stacks_client(&azure).await?;
    let items = client.list(&scope).await?;
    output::emit(global.output, &items, || {
        let rows: Vec<Vec<String>> = items
            .iter()
            .map(|s| {
                vec![
                    s.get("name").and_then(Value::as_str).unwrap_or("?").to_string(),
                    deploy::state(s).to_string(),
                    stack_domain::ids(s, "resources").len().to_string(),
                ]
            })
            .collect();
        output::table(&["NAME", "STATE", "RESOURCES"], &rows)
    })?;
    Ok(exit::OK)
}

/// The stack as ARM returned it in JSON, or its state, what it manages, detached and deleted,
/// and its outputs as text.
fn print_stack(format: Format, stack: &Value) -> anyhow::Result<()> {
    output::emit(format, stack, || {
        let props = stack.get("properties").cloned().unwrap_or_default();
        let text = |pointer: &str| props.pointer(pointer).and_then(Value::as_str).unwrap_or("-").to_string();
        let mut out = format!(
            "deployment stack {}: {}\n  action on unmanage: resources {}, resource groups {}\n  deny settings: {}\n  duration: {}\n  correlation id: {}\n",
            stack.get("name").and_then(Value::as_str).unwrap_or("?"),
            deploy::state(stack),
            text("/actionOnUnmanage/resources"),
            text("/actionOnUnmanage/resourceGroups"),
            text("/denySettings/mode"),
            text("/duration"),
            text("/correlationId"),
        );
        for (list, label) in
            [("resources", "managed"), ("detachedResources", "detached"), ("deletedResources", "deleted")]
        {
            let ids = stack_domain::ids(stack, list);
            out.push_str(&format!("  {label}: {}\n", ids.len()));
            for id in ids {
                out.push_str(&format!("    {id}\n"));
            }
        }
        out.push_str(&outputs_table(&props));
        out
    })
}
