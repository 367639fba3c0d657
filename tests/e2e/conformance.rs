//! The official Azure SDK for Python against the stand-in: if it works unchanged there, the
//! stand-in behaves like Entra ID and ARM for clients nobody here wrote.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::standin::{self, StandIn};
use crate::support::python;

const TEMPLATE: &str = r#"{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0",
"parameters":{"baseName":{"type":"string"}},
"resources":[{"type":"Microsoft.Storage/storageAccounts","apiVersion":"2023-05-01","name":"[format('st{0}', parameters('baseName'))]","location":"[resourceGroup().location]","kind":"StorageV2","sku":{"name":"Standard_LRS"}}],
"outputs":{"name":{"type":"string","value":"[format('st{0}', parameters('baseName'))]"}}}"#;

#[test]
fn python_sdk_runs_unchanged_against_the_standin() {
    let standin = StandIn::start();
    standin.set_step(Duration::from_millis(300));
    let seen = run_sdk_script(&standin, "tests/python/azure_conformance.py", TEMPLATE);
    assert_eq!(seen["exists_before"], false);
    assert_eq!(seen["exists_after"], true);
    assert_eq!(seen["group_id"], format!("/subscriptions/{}/resourceGroups/rg-py", standin::SUBSCRIPTION));
    assert_eq!(seen["state"], "Succeeded");
    assert_eq!(seen["outputs"]["name"]["value"], "stpyapp");
    assert_eq!(seen["operations"], serde_json::json!(["Microsoft.Storage/storageAccounts"]));
    assert_eq!(seen["validated"].as_array().map(Vec::len), Some(1));
    assert_eq!(seen["what_if"], serde_json::json!(["NoChange"]));
    assert_eq!(seen["canceled"], "Canceled");
    // The SDK asked the OpenID configuration, then followed the LRO URLs the stand-in gave it.
    let log = standin.log();
    assert!(log.iter().any(|l| l.path.ends_with("/v2.0/.well-known/openid-configuration")));
    assert!(log.iter().any(|l| l.path.contains("/operationStatuses/")));
    assert!(log.iter().any(|l| l.path.contains("/operationresults/")));
    assert!(log.iter().any(|l| l.path.ends_with("/cancel") && l.status == 204));
}

/// The template of `infra_stacks.rs`: a storage account always, a Log Analytics workspace while
/// `withLogs` is true.
const STACK_TEMPLATE: &str = r#"{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0",
"parameters":{"baseName":{"type":"string"},"withLogs":{"type":"bool","defaultValue":true}},
"resources":[{"type":"Microsoft.Storage/storageAccounts","apiVersion":"2023-05-01","name":"[format('st{0}', parameters('baseName'))]","location":"[resourceGroup().location]","kind":"StorageV2","sku":{"name":"Standard_LRS"}},
{"condition":"[parameters('withLogs')]","type":"Microsoft.OperationalInsights/workspaces","apiVersion":"2023-09-01","name":"[format('log-{0}', parameters('baseName'))]","location":"[resourceGroup().location]","properties":{}}],
"outputs":{"name":{"type":"string","value":"[format('st{0}', parameters('baseName'))]"}}}"#;

#[test]
fn python_deployment_stacks_client_accepts_the_standins_stacks() {
    let standin = StandIn::start();
    standin.set_step(Duration::from_millis(100));
    let seen = run_sdk_script(&standin, "tests/python/stacks_conformance.py", STACK_TEMPLATE);
    let group = format!("/subscriptions/{}/resourceGroups/rg-stack/providers", standin::SUBSCRIPTION);
    assert_eq!(seen["state"], "succeeded");
    assert_eq!(
        seen["managed"],
        serde_json::json!([
            format!("{group}/Microsoft.OperationalInsights/workspaces/log-py"),
            format!("{group}/Microsoft.Storage/storageAccounts/stpy"),
        ])
    );
    assert_eq!(seen["statuses"], serde_json::json!(["managed"]));
    assert_eq!(seen["outputs"]["name"]["value"], "stpy");
    assert_eq!(seen["log_exists_before"], true);
    assert_eq!(
        seen["deleted"],
        serde_json::json!([format!("{group}/Microsoft.OperationalInsights/workspaces/log-py")])
    );
    assert_eq!(seen["log_exists_after"], false);
    assert_eq!(seen["listed"], serde_json::json!(["pystack"]));
    assert_eq!(seen["storage_exists_after_delete"], false);
    assert_eq!(seen["stack_after_delete"], "not found");
    // The SDK followed the stand-in's async-operation URL for the PUTs and its Location for the DELETE.
    let log = standin.log();
    assert!(log.iter().any(|l| l.path.contains("/deploymentStackOperationStatus/")));
    assert!(log.iter().any(|l| l.method == "DELETE" && l.query.contains("unmanageAction.Resources=delete")));
    assert!(log.iter().any(|l| l.path.contains("/operationresults/")));
}

/// Runs an SDK script with the stand-in's URL and test principal as arguments and `stdin` as its
/// standard input, trusting the stand-in's CA as `requests` does, and returns what it printed.
pub(crate) fn run_sdk_script(standin: &StandIn, script: &str, stdin: &str) -> serde_json::Value {
    let mut child = Command::new(python())
        .arg(crate::support::repo().join(script))
        .args([&standin.url(), standin::TENANT, standin::CLIENT_ID, standin::CLIENT_SECRET, standin::SUBSCRIPTION])
        .env("REQUESTS_CA_BUNDLE", &standin.ca_pem)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("AZURE_AUTHORITY_HOST")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("python");
    assert!(out.status.success(), "the SDK failed ({script}):\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("json")
}
