//! `mlops image build | push`: OCI images of a model, built and pushed without a container engine.

use std::io::Read;

use anyhow::Context;
use serde::Serialize;

use crate::cli::{AzureArgs, GlobalArgs, ImageBuildArgs, ImageCommand, ImagePushArgs, RegistryArgs};
use crate::error_kind::{ErrorKind, HasKind, UsageError};
use crate::image::{self, BaseImage, BuildSpec, LayerSummary, ModelInfo, ModelSource};
use crate::oci::{self, Credentials, Image, OciClient, OciClientOptions, PushReport, Reference};
use crate::output;
use crate::progress::TransferBar;
use crate::settings;
use crate::tracking::ModelRef;

/// `distroless` as a `--base`: glibc and CA certificates, no shell, user `nonroot` (65532).
const DISTROLESS: &str = "gcr.io/distroless/cc-debian12:nonroot";

pub async fn run(command: &ImageCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    match command {
        ImageCommand::Build(args) => build(args, global).await,
        ImageCommand::Push(args) => push(args, global).await,
    }
}

#[derive(Serialize)]
struct BuildReport {
    digest: String,
    /// Compressed: manifest, config and layers, as a registry stores them.
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    out: Option<String>,
    layers: Vec<LayerSummary>,
    annotations: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    push: Option<PushReport>,
}

async fn build(args: &ImageBuildArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    if args.platform != image::PLATFORM {
        return Err(
            UsageError(format!("--platform {}: only {} images are built", args.platform, image::PLATFORM)).into()
        );
    }
    if args.out.is_none() && !args.push {
        return Err(UsageError("say where the image goes: --out DIR, --push, or both".into()).into());
    }
    let tag = args.tag.as_deref().map(Reference::parse).transpose()?;
    if args.push && tag.is_none() {
        return Err(UsageError("--push needs --tag REGISTRY/REPOSITORY:TAG".into()).into());
    }
    let binary = match &args.binary {
        Some(path) => path.clone(),
        None => std::env::current_exe().context("cannot find this mlops binary; pass --binary")?,
    };
    let model = match &args.model {
        Some(text) => Some(model_source(text, args).await?),
        None => None,
    };
    let base = match args.base.as_str() {
        "scratch" => None,
        name => {
            let name = if name == "distroless" { DISTROLESS } else { name };
            let reference = Reference::parse(name)?;
            let client = client(&reference, &args.registry, &args.store.azure, tag.as_ref())?;
            output::note(global.quiet, format!("pulling base image {reference}"));
            let mut progress = TransferBar::new(global.quiet, "downloading");
            let image = oci::pull(&client, &reference, "linux", "amd64", &mut progress)
                .await
                .with_context(|| format!("cannot pull base image {reference}"))?;
            Some(BaseImage { name: name.to_string(), image })
        }
    };
    let spec = BuildSpec { binary, ca_bundle: args.ca_certs.clone(), model, base, port: args.port };
    let built = tokio::task::spawn_blocking(move || image::build(&spec)).await.context("the build thread failed")??;
    let digest = built.image.digest();
    if let Some(out) = &args.out {
        oci::layout::write(out, &built.image, tag.as_ref().map(|t| t.to_string()).as_deref())?;
    }
    output::note(
        global.quiet,
        format!("built image {digest} ({} layers, {})", built.layers.len(), indicatif::HumanBytes(built.image.size())),
    );
    let push = match (&tag, args.push) {
        (Some(reference), true) => {
            let client = client(reference, &args.registry, &args.store.azure, None)?;
            Some(push_image(&client, reference, &built.image, global).await?)
        }
        _ => None,
    };
    let report = BuildReport {
        digest: digest.to_string(),
        size: built.image.size(),
        tag: tag.as_ref().map(|t| t.to_string()),
        out: args.out.as_ref().map(|p| p.display().to_string()),
        layers: built.layers,
        annotations: built.annotations,
        push,
    };
    output::emit(global.output, &report, || {
        let mut text = report.digest.clone();
        if let Some(push) = &report.push {
            text.push_str(&format!("\npushed {}@{}", push.reference, push.digest));
        }
        text
    })?;
    Ok(crate::exit::OK)
}

