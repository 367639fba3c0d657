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
    // Resource-derived types with a path, typed from the resource schemas: a property whose schema
    // type is `any` (no `type`), `@secure()` on one (`secureObject`), and one on an output.
    "avm/res/logic/integration-account/assembly",
    "avm/res/api-management/service/logger",
    "avm/res/storage/storage-account/object-replication-policy/policy",
];

#[test]
fn avm_modules_compile_to_the_official_json_key_order_included() {
    let root = fixtures();
    for dir in IDENTICAL {
        let out = build(&format!("{dir}/main.bicep"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{dir}: {stderr}");
        let mut actual: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
        let text = std::fs::read_to_string(root.join(dir).join("main.json")).expect("main.json");
        let mut expected: Value = serde_json::from_str(&text).expect("main.json is JSON");
        compare::drop_generator(&mut actual);
        compare::drop_generator(&mut expected);
        assert_eq!(actual, expected, "{dir}");
        // Value equality ignores key order; users diffing templates and what-if do not.
        let (actual, expected) = (serde_json::to_string_pretty(&actual), serde_json::to_string_pretty(&expected));
        assert_eq!(actual.expect("json"), expected.expect("json"), "{dir}: key order");
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

#[test]
fn avm_modules_beyond_the_subset_are_refused_in_one_line_with_exit_code_6() {
    let cases = [
        (
            // In neither 0.2.804 nor 0.2.896; bicep build writes it as spelled, with a warning (BCP081).
            "avm/res/dev-test-lab/lab/secret/main.bicep",
            "the resource type 'Microsoft.DevTestLab/labs/secrets@2018-10-15-preview', which is not in the \
             bundled Bicep type index (Azure.Bicep.Types.Az 0.2.896)",
            "48:17",
        ),
        ("avm/res/sql/server/database/main.bicep", "a compile-time import ('import {…} from')", "140:1"),
        (
            "avm/res/container-registry/registry/credential-set/main.bicep",
            "a compile-time import ('import {…} from')",
            "10:1",
        ),
        ("avm/ptn/authorization/resource-role-assignment/main.bicep", "'loadJsonContent()'", "72:15"),
    ];
    for (file, feature, at) in cases {
        let out = build(file);
        assert_eq!(out.status.code(), Some(6), "{file}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), format!("error: unsupported: {feature} at {file}:{at}\n"));
        assert!(out.stdout.is_empty(), "{file}: no template for a refused file");
    }
}
