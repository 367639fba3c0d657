//! `mlops endpoint create | show | list | delete | keys | deploy | traffic | invoke | logs`:
//! Azure ML managed online endpoints.

use std::io::IsTerminal;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::azureml::endpoints::{
    self, AuthMode, EndpointCredentials, EndpointSpec, KeyType, OnlineEndpoint, OnlineEndpointsClient,
};
use crate::azureml::online_deployments::{
    DeploymentSpec, LogContainer, OnlineDeployment, OnlineDeploymentsClient, ScoringContainer,
};
use crate::azureml::rollout::{self, RolloutError};
use crate::azureml::rollout_target::EndpointRollout;
use crate::azureml::{AzureMlClient, AzureMlError, deployment_settings, scoring, traffic};
use crate::cli::*;
use crate::error_kind::UsageError;
use crate::output;
use crate::progress::DeploymentProgress;
use crate::settings::{self, AzureMlSettings};
use crate::tracking::{ModelRef, VersionSelector};

/// The VM size of a managed deployment when `--instance-type` is not given.
const MANAGED_INSTANCE_TYPE: &str = "Standard_DS3_v2";

pub async fn run(command: &EndpointCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    let (workspace, name) = match command {
        EndpointCommand::Create(a) => (&a.workspace, Some(&a.name)),
        EndpointCommand::Show(a) => (&a.workspace, Some(&a.name)),
        EndpointCommand::List(a) => (&a.workspace, None),
        EndpointCommand::Delete(a) => (&a.workspace, Some(&a.name)),
        EndpointCommand::Keys(a) => (&a.workspace, Some(&a.name)),
        EndpointCommand::Deploy(a) => (&a.workspace, Some(&a.name)),
        EndpointCommand::Traffic(a) => (&a.workspace, Some(&a.name)),
        EndpointCommand::Invoke(a) => (&a.workspace, Some(&a.name)),
        EndpointCommand::Logs(a) => (&a.workspace, Some(&a.name)),
    };
    // Everything that can be checked without the network is checked first.
    let checked = precheck(command)?;
    let settings = settings::resolve_azureml(workspace, &settings::project_file()?)?;
    let ml = super::connect::azureml(&settings).await?;
    let connected = Connected {
        endpoints: OnlineEndpointsClient::new(ml.clone()),
        deployments: OnlineDeploymentsClient::new(ml.clone()),
        settings,
        ml,
    };
    let name = name.map(String::as_str).unwrap_or_default();
    let quiet = global.quiet;
    let progress = |title: &str| DeploymentProgress::new(quiet, title);
    let mut interrupt = super::signals::interrupt();
    if let EndpointCommand::Deploy(args) = command {
        return deploy(args, checked, connected, global, interrupt.as_mut()).await;
    }
    // Ctrl-C stops waiting; what was asked of Azure ML goes on there.
    let act = async { act(command, checked, name, &connected, global, &progress).await };
    tokio::select! {
        done = act => done,
        () = interrupt.as_mut() => {
            output::to_stderr(format!(
                "stopped waiting: the operation on endpoint {name} goes on in Azure ML; follow it with `mlops endpoint show {name}`"
            ));
            Ok(crate::exit::INTERRUPTED)
        }
    }
}

/// The workspace signed in to, and its endpoint clients.
struct Connected {
    settings: AzureMlSettings,
    ml: AzureMlClient,
    endpoints: OnlineEndpointsClient,
    deployments: OnlineDeploymentsClient,
}