async fn push(args: &ImagePushArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let (image, name) = oci::layout::read(&args.dir, None)?;
    let tag = args.tag.clone().or(name).ok_or_else(|| {
        UsageError(format!("{} does not name its image; pass --tag REGISTRY/REPOSITORY:TAG", args.dir.display()))
    })?;
    let reference = Reference::parse(&tag)?;
    let client = client(&reference, &args.registry, &args.azure, None)?;
    let report = push_image(&client, &reference, &image, global).await?;
    output::emit(global.output, &report, || format!("{}@{}", report.reference, report.digest))?;
    Ok(crate::exit::OK)
}

async fn push_image(
    client: &OciClient,
    reference: &Reference,
    image: &Image,
    global: &GlobalArgs,
) -> anyhow::Result<PushReport> {
    output::note(global.quiet, format!("pushing {reference}"));
    let mut progress = TransferBar::new(global.quiet, "uploading");
    let report =
        oci::push(client, reference, image, &mut progress).await.with_context(|| format!("cannot push {reference}"))?;
    output::note(
        global.quiet,
        format!(
            "pushed {reference}@{}: {} blobs uploaded ({}), {} already there",
            report.digest,
            report.blobs_uploaded,
            indicatif::HumanBytes(report.bytes_uploaded),
            report.blobs_skipped
        ),
    );
    Ok(report)
}

/// The model directory and what the image says about it. The run's lineage is looked up for
/// `runs:/` and `models:/` (a directory needs no store); `MLmodel` fills in the rest.
async fn model_source(text: &str, args: &ImageBuildArgs) -> anyhow::Result<ModelSource> {
    let resolved = super::connect::model(text, &args.store).await?;
    crate::ml::model::load(&resolved.dir).with_context(|| format!("cannot put model {text} in an image"))?;
    let facts = image::mlmodel_facts(&resolved.dir);
    let name = match ModelRef::parse(text)? {
        // The directory's own name: the same model gives the same image wherever it sits.
        ModelRef::Dir(dir) => dir.file_name().map_or_else(|| text.to_string(), |n| n.to_string_lossy().into_owned()),
        ModelRef::Registered { name, .. } => name,
        ModelRef::Run { .. } => resolved.name.clone(),
    };
    let mut info = ModelInfo {
        name,
        version: resolved.version.clone(),
        run_id: facts.run_id.clone(),
        created: facts.created,
        ..Default::default()
    };
    let from_store = !matches!(ModelRef::parse(text)?, ModelRef::Dir(_));
    if let (true, Some(run_id)) = (from_store, &facts.run_id) {
        let tracker = super::connect::store_tracker(&args.store)?;
        match crate::registry::release::get_run(&tracker, run_id).await {
            Ok(run) => {
                info.created = image::rfc3339_millis(run.info.end_time.unwrap_or(run.info.start_time)).or(info.created);
                info.source = run.tags.get(crate::tracking::lineage::GIT_REPO_URL).cloned();
                info.revision = run.tags.get(crate::tracking::lineage::GIT_COMMIT).cloned();
            }
            // A model synced from a local store names its local run, which the server does not have.
            Err(e) if e.kind() == ErrorKind::NotFound => {
                tracing::warn!("run {run_id} of model {text} is not in the store: the image has no source or revision")
            }
            Err(e) => return Err(anyhow::Error::from(e).context(format!("cannot read the lineage of model {text}"))),
        }
    }
    Ok(ModelSource { dir: resolved.dir, info })
}

/// A client for the registry of `reference`. The registry flags sign in to the registry of
/// `target` (the image's own); another registry (a public base image's) is read anonymously.
fn client(
    reference: &Reference,
    registry: &RegistryArgs,
    azure: &AzureArgs,
    target: Option<&Reference>,
) -> anyhow::Result<OciClient> {
    let own = target.is_none_or(|t| t.registry == reference.registry);
    let stdin_password = if registry.password_stdin && own { Some(read_stdin()?) } else { None };
    let settings = settings::resolve_registry(registry, &reference.registry, stdin_password)?;
    let credentials =
        if own { super::connect::registry_credentials(&settings.auth, azure)? } else { Credentials::Anonymous };
    let options = OciClientOptions {
        transport: settings.transport,
        // A public base image is on HTTPS whatever the image's own registry speaks.
        plain_http: settings.plain_http && own,
        ..OciClientOptions::default()
    };
    Ok(OciClient::new(reference.api_host(), credentials, Some(options))?)
}

fn read_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("cannot read the registry password from stdin")?;
    Ok(text)
}
