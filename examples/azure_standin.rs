//! The HTTPS Azure stand-in the end-to-end tests use (Entra ID, ARM, Azure ML with its MLflow
//! endpoint and run history artifact service), as a process of its own: `scripts/azure-standin
//! --state DIR [--mlops PATH]`. It starts a real `mlflow server` and an Azurite behind it, prints one JSON line
//! (`{"env": {...}, "tracking_uri", "subscription", "resource_group", "workspace"}`) once ready,
//! and serves until SIGTERM or Ctrl-C, then stops them.
//!
//! An example target, not a binary of the package: it is never part of the shipped `mlops`.

#[path = "../tests/e2e/standin/mod.rs"]
// `allow`, not `expect`: which test helpers this program leaves unused changes as the stand-in grows.
#[allow(
    dead_code,
    unused_imports,
    reason = "the stand-in's test-only helpers (faults, assertions, constants) are unused here"
)]
mod standin;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

const GROUP: &str = "rg-ml";
const WORKSPACE: &str = "ws-ml";
const COMPUTE: &str = "cpu-cluster";

fn main() {
    if let Err(message) = run() {
        eprintln!("azure-standin: {message}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || "usage: scripts/azure-standin --state DIR [--mlops PATH]".to_string();
    let (mut state, mut mlops) = (None, None);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(usage)?;
        match flag.as_str() {
            "--state" => state = Some(PathBuf::from(value)),
            "--mlops" => mlops = Some(PathBuf::from(value)),
            _ => return Err(usage()),
        }
    }
    let state = state.ok_or_else(usage)?;
    // Online deployments run `mlops serve`: by default the one built beside this example
    // (target/<profile>/mlops, next to target/<profile>/examples/).
    let mlops = match mlops {
        Some(path) => path,
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .parent()
            .and_then(Path::parent)
            .map(|dir| dir.join("mlops"))
            .ok_or_else(usage)?,
    };
    if !mlops.exists() {
        return Err(format!(
            "the mlops binary {} is missing: build it (cargo build) or pass --mlops PATH",
            mlops.display()
        ));
    }
    std::fs::create_dir_all(&state).map_err(|e| format!("{}: {e}", state.display()))?;
    let state = std::path::absolute(&state).map_err(|e| e.to_string())?;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));

    let python =
        std::env::var_os("MLOPS_TEST_PYTHON").map(PathBuf::from).unwrap_or_else(|| repo.join(".venv/bin/python"));
    let azurite_bin = std::env::var_os("MLOPS_TEST_AZURITE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join(".test-tools/node_modules/.bin/azurite-blob"));
    for (what, path) in [("the Python virtualenv", &python), ("Azurite", &azurite_bin)] {
        if !path.exists() {
            return Err(format!("{what} is missing ({}): run scripts/test.sh, which installs it", path.display()));
        }
    }

    let mlflow_port = free_port()?;
    let mlflow_dir = state.join("mlflow");
    std::fs::create_dir_all(&mlflow_dir).map_err(|e| e.to_string())?;
    let mlflow_bin = python.parent().map(|b| b.join("mlflow")).unwrap_or_default();
    let mlflow = spawn_watched(
        &state.join("mlflow.log"),
        Command::new(mlflow_bin)
            .args(["server", "--backend-store-uri"])
            .arg(format!("sqlite:///{}/mlflow.db", mlflow_dir.display()))
            .arg("--artifacts-destination")
            .arg(mlflow_dir.join("artifacts"))
            .args(["--host", "127.0.0.1", "--port", &mlflow_port.to_string(), "--workers", "1"]),
    )?;
    let azurite_port = free_port()?;
    let azurite_dir = state.join("azurite");
    std::fs::create_dir_all(&azurite_dir).map_err(|e| e.to_string())?;
    let azurite = spawn_watched(
        &state.join("azurite.log"),
        Command::new(&azurite_bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &azurite_port.to_string()])
            .args(["--skipApiVersionCheck", "--loose", "--location"])
            .arg(&azurite_dir)
            .current_dir(&azurite_dir),
    )?;
    let children = [mlflow, azurite];
    let stop = |children: &[Child]| {
        for child in children {
            let _ = Command::new("kill").args(["-s", "TERM", "--", &format!("-{}", child.id())]).status();
        }
    };
    let mlflow_url = format!("http://127.0.0.1:{mlflow_port}");
    let azurite_url = format!("http://127.0.0.1:{azurite_port}/devstoreaccount1");
    if let Err(e) = wait_for(&format!("{mlflow_url}/health")).and_then(|()| wait_for(&azurite_url)) {
        stop(&children);
        return Err(e);
    }

    let standin = standin::StandIn::start();
    standin.create_aml_workspace(GROUP, WORKSPACE, COMPUTE);
    standin.serve_mlflow(&mlflow_url);
    standin.serve_artifacts(&azurite_url);
    standin.serve_deployments_with(&mlops);
    let ca = state.join("ca.pem");
    std::fs::copy(&standin.ca_pem, &ca).map_err(|e| format!("{}: {e}", ca.display()))?;
    let url = standin.url();
    let ca = ca.display().to_string();
    // One sign-in all three clients take: a managed identity (App Service style endpoint). The
    // plugin's chain would send AZURE_CLIENT_SECRET to the public cloud, so none is given.
    let env = json!({
        "IDENTITY_ENDPOINT": format!("{url}/msi/token"),
        "IDENTITY_HEADER": standin::MSI_HEADER,
        "AZURE_AUTHORITY_HOST": url,
        "AZURE_RESOURCE_MANAGER_ENDPOINT": url,
        "AZUREML_DEV_URL_MFE": url,
        "AZURE_SUBSCRIPTION_ID": standin::SUBSCRIPTION,
        "AZURE_RESOURCE_GROUP": GROUP,
        "AZUREML_WORKSPACE_NAME": WORKSPACE,
        "AZUREML_CURRENT_CLOUD": "AzureCloud",
        "SSL_CERT_FILE": ca,
        "REQUESTS_CA_BUNDLE": ca,
        "NO_PROXY": "127.0.0.1,localhost",
    });
    let line = json!({
        "env": env,
        "tracking_uri": standin.azureml_tracking_uri(GROUP, WORKSPACE),
        "subscription": standin::SUBSCRIPTION,
        "resource_group": GROUP,
        "workspace": WORKSPACE,
        "compute": COMPUTE,
    });
    println!("{line}");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let term = async {
            match terminate.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = term => {}
        }
    });
    drop(standin);
    stop(&children);
    Ok(())
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Starts `command` in a process group of its own, led by a shell that takes the group down once
/// this process is gone (even after SIGKILL): SIGTERM, then SIGKILL 10 s later.
fn spawn_watched(log: &Path, command: &mut Command) -> Result<Child, String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let args: Vec<String> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    let script = r#""$@" & child=$!
while kill -0 "$STANDIN_PARENT" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 1; done
trap '' TERM
kill -TERM -$$
sleep 10
kill -KILL -$$"#;
    let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut shell = Command::new("sh");
    shell
        .args(["-c", script, "standin-child", &program])
        .args(&args)
        .env("STANDIN_PARENT", std::process::id().to_string())
        .env("MLFLOW_ALLOW_FILE_STORE", "true")
        .stdin(Stdio::null())
        .stdout(file.try_clone().map_err(|e| e.to_string())?)
        .stderr(file);
    if let Some(dir) = command.get_current_dir() {
        shell.current_dir(dir);
    }
    std::os::unix::process::CommandExt::process_group(&mut shell, 0);
    shell.spawn().map_err(|e| format!("cannot start {program}: {e}"))
}

/// Waits (up to 5 minutes) until `url` answers at all.
fn wait_for(url: &str) -> Result<(), String> {
    let client =
        reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        if client.get(url).send().is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("{url} did not answer within 5 minutes"))
}
