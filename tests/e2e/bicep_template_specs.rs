//! Template-spec modules (`ts:`): the official Python client creates a template spec version in
//! the stand-in, `mlops infra restore` reads it back into the cache the official Bicep CLI uses,
//! `mlops infra build` links the module to it by id as the official compiler does, a second build
//! needs no network, and a missing version or a bad reference fails with its file:line and the
//! documented exit code.

use serde_json::Value;

use crate::conformance::run_sdk_script;
use crate::infra::{as_principal, json_out};
use crate::standin::{self, StandIn};
use crate::support::{Workspace, stderr};

/// The template the Python client stores as the version's `mainTemplate`.
const SPEC_TEMPLATE: &str = r#"{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {
    "name": {"type": "string"},
    "sku": {"type": "string", "defaultValue": "Standard_LRS"}
  },
  "resources": [
    {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-05-01", "name": "[parameters('name')]",
     "location": "[resourceGroup().location]", "sku": {"name": "[parameters('sku')]"}, "kind": "StorageV2"}
  ],
  "outputs": {"id": {"type": "string", "value": "[resourceId('Microsoft.Storage/storageAccounts', parameters('name'))]"}}
}"#;

fn main_bicep(reference: &str) -> String {
    format!(
        "module st '{reference}' = {{\n  name: 'st'\n  params: {{\n    name: 'stspec'\n  }}\n}}\n\noutput id string = st.outputs.id\n"
    )
}

/// The workspace's bicepconfig.json: the module cache inside the workspace (the official
/// `cacheRootDirectory` key) and a template-spec alias.
fn bicepconfig() -> String {
    format!(
        r#"{{"cacheRootDirectory": "cache", "moduleAliases": {{"ts": {{"specs": {{"subscription": "{}", "resourceGroup": "rg-specs"}}}}}}}}"#,
        standin::SUBSCRIPTION
    )
}

fn spec_requests(standin: &StandIn) -> usize {
    standin.log().iter().filter(|l| l.path.to_ascii_lowercase().contains("/templatespecs/")).count()
}

fn built(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "build failed ({:?}): {}", out.status.code(), stderr(out));
    serde_json::from_slice(&out.stdout).expect("the template on stdout")
}

#[test]
fn a_template_spec_made_by_the_official_client_restores_links_by_id_and_builds_offline() {
    let standin = StandIn::start();
    let seen = run_sdk_script(&standin, "tests/python/template_specs_conformance.py", SPEC_TEMPLATE);
    let version_id = seen["version_id"].as_str().expect("version id").to_string();
    assert_eq!(
        version_id,
        format!(
            "/subscriptions/{}/resourceGroups/rg-specs/providers/Microsoft.Resources/templateSpecs/storage-spec/versions/1.0",
            standin::SUBSCRIPTION
        )
    );
    assert_eq!(seen["version_type"], "Microsoft.Resources/templateSpecs/versions");
    assert_eq!(seen["description"], "first");
    let template: Value = serde_json::from_str(SPEC_TEMPLATE).expect("json");
    assert_eq!(seen["main_template"], template);
    assert_eq!(seen["missing"], 404);

    let ws = Workspace::new();
    ws.write("bicepconfig.json", &bicepconfig());
    let direct = format!("ts:{}/rg-specs/storage-spec:1.0", standin::SUBSCRIPTION);
    ws.write("main.bicep", &main_bicep(&direct));
    ws.write("aliased.bicep", &main_bicep("ts/specs:storage-spec:1.0"));

    let restored = json_out(&as_principal(&ws, &standin, &["infra", "restore", "main.bicep", "-o", "json"]));
    assert_eq!(restored[0]["status"], "restored", "{restored}");
    assert_eq!(restored[0]["line"], 1);
    assert_eq!(restored[0]["template_spec"], version_id.as_str());
    // The official tool's layout, lower case: <root>/ts/<sub>/<rg>/<name>/<version>/main.json,
    // holding the version resource as ARM returned it.
    let cached = ws.path().join("cache/ts").join(standin::SUBSCRIPTION).join("rg-specs/storage-spec/1.0/main.json");
    let cached: Value = serde_json::from_slice(&std::fs::read(&cached).expect("cached spec")).expect("json");
    assert_eq!(cached["id"], version_id.as_str());
    assert_eq!(cached["properties"]["mainTemplate"], template);

    // The module links to the version by id instead of embedding its template.
    let compiled = built(&as_principal(&ws, &standin, &["infra", "build", "main.bicep", "--stdout"]));
    let module = &compiled["resources"][0];
    assert_eq!(module["type"], "Microsoft.Resources/deployments");
    assert_eq!(module["properties"]["templateLink"], serde_json::json!({ "id": version_id }));
    assert!(module["properties"].get("template").is_none(), "{module:#}");
    assert_eq!(module["properties"]["parameters"]["name"]["value"], "stspec");
    assert!(compiled["outputs"]["id"]["value"].as_str().is_some_and(|v| v.contains(".outputs.id.value")));

    // The alias names the same version: already cached, so no request reaches ARM.
    let before = spec_requests(&standin);
    let aliased = built(&as_principal(&ws, &standin, &["infra", "build", "aliased.bicep", "--stdout"]));
    assert_eq!(aliased["resources"][0]["properties"]["templateLink"], module["properties"]["templateLink"]);
    assert_eq!(spec_requests(&standin), before, "a cached template spec is not fetched again");
    // Offline and signed out: the cache is enough.
    let offline = ws.mlops(&["infra", "build", "main.bicep", "--stdout", "--no-restore"]).output().expect("run");
    assert_eq!(built(&offline)["resources"][0], *module);
    // --force fetches it again.
    let forced = json_out(&as_principal(&ws, &standin, &["infra", "restore", "main.bicep", "--force", "-o", "json"]));
    assert_eq!(forced[0]["status"], "restored");
    assert_eq!(spec_requests(&standin), before + 1);
}

