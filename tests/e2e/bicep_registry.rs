//! Bicep registry modules against a real OCI registry (Debian's `docker-registry`, anonymous):
//! `mlops infra publish` loads it, `mlops infra restore` and `build` fetch into the cache, a second
//! build needs no registry, aliases come from bicepconfig.json, and each failure names the module
//! reference, its file:line and exits with its documented code.

use std::path::Path;

use serde_json::Value;
use sha2::Digest as _;

use crate::image::Registry;
use crate::support::{Workspace, stderr};

const STORAGE: &str = "\
param name string
param location string = resourceGroup().location
resource sa 'Microsoft.Storage/storageAccounts@2023-01-01' = {
  name: name
  location: location
  sku: {
    name: 'Standard_LRS'
  }
  kind: 'StorageV2'
}
output id string = sa.id
";

fn main_bicep(registry_ref: &str) -> String {
    format!(
        "param name string = 'stg1'\n\nmodule st '{registry_ref}' = {{\n  name: 'st'\n  params: {{\n    name: name\n  }}\n}}\n\noutput id string = st.outputs.id\n"
    )
}

fn write(ws: &Workspace, name: &str, text: &str) {
    std::fs::write(ws.path().join(name), text).expect("write fixture");
}

/// `mlops` with the module cache inside the workspace.
fn run(ws: &Workspace, args: &[&str]) -> std::process::Output {
    ws.mlops(args).env("MLOPS_BICEP_CACHE", ws.path().join("cache")).output().expect("run mlops")
}

fn json_of(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
}

#[test]
fn published_module_restores_compiles_like_a_local_module_and_builds_again_offline() {
    let registry = Registry::start(None);
    let ws = Workspace::new();
    write(&ws, "storage.bicep", STORAGE);
    let target = format!("br:{}/mods/storage:v1", registry.host);
    let published =
        json_of(&run(&ws, &["-o", "json", "infra", "publish", "storage.bicep", "--target", &target, "--plain-http"]));
    assert_eq!(published["target"], target.as_str());

    write(&ws, "main.bicep", &main_bicep(&target));
    write(
        &ws,
        "bicepconfig.json",
        &format!(
            "{{\"moduleAliases\":{{\"br\":{{\"local\":{{\"registry\":\"{}\",\"modulePath\":\"mods\"}}}}}}}}",
            registry.host
        ),
    );
    write(&ws, "aliased.bicep", &main_bicep("br/local:storage:v1"));
    write(&ws, "local.bicep", &main_bicep("storage.bicep"));

    let restored = json_of(&run(&ws, &["-o", "json", "infra", "restore", "main.bicep", "--plain-http"]));
    assert_eq!(restored[0]["status"], "restored", "{restored}");
    assert_eq!(restored[0]["line"], 3);
    assert_eq!(restored[0]["digest"], published["digest"]);
    // The official tool's layout: <root>/br/<registry ':'→'$'>/<repository '/'→'$'>/<tag>$/.
    let dir = ws.path().join("cache/br").join(registry.host.replace(':', "$")).join("mods$storage/v1$");
    assert_eq!(restored[0]["cache"], dir.display().to_string().as_str());
    for file in ["main.json", "manifest", "metadata"] {
        assert!(dir.join(file).is_file(), "{file} missing in {}", dir.display());
    }
    assert_eq!(read_json(&dir.join("metadata"))["manifestDigest"], published["digest"]);

    // The alias resolves to the same module, already cached.
    let aliased = json_of(&run(&ws, &["-o", "json", "infra", "restore", "aliased.bicep", "--plain-http"]));
    assert_eq!(aliased[0]["status"], "cached", "{aliased}");
    assert_eq!(aliased[0]["repository"], "mods/storage");

    // Registry stopped: build and restore work from the cache alone.
    drop(registry);
    for file in ["main.bicep", "aliased.bicep", "local.bicep"] {
        let out = run(&ws, &["infra", "build", file, "--plain-http"]);
        assert!(out.status.success(), "{file}: {}", stderr(&out));
    }
    let registry_built = read_json(&ws.path().join("main.json"));
    let local_built = read_json(&ws.path().join("local.json"));
    // The nested template is the published layer as it is; the rest is what a local module gives.
    assert_eq!(registry_built["resources"][0]["properties"]["template"], read_json(&dir.join("main.json")));
    assert_eq!(registry_built, local_built);
    assert_eq!(read_json(&ws.path().join("aliased.json")), registry_built);

    // --force needs the registry, and says which module could not be fetched.
    let out = run(&ws, &["infra", "restore", "main.bicep", "--force", "--plain-http"]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("main.bicep:3: module '{target}'")), "{}", stderr(&out));
}

