//! `mlops model register | evaluate | alias | list | show | download`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::connect::store_tracker;
use crate::cli::{
    DirectionArg, GateArgs, GlobalArgs, ModelAliasCommand, ModelCommand, ModelDownloadArgs, ModelEvaluateArgs,
    ModelRegisterArgs, OnNotBetter, StoreArgs,
};
use crate::error_kind::UsageError;
use crate::exit;
use crate::output;
use crate::registry::gate::{Decision, Direction, Evaluation};
use crate::registry::release::{self, EvaluateRequest, RegisterRequest};
use crate::registry::{ModelVersion, Registry, resolve_model};
use crate::settings;
use crate::tracking::ModelRef;
use crate::tracking::model_ref::VersionSelector;

pub async fn run(command: &ModelCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    match command {
        ModelCommand::Register(args) => register(args, global).await,
        ModelCommand::Evaluate(args) => evaluate(args, global).await,
        ModelCommand::Alias(command) => alias(command, global).await,
        ModelCommand::List(args) => list(args.name.as_deref(), &args.store, global).await,
        ModelCommand::Show(args) => show(&args.model, &args.store, global).await,
        ModelCommand::Download(args) => download(args, global).await,
    }
}

fn gate_request(run_id: &str, name: &str, gate: &GateArgs) -> EvaluateRequest {
    EvaluateRequest {
        run_id: run_id.to_string(),
        name: name.to_string(),
        metric: gate.metric.clone(),
        direction: match gate.direction {
            DirectionArg::Minimize => Direction::Minimize,
            DirectionArg::Maximize => Direction::Maximize,
        },
        alias: gate.against.clone(),
    }
}

/// Writes the report file if asked, and turns the decision into the exit code.
fn gate_outcome(evaluation: &Evaluation, gate: &GateArgs, quiet: bool) -> anyhow::Result<u8> {
    if let Some(path) = &gate.report {
        let text = serde_json::to_string_pretty(evaluation)?;
        std::fs::write(path, text + "\n")
            .map_err(|e| anyhow::anyhow!("cannot write report {}: {e}", path.display()))?;
    }
    output::note(quiet, format!("gate: {} ({})", decision_word(evaluation.decision), evaluation.reason));
    Ok(match (evaluation.decision, gate.on_not_better) {
        (Decision::NotBetter, OnNotBetter::Fail) => exit::GATE_NOT_BETTER,
        _ => exit::OK,
    })
}

fn decision_word(decision: Decision) -> &'static str {
    match decision {
        Decision::First => "first",
        Decision::Better => "better",
        Decision::NotBetter => "not-better",
    }
}

async fn evaluate(args: &ModelEvaluateArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let tracker = store_tracker(&args.store)?;
    let registry = Registry::of(&tracker);
    let evaluation =
        release::evaluate(&tracker, &registry, &gate_request(&args.run_id, &args.name, &args.gate)).await?;
    output::emit(global.output, &evaluation, || {
        format!("{}: {}\n", decision_word(evaluation.decision), evaluation.reason)
    })?;
    gate_outcome(&evaluation, &args.gate, global.quiet)
}

#[derive(Serialize)]
struct RegisterReport {
    registered: bool,
    version: Option<ModelVersion>,
    evaluation: Option<Evaluation>,
}

async fn register(args: &ModelRegisterArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let mut user_tags = BTreeMap::new();
    for tag in &args.tags {
        let (k, v) = tag
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| UsageError(format!("--tag {tag:?}: expected KEY=VALUE")))?;
        user_tags.insert(k.trim().to_string(), v.to_string());
    }
    let project = settings::project_file()?;
    let metric_tags = settings::registration_tags(args.params.as_deref(), &project)?;
    let aliases =
        if args.if_better && args.aliases.is_empty() { vec![args.gate.against.clone()] } else { args.aliases.clone() };
    let request = RegisterRequest {
        run_id: args.run_id.clone(),
        name: args.name.clone(),
        description: args.description.clone(),
        user_tags,
        metric_tags,
        ci: settings::ci_build(),
        aliases,
        allow_duplicate: args.allow_duplicate,
    };
    let tracker = super::connect::tracker(&settings::resolve_store(&args.store, &project)?)?;
    let registry = Registry::of(&tracker);
    let (evaluation, version) = if args.if_better {
        let gate = gate_request(&args.run_id, &args.name, &args.gate);
        let (evaluation, version) = release::register_if_better(&tracker, &registry, &gate, &request).await?;
        (Some(evaluation), version)
    } else {
        (None, Some(release::register(&tracker, &registry, &request).await?))
    };
    if let Some(v) = &version
        && v.tags.get(crate::registry::TAG_ARTIFACTS).map(String::as_str) == Some("local-only")
    {
        output::note(
            global.quiet,
            format!(
                "note: the files of {} version {} are not on the server (it takes no artifact uploads from mlops); they are in this machine's local store, run {}",
                v.name,
                v.version,
                v.tags.get(crate::registry::TAG_LOCAL_RUN_ID).map_or("?", String::as_str),
            ),
        );
    }
    let report = RegisterReport { registered: version.is_some(), version, evaluation };
    output::emit(global.output, &report, || match &report.version {
        Some(v) => format!("registered {} version {}{}\n", v.name, v.version, aliases_text(&v.aliases)),
        None => format!("not registered: {}\n", report.evaluation.as_ref().map_or("", |e| e.reason.as_str())),
    })?;
    match &report.evaluation {
        Some(evaluation) => gate_outcome(evaluation, &args.gate, global.quiet),
        None => Ok(exit::OK),
    }
}

