//! Native Bicep on real-world modules: a subset of the Azure Verified Modules compiles to exactly
//! the official compiler's output, and the rest is refused with one `unsupported:` line.

use std::path::{Path, PathBuf};
use std::process::Output;

use mlops::infra::bicep::compare;
use serde_json::Value;

/// The subset, checked in with its licence (see its README). A missing copy is a broken checkout.
fn fixtures() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bicep-avm");
    assert!(dir.join("LICENSE").is_file(), "the AVM fixtures are missing from {}", dir.display());
    dir
}

/// `mlops infra build --stdout FILE` run from the fixtures, so that messages name FILE as given.
fn build(file: &str) -> Output {
    let ws = crate::support::Workspace::new();
    ws.mlops(&["infra", "build", "--stdout", file]).current_dir(fixtures()).output().expect("run mlops")
}

const IDENTICAL: &[&str] = &[
    // `@allowed([...])` on an `array` parameter lists the elements it may hold.
    "avm/res/event-hub/namespace/authorization-rule",
    // `@metadata`'s keys come before the description, whatever the decorators' order.
    "avm/res/automation/automation-account/schedule",
    "avm/res/cache/redis/firewall-rule",
    "avm/res/kusto/cluster/principal-assignment",
    "avm/res/api-management/service/product/api",
    "avm/res/storage/storage-account/blob-service/container/immutability-policy",
    "avm/res/data-protection/backup-vault/backup-policy",
    "avm/res/network/dns-zone/dnssec-config",
    // `param properties resourceInput<'T@v'>.properties` is an object with the derived type's source.
    "avm/res/api-management/service/portalsetting",
    // `rule.?prop` is `tryGet(rule, 'prop')`.
    "avm/res/service-bus/namespace/network-rule-set",
    // `loadTextContent` inside an expression or as a property value becomes a `$fxv#N` variable.
    "avm/ptn/azd/apim-api",
    // languageVersion 2.0: a nullable parameter, an `existing` resource written out and depended on
    // by symbolic name, `reference('symbol', 'version', 'full')`.
    "avm/res/cache/redis/linked-server",
    // `type` declarations with `@export()`, nullable unions, nested `existing` resources, a local
    // module in another resource group with an extension-scope resource (`scope` before `name`).
    "avm/res/api-center/service/workspace/api-source",
    // `resourceInput<'T@v'>.tags?`: derived-type metadata, then the description, then `nullable`.
    "avm/res/network/dns-resolver/outbound-endpoint",
    // A typed variable, nullable typed arrays (`productPolicyType[]?`), module loops in 2.0 form.
    "avm/res/api-management/service/product",
    // `@secure()` on a string parameter in a 2.0 template.
    "avm/res/automation/automation-account/credential",
    // Spread in an object: `shallowMerge(createArray(createObject(…), …))`.
    "avm/res/synapse/workspace/integration-runtime",
    // Local modules at management-group scope: `extensionResourceId(managementGroup().id, …)`,
    // `copy` before `condition`.
    "avm/ptn/authorization/role-assignment",
    // `@discriminator('authType')` on a `@secure()` union of declared object types.
    "avm/res/machine-learning-services/workspace/connection",
    // A union with a nullable member (`'Disabled' | 'Enabled'?`) admits null.
    "avm/res/dev-test-lab/lab/schedule",
    // Nested resources in the order Bicep's symbol visitor meets them (deepest scopes first).
    "avm/res/net-app/net-app-account/backup-vault/backup",
    // Resource types@versions that Azure.Bicep.Types.Az 0.2.804 did not know and 0.2.896 does
    // (`Microsoft.Web/hostingEnvironments@2025-03-01`, `Microsoft.Sql/servers@2025-01-01`,
    // `Microsoft.Web/staticSites@2025-03-01`), with the casing of the index.
    "avm/res/web/hosting-environment/configuration--customdnssuffix",
    "avm/res/sql/server/firewall-rule",
    "avm/res/web/static-site/custom-domain",
    // `dependsOn` sorted by qualified symbol name, culture-aware: `app::slot` before
    // `applicationInsights`.
    "avm/res/web/site/slot/config",
    // `fail('…')` in a resource name, passed to ARM as it is.
    "avm/res/document-db/mongo-cluster/firewall-rule",
    // New resources with `scope: tenant()` from management-group scope (`"scope": "/"`), the second
    // in a local module inside a module loop.
    "avm/res/management/management-group",
    "avm/ptn/mgmt-groups/subscription-placement",
    // A module without `name`: the generated `'<symbol>-${uniqueString(…)}'` and languageVersion 2.0.
    "avm/res/sql/server/auditing-setting",
    // `mod.?outputs.x` on conditional modules: `tryGet(if(cond, reference('mod'), null()), …)`.
    "avm/ptn/authorization/policy-exemption",
    // Existing nested resources under a parent in another resource group.
    "avm/res/digital-twins/digital-twins-instance/endpoint",
    // `loadJsonContent` of a template under `modules/`, a `$fxv#0` variable with `[[` escapes.
    "avm/ptn/authorization/resource-role-assignment",
    // A module in another subscription's resource group (with its file under `modules/`).
    "avm/res/sql/server/vulnerability-assessment",
    // Resource-derived types with a path, typed from the resource schemas: a property whose schema
    // type is `any` (no `type`), `@secure()` on one (`secureObject`), and one on an output.
    "avm/res/logic/integration-account/assembly",
    "avm/res/api-management/service/logger",
    "avm/res/storage/storage-account/object-replication-policy/policy",
    // `res.?properties.x` on conditional resources: `tryGet(if(cond, reference(…, 'full'), null()),
    // 'properties', 'x')`, in modules at management-group scope.
    "avm/res/authorization/policy-assignment/mg-scope",
    // `mod.?outputs.?x` on a conditional module: a `tryGet` per safe step, the first guarded.
    "avm/res/web/site/host-name-binding",
    // A resource-derived type with a deeper path (`….properties.policy.rules`).
    "avm/res/storage/storage-account/management-policy",
];