#[test]
fn restore_failures_name_the_module_and_line_and_exit_with_their_codes() {
    let registry = Registry::start(None);
    let ws = Workspace::new();
    let host = &registry.host;
    let cases = [
        ("br/nope:storage:v1".to_string(), 6, "unknown module alias 'nope'"),
        (format!("br:{host}/mods/missing:v1"), 8, "404"),
        ("br:127.0.0.1:1/mods/storage:v1".to_string(), 9, "cannot connect"),
        (format!("br:{host}/Mods/storage:v1"), 6, "invalid repository segment"),
    ];
    for (reference, code, needle) in cases {
        write(&ws, "main.bicep", &main_bicep(&reference));
        let out = run(&ws, &["infra", "restore", "main.bicep", "--plain-http"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{reference}: {err}");
        assert!(err.contains(&format!("main.bicep:3: module '{reference}'")), "{reference}: {err}");
        assert!(err.contains(needle), "{reference}: {err}");
        // Compiling without restoring says the module is not in the cache, at its position.
        let out = run(&ws, &["infra", "build", "main.bicep", "--no-restore"]);
        assert_eq!(out.status.code(), Some(6), "{reference}: {}", stderr(&out));
        assert!(stderr(&out).contains("main.bicep:3:11"), "{reference}: {}", stderr(&out));
    }
}

#[test]
fn an_artifact_that_is_not_a_bicep_module_is_refused() {
    let registry = Registry::start(None);
    let ws = Workspace::new();
    // An OCI image manifest whose config is not a Bicep module's, pushed with plain HTTP.
    let http = reqwest::blocking::Client::new();
    let base = format!("http://{}/v2/other/image", registry.host);
    let config = b"{}".to_vec();
    let digest = format!("sha256:{:x}", sha2::Sha256::digest(&config));
    let upload = http.post(format!("{base}/blobs/uploads/")).send().expect("start upload");
    let location = upload.headers()["location"].to_str().expect("location").to_string();
    let location = if location.starts_with("http") { location } else { format!("http://{}{location}", registry.host) };
    let sep = if location.contains('?') { '&' } else { '?' };
    let put = http.put(format!("{location}{sep}digest={digest}")).body(config.clone()).send().expect("put blob");
    assert!(put.status().is_success(), "{:?}", put.status());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest, "size": config.len()},
        "layers": []
    });
    let put = http
        .put(format!("{base}/manifests/v1"))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.to_string())
        .send()
        .expect("put manifest");
    assert!(put.status().is_success(), "{:?}", put.status());

    let reference = format!("br:{}/other/image:v1", registry.host);
    write(&ws, "main.bicep", &main_bicep(&reference));
    let out = run(&ws, &["infra", "restore", "main.bicep", "--plain-http"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(9), "{err}");
    assert!(err.contains(&format!("main.bicep:3: module '{reference}'")), "{err}");
    assert!(err.contains("not a Bicep module"), "{err}");
}

/// An Azure Container Registry: `publish` and `restore` sign in with Entra ID (the client secret
/// exchanged for an ACR refresh token, then an access token per repository scope), as `image push`
/// does, against the stand-in's registry over HTTPS; the module restored builds as a local one.
#[test]
fn acr_modules_publish_and_restore_with_an_entra_id_token() {
    let standin = crate::standin::StandIn::start();
    let ws = Workspace::new();
    let host = format!("127.0.0.1:{}", standin.port);
    let target = format!("br:{host}/mods/storage:v1");
    let signed_in = |args: &[&str]| {
        let mut cmd = ws.mlops(args);
        cmd.env("MLOPS_BICEP_CACHE", ws.path().join("cache"))
            .env("SSL_CERT_FILE", &standin.ca_pem)
            .env("AZURE_AUTHORITY_HOST", standin.url())
            .env("AZURE_TENANT_ID", crate::standin::TENANT)
            .env("AZURE_CLIENT_ID", crate::standin::CLIENT_ID)
            .env("AZURE_CLIENT_SECRET", crate::standin::CLIENT_SECRET)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env_remove("MLOPS_REGISTRY_USERNAME")
            .env_remove("MLOPS_REGISTRY_PASSWORD");
        cmd.output().expect("run mlops")
    };
    write(&ws, "storage.bicep", STORAGE);
    let azure = ["--registry-auth", "azure", "--auth", "client-secret"];
    let publish: Vec<&str> =
        ["-o", "json", "infra", "publish", "storage.bicep", "--target", &target].into_iter().chain(azure).collect();
    let published = json_of(&signed_in(&publish));
    {
        let state = standin.state();
        assert!(state.acr.manifests.contains_key(&("mods/storage".to_string(), "v1".to_string())), "not pushed");
        assert_eq!(
            state.acr.exchanges,
            [("access_token".to_string(), host.clone(), Some(crate::standin::TENANT.to_string()))]
        );
        assert!(state.acr.scopes.iter().any(|s| s == "repository:mods/storage:pull,push"), "{:?}", state.acr.scopes);
    }

    write(&ws, "main.bicep", &main_bicep(&target));
    write(&ws, "local.bicep", &main_bicep("storage.bicep"));
    let restore: Vec<&str> = ["-o", "json", "infra", "restore", "main.bicep"].into_iter().chain(azure).collect();
    let restored = json_of(&signed_in(&restore));
    assert_eq!(restored[0]["status"], "restored", "{restored}");
    assert_eq!(restored[0]["digest"], published["digest"]);
    assert!(standin.state().acr.scopes.iter().any(|s| s == "repository:mods/storage:pull"), "no pull scope asked");

    for file in ["main.bicep", "local.bicep"] {
        let out = run(&ws, &["infra", "build", "--no-restore", file]);
        assert!(out.status.success(), "{file}: {}", stderr(&out));
    }
    assert_eq!(read_json(&ws.path().join("main.json")), read_json(&ws.path().join("local.json")));
}