fn aliases_text(aliases: &[String]) -> String {
    if aliases.is_empty() { String::new() } else { format!(" (aliases: {})", aliases.join(", ")) }
}

async fn alias(command: &ModelAliasCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    match command {
        ModelAliasCommand::Set { name, alias, version, store } => {
            let registry = Registry::of(&store_tracker(store)?);
            registry.set_alias(name, alias, *version).await?;
            let v = registry.version(name, *version).await?;
            output::emit(global.output, &v, || format!("{name}@{alias} -> version {version}\n"))?;
        }
        ModelAliasCommand::Delete { name, alias, store } => {
            let registry = Registry::of(&store_tracker(store)?);
            registry.delete_alias(name, alias).await?;
            output::emit(global.output, &serde_json::json!({"name": name, "alias": alias, "deleted": true}), || {
                format!("deleted {name}@{alias}\n")
            })?;
        }
    }
    Ok(exit::OK)
}

async fn list(name: Option<&str>, store: &StoreArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let registry = Registry::of(&store_tracker(store)?);
    match name {
        Some(name) => {
            let versions = registry.versions(name).await?;
            output::emit(global.output, &serde_json::json!({"versions": versions}), || {
                let rows: Vec<Vec<String>> = versions
                    .iter()
                    .map(|v| {
                        vec![
                            v.version.to_string(),
                            v.aliases.join(","),
                            v.run_id.clone().unwrap_or_default(),
                            v.tags.get("mse").cloned().unwrap_or_default(),
                        ]
                    })
                    .collect();
                output::table(&["VERSION", "ALIASES", "RUN", "MSE"], &rows)
            })?;
        }
        None => {
            let models = registry.models().await?;
            output::emit(global.output, &serde_json::json!({"models": models}), || {
                let rows: Vec<Vec<String>> = models
                    .iter()
                    .map(|m| {
                        let aliases: Vec<String> = m.aliases.iter().map(|(a, v)| format!("{a}={v}")).collect();
                        vec![
                            m.name.clone(),
                            m.latest_version.map_or_else(String::new, |v| v.to_string()),
                            aliases.join(","),
                        ]
                    })
                    .collect();
                output::table(&["NAME", "LATEST", "ALIASES"], &rows)
            })?;
        }
    }
    Ok(exit::OK)
}

/// `NAME`, `NAME/VERSION` or `NAME@ALIAS`.
fn parse_spec(spec: &str) -> anyhow::Result<(String, Option<VersionSelector>)> {
    match ModelRef::parse(&format!("models:/{spec}")) {
        Ok(ModelRef::Registered { name, selector }) => Ok((name, Some(selector))),
        _ if !spec.contains(['/', '@']) && !spec.is_empty() => Ok((spec.to_string(), None)),
        _ => Err(UsageError(format!("{spec:?}: expected NAME, NAME/VERSION, NAME/latest or NAME@ALIAS")).into()),
    }
}

async fn show(spec: &str, store: &StoreArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let registry = Registry::of(&store_tracker(store)?);
    match parse_spec(spec)? {
        (name, None) => {
            let model = registry.model(&name).await?;
            output::emit(global.output, &model, || {
                let aliases: Vec<String> = model.aliases.iter().map(|(a, v)| format!("{a} -> {v}")).collect();
                format!(
                    "model    {}\nlatest   {}\naliases  {}\n",
                    model.name,
                    model.latest_version.map_or_else(|| "-".to_string(), |v| v.to_string()),
                    if aliases.is_empty() { "-".to_string() } else { aliases.join(", ") }
                )
            })?;
        }
        (name, Some(selector)) => {
            let v = registry.select(&name, &selector).await?;
            output::emit(global.output, &v, || {
                let mut text = format!(
                    "model    {}\nversion  {}\naliases  {}\nrun      {}\nsource   {}\n",
                    v.name,
                    v.version,
                    if v.aliases.is_empty() { "-".to_string() } else { v.aliases.join(", ") },
                    v.run_id.as_deref().unwrap_or("-"),
                    v.source
                );
                for (k, value) in &v.tags {
                    text.push_str(&format!("  {k} = {value}\n"));
                }
                text
            })?;
        }
    }
    Ok(exit::OK)
}

async fn download(args: &ModelDownloadArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let (name, selector) = parse_spec(&args.model)?;
    let selector =
        selector.ok_or_else(|| UsageError(format!("{:?}: name a version: NAME/VERSION or NAME@ALIAS", args.model)))?;
    let tracker = store_tracker(&args.store)?;
    let model = ModelRef::Registered { name, selector };
    let resolved = resolve_model(&model, &tracker, &settings::cache_dir()).await?;
    crate::registry::copy_dir(&resolved.dir, &args.dest)?;
    let _ = std::fs::remove_file(args.dest.join(".mlops-complete"));
    output::emit(
        global.output,
        &serde_json::json!({"model": resolved.name, "version": resolved.version, "dest": args.dest}),
        || {
            format!(
                "downloaded {} (version {}) to {}\n",
                resolved.name,
                resolved.version.as_deref().unwrap_or("?"),
                args.dest.display()
            )
        },
    )?;
    Ok(exit::OK)
}
