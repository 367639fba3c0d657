//! Deployment stacks (`mlops infra deploy --stack`, `mlops infra delete --stack`, `mlops infra
//! stack show | list`) against the stand-in, whose stacks really manage what they deploy: what a
//! re-deploy leaves out, and everything on delete, is detached or deleted from its resource store.

use std::time::Duration;

use serde_json::Value;

use crate::infra::{as_principal as run, json_out, mlops};
use crate::standin::{self, FailingResource, StandIn};
use crate::support::{Workspace, repo, stderr};

/// A storage account always, a Log Analytics workspace while `withLogs` is true.
const TEMPLATE: &str = r#"{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {
    "baseName": {"type": "string"},
    "withLogs": {"type": "bool", "defaultValue": true},
    "adminPassword": {"type": "securestring", "defaultValue": ""}
  },
  "resources": [
    {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-05-01", "name": "[format('st{0}', parameters('baseName'))]",
     "location": "[resourceGroup().location]", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "properties": {}},
    {"condition": "[parameters('withLogs')]", "type": "Microsoft.OperationalInsights/workspaces", "apiVersion": "2023-09-01",
     "name": "[format('log-{0}', parameters('baseName'))]", "location": "[resourceGroup().location]", "properties": {"retentionInDays": 30}}
  ],
  "outputs": {"storageAccountName": {"type": "string", "value": "[format('st{0}', parameters('baseName'))]"}}
}"#;

fn setup() -> (Workspace, StandIn) {
    let ws = Workspace::new();
    ws.write("main.json", TEMPLATE);
    let standin = StandIn::start();
    standin.set_step(Duration::from_millis(100));
    standin.create_resource_group("rg-test", "westeurope");
    (ws, standin)
}

