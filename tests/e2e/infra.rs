//! `mlops infra` against the HTTPS stand-in of Entra ID and ARM.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::standin::{self, Fault, FaultKind, StandIn};
use crate::support::{Workspace, stderr};

const TEMPLATE: &str = r#"{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {
    "baseName": {"type": "string", "minLength": 3, "maxLength": 10},
    "sku": {"type": "string", "defaultValue": "Standard_LRS", "allowedValues": ["Standard_LRS", "Standard_GRS"]},
    "retention": {"type": "int", "defaultValue": 30, "minValue": 7, "maxValue": 90}
  },
  "variables": {"storageName": "[format('st{0}{1}', toLower(parameters('baseName')), take(uniqueString(resourceGroup().id), 6))]"},
  "resources": [
    {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-05-01", "name": "[variables('storageName')]",
     "location": "[resourceGroup().location]", "sku": {"name": "[parameters('sku')]"}, "kind": "StorageV2",
     "properties": {"supportsHttpsTrafficOnly": true, "minimumTlsVersion": "TLS1_2"}},
    {"type": "Microsoft.OperationalInsights/workspaces", "apiVersion": "2023-09-01", "name": "[format('log-{0}', parameters('baseName'))]",
     "location": "[resourceGroup().location]", "properties": {"retentionInDays": "[parameters('retention')]"}}
  ],
  "outputs": {
    "storageAccountName": {"type": "string", "value": "[variables('storageName')]"},
    "storageAccountId": {"type": "string", "value": "[resourceId('Microsoft.Storage/storageAccounts', variables('storageName'))]"}
  }
}"#;

/// `mlops` pointed at the stand-in, with none of the machine's Azure settings.
pub fn mlops(ws: &Workspace, standin: &StandIn, args: &[&str]) -> Command {
    let mut cmd = ws.mlops(args);
    for var in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_FEDERATED_TOKEN_FILE",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "SYSTEM_OIDCREQUESTURI",
        "SYSTEM_ACCESSTOKEN",
        "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "MLOPS_AZURE_AUTH",
        "AZURE_CLOUD",
        "AZURE_RESOURCE_MANAGER_AUDIENCE",
        "SSL_CERT_DIR",
        "AZURE_SUBSCRIPTION_ID",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("SSL_CERT_FILE", &standin.ca_pem)
        .env("AZURE_AUTHORITY_HOST", standin.url())
        .env("AZURE_RESOURCE_MANAGER_ENDPOINT", standin.url())
        .env("AZURE_SUBSCRIPTION_ID", standin::SUBSCRIPTION)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("PATH", "/usr/bin:/bin");
    cmd
}

