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

fn template_with(parameters: &str) -> String {
    format!(
        r#"{{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","parameters":{parameters},"resources":[]}}"#
    )
}

/// The three templates that reached sign-in (`minLength: -1`/`maxLength: -5`, `minValue: 1e300`
/// on an int, `allowedValues: "x"`) and their kin are refused locally, naming file and parameter.
#[test]
fn malformed_declarations_fail_before_sign_in() {
    let ws = Workspace::new();
    let standin = StandIn::start();
    let cases = [
        (
            r#"{"name":{"type":"string","minLength":-1,"maxLength":-5}}"#,
            r#"parameter "name": "minLength" must not be negative, got -1"#,
        ),
        (
            r#"{"count":{"type":"int","defaultValue":1,"minValue":1e300}}"#,
            r#"parameter "count": "minValue" must be an integer between"#,
        ),
        (
            r#"{"sku":{"type":"string","allowedValues":"x"}}"#,
            r#"parameter "sku": "allowedValues" must be an array, not a string"#,
        ),
        (
            r#"{"n":{"type":"int","minValue":5,"maxValue":1}}"#,
            r#"parameter "n": minValue 5 is greater than maxValue 1"#,
        ),
        (
            r#"{"s":{"type":"string","minLength":2.5}}"#,
            r#"parameter "s": "minLength" must be a non-negative integer, got 2.5"#,
        ),
        (
            r#"{"s":{"type":"string","defaultValue":"c","allowedValues":["a","b"]}}"#,
            r#"parameter "s": the default value does not fit: "c" is not one of the allowed values: "a", "b""#,
        ),
        (
            r#"{"n":{"type":"int","defaultValue":10,"maxValue":9}}"#,
            r#"parameter "n": the default value does not fit: 10 is above maxValue 9"#,
        ),
        (
            r#"{"b":{"type":"bool","minLength":1}}"#,
            r#"parameter "b": "minLength" applies to string and array parameters, not to bool"#,
        ),
    ];
    for (i, (parameters, expected)) in cases.iter().enumerate() {
        let file = format!("t{i}.json");
        ws.write(&file, &template_with(parameters));
        let out = mlops(&ws, &standin, &["infra", "validate", "-g", "rg", "-f", &file])
            .env("AZURE_TENANT_ID", standin::TENANT)
            .env("AZURE_CLIENT_ID", standin::CLIENT_ID)
            .env("AZURE_CLIENT_SECRET", standin::CLIENT_SECRET)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(6), "{parameters}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("{file} is not an ARM template: {expected}")),
            "{parameters}: {}",
            stderr(&out)
        );
    }
    assert!(standin.log().is_empty(), "no request at all, not even for a token: {:?}", standin.log());
}

/// Templates and parameters files decode like every other file: UTF-8 errors and duplicate keys
/// at their position, a byte-order mark accepted, nesting bounded; a parameters file without
/// `$schema` is recognised by its shape.
#[test]
fn template_and_parameter_files_decode_alike() {
    let ws = Workspace::new();
    let standin = StandIn::start();
    ws.write("t.json", TEMPLATE);
    let latin1: Vec<u8> = template_with(r#"{"s":{"type":"string","defaultValue":"cafX"}}"#)
        .bytes()
        .map(|b| if b == b'X' { 0xe9 } else { b })
        .collect();
    std::fs::write(ws.path().join("latin1.json"), latin1).expect("write");
    std::fs::write(
        ws.path().join("latin1-params.json"),
        b"{\"parameters\": {\n\"baseName\": {\"value\": \"caf\xe9\"}}}",
    )
    .expect("write");
    ws.write("twice.json", &TEMPLATE.replace("\"resources\":[]", "\"resources\":[],\n  \"resources\":[]"));
    ws.write("twice-params.json", "{\"baseName\": {\"value\": \"abc\"},\n \"baseName\": {\"value\": \"abd\"}}");
    ws.write("bom.json", &format!("\u{feff}{TEMPLATE}"));
    ws.write("bom-params.json", "\u{feff}{\"baseName\": {\"value\": \"abc\"}}");
    ws.write("bare-params.json", r#"{"parameters": {"baseName": {"value": "abc"}, "sku": {"value": "b"}}}"#);
    ws.write("deep.json", &format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)));
    let deep_expression = format!("[{}'a'{}]", "concat(".repeat(50_000), ")".repeat(50_000));
    ws.write(
        "deep-expression.json",
        &template_with(&format!(r#"{{"s":{{"type":"string","minLength":1,"defaultValue":"{deep_expression}"}}}}"#)),
    );
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["-f", "latin1.json"], 6, "not valid UTF-8: byte 0xE9 at byte offset"),
        (
            vec!["-f", "t.json", "-p", "@latin1-params.json"],
            6,
            "latin1-params.json:2:27: not valid UTF-8: byte 0xE9 at byte offset 43",
        ),
        (vec!["-f", "twice.json"], 6, "twice.json:4:13: not valid JSON: duplicate key \"resources\""),
        (
            vec!["-f", "t.json", "-p", "@twice-params.json"],
            6,
            "twice-params.json:2:11: not valid JSON: duplicate key \"baseName\"",
        ),
        (
            vec!["-f", "t.json", "-p", "{\"baseName\": 1, \"baseName\": 2}"],
            2,
            "inline JSON is not valid at line 1, column 26: duplicate key \"baseName\"",
        ),
        (vec!["-f", "deep.json"], 6, "deep.json:1:128: not valid JSON: recursion limit exceeded"),
        // Past the local checks, each reaches the point where the next error is the colour.
        (
            vec!["-f", "bom.json", "-p", "@bom-params.json", "colour=red"],
            6,
            "parameter \"colour\" (from the command line) is not declared",
        ),
        (
            vec!["-f", "t.json", "-p", "@bare-params.json", "colour=red"],
            6,
            "parameter \"colour\" (from the command line) is not declared",
        ),
        (
            vec!["-f", "deep-expression.json", "-p", "colour=red"],
            6,
            "parameter \"colour\" (from the command line) is not declared",
        ),
        (
            vec!["-f", "bare-params.json"],
            6,
            "bare-params.json is not an ARM template: it has no \"$schema\" and is shaped like a parameters file (pass it with --parameters @FILE)",
        ),
    ];
    for (args, code, expected) in cases {
        let mut all = vec!["infra", "validate", "-g", "rg"];
        all.extend(args.iter().copied());
        let out = mlops(&ws, &standin, &all)
            .env("AZURE_TENANT_ID", standin::TENANT)
            .env("AZURE_CLIENT_ID", standin::CLIENT_ID)
            .env("AZURE_CLIENT_SECRET", standin::CLIENT_SECRET)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{args:?}: expected {expected:?} in {}", stderr(&out));
        assert!(out.stderr.len() < 4_096, "{args:?}: {} bytes on stderr", out.stderr.len());
    }
    assert!(standin.log().is_empty(), "no request at all: {:?}", standin.log());
}