#[test]
fn template_spec_failures_name_the_reference_and_exit_with_their_code() {
    let standin = StandIn::start();
    standin.create_resource_group("rg-specs", "westeurope");
    let ws = Workspace::new();
    ws.write("bicepconfig.json", &bicepconfig());
    let sub = standin::SUBSCRIPTION;
    ws.write("missing.bicep", &main_bicep(&format!("ts:{sub}/rg-specs/storage-spec:9.9")));
    ws.write("guid.bicep", &main_bicep("ts:not-a-guid/rg-specs/storage-spec:1.0"));
    ws.write("alias.bicep", &main_bicep("ts/nope:storage-spec:1.0"));
    let cases: &[(&str, &[&str], i32, &[&str])] = &[
        ("missing.bicep", &["infra", "restore"], 8, &["missing.bicep:1", "no such template spec version", "9.9"]),
        ("missing.bicep", &["infra", "build", "--no-restore"], 6, &["missing.bicep:1", "is not restored"]),
        ("guid.bicep", &["infra", "restore"], 6, &["guid.bicep:1", "'not-a-guid' is not a GUID"]),
        ("alias.bicep", &["infra", "build"], 6, &["alias.bicep:1", "unknown template spec alias 'nope'"]),
    ];
    for (file, args, code, says) in cases {
        let mut args = args.to_vec();
        args.push(file);
        let out = as_principal(&ws, &standin, &args);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {text}");
        for s in *says {
            assert!(text.contains(s), "{args:?} should say {s:?}: {text}");
        }
    }
    // Without any Azure credential, restoring a template spec is a sign-in failure (10), while a
    // file without template specs still builds.
    let signed_out = crate::infra::mlops(&ws, &standin, &["infra", "restore", "missing.bicep"]).output().expect("run");
    assert_eq!(signed_out.status.code(), Some(10), "{}", stderr(&signed_out));
    assert!(stderr(&signed_out).contains("cannot sign in to Azure"), "{}", stderr(&signed_out));
    ws.write("plain.bicep", "output x int = 1\n");
    let plain =
        crate::infra::mlops(&ws, &standin, &["infra", "build", "plain.bicep", "--stdout"]).output().expect("run");
    assert!(plain.status.success(), "{}", stderr(&plain));
}