fn with_secret(mut cmd: Command) -> Command {
    cmd.env("AZURE_TENANT_ID", standin::TENANT)
        .env("AZURE_CLIENT_ID", standin::CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", standin::CLIENT_SECRET);
    cmd
}

/// Runs `mlops args` against the stand-in, signed in as the test service principal.
pub(crate) fn as_principal(ws: &Workspace, standin: &StandIn, args: &[&str]) -> Output {
    run(&mut with_secret(mlops(ws, standin, args)))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run mlops")
}

pub(crate) fn json_out(out: &Output) -> Value {
    assert!(out.status.success(), "mlops failed ({:?}): {}", out.status.code(), stderr(out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn setup() -> (Workspace, StandIn) {
    let ws = Workspace::new();
    ws.write("main.json", TEMPLATE);
    let standin = StandIn::start();
    standin.set_step(Duration::from_millis(200));
    standin.create_resource_group("rg-test", "westeurope");
    (ws, standin)
}

#[test]
fn deploy_with_client_secret_prints_outputs_as_arm_returned_them() {
    let (ws, standin) = setup();
    let out = as_principal(
        &ws,
        &standin,
        &["infra", "deploy", "-g", "rg-test", "-f", "main.json", "-p", "baseName=MyApp", "-o", "json"],
    );
    let value = json_out(&out);
    assert_eq!(value["properties"]["provisioningState"], "Succeeded");
    let name = value["properties"]["outputs"]["storageAccountName"]["value"].as_str().expect("output");
    assert!(name.starts_with("stmyapp") && name.len() == 13, "{name}");
    assert_eq!(value["name"], "main");
    let ids = standin.resources("rg-test");
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.iter().any(|id| id.ends_with(&format!("/storageAccounts/{name}"))));
    let err = stderr(&out);
    assert!(
        err.contains("Succeeded") && err.contains("Microsoft.Storage/storageAccounts/"),
        "plain progress lines: {err}"
    );
    assert!(!err.contains(standin::CLIENT_SECRET));
    // The LRO was followed through the async-operation URL, then the deployment was read.
    let log = standin.deployment_requests();
    assert!(log.iter().any(|l| l.method == "PUT"));
    assert!(log.iter().any(|l| l.path.contains("/operationStatuses/")));
    assert!(log.iter().any(|l| l.path.ends_with("/deployments/main/operations") && !l.path.contains("/providers/")));
}

#[test]
fn secrets_never_reach_output_even_at_trace_level() {
    let (ws, standin) = setup();
    let out = as_principal(
        &ws,
        &standin,
        &["infra", "deploy", "-g", "rg-test", "-f", "main.json", "-p", "baseName=abc", "-vvv"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!all.contains(standin::CLIENT_SECRET), "client secret leaked");
    assert!(!all.contains("standin-at-"), "access token leaked");
}

#[test]
fn text_output_shows_state_and_outputs() {
    let (ws, standin) = setup();
    let out = as_principal(
        &ws,
        &standin,
        &["infra", "deploy", "-g", "rg-test", "-f", "main.json", "-p", "baseName=abc", "--name", "first"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("deployment first: Succeeded"), "{text}");
    let row = text.lines().find(|l| l.starts_with("storageAccountId ")).expect("output row");
    assert!(row.contains(" String  /subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-test/providers/Microsoft.Storage/storageAccounts/st"), "{text}");
    let shown = json_out(&as_principal(&ws, &standin, &["infra", "show", "first", "-g", "rg-test", "-o", "json"]));
    assert_eq!(shown["properties"]["provisioningState"], "Succeeded");
    let missing = as_principal(&ws, &standin, &["infra", "show", "nope", "-g", "rg-test"]);
    assert_eq!(missing.status.code(), Some(8), "{}", stderr(&missing));
}

#[test]
fn chain_failure_lists_every_credential_and_exits_10() {
    let (ws, standin) = setup();
    let out =
        run(&mut mlops(&ws, &standin, &["infra", "deploy", "-g", "rg-test", "-f", "main.json", "-p", "baseName=abc"]));
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    let err = stderr(&out);
    for kind in [
        "client-secret",
        "client-certificate",
        "workload-identity",
        "github-oidc",
        "azure-pipelines",
        "managed-identity",
        "azure-cli",
    ] {
        assert!(err.contains(&format!("- {kind}: ")), "{kind} missing from: {err}");
    }
    let mut bad = with_secret(mlops(
        &ws,
        &standin,
        &["infra", "deploy", "-g", "rg-test", "-f", "main.json", "-p", "baseName=abc"],
    ));
    bad.env("AZURE_CLIENT_SECRET", "wrong-secret-value");
    let out = run(&mut bad);
    assert_eq!(out.status.code(), Some(10));
    assert!(stderr(&out).contains("7000215"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("wrong-secret-value"));
    assert!(standin.deployment_requests().is_empty());
}

#[test]
fn throttling_storm_is_ridden_out_with_retry_after() {
    let (ws, standin) = setup();
    standin.inject(Fault {
        method: Some("PUT"),
        path_contains: "/deployments/main".into(),
        kind: FaultKind::Status { status: 429, retry_after: Some(1) },
        count: 2,
    });
    standin.inject(Fault {
        method: Some("GET"),
        path_contains: "/operationstatuses/".into(),
        kind: FaultKind::Status { status: 503, retry_after: Some(1) },
        count: 1,
    });
    standin.inject(Fault {
        method: Some("GET"),
        path_contains: "/operations".into(),
        kind: FaultKind::Status { status: 500, retry_after: None },
        count: 1,
    });
    let out = as_principal(
        &ws,
        &standin,
        &["infra", "deploy", "-g", "rg-test", "-f", "main.json", "-p", "baseName=abc", "-o", "json"],
    );
    assert_eq!(json_out(&out)["properties"]["provisioningState"], "Succeeded");
    let puts: Vec<_> = standin.deployment_requests().into_iter().filter(|l| l.method == "PUT").collect();
    assert_eq!(puts.iter().map(|l| l.status).collect::<Vec<_>>(), vec![429, 429, 201]);
    for pair in puts.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap >= Duration::from_millis(950) && gap < Duration::from_secs(4),
            "waited {gap:?} after Retry-After: 1"
        );
    }
}

#[test]
fn connection_resets_during_polling_do_not_abort() {
    let (ws, standin) = setup();
    standin.inject(Fault {
        method: Some("GET"),
        path_contains: "/operationstatuses/".into(),
        kind: FaultKind::Reset,
        count: 2,
    });
    standin.inject(Fault {
        method: Some("GET"),
        path_contains: "/operations".into(),
        kind: FaultKind::Delay(Duration::from_millis(700)),
        count: 1,
    });
    let out = as_principal(
        &ws,
        &standin,
        &["infra", "deploy", "-g", "rg-test", "-f", "main.json", "-p", "baseName=abc", "-o", "json"],
    );
    assert_eq!(json_out(&out)["properties"]["provisioningState"], "Succeeded");
    assert!(standin.log().iter().any(|l| l.status == 0), "a reset happened");
}

#[test]
fn nested_deployment_failure_is_shown_in_full() {
    let (ws, standin) = setup();
    standin.fail_resource(standin::FailingResource {
        name: "log-abc".into(),
        code: "ResourceDeploymentFailure".into(),
        message: "The resource write operation failed to complete successfully.".into(),
        inner: Some(("WorkspaceQuotaExceeded".into(), "Workspace quota exceeded in westeurope.".into())),
    });
    let out = as_principal(
        &ws,
        &standin,
        &["infra", "deploy", "-g", "rg-test", "-f", "main.json", "-p", "baseName=abc", "-o", "json"],
    );
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    let value: Value = serde_json::from_slice(&out.stdout).expect("deployment JSON on stdout");
    assert_eq!(value["properties"]["provisioningState"], "Failed");
    let err = stderr(&out);
    assert!(err.contains("DeploymentFailed: At least one resource deployment operation failed."), "{err}");
    assert!(err.contains("    WorkspaceQuotaExceeded: Workspace quota exceeded in westeurope."), "{err}");
    assert!(err.contains("resource Microsoft.OperationalInsights/workspaces/log-abc failed"), "{err}");
}

#[test]
fn validation_failure_from_arm_exits_9_with_its_error() {
    let (ws, standin) = setup();
    ws.write("bad.json", &TEMPLATE.replace("take(uniqueString", "nosuchfunction(uniqueString"));
    let out =
        as_principal(&ws, &standin, &["infra", "validate", "-g", "rg-test", "-f", "bad.json", "-p", "baseName=abc"]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert!(stderr(&out).contains("InvalidTemplate: Deployment template validation failed"), "{}", stderr(&out));
    let ok =
        as_principal(&ws, &standin, &["infra", "validate", "-g", "rg-test", "-f", "main.json", "-p", "baseName=abc"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("is valid (2 resources validated)"));
}

/// A .bicep deployment tells what `infra build` would warn about, on stderr, before any request.
#[test]
fn validating_bicep_shows_the_compiler_warnings() {
    let (ws, standin) = setup();
    ws.write("widget.bicep", "resource w 'Contoso.Widgets/widgets@2021-01-01' = {\n  name: 'w'\n}\n");
    let out = as_principal(&ws, &standin, &["infra", "validate", "-g", "rg-test", "-f", "widget.bicep"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("widget.bicep:1:12: warning BCP081: the resource type 'Contoso.Widgets/widgets@2021-01-01'"),
        "{}",
        stderr(&out)
    );
    let quiet = as_principal(&ws, &standin, &["-q", "infra", "validate", "-g", "rg-test", "-f", "widget.bicep"]);
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert!(!stderr(&quiet).contains("BCP081"), "{}", stderr(&quiet));
}

#[test]
fn what_if_renders_changes_and_exit_code_4() {
    let (ws, standin) = setup();
    let first = as_principal(
        &ws,
        &standin,
        &["infra", "what-if", "-g", "rg-test", "-f", "main.json", "-p", "baseName=abc", "--exit-code"],
    );
    assert_eq!(first.status.code(), Some(4), "{}", stderr(&first));
    let text = String::from_utf8_lossy(&first.stdout);
    assert!(text.contains("  + /subscriptions/") && text.contains("Resource changes: 2 to create."), "{text}");
    assert!(standin.resources("rg-test").is_empty(), "what-if deploys nothing");
    json_out(&as_principal(
        &ws,
        &standin,
        &["infra", "deploy", "-g", "rg-test", "-f", "main.json", "-p", "baseName=abc", "-o", "json"],
    ));
    let same = as_principal(
        &ws,
        &standin,
        &["infra", "what-if", "-g", "rg-test", "-f", "main.json", "-p", "baseName=abc", "--exit-code"],
    );
    assert_eq!(same.status.code(), Some(0), "{}", String::from_utf8_lossy(&same.stdout));
    let changed = as_principal(
        &ws,
        &standin,
        &["infra", "deploy", "--what-if", "-g", "rg-test", "-f", "main.json", "-p", "baseName=abc", "retention=60"],
    );
    let text = String::from_utf8_lossy(&changed.stdout);
    assert!(text.contains("      ~ properties.retentionInDays: 30 => 60"), "{text}");
    let json = json_out(&as_principal(
        &ws,
        &standin,
        &[
            "infra",
            "what-if",
            "-g",
            "rg-test",
            "-f",
            "main.json",
            "-p",
            "baseName=abc",
            "--mode",
            "Complete",
            "-o",
            "json",
        ],
    ));
    assert_eq!(json["status"], "Succeeded");
}

#[test]
fn confirm_with_what_if_refuses_without_a_terminal_unless_yes() {
    let (ws, standin) = setup();
    let out = as_principal(
        &ws,
        &standin,
        &["infra", "deploy", "-c", "-g", "rg-test", "-f", "main.json", "-p", "baseName=abc"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(standin.deployment_requests().is_empty());
    let out = as_principal(
        &ws,
        &standin,
        &["infra", "deploy", "-c", "--yes", "-g", "rg-test", "-f", "main.json", "-p", "baseName=abc"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Resource changes: 2 to create."));
}

#[test]
fn ctrl_c_stops_waiting_without_canceling() {
    let (ws, standin) = setup();
    standin.set_step(Duration::from_secs(5));
    let child = with_secret(mlops(
        &ws,
        &standin,
        &["infra", "deploy", "-g", "rg-test", "-f", "main.json", "-p", "baseName=abc"],
    ))
    .stderr(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .spawn()
    .expect("spawn");
    let started = std::time::Instant::now();
    while !standin.deployment_requests().iter().any(|l| l.path.contains("/operationStatuses/")) {
        assert!(started.elapsed() < Duration::from_secs(20), "never polled");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("goes on in Azure") && err.contains("mlops infra cancel main -g rg-test"), "{err}");
    assert!(!standin.deployment_requests().iter().any(|l| l.path.ends_with("/cancel")), "Ctrl-C must not cancel");
    // The deployment goes on: Accepted for its first moments (an unloaded machine gets here within
    // them), then Running, never canceled.
    let show = || json_out(&as_principal(&ws, &standin, &["infra", "show", "main", "-g", "rg-test", "-o", "json"]));
    let mut shown = show();
    while shown["properties"]["provisioningState"] == "Accepted" {
        assert!(started.elapsed() < Duration::from_secs(60), "still Accepted: {shown:#}");
        std::thread::sleep(Duration::from_millis(50));
        shown = show();
    }
    assert_eq!(shown["properties"]["provisioningState"], "Running");
    let canceled = json_out(&as_principal(&ws, &standin, &["infra", "cancel", "main", "-g", "rg-test", "-o", "json"]));
    assert_eq!(canceled["properties"]["provisioningState"], "Canceled");
    let again = as_principal(&ws, &standin, &["infra", "cancel", "main", "-g", "rg-test"]);
    assert_eq!(again.status.code(), Some(9), "{}", stderr(&again));
    assert!(stderr(&again).contains("DeploymentCannotBeCancelled"));
}

#[test]
fn no_wait_returns_after_the_put() {
    let (ws, standin) = setup();
    standin.set_step(Duration::from_secs(2));
    let value = json_out(&as_principal(
        &ws,
        &standin,
        &["infra", "deploy", "--no-wait", "-g", "rg-test", "-f", "main.json", "-p", "baseName=abc", "-o", "json"],
    ));
    assert_eq!(value["properties"]["provisioningState"], "Accepted");
    assert!(!standin.deployment_requests().iter().any(|l| l.path.contains("/operationStatuses/")));
}

#[test]
fn subscription_scope_deployment_creates_a_resource_group() {
    let ws = Workspace::new();
    let standin = StandIn::start();
    ws.write("rg.json", r#"{"$schema":"https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#","contentVersion":"1.0.0.0",
      "parameters":{"rgName":{"type":"string"}},
      "resources":[{"type":"Microsoft.Resources/resourceGroups","apiVersion":"2025-04-01","name":"[parameters('rgName')]","location":"[deployment().location]"}],
      "outputs":{"rgId":{"type":"string","value":"[format('/subscriptions/{0}/resourceGroups/{1}', subscription().subscriptionId, parameters('rgName'))]"}}}"#);
    let without_location = as_principal(&ws, &standin, &["infra", "deploy", "-f", "rg.json", "-p", "rgName=rg-sub"]);
    assert_eq!(without_location.status.code(), Some(2), "{}", stderr(&without_location));
    let wrong_scope = as_principal(
        &ws,
        &standin,
        &["infra", "deploy", "--scope", "resource-group", "-g", "x", "-f", "rg.json", "-p", "rgName=rg-sub"],
    );
    assert_eq!(wrong_scope.status.code(), Some(2), "{}", stderr(&wrong_scope));
    assert!(standin.log().is_empty());
    let value = json_out(&as_principal(
        &ws,
        &standin,
        &[
            "infra",
            "deploy",
            "--scope",
            "subscription",
            "-l",
            "northeurope",
            "-f",
            "rg.json",
            "-p",
            "rgName=rg-sub",
            "-o",
            "json",
        ],
    ));
    assert_eq!(value["location"], "northeurope");
    assert_eq!(
        value["id"],
        format!("/subscriptions/{}/providers/Microsoft.Resources/deployments/rg", standin::SUBSCRIPTION)
    );
    assert_eq!(
        value["properties"]["outputs"]["rgId"]["value"],
        format!("/subscriptions/{}/resourceGroups/rg-sub", standin::SUBSCRIPTION)
    );
    assert!(standin.deployment_requests().iter().any(|l| l.path
        == format!(
            "/subscriptions/{}/providers/Microsoft.Resources/deployments/rg/operations",
            standin::SUBSCRIPTION
        )));
    // The group now exists: a resource-group deployment into it needs no --location.
    ws.write("main.json", TEMPLATE);
    json_out(&as_principal(
        &ws,
        &standin,
        &["infra", "deploy", "-g", "rg-sub", "-f", "main.json", "-p", "baseName=abc", "-o", "json"],
    ));
}
