//! `mlops infra` on bad input: clear errors, documented exit codes, and no request sent.

use crate::infra::mlops;
use crate::standin::{self, StandIn};
use crate::support::{Workspace, stderr};

const TEMPLATE: &str = r#"{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0",
"parameters":{"baseName":{"type":"string","minLength":3},"count":{"type":"int","defaultValue":1},"sku":{"type":"string","defaultValue":"a","allowedValues":["a","b"]}},
"resources":[]}"#;

#[test]
fn bad_inputs_fail_before_any_request() {
    let ws = Workspace::new();
    let standin = StandIn::start();
    standin.create_resource_group("rg", "westeurope");
    ws.write("t.json", TEMPLATE);
    ws.write("broken.json", "{\n  \"$schema\": \"x\",\n  resources: []\n}");
    ws.write("notarm.json", r#"{"hello": "world"}"#);
    ws.write("params.json", r#"{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#","contentVersion":"1.0.0.0","parameters":{"baseName":{"value":"abc"}}}"#);
    ws.write("badparams.json", "{\"parameters\": {\n\"baseName\": }");
    ws.write("main.bicep", "param x string\n");
    ws.write(
        "bad.bicep",
        "param x string\nresource sa 'Microsoft.Storage/storageAccounts@2023-01-01' = {\n  name: y\n}\n",
    );
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["-f", "broken.json"], 6, "broken.json:3:3: not valid JSON"),
        (vec!["-f", "notarm.json"], 6, "notarm.json is not an ARM template: it has no \"$schema\""),
        (vec!["-f", "missing.json"], 6, "cannot read template missing.json"),
        (
            vec!["-f", "t.json", "-p", "@params.json", "colour=red"],
            6,
            "parameter \"colour\" (from the command line) is not declared by the template; it declares: baseName, count, sku",
        ),
        (
            vec!["-f", "t.json", "-p", "@params.json", "count=many"],
            2,
            "parameter \"count\" (from the command line): expected an int, got \"many\"",
        ),
        (vec!["-f", "t.json"], 6, "missing value for required template parameter baseName"),
        (vec!["-f", "t.json", "-p", "@nothere.json"], 6, "cannot read parameters file nothere.json"),
        (vec!["-f", "t.json", "-p", "@badparams.json"], 6, "badparams.json:2:13: not valid JSON"),
        (vec!["-f", "t.json", "-p", "{\"baseName\": "], 2, "inline JSON is not valid at line 1, column 13"),
        (
            vec!["-f", "t.json", "-p", "@params.json", "sku=c"],
            2,
            "\"c\" is not one of the allowed values: \"a\", \"b\"",
        ),
        (vec!["-f", "t.json", "-p", "baseName=ab"], 2, "length 2 is below minLength 3"),
        (
            vec!["-f", "main.bicep", "--bicep", "external"],
            6,
            "main.bicep is a Bicep file and no Bicep compiler was found",
        ),
        (vec!["-f", "bad.bicep"], 6, "bad.bicep:3:9"),
        (
            vec!["-f", "t.json", "-p", "@params.json", "--name", "bad/name"],
            2,
            "deployment name \"bad/name\" is invalid",
        ),
    ];
    for (args, code, expected) in cases {
        let mut all = vec!["infra", "deploy", "-g", "rg"];
        all.extend(args.iter().copied());
        let mut cmd = mlops(&ws, &standin, &all);
        cmd.env("AZURE_TENANT_ID", standin::TENANT)
            .env("AZURE_CLIENT_ID", standin::CLIENT_ID)
            .env("AZURE_CLIENT_SECRET", standin::CLIENT_SECRET);
        let out = cmd.output().expect("run");
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{args:?}: expected {expected:?} in {}", stderr(&out));
    }
    assert!(standin.log().is_empty(), "no request at all, not even for a token: {:?}", standin.log());
}