#[test]
fn avm_modules_compile_to_the_official_json_key_order_included() {
    let root = fixtures();
    for dir in IDENTICAL {
        assert_identical(&root, dir, &build(&format!("{dir}/main.bicep")));
    }
}

/// `out` compiled `dir/main.bicep` to its `main.json`, `_generator` aside, key order included.
fn assert_identical(root: &std::path::Path, dir: &str, out: &Output) {
    let text = std::fs::read_to_string(root.join(dir).join("main.json")).expect("main.json");
    assert_compiled_to(dir, out, &text);
}

/// `out` wrote the template `text`, `_generator` aside, key order included.
fn assert_compiled_to(dir: &str, out: &Output, text: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{dir}: {stderr}");
    let mut actual: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let mut expected: Value = serde_json::from_str(text).expect("main.json is JSON");
    compare::drop_generator(&mut actual);
    compare::drop_generator(&mut expected);
    assert_eq!(actual, expected, "{dir}");
    // Value equality ignores key order; users diffing templates and what-if do not.
    let (actual, expected) = (serde_json::to_string_pretty(&actual), serde_json::to_string_pretty(&expected));
    assert_eq!(actual.expect("json"), expected.expect("json"), "{dir}: key order");
}

/// `mlops infra build --no-restore --stdout FILE` with the fixtures' module cache, which holds the
/// published `main.json` of each registry version the import fixtures use.
fn build_from_cache(file: &str) -> Output {
    let ws = crate::support::Workspace::new();
    ws.mlops(&["infra", "build", "--no-restore", "--stdout", file])
        .env("MLOPS_BICEP_CACHE", fixtures().join("cache"))
        .current_dir(fixtures())
        .output()
        .expect("run mlops")
}