fn ids(stack: &Value, list: &str) -> Vec<String> {
    stack["properties"][list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list}: {stack:#}"))
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

fn deploy_stack(ws: &Workspace, standin: &StandIn, extra: &[&str]) -> Value {
    let mut args = vec!["infra", "deploy", "--stack", "app", "-g", "rg-test", "-f", "main.json", "-p", "baseName=app"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-o", "json"]);
    json_out(&run(ws, standin, &args))
}

fn log_id() -> String {
    format!(
        "/subscriptions/{}/resourceGroups/rg-test/providers/Microsoft.OperationalInsights/workspaces/log-app",
        standin::SUBSCRIPTION
    )
}

#[test]
fn environment_setup_as_a_stack_is_removed_completely_with_delete_all() {
    let ws = Workspace::new();
    let standin = StandIn::start();
    let template = repo().join("environment_setup/src/main.json");
    let parameters = format!("@{}", repo().join("environment_setup/src/parameters.json").display());
    let stack = json_out(&run(
        &ws,
        &standin,
        &[
            "infra",
            "deploy",
            "--stack",
            "mlops-env",
            "-g",
            "rg-mlops",
            "-l",
            "westeurope",
            "-f",
            template.to_str().expect("utf-8"),
            "-p",
            &parameters,
            "--deny-settings-mode",
            "denyDelete",
            "-o",
            "json",
        ],
    ));
    assert_eq!(stack["properties"]["provisioningState"], "succeeded", "{stack:#}");
    assert_eq!(stack["properties"]["denySettings"]["mode"], "denyDelete");
    assert_eq!(stack["properties"]["actionOnUnmanage"]["resources"], "detach", "detachAll is the default");
    let mut managed = ids(&stack, "resources");
    let mut stored = standin.resources("rg-mlops");
    managed.sort();
    stored.sort();
    assert_eq!(managed.len(), 6, "{managed:?}");
    assert_eq!(managed, stored);
    assert!(stack["properties"]["outputs"]["workspaceId"]["value"].is_string(), "{stack:#}");

    let listed = json_out(&run(&ws, &standin, &["infra", "stack", "list", "-g", "rg-mlops", "-o", "json"]));
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed:#}");
    assert_eq!(listed[0]["name"], "mlops-env");

    // No terminal and no --yes: refused before any request.
    let before = standin.log().len();
    let refused = run(
        &ws,
        &standin,
        &["infra", "delete", "--stack", "mlops-env", "-g", "rg-mlops", "--action-on-unmanage", "deleteAll"],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("without --yes"), "{}", stderr(&refused));
    assert_eq!(standin.log().len(), before, "no request without confirmation");
    assert_eq!(standin.resources("rg-mlops").len(), 6);

    let deleted = json_out(&run(
        &ws,
        &standin,
        &[
            "infra",
            "delete",
            "--stack",
            "mlops-env",
            "-g",
            "rg-mlops",
            "--action-on-unmanage",
            "deleteAll",
            "--yes",
            "-o",
            "json",
        ],
    ));
    assert_eq!(deleted["deletedResources"].as_array().map(Vec::len), Some(6), "{deleted:#}");
    assert_eq!(deleted["detachedResources"].as_array().map(Vec::len), Some(0));
    assert_eq!(standin.resources("rg-mlops"), Vec::<String>::new(), "every managed resource is gone");
    let delete = standin.log().into_iter().find(|l| l.method == "DELETE").expect("a DELETE");
    assert!(delete.path.ends_with("/providers/Microsoft.Resources/deploymentStacks/mlops-env"), "{}", delete.path);
    assert!(delete.query.contains("unmanageAction.Resources=delete"), "{}", delete.query);
    assert!(delete.query.contains("api-version=2024-03-01"), "{}", delete.query);
    let gone = run(&ws, &standin, &["infra", "stack", "show", "mlops-env", "-g", "rg-mlops"]);
    assert_eq!(gone.status.code(), Some(8), "{}", stderr(&gone));
}

#[test]
fn redeploy_detaches_or_deletes_what_the_template_leaves_out() {
    let (ws, standin) = setup();
    let first = deploy_stack(&ws, &standin, &[]);
    assert_eq!(ids(&first, "resources").len(), 2, "{first:#}");

    // detachAll (the default): the workspace leaves the stack but stays in Azure.
    let detached = deploy_stack(&ws, &standin, &["-p", "withLogs=false"]);
    assert_eq!(ids(&detached, "resources").len(), 1, "{detached:#}");
    assert_eq!(ids(&detached, "detachedResources"), [log_id()]);
    assert!(ids(&detached, "deletedResources").is_empty());
    assert!(standin.resources("rg-test").contains(&log_id()));

    // Managed again, then left out with deleteResources: it is really deleted.
    assert_eq!(ids(&deploy_stack(&ws, &standin, &[]), "resources").len(), 2);
    let deleted = deploy_stack(&ws, &standin, &["-p", "withLogs=false", "--action-on-unmanage", "deleteResources"]);
    assert_eq!(ids(&deleted, "deletedResources"), [log_id()]);
    assert!(ids(&deleted, "detachedResources").is_empty());
    assert_eq!(standin.resources("rg-test").len(), 1, "{:?}", standin.resources("rg-test"));
    assert!(!standin.resources("rg-test").contains(&log_id()));

    // The text view says the same.
    let shown = run(&ws, &standin, &["infra", "stack", "show", "app", "-g", "rg-test"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.starts_with("deployment stack app: succeeded\n"), "{text}");
    assert!(text.contains("  managed: 1\n") && text.contains("  deleted: 1\n"), "{text}");
    assert!(text.contains(&format!("    {}\n", log_id())), "{text}");
    assert!(text.lines().any(|l| l.starts_with("storageAccountName ") && l.ends_with("stapp")), "{text}");

    // Deleting the stack with the default (detachAll) keeps what is left.
    let kept =
        json_out(&run(&ws, &standin, &["infra", "delete", "--stack", "app", "-g", "rg-test", "--yes", "-o", "json"]));
    assert_eq!(kept["detachedResources"].as_array().map(Vec::len), Some(1), "{kept:#}");
    assert_eq!(standin.resources("rg-test").len(), 1);
}

#[test]
fn a_failing_stack_exits_9_with_the_resource_error() {
    let (ws, standin) = setup();
    standin.fail_resource(FailingResource {
        name: "stapp".into(),
        code: "StorageAccountAlreadyTaken".into(),
        message: "The storage account named stapp is already taken.".into(),
        inner: None,
    });
    let out = run(
        &ws,
        &standin,
        &["infra", "deploy", "--stack", "app", "-g", "rg-test", "-f", "main.json", "-p", "baseName=app"],
    );
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("deployment stack app ended failed"), "{err}");
    assert!(err.contains("DeploymentStackDeploymentFailed"), "{err}");
    assert!(err.contains("StorageAccountAlreadyTaken: The storage account named stapp is already taken."), "{err}");
    let shown = json_out(&run(&ws, &standin, &["infra", "stack", "show", "app", "-g", "rg-test", "-o", "json"]));
    assert_eq!(shown["properties"]["provisioningState"], "failed");
    assert!(standin.resources("rg-test").is_empty());
}

#[test]
fn missing_stacks_and_bad_flags_have_their_exit_codes() {
    let (ws, standin) = setup();
    let show = run(&ws, &standin, &["infra", "stack", "show", "nope", "-g", "rg-test"]);
    assert_eq!(show.status.code(), Some(8), "{}", stderr(&show));
    assert!(stderr(&show).contains("deployment stack nope not found"), "{}", stderr(&show));
    let delete = run(&ws, &standin, &["infra", "delete", "--stack", "nope", "-g", "rg-test", "--yes"]);
    assert_eq!(delete.status.code(), Some(8), "{}", stderr(&delete));
    assert!(!standin.log().iter().any(|l| l.method == "DELETE"));

    let before = standin.log().len();
    for args in [
        &[
            "infra",
            "deploy",
            "-g",
            "rg-test",
            "-f",
            "main.json",
            "-p",
            "baseName=app",
            "--action-on-unmanage",
            "deleteAll",
        ][..],
        &[
            "infra",
            "deploy",
            "--stack",
            "app",
            "-g",
            "rg-test",
            "-f",
            "main.json",
            "-p",
            "baseName=app",
            "--mode",
            "Complete",
        ],
        &["infra", "deploy", "--stack", "app", "-g", "rg-test", "-f", "main.json", "--what-if"],
        &["infra", "deploy", "--stack", "a/b", "-g", "rg-test", "-f", "main.json", "-p", "baseName=app"],
        &["infra", "delete", "--stack", "app", "-g", "rg-test", "--action-on-unmanage", "everything", "--yes"],
    ] {
        let out = run(&ws, &standin, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(standin.log().len(), before, "usage errors send nothing");
}

#[test]
fn secrets_never_reach_output() {
    let (ws, standin) = setup();
    let password = "Stack-Secret-Password-42";
    let out = run(
        &ws,
        &standin,
        &[
            "infra",
            "deploy",
            "--stack",
            "app",
            "-g",
            "rg-test",
            "-f",
            "main.json",
            "-p",
            "baseName=app",
            "-p",
            &format!("adminPassword={password}"),
            "-vvv",
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = run(&ws, &standin, &["infra", "stack", "show", "app", "-g", "rg-test", "-o", "json"]);
    for out in [&out, &shown] {
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(out));
        assert!(!all.contains(password), "secure parameter leaked");
        assert!(!all.contains(standin::CLIENT_SECRET), "client secret leaked");
        assert!(!all.contains("standin-at-"), "access token leaked");
    }
    let value = json_out(&shown);
    assert_eq!(value["properties"]["parameters"]["adminPassword"], serde_json::json!({"type": "Securestring"}));
}

#[test]
fn no_wait_returns_after_the_put_and_the_stack_goes_on() {
    let (ws, standin) = setup();
    standin.set_step(Duration::from_secs(1));
    let accepted = deploy_stack(&ws, &standin, &["--no-wait"]);
    assert_eq!(accepted["properties"]["provisioningState"], "initializing", "{accepted:#}");
    assert!(!standin.log().iter().any(|l| l.path.contains("deploymentStackOperationStatus")));
    let started = std::time::Instant::now();
    loop {
        let shown = json_out(&run(&ws, &standin, &["infra", "stack", "show", "app", "-g", "rg-test", "-o", "json"]));
        if shown["properties"]["provisioningState"] == "succeeded" {
            assert_eq!(ids(&shown, "resources").len(), 2);
            break;
        }
        assert_eq!(shown["properties"]["provisioningState"], "deploying", "{shown:#}");
        assert!(started.elapsed() < Duration::from_secs(60), "never succeeded");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn deploy_follows_the_async_operation_with_per_resource_progress() {
    let (ws, standin) = setup();
    let out = run(
        &ws,
        &standin,
        &["infra", "deploy", "--stack", "app", "-g", "rg-test", "-f", "main.json", "-p", "baseName=app"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("Microsoft.Storage/storageAccounts/stapp"), "per-resource progress: {err}");
    let log = standin.log();
    let put = log.iter().find(|l| l.method == "PUT" && l.path.contains("deploymentStacks")).expect("PUT");
    assert!(put.query.contains("api-version=2024-03-01"), "{}", put.query);
    assert!(log.iter().any(|l| l.path.contains("/deploymentStackOperationStatus/")));
}

#[test]
fn a_subscription_stack_deletes_the_resource_groups_it_created_with_delete_all() {
    let ws = Workspace::new();
    let standin = StandIn::start();
    standin.set_step(Duration::from_millis(100));
    ws.write(
        "rg.json",
        r#"{"$schema":"https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#","contentVersion":"1.0.0.0",
      "parameters":{"rgName":{"type":"string"}},
      "resources":[{"type":"Microsoft.Resources/resourceGroups","apiVersion":"2025-04-01","name":"[parameters('rgName')]","location":"[deployment().location]"}]}"#,
    );
    let deploy = [
        "infra",
        "deploy",
        "--stack",
        "env",
        "--scope",
        "subscription",
        "-l",
        "westeurope",
        "-f",
        "rg.json",
        "-p",
        "rgName=rg-env",
    ];
    let stack = json_out(&run(&ws, &standin, &[&deploy[..], &["-o", "json"]].concat()));
    assert_eq!(stack["location"], "westeurope");
    assert_eq!(ids(&stack, "resources"), [format!("/subscriptions/{}/resourceGroups/rg-env", standin::SUBSCRIPTION)]);
    assert!(standin.resource_group_exists("rg-env"));

    // deleteResources keeps resource groups; the stack is gone, the group stays.
    let listed = json_out(&run(&ws, &standin, &["infra", "stack", "list", "-o", "json"]));
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed:#}");
    let kept = json_out(&run(
        &ws,
        &standin,
        &["infra", "delete", "--stack", "env", "--action-on-unmanage", "deleteResources", "--yes", "-o", "json"],
    ));
    assert_eq!(kept["detachedResources"].as_array().map(Vec::len), Some(1), "{kept:#}");
    assert!(standin.resource_group_exists("rg-env"));

    // Deployed again, then deleted with deleteAll: the group goes too.
    let again = run(&ws, &standin, &deploy);
    assert!(again.status.success(), "{}", stderr(&again));
    let deleted = json_out(&run(
        &ws,
        &standin,
        &["infra", "delete", "--stack", "env", "--action-on-unmanage", "delete", "--yes", "-o", "json"],
    ));
    assert_eq!(deleted["actionOnUnmanage"], "deleteAll", "`delete` is short for deleteAll");
    assert_eq!(deleted["deletedResources"].as_array().map(Vec::len), Some(1), "{deleted:#}");
    assert!(!standin.resource_group_exists("rg-env"));
}

#[test]
fn ctrl_c_stops_waiting_and_the_stack_goes_on() {
    let (ws, standin) = setup();
    // Long enough that the stack is still deploying when it is shown again, on a loaded machine too.
    standin.set_step(Duration::from_secs(15));
    let child = mlops(
        &ws,
        &standin,
        &["infra", "deploy", "--stack", "app", "-g", "rg-test", "-f", "main.json", "-p", "baseName=app"],
    )
    .env("AZURE_TENANT_ID", standin::TENANT)
    .env("AZURE_CLIENT_ID", standin::CLIENT_ID)
    .env("AZURE_CLIENT_SECRET", standin::CLIENT_SECRET)
    .stderr(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .spawn()
    .expect("spawn");
    let started = std::time::Instant::now();
    while !standin.log().iter().any(|l| l.path.contains("/deploymentStackOperationStatus/")) {
        assert!(started.elapsed() < Duration::from_secs(30), "never polled");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("mlops infra stack show app -g rg-test"), "{}", stderr(&out));
    assert!(!standin.log().iter().any(|l| l.method == "DELETE"), "Ctrl-C must not delete");
    let shown = json_out(&run(&ws, &standin, &["infra", "stack", "show", "app", "-g", "rg-test", "-o", "json"]));
    assert_eq!(shown["properties"]["provisioningState"], "deploying", "the stack goes on: {shown:#}");
}