/// Every subcommand but `deploy`.
async fn act(
    command: &EndpointCommand,
    checked: Checked,
    name: &str,
    connected: &Connected,
    global: &GlobalArgs,
    progress: &dyn Fn(&str) -> DeploymentProgress,
) -> anyhow::Result<u8> {
    let Connected { settings, ml, endpoints, deployments } = connected;
    match command {
        EndpointCommand::Create(args) => {
            let compute = match &args.compute {
                Some(c) => Some(ml.kubernetes_compute_id(c).await?),
                None => None,
            };
            let auth_mode = match args.auth_mode {
                EndpointAuthArg::Key => AuthMode::Key,
                EndpointAuthArg::AmlToken => AuthMode::AmlToken,
            };
            let spec = EndpointSpec { auth_mode, compute, description: args.description.clone() };
            let endpoint =
                endpoints.create_or_update(name, &spec, &mut progress(&format!("creating endpoint {name}"))).await?;
            show_endpoint(global, &endpoint, &[])?;
        }
        EndpointCommand::Show(_) => {
            let endpoint = endpoints.get(name).await?;
            let list = deployments.list(name).await?;
            show_endpoint(global, &endpoint, &list)?;
        }
        EndpointCommand::List(_) => {
            let all = endpoints.list().await?;
            output::emit(global.output, &json!({"endpoints": all}), || {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|e| {
                        vec![
                            e.name.clone(),
                            e.provisioning_state.clone(),
                            e.auth_mode.clone(),
                            traffic::render(&e.traffic),
                        ]
                    })
                    .collect();
                output::table(&["NAME", "STATE", "AUTH", "TRAFFIC"], &rows)
            })?;
        }
        EndpointCommand::Delete(_) => {
            endpoints.delete(name, &mut progress(&format!("deleting endpoint {name}"))).await?;
            output::emit(global.output, &json!({"name": name, "deleted": true}), || {
                format!("deleted endpoint {name}")
            })?;
        }
        EndpointCommand::Keys(args) => {
            let endpoint = endpoints.get(name).await?;
            if let Some(key) = args.regenerate {
                // azure-ai-ml refuses the same way, before any call that changes something.
                if endpoint.auth() != Some(AuthMode::Key) {
                    let hint = if endpoint.auth() == Some(AuthMode::AmlToken) {
                        format!("; `mlops endpoint keys {name}` prints a fresh token")
                    } else {
                        String::new()
                    };
                    return Err(UsageError(format!(
                        "--regenerate: endpoint {name:?} does not use keys for authentication (auth mode {}){hint}",
                        endpoint.auth_mode
                    ))
                    .into());
                }
                let key = if key == EndpointKeyArg::Primary { KeyType::Primary } else { KeyType::Secondary };
                endpoints.regenerate_keys(name, key, &mut progress(&format!("regenerating a key of {name}"))).await?;
            }
            match endpoints.credentials(&endpoint).await? {
                EndpointCredentials::Keys(keys) => {
                    let value = json!({"primaryKey": keys.primary.expose(), "secondaryKey": keys.secondary.expose()});
                    output::emit_requested_secret(global.output, &value, || {
                        format!("primary:   {}\nsecondary: {}", keys.primary.expose(), keys.secondary.expose())
                    })?;
                }
                EndpointCredentials::Token(token) => {
                    let value = json!({"accessToken": token.access_token.expose(), "tokenType": "Bearer",
                        "expiryTimeUtc": token.expiry_time_utc});
                    output::emit_requested_secret(global.output, &value, || {
                        let expires = token
                            .expiry_time_utc
                            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                            .map_or_else(|| "-".to_string(), |t| t.to_rfc3339());
                        format!("token:   {}\nexpires: {expires}", token.access_token.expose())
                    })?;
                }
            }
        }
        // `run` hands deploy its own Ctrl-C (a rollout rolls back on it) before coming here.
        EndpointCommand::Deploy(_) => anyhow::bail!("internal: mlops endpoint deploy has its own handler"),
        EndpointCommand::Traffic(_) => {
            let (live, mirror) = checked.traffic.unwrap_or_default();
            check_traffic_targets(connected, name, &live, &mirror).await?;
            let endpoint = endpoints
                .update_traffic(name, &live, &mirror, &mut progress(&format!("setting traffic of {name}")))
                .await?;
            show_endpoint(global, &endpoint, &[])?;
        }
        EndpointCommand::Invoke(args) => {
            let endpoint = endpoints.get(name).await?;
            let scoring_uri = endpoint.scoring_uri.clone().ok_or_else(|| {
                anyhow::anyhow!("endpoint {name:?} has no scoring URI yet (state {})", endpoint.provisioning_state)
            })?;
            let request = scoring::ScoringRequest {
                scoring_uri,
                secret: endpoints.scoring_secret(&endpoint).await?,
                deployment: args.deployment.clone(),
                body: checked.body.unwrap_or_default(),
            };
            let client = crate::http::build_client(&crate::http::TransportOptions {
                ca_bundle: std::env::var_os(crate::env_vars::SSL_CERT_FILE).map(Into::into),
                timeout: Some(Duration::from_secs(90)),
                ..Default::default()
            })?;
            let answer = scoring::invoke(&client, &settings.azure.network.retry(), &request).await?;
            output::emit(
                global.output,
                &serde_json::from_slice::<serde_json::Value>(&answer)
                    .unwrap_or_else(|_| json!(String::from_utf8_lossy(&answer))),
                || String::from_utf8_lossy(&answer).into_owned(),
            )?;
        }
        EndpointCommand::Logs(args) => {
            let container = match args.container {
                LogContainerArg::InferenceServer => LogContainer::InferenceServer,
                LogContainerArg::StorageInitializer => LogContainer::StorageInitializer,
            };
            let content = deployments.get_logs(name, &args.deployment, container, args.lines).await?;
            output::emit(global.output, &json!({"content": content}), || content.clone())?;
        }
    }
    Ok(crate::exit::OK)
}