/// Compile-time imports, from the registry (read from the cache) and from local files.
const IDENTICAL_WITH_IMPORTS: &[&str] = &[
    // Two types from one registry version; the types they refer to come along as `_1.<name>`.
    "avm/res/network/ip-group",
    "avm/res/container-registry/registry/credential-set",
    // Two versions of one module: two source templates.
    "avm/res/network/application-security-group",
    // A type from a local Bicep file that is also a module; the types it refers to are `_1.<name>`
    // with the path relative to the importing file.
    "avm/res/service-bus/namespace/topic/subscription",
    "avm/res/recovery-services/vault/replication-fabric",
    // Imports, two local modules, and an `existing` server in another resource group's scope.
    "avm/res/sql/server/database",
    // Types imported from local Bicep files whose properties are resource-derived types: written
    // `type`, `metadata`, `nullable`, as the compiler writes its own (not as read from JSON).
    "avm/res/api-center/service/workspace",
    // A module that is an ARM JSON file (`modules/…json`), embedded as it is.
    "avm/res/storage/storage-account/file-service/share",
    // `dependsOn: vpnGateway_natRules`, a whole module loop as the dependency list.
    "avm/res/network/vpn-gateway",
    // A user-defined function (`func`), `@allowed` on a type property (written nowhere), and in
    // its module `a.?b!.c` (one `tryGet(a, 'b', 'c')`).
    "avm/res/net-app/net-app-account/capacity-pool",
    // `res.?identity.?principalId` on a conditional resource, nested `tryGet`s around the guard.
    "avm/res/machine-learning-services/workspace/compute",
];

#[test]
fn avm_modules_with_imports_compile_to_the_official_json() {
    let root = fixtures();
    for dir in IDENTICAL_WITH_IMPORTS {
        assert_identical(&root, dir, &build_from_cache(&format!("{dir}/main.bicep")));
    }
}

/// The versions of `br/public:avm/utl/types/avm-common-types` the fixtures import, as published.
const COMMON_TYPES_VERSIONS: &[&str] = &["0.5.1", "0.6.0", "0.6.1", "0.7.0"];

/// The whole path from a registry: the published `avm-common-types` versions are pushed to a real
/// OCI registry (Debian's `docker-registry`), `br/public` is aliased to it in bicepconfig.json (as
/// a user with a registry mirror would), `mlops infra restore` fetches every version the modules
/// import, and with the registry gone they compile to their `main.json`. The one difference the
/// alias makes is the registry named in `__bicep_imported_from!.sourceTemplate`, which bicep build
/// also writes as the alias resolves.
#[test]
fn br_public_imports_restore_from_a_local_registry_and_compile_identically() {
    let root = fixtures();
    let registry = crate::image::Registry::start(None);
    let host = registry.host.clone();
    let ws = crate::support::Workspace::new();
    let mlops =
        |args: &[&str]| ws.mlops(args).env("MLOPS_BICEP_CACHE", ws.path().join("cache")).output().expect("run mlops");
    for version in COMMON_TYPES_VERSIONS {
        let published =
            root.join(format!("cache/br/mcr.microsoft.com/bicep$avm$utl$types$avm-common-types/{version}$/main.json"));
        let target = format!("br:{host}/bicep/avm/utl/types/avm-common-types:{version}");
        let out = mlops(&["infra", "publish", &published.display().to_string(), "--target", &target, "--plain-http"]);
        assert_eq!(out.status.code(), Some(0), "{target}: {}", String::from_utf8_lossy(&out.stderr));
    }
    copy_tree(&root.join("avm"), &ws.path().join("avm"));
    ws.write(
        "bicepconfig.json",
        &format!(
            "{{\"moduleAliases\": {{\"br\": {{\"public\": {{\"registry\": \"{host}\", \"modulePath\": \"bicep\"}}}}}}}}"
        ),
    );
    let from_registry: Vec<&str> = IDENTICAL_WITH_IMPORTS
        .iter()
        .copied()
        .filter(|dir| {
            std::fs::read_to_string(root.join(dir).join("main.json"))
                .expect("main.json")
                .contains("br:mcr.microsoft.com/")
        })
        .collect();
    assert!(from_registry.len() >= 5, "{from_registry:?}");
    let mut restored = std::collections::BTreeSet::new();
    for dir in &from_registry {
        let out = mlops(&["-o", "json", "infra", "restore", &format!("{dir}/main.bicep"), "--plain-http"]);
        assert_eq!(out.status.code(), Some(0), "{dir}: {}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).expect("restore report is JSON");
        for module in report.as_array().expect("a list of modules") {
            assert!(matches!(module["status"].as_str(), Some("restored" | "cached")), "{dir}: {module}");
            restored.insert(module["reference"].as_str().unwrap_or_default().to_string());
        }
    }
    assert_eq!(restored.len(), COMMON_TYPES_VERSIONS.len(), "{restored:?}");

    drop(registry);
    for dir in &from_registry {
        let out = mlops(&["infra", "build", "--no-restore", "--stdout", &format!("{dir}/main.bicep")]);
        let expected = std::fs::read_to_string(root.join(dir).join("main.json"))
            .expect("main.json")
            .replace("br:mcr.microsoft.com/bicep/", &format!("br:{host}/bicep/"));
        assert_compiled_to(dir, &out, &expected);
    }
}

/// Copies a directory tree (the fixtures are a few files, so plain recursion).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn outputs_are_written_type_metadata_value() {
    let out = build("avm/res/event-hub/namespace/authorization-rule/main.bicep");
    let template: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let outputs = template["outputs"].as_object().expect("outputs");
    assert!(!outputs.is_empty());
    for (name, output) in outputs {
        let keys: Vec<&str> = output.as_object().expect("output").keys().map(String::as_str).collect();
        assert_eq!(keys, ["type", "metadata", "value"], "{name}");
    }
    let rights = &template["parameters"]["rights"];
    assert_eq!(rights["type"], "array");
    assert_eq!(rights["allowedValues"], serde_json::json!(["Listen", "Manage", "Send"]));
}

