//! `environment_setup/src/main.json` with `parameters.json` deploys against the stand-in, and
//! `main.bicep` declares what `main.json` does.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;

use crate::infra::mlops;
use crate::standin::{self, StandIn};
use crate::support::{Workspace, repo, stderr};

#[test]
fn main_json_deploys_with_parameters_json() {
    deploys_with_parameters_json("main.json", "native", &[]);
}

#[test]
fn main_bicep_deploys_natively_with_parameters_json() {
    deploys_with_parameters_json("main.bicep", "native", &[]);
}

#[test]
fn main_bicep_compiles_natively_to_the_committed_main_json() {
    let native = mlops::infra::bicep::compile_file(&repo().join("environment_setup/src/main.bicep")).expect("compiles");
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("environment_setup/src/main.json")).expect("read"))
            .expect("json");
    assert_eq!(mlops::infra::bicep::compare::first_difference(&native, &committed), None);
}

#[test]
fn bicep_check_compares_with_an_external_compiler() {
    // A stand-in `bicep` on PATH that prints the committed main.json (what the official compiler
    // printed when it was generated), then one that prints a template with one property changed.
    let tools = tempfile::tempdir().expect("dir");
    let main_json = repo().join("environment_setup/src/main.json");
    let script = tools.path().join("bicep");
    std::fs::write(&script, format!("#!/bin/sh\ncat '{}'\n", main_json.display())).expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!("{}:{}", tools.path().display(), std::env::var("PATH").unwrap_or_default());
    deploys_with_parameters_json("main.bicep", "check", &[("PATH", &path)]);

    let changed = tools.path().join("changed.json");
    let text = std::fs::read_to_string(&main_json).expect("read").replacen("\"Standard_LRS\"", "\"Standard_GRS\"", 1);
    std::fs::write(&changed, text).expect("write");
    std::fs::write(&script, format!("#!/bin/sh\ncat '{}'\n", changed.display())).expect("script");
    let ws = Workspace::new();
    let standin = StandIn::start();
    let template = repo().join("environment_setup/src/main.bicep");
    let template = template.to_str().expect("utf-8");
    let out = mlops(
        &ws,
        &standin,
        &["infra", "validate", "-g", "rg-mlops", "-f", template, "--bicep", "check", "-p", "baseName=mlops"],
    )
    .env("PATH", &path)
    .output()
    .expect("run");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("the native and the external Bicep compiler disagree"), "{}", stderr(&out));
}

fn deploys_with_parameters_json(file: &str, bicep_flag: &str, env: &[(&str, &str)]) {
    let ws = Workspace::new();
    let standin = StandIn::start();
    let template = repo().join("environment_setup/src").join(file);
    let parameters = format!("@{}", repo().join("environment_setup/src/parameters.json").display());
    let mut cmd = mlops(
        &ws,
        &standin,
        &[
            "infra",
            "deploy",
            "-g",
            "rg-mlops",
            "-l",
            "westeurope",
            "-f",
            template.to_str().expect("utf-8"),
            "-p",
            &parameters,
            "--bicep",
            bicep_flag,
            "-o",
            "json",
        ],
    );
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env("AZURE_TENANT_ID", standin::TENANT)
        .env("AZURE_CLIENT_ID", standin::CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", standin::CLIENT_SECRET);
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("created resource group rg-mlops in westeurope"));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let outputs = &value["properties"]["outputs"];
    let workspace_id = outputs["workspaceId"]["value"].as_str().expect("workspaceId");
    assert!(workspace_id.starts_with(&format!("/subscriptions/{}/resourceGroups/rg-mlops/providers/Microsoft.MachineLearningServices/workspaces/mlw-mlops-", standin::SUBSCRIPTION)), "{workspace_id}");
    let storage = outputs["storageAccountName"]["value"].as_str().expect("storage");
    assert!(
        storage.len() <= 24
            && storage.starts_with("stmlops")
            && storage.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "{storage}"
    );
    assert!(
        outputs.as_object().expect("outputs").keys().all(|k| k.ends_with("Name") || k.ends_with("Id")),
        "names and ids only, no secrets"
    );
    let types: BTreeSet<String> = standin
        .resources("rg-mlops")
        .iter()
        .map(|id| {
            id.split("/providers/")
                .nth(1)
                .unwrap_or_default()
                .rsplit_once('/')
                .map(|(t, _)| t.to_string())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        types,
        BTreeSet::from([
            "Microsoft.ContainerRegistry/registries".to_string(),
            "Microsoft.Insights/components".to_string(),
            "Microsoft.KeyVault/vaults".to_string(),
            "Microsoft.MachineLearningServices/workspaces".to_string(),
            "Microsoft.OperationalInsights/workspaces".to_string(),
            "Microsoft.Storage/storageAccounts".to_string(),
        ])
    );
}

/// Without the official compiler here, check what can be checked: the same parameters (with the
/// same constraints), resource types with API versions, and outputs on both sides.
#[test]
fn main_bicep_and_main_json_declare_the_same_things() {
    let bicep = std::fs::read_to_string(repo().join("environment_setup/src/main.bicep")).expect("bicep");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("environment_setup/src/main.json")).expect("json"))
            .expect("valid");
    let params: BTreeSet<String> = bicep
        .lines()
        .filter_map(|l| l.strip_prefix("param "))
        .map(|l| l.split(' ').next().unwrap_or_default().to_string())
        .collect();
    let json_params: BTreeSet<String> = json["parameters"].as_object().expect("params").keys().cloned().collect();
    assert_eq!(params, json_params);
    let resources: BTreeSet<String> = bicep
        .lines()
        .filter_map(|l| l.strip_prefix("resource "))
        .filter_map(|l| l.split('\'').nth(1))
        .map(str::to_string)
        .collect();
    let json_resources: BTreeSet<String> = json["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| format!("{}@{}", r["type"].as_str().unwrap_or_default(), r["apiVersion"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(resources, json_resources);
    let outputs: BTreeSet<String> = bicep
        .lines()
        .filter_map(|l| l.strip_prefix("output "))
        .map(|l| l.split(' ').next().unwrap_or_default().to_string())
        .collect();
    let json_outputs: BTreeSet<String> = json["outputs"].as_object().expect("outputs").keys().cloned().collect();
    assert_eq!(outputs, json_outputs);
    for (constraint, value) in [("@minLength(3)", 3), ("@maxLength(10)", 10)] {
        assert!(bicep.contains(constraint));
        let key = if constraint.contains("min") { "minLength" } else { "maxLength" };
        assert_eq!(json["parameters"]["baseName"][key], value);
    }
    for secure in [
        "supportsHttpsTrafficOnly: true",
        "minimumTlsVersion: 'TLS1_2'",
        "allowBlobPublicAccess: false",
        "enableRbacAuthorization: true",
        "enablePurgeProtection: true",
        "adminUserEnabled: false",
        "type: 'SystemAssigned'",
    ] {
        assert!(bicep.contains(secure), "{secure}");
    }
}