/// What the arguments say once checked, before anything is sent.
#[derive(Default)]
struct Checked {
    traffic: Option<(traffic::Traffic, traffic::Traffic)>,
    stages: Option<Vec<u32>>,
    settings: deployment_settings::DeploymentSettings,
    body: Option<Vec<u8>>,
}

fn precheck(command: &EndpointCommand) -> anyhow::Result<Checked> {
    let mut checked = Checked::default();
    match command {
        EndpointCommand::Delete(args) if !args.yes => {
            if !std::io::stdin().is_terminal() {
                return Err(UsageError(format!(
                    "refusing to delete endpoint {:?} without --yes (no terminal to ask on)",
                    args.name
                ))
                .into());
            }
            eprint!("delete endpoint {:?} and all its deployments? [y/N] ", args.name);
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer)?;
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                return Err(UsageError("not deleted".to_string()).into());
            }
        }
        EndpointCommand::Create(args) => {
            endpoints::check_name("endpoint name", &args.name)?;
            if let (EndpointKindArg::Managed, Some(compute)) = (args.kind, &args.compute) {
                return Err(UsageError(format!(
                    "--compute {compute:?}: a compute is for --kind kubernetes; managed endpoints run on Azure's own instances"
                ))
                .into());
            }
        }
        EndpointCommand::Traffic(args) => {
            let live = traffic::parse_assignments(&args.traffic, "traffic")?;
            let mirror = traffic::parse_assignments(&args.mirror, "--mirror")?;
            traffic::check(&live, &mirror)?;
            checked.traffic = Some((live, mirror));
        }
        EndpointCommand::Deploy(args) => {
            if let Some(text) = &args.rollout {
                checked.stages = Some(rollout::parse_stages(text)?);
            }
            endpoints::check_name("--deployment", &args.deployment)?;
            if args.instance_count == 0 {
                return Err(UsageError("--instance-count must be at least 1".to_string()).into());
            }
            if args.port == 0 {
                return Err(UsageError("--port must be a port from 1 to 65535, not 0".to_string()).into());
            }
            if !(args.smoke_timeout.is_finite() && args.smoke_timeout > 0.0) {
                return Err(UsageError(format!(
                    "--smoke-timeout must be a positive number of seconds, got {}",
                    args.smoke_timeout
                ))
                .into());
            }
            if let Some(path) = &args.settings {
                checked.settings = deployment_settings::load(path)?;
            }
            model_reference(&args.model)?;
        }
        EndpointCommand::Invoke(args) => {
            checked.body = Some(scoring::read_request(&args.data)?);
        }
        _ => {}
    }
    Ok(checked)
}

/// Every deployment a traffic map names exists (exit 8 otherwise, naming it), and a Kubernetes
/// endpoint gets no mirrored traffic, which the service supports on managed endpoints only.
async fn check_traffic_targets(
    connected: &Connected,
    name: &str,
    live: &traffic::Traffic,
    mirror: &traffic::Traffic,
) -> anyhow::Result<()> {
    let existing = connected.deployments.list(name).await?;
    let unknown = live.keys().chain(mirror.keys()).find(|d| !existing.iter().any(|e| e.name.eq_ignore_ascii_case(d)));
    if let Some(deployment) = unknown {
        let flag = if live.contains_key(deployment) { "traffic" } else { "--mirror" };
        return Err(anyhow::Error::new(AzureMlError::NotFound {
            kind: "online deployment",
            name: format!("{name}/{deployment}"),
            workspace: connected.ml.workspace().name.clone(),
            source: None,
        })
        .context(format!("{flag} {deployment:?}: endpoint {name:?} has no such deployment")));
    }
    if mirror.values().any(|p| *p > 0) {
        let endpoint = connected.endpoints.get(name).await?;
        if let Some(compute) = &endpoint.compute {
            return Err(UsageError(format!(
                "--mirror: endpoint {name:?} runs on the Kubernetes compute {compute}, where Azure ML does not mirror traffic"
            ))
            .into());
        }
    }
    Ok(())
}

/// `models:/NAME@ALIAS`, `models:/NAME/VERSION` or `models:/NAME/latest`.
fn model_reference(text: &str) -> anyhow::Result<(String, VersionSelector)> {
    match ModelRef::parse(text)? {
        ModelRef::Registered { name, selector } => Ok((name, selector)),
        _ => Err(UsageError(format!(
            "--model {text:?}: a model asset of the workspace is models:/NAME@ALIAS or models:/NAME/VERSION"
        ))
        .into()),
    }
}