/// A type@apiVersion in neither 0.2.804 nor 0.2.896: bicep build writes it as spelled, with a
/// warning (BCP081), and so does mlops.
#[test]
fn a_resource_type_the_index_lacks_compiles_as_spelled() {
    let dir = "avm/res/dev-test-lab/lab/secret";
    assert_identical(&fixtures(), dir, &build_from_cache(&format!("{dir}/main.bicep")));
}

#[test]
fn an_import_of_a_version_missing_from_the_cache_fails_as_an_unrestored_module_does() {
    let ws = crate::support::Workspace::new();
    ws.write(
        "main.bicep",
        "import { lockType } from 'br/public:avm/utl/types/avm-common-types:9.9.9'\nparam lock lockType?\n",
    );
    let out = ws
        .mlops(&["infra", "build", "--no-restore", "--stdout", "main.bicep"])
        .env("MLOPS_BICEP_CACHE", fixtures().join("cache"))
        .output()
        .expect("run mlops");
    assert_eq!(out.status.code(), Some(6));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("main.bicep:1:26")
            && stderr.contains(
                "the module 'br/public:avm/utl/types/avm-common-types:9.9.9' \
                (br:mcr.microsoft.com/bicep/avm/utl/types/avm-common-types:9.9.9) is not restored"
            ),
        "{stderr}"
    );
}

#[test]
fn types_import_from_a_local_arm_template() {
    let ws = crate::support::Workspace::new();
    ws.write(
        "t.json",
        r##"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "languageVersion": "2.0", "contentVersion": "1.0.0.0", "resources": {},
            "definitions": {
              "size": {"type": "string", "allowedValues": ["L", "S"]},
              "box": {"type": "object", "properties": {"size": {"$ref": "#/definitions/size"}},
                      "metadata": {"__bicep_export!": true, "description": "A box."}}}}"##,
    );
    ws.write("main.bicep", "import { box as crate } from './t.json'\nparam c crate\n");
    let out = ws.mlops(&["infra", "build", "--stdout", "main.bicep"]).output().expect("run mlops");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let template: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(template["languageVersion"], "2.0");
    assert_eq!(template["parameters"]["c"], serde_json::json!({"$ref": "#/definitions/crate"}));
    assert_eq!(
        serde_json::to_string(&template["definitions"]).expect("json"),
        r##"{"_1.size":{"type":"string","allowedValues":["L","S"],"metadata":{"__bicep_imported_from!":{"sourceTemplate":"t.json"}}},"crate":{"type":"object","properties":{"size":{"$ref":"#/definitions/_1.size"}},"metadata":{"description":"A box.","__bicep_imported_from!":{"sourceTemplate":"t.json","originalIdentifier":"box"}}}}"##
    );
}