fn show_endpoint(
    global: &GlobalArgs,
    endpoint: &OnlineEndpoint,
    deployments: &[OnlineDeployment],
) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Shown<'a> {
        #[serde(flatten)]
        endpoint: &'a OnlineEndpoint,
        deployments: &'a [OnlineDeployment],
    }
    output::emit(global.output, &Shown { endpoint, deployments }, || {
        let mut text = format!(
            "endpoint     {}\nstate        {}\nauth         {}\nkind         {}\nscoring URI  {}\ntraffic      {}\n",
            endpoint.name,
            endpoint.provisioning_state,
            endpoint.auth_mode,
            endpoint.kind,
            endpoint.scoring_uri.as_deref().unwrap_or("-"),
            traffic::render(&endpoint.traffic),
        );
        if !endpoint.mirror_traffic.is_empty() {
            text.push_str(&format!("mirror       {}\n", traffic::render(&endpoint.mirror_traffic)));
        }
        for d in deployments {
            text.push_str(&format!(
                "deployment   {} {} {}\n",
                d.name,
                d.provisioning_state,
                d.model.as_deref().unwrap_or("-")
            ));
        }
        text
    })
}

async fn deploy(
    args: &EndpointDeployArgs,
    checked: Checked,
    connected: Connected,
    global: &GlobalArgs,
    interrupt: rollout::Interrupt<'_>,
) -> anyhow::Result<u8> {
    let Connected { settings, ml, endpoints, deployments } = connected;
    let (settings, ml) = (&settings, &ml);
    let quiet = global.quiet;
    let (model_name, selector) = model_reference(&args.model)?;
    let version = match selector {
        VersionSelector::Version(v) => v,
        other => super::connect::azureml_registry(settings, ml)?.select(&model_name, &other).await?.version,
    };
    let model = deployments.model_asset(&model_name, &version.to_string()).await?;
    let endpoint = endpoints.get(&args.name).await?;
    let environment = match &args.image {
        Some(image) => {
            Some(deployments.scoring_environment(&ScoringContainer { image: image.clone(), port: args.port }).await?)
        }
        None => None,
    };
    output::note(
        quiet,
        format!("deploying models:/{model_name}/{version} as {} of endpoint {}", args.deployment, args.name),
    );
    let spec = DeploymentSpec {
        model,
        environment,
        instance_type: args
            .instance_type
            .clone()
            .or_else(|| endpoint.compute.is_none().then(|| MANAGED_INSTANCE_TYPE.to_string())),
        instance_count: args.instance_count,
        kubernetes: endpoint.compute.is_some(),
        settings: checked.settings,
    };
    let Some(stages) = checked.stages else {
        let title = format!("deployment {} of {}", args.deployment, args.name);
        let apply = async {
            let deployed = deployments
                .create_or_update(&args.name, &args.deployment, &spec, &mut DeploymentProgress::new(quiet, &title))
                .await?;
            // A first deployment takes all traffic: an endpoint without traffic answers nobody.
            if endpoint.traffic.values().all(|p| *p == 0) {
                let live = traffic::Traffic::from([(args.deployment.clone(), 100)]);
                let title = format!("traffic of {}", args.name);
                let mut progress = DeploymentProgress::new(quiet, &title);
                endpoints.update_traffic(&args.name, &live, &endpoint.mirror_traffic, &mut progress).await?;
            }
            anyhow::Ok(deployed)
        };
        let deployed = tokio::select! {
            deployed = apply => deployed?,
            () = interrupt => {
                output::to_stderr(format!(
                    "stopped waiting: deployment {} of {} goes on in Azure ML; follow it with `mlops endpoint show {}`",
                    args.deployment, args.name, args.name
                ));
                return Ok(crate::exit::INTERRUPTED);
            }
        };
        output::emit(global.output, &deployed, || {
            format!("deployment {} of {} is {}", deployed.name, args.name, deployed.provisioning_state)
        })?;
        return Ok(crate::exit::OK);
    };
    let mut target = EndpointRollout {
        endpoints,
        deployments,
        endpoint: args.name.clone(),
        deployment: args.deployment.clone(),
        spec,
        smoke_timeout: Duration::from_secs_f64(args.smoke_timeout),
        sample: None,
        progress: Box::new(move |title: &str| Box::new(DeploymentProgress::new(quiet, title))),
        scoring: None,
    };
    let mut note = |line: String| output::note(quiet, line);
    match rollout::roll_out(&mut target, &args.name, &args.deployment, &stages, &mut note, interrupt).await {
        Ok(report) => {
            output::emit(global.output, &report, || {
                format!("rolled out {}: traffic {}", args.deployment, traffic::render(&report.final_traffic))
            })?;
            Ok(crate::exit::OK)
        }
        Err((report, err)) => {
            if let Some(report) = report {
                output::emit(global.output, &report, || {
                    format!("{}: traffic {}", report.outcome, traffic::render(&report.final_traffic))
                })?;
            }
            Err(anyhow::Error::new::<RolloutError>(err))
        }
    }
}
