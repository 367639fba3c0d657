//! Native Bicep: conformance with the official compiler's outputs, diagnostics, and the CLI.

use std::path::{Path, PathBuf};

use mlops::infra::bicep::{self, ErrorKind, compare};
use serde_json::{Value, json};

/// The Bicep conformance corpus, checked in with its licence (see its README). A missing copy is
/// a broken checkout and fails the test rather than skipping it.
fn corpus() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bicep-corpus");
    assert!(dir.join("LICENSE.txt").is_file(), "the Bicep corpus is missing from {}", dir.display());
    dir
}

/// The entry directories `depth` levels under `root` that hold a `main.bicep`, sorted.
fn entries(root: &Path, depth: usize) -> Vec<PathBuf> {
    let mut level = vec![root.to_path_buf()];
    for _ in 0..depth {
        let mut next = Vec::new();
        for dir in &level {
            let read = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
            next.extend(read.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
        level = next;
    }
    let mut out: Vec<PathBuf> = level.into_iter().filter(|d| d.join("main.bicep").is_file()).collect();
    out.sort();
    out
}

#[derive(Default)]
struct Report {
    equal: Vec<String>,
    unsupported: Vec<(String, String)>,
    different: Vec<(String, String)>,
    rejected: Vec<(String, String)>,
    /// Entries the corpus cannot check: a file they load is not part of it.
    missing_input: Vec<(String, String)>,
    accepted_invalid: Vec<String>,
}

fn run(root: &Path, part: &str, depth: usize) -> Report {
    let mut report = Report::default();
    for dir in entries(&root.join(part), depth) {
        let name = dir.strip_prefix(root).unwrap_or(&dir).display().to_string();
        let expected_path = dir.join("main.json");
        let result = bicep::compile_file(&dir.join("main.bicep"));
        if !expected_path.is_file() {
            match result {
                Ok(_) => report.accepted_invalid.push(name),
                Err(e) => report.rejected.push((name, first_line(&e.to_string()))),
            }
            continue;
        }
        let expected: Value =
            match std::fs::read_to_string(&expected_path).ok().and_then(|t| serde_json::from_str(&t).ok()) {
                Some(v) => v,
                None => panic!("unreadable {}", expected_path.display()),
            };
        match result {
            Ok(actual) => {
                if compare::equivalent(&actual, &expected) {
                    report.equal.push(name);
                } else {
                    let (mut a, mut b) = (actual, expected);
                    compare::normalise(&mut a);
                    compare::normalise(&mut b);
                    let d = compare::first_difference(&a, &b).unwrap_or_default();
                    report.different.push((name, d));
                }
            }
            // A registry module the corpus does not hold (its baselines use made-up registries).
            Err(e) if e.to_string().contains("cannot read '") || e.to_string().contains("is not restored in") => {
                report.missing_input.push((name, first_line(&e.to_string())));
            }
            Err(e) if e.kind() == Some(ErrorKind::Unsupported) => {
                report.unsupported.push((name, first_line(&e.to_string())));
            }
            Err(e) => report.different.push((name, format!("rejected: {}", first_line(&e.to_string())))),
        }
    }
    report
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

fn print(part: &str, r: &Report) {
    eprintln!(
        "bicep conformance [{part}]: {} equal, {} unsupported, {} different, {} invalid rejected, {} invalid accepted, {} missing a loaded file",
        r.equal.len(),
        r.unsupported.len(),
        r.different.len(),
        r.rejected.len(),
        r.accepted_invalid.len(),
        r.missing_input.len()
    );
    for (n, why) in &r.missing_input {
        eprintln!("  missing file {n}: {why}");
    }
    for (n, why) in &r.unsupported {
        eprintln!("  unsupported  {n}: {why}");
    }
    for (n, why) in &r.different {
        eprintln!("  DIFFERENT    {n}: {why}");
    }
    for n in &r.accepted_invalid {
        eprintln!("  ACCEPTED INVALID {n}");
    }
}

#[test]
fn corpus_conformance() {
    let root = corpus();
    let user = run(&root, "user_submitted", 2);
    let base = run(&root, "baselines", 1);
    print("user_submitted", &user);
    print("baselines", &base);
    assert!(user.different.is_empty(), "user_submitted entries compiled differently");
    assert!(base.different.is_empty(), "baselines compiled differently");
    assert!(base.accepted_invalid.is_empty(), "invalid baselines were accepted");
    let total = user.equal.len() + user.unsupported.len();
    assert!(total > 0, "no user_submitted entries found");
    assert!(
        user.equal.len() * 10 >= total * 9,
        "only {} of {} user_submitted entries are equal (90% required)",
        user.equal.len(),
        total
    );
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bicep/mlops-environment")
}

fn compile_text(text: &str) -> Result<Value, bicep::BicepError> {
    bicep::compile_str(Path::new("test.bicep"), text)
}

#[test]
fn mlops_environment_template_matches_its_golden() {
    let actual = bicep::compile_file(&fixture().join("main.bicep")).expect("compiles");
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(fixture().join("main.json")).expect("golden"))
        .expect("golden json");
    assert!(compare::equivalent(&actual, &golden), "{:?}", compare::first_difference(&actual, &golden));
    // The shape the project's own template relies on.
    let text = actual.to_string();
    assert!(text.contains("uniqueString(resourceGroup().id)"));
    assert!(text.contains("'2023-04-01', 'full').identity.principalId"));
}

#[test]
fn cli_build_writes_json_beside_the_input() {
    let ws = crate::support::Workspace::new();
    let src = ws.path().join("main.bicep");
    std::fs::copy(fixture().join("main.bicep"), &src).expect("copy");
    let out = ws.run(&["infra", "build", "main.bicep"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(ws.path().join("main.json")).expect("main.json written");
    assert!(written.starts_with("{\n  \"$schema\""), "two-space indented JSON");
    assert!(written.ends_with("}\n"));
    let written: Value = serde_json::from_str(&written).expect("json");
    let expected = bicep::compile_file(&src).expect("compiles");
    assert_eq!(written, expected);

    let out = ws.run(&["infra", "build", "main.bicep", "--stdout"]);
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).expect("stdout is the template");
    assert_eq!(printed, expected);

    let out = ws.run(&["infra", "build", "main.bicep", "--outfile", "out.json", "-o", "json"]);
    assert!(out.status.success());
    let summary: Value = serde_json::from_slice(&out.stdout).expect("json summary");
    assert_eq!(summary["resources"], 6);
    assert!(ws.path().join("out.json").is_file());
}

#[test]
fn cli_reports_invalid_bicep_with_location_and_exit_code_6() {
    let ws = crate::support::Workspace::new();
    std::fs::write(ws.path().join("bad.bicep"), "param a string\noutput o string = missing\n").expect("write");
    let out = ws.run(&["infra", "build", "bad.bicep"]);
    assert_eq!(out.status.code(), Some(6));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.bicep:2:19"), "{stderr}");
    assert!(stderr.contains("the name 'missing' does not exist"), "{stderr}");
    assert!(stderr.contains("2 | output o string = missing"), "{stderr}");
    assert!(stderr.contains("^^^^^^^"), "{stderr}");
    assert!(!ws.path().join("bad.json").exists(), "no output for invalid input");

    let out = ws.run(&["infra", "build", "nope.bicep"]);
    assert_eq!(out.status.code(), Some(6));
}

#[test]
fn diagnostics_name_the_problem_and_its_position() {
    let cases: &[(&str, ErrorKind, (usize, usize))] = &[
        ("var a = 'x'\nvar a = 'y'\n", ErrorKind::Duplicate, (2, 5)),
        ("var a = b\nvar b = a\n", ErrorKind::Cycle, (2, 9)),
        ("param p int = 'text'\n", ErrorKind::Type, (1, 15)),
        ("var x = toLowerr('A')\n", ErrorKind::Undefined, (1, 9)),
        ("var x = length('a', 'b')\n", ErrorKind::Type, (1, 9)),
        ("var x = (1 + \n", ErrorKind::Syntax, (2, 1)),
        ("var s = 'abc\n", ErrorKind::Syntax, (1, 9)),
        ("func f() string => 'x'\nfunc f() int => 1\n", ErrorKind::Duplicate, (2, 6)),
        ("type t = string[0]\n", ErrorKind::Unsupported, (1, 16)),
        (
            "resource r 'Microsoft.Storage/storageAccounts@2021-04-01' = {\n  ...{}\n}\n",
            ErrorKind::Unsupported,
            (1, 61),
        ),
        // Compiling never fetches: an unrestored registry module is named with how to restore it.
        ("module m 'br:x.azurecr.io/m:1' = {\n  name: 'm'\n}\n", ErrorKind::Invalid, (1, 10)),
        (
            "resource a 'Microsoft.Storage/storageAccounts@2021-04-01' = {\n  name: b.name\n}\n\
             resource b 'Microsoft.Storage/storageAccounts@2021-04-01' = {\n  name: a.name\n}\n",
            ErrorKind::Cycle,
            (1, 10),
        ),
    ];
    for (text, kind, (line, column)) in cases {
        let err = compile_text(text).expect_err(text);
        let d = err.diagnostic().expect("located");
        assert_eq!(d.kind, *kind, "{text}: {err}");
        assert_eq!((d.line, d.column), (*line, *column), "{text}: {err}");
        assert!(d.excerpt.contains('^'), "{err}");
    }
}

#[test]
fn unsupported_errors_name_the_construct() {
    let err = compile_text("var x = [1, 2]\nvar y = x[^1]\n").expect_err("from-end index");
    assert_eq!(err.kind(), Some(ErrorKind::Unsupported));
    assert!(err.to_string().contains("from-end index"), "{err}");
    assert!(err.to_string().contains("test.bicep:2:11"), "{err}");
}

/// The one Azure Verified Module mlops refuses (ptn/azd/container-apps-stack) holds a module's
/// scope in a variable; bicep build then writes no scope at all, which mlops will not guess at. The
/// refusal is one `unsupported:` line at the scope, exit code 6, and no JSON is written.
#[test]
fn a_module_scope_held_in_a_variable_is_refused_in_one_line() {
    let ws = crate::support::Workspace::new();
    ws.write("m.bicep", "output x string = 'a'\n");
    ws.write(
        "main.bicep",
        "param rg string = ''\nvar scope = empty(rg) ? resourceGroup() : resourceGroup(rg)\n\
         module m './m.bicep' = {\n  name: 'm'\n  scope: scope\n}\n",
    );
    let out = ws.run(&["infra", "build", "main.bicep"]);
    assert_eq!(out.status.code(), Some(6));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("unsupported: this scope expression at main.bicep:5:10"), "{stderr}");
    assert!(!ws.path().join("main.json").exists(), "no output for a refused file");
}

#[test]
fn resource_types_take_the_type_index_casing_and_unknown_ones_their_own() {
    let known = "resource s 'microsoft.storage/STORAGEACCOUNTS@2021-04-01' = {\n  name: 'st'\n}\n\
                 output id string = s.id\n";
    let template = compile_text(known).expect("known type");
    assert_eq!(template["resources"][0]["type"], "Microsoft.Storage/storageAccounts");
    assert_eq!(template["outputs"]["id"]["value"], "[resourceId('Microsoft.Storage/storageAccounts', 'st')]");

    // A pair the index lacks gets Bicep's fallback type (warning BCP081): written as spelled.
    for unknown in ["Contoso.Widgets/gadgets@2020-01-01", "Microsoft.Storage/storageAccounts@1999-01-01"] {
        let text = format!("param p string\nresource s '{unknown}' = {{\n  name: p\n}}\n");
        let template = compile_text(&text).expect(unknown);
        let (ty, version) = unknown.split_once('@').expect("type@version");
        assert_eq!(template["resources"][0]["type"], ty);
        assert_eq!(template["resources"][0]["apiVersion"], version);
    }
    // One Bicep has no fallback for is refused, naming it.
    let text = "param p string\nresource s 'Contoso.Widgets/gadgets@2020-1-1' = {\n  name: p\n}\n";
    let err = compile_text(text).expect_err("malformed API version");
    assert_eq!(err.kind(), Some(ErrorKind::Unsupported), "{err}");
    assert!(err.to_string().contains("'Contoso.Widgets/gadgets@2020-1-1', which is neither in the bundled"), "{err}");
    assert!(err.to_string().contains("test.bicep:2:12"), "{err}");
}

/// A type the index lacks compiles, and `infra build` says so as bicep build does (BCP081): one
/// warning line on stderr per declaration, in its module's file too, and in the JSON result; a
/// module used twice is told once, and `--quiet` keeps stderr empty.
#[test]
fn infra_build_warns_about_resource_types_it_cannot_check() {
    let ws = crate::support::Workspace::new();
    ws.write("gadget.bicep", "resource g 'Contoso.Widgets/gadgets@2020-01-01' = {\n  name: 'g'\n}\n");
    ws.write(
        "main.bicep",
        "resource s 'Microsoft.Storage/storageAccounts@2021-04-01' existing = {\n  name: 'st'\n}\n\
         resource w 'Contoso.Widgets/widgets@2021-01-01-preview' = {\n  name: 'w'\n}\n\
         module a 'gadget.bicep' = {\n  name: 'a'\n}\nmodule b 'gadget.bicep' = {\n  name: 'b'\n}\n",
    );
    let out = ws.run(&["-o", "json", "infra", "build", "main.bicep"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "main.bicep:4:12: warning BCP081: the resource type 'Contoso.Widgets/widgets@2021-01-01-preview' is not \
             in the bundled Bicep type index (Azure.Bicep.Types.Az 0.2.896): its properties are not checked before \
             deployment",
            "gadget.bicep:1:12: warning BCP081: the resource type 'Contoso.Widgets/gadgets@2020-01-01' is not in the \
             bundled Bicep type index (Azure.Bicep.Types.Az 0.2.896): its properties are not checked before deployment",
        ],
        "{stderr}"
    );
    let result: Value = serde_json::from_slice(&out.stdout).expect("JSON result");
    let warnings = result["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 2, "{result}");
    assert_eq!(warnings[0]["code"], "BCP081");
    assert_eq!(
        (&warnings[0]["file"], &warnings[0]["line"], &warnings[0]["column"]),
        (&json!("main.bicep"), &json!(4), &json!(12))
    );
    assert!(ws.path().join("main.json").is_file(), "the template is written all the same");

    let quiet = ws.run(&["-q", "infra", "build", "main.bicep", "--stdout"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert!(quiet.stderr.is_empty(), "{}", String::from_utf8_lossy(&quiet.stderr));

    ws.write(
        "clean.bicep",
        "resource s 'Microsoft.Storage/storageAccounts@2021-04-01' existing = {\n  name: 'st'\n}\n",
    );
    let clean = ws.run(&["-o", "json", "infra", "build", "clean.bicep"]);
    assert!(clean.stderr.is_empty(), "{}", String::from_utf8_lossy(&clean.stderr));
    let result: Value = serde_json::from_slice(&clean.stdout).expect("JSON result");
    assert_eq!(result["warnings"], json!([]));
}

/// `.?` and `[?]` as bicep build writes them in classic templates (the forms in the Azure Verified
/// Modules' `main.json` files): a chain of `.` after `.?` folds into one `tryGet`, each further `.?`
/// nests, and `??` is a left-nested `coalesce`.
#[test]
fn safe_dereference_compiles_to_try_get() {
    let text = "param a object\nparam names object\nparam key string\n                output one string = a.?b\n                output folded string = a.?subnet.name\n                output nested string = a.?project.?name\n                output indexed string = names[?key] ?? key\n                output coalesced object = a.?lock ?? names ?? {}\n                output inner string = a.disk.?id\n";
    let template = compile_text(text).expect("safe dereference");
    let outputs = &template["outputs"];
    assert_eq!(outputs["one"]["value"], "[tryGet(parameters('a'), 'b')]");
    assert_eq!(outputs["folded"]["value"], "[tryGet(parameters('a'), 'subnet', 'name')]");
    assert_eq!(outputs["nested"]["value"], "[tryGet(tryGet(parameters('a'), 'project'), 'name')]");
    assert_eq!(
        outputs["indexed"]["value"],
        "[coalesce(tryGet(parameters('names'), parameters('key')), parameters('key'))]"
    );
    assert_eq!(
        outputs["coalesced"]["value"],
        "[coalesce(coalesce(tryGet(parameters('a'), 'lock'), parameters('names')), createObject())]"
    );
    assert_eq!(outputs["inner"]["value"], "[tryGet(parameters('a').disk, 'id')]");
}

/// Lambdas and spread, lowered as `ExpressionBuilder` / `ExpressionConverter` lower them.
#[test]
fn lambdas_and_spread_compile_as_bicep_build_writes_them() {
    let text = "param p object\nparam q array\nvar a = [1, 2]\n\
                output m array = map(a, x => x + 1)\n\
                output r int = reduce(q, 0, (cur, next) => cur + next)\n\
                output o object = { a: 1, ...p }\n\
                output s array = [1, ...q]\n";
    let template = compile_text(text).expect("lambdas and spread");
    let outputs = &template["outputs"];
    assert_eq!(outputs["m"]["value"], "[map(variables('a'), lambda('x', add(lambdaVariables('x'), 1)))]");
    assert_eq!(
        outputs["r"]["value"],
        "[reduce(parameters('q'), 0, lambda('cur', 'next', add(lambdaVariables('cur'), lambdaVariables('next'))))]"
    );
    assert_eq!(outputs["o"]["value"], "[shallowMerge(createArray(createObject('a', 1), parameters('p')))]");
    assert_eq!(outputs["s"]["value"], "[flatten(createArray(createArray(1), parameters('q')))]");
}

/// Types make the template languageVersion 2.0, with `definitions`, `nullable`, `items`, sorted
/// union members and `$ref`, in `TemplateWriter`'s key order.
#[test]
fn the_type_system_compiles_to_language_version_2() {
    let text = "@export()\n@description('A pair.')\ntype pair = {\n  @minLength(1)\n  name: string\n  size: ('b' | 'a' | 1)?\n}\n\
                param p pair[]?\nparam n string? = null\nparam t pair.size\n";
    let template = compile_text(text).expect("types");
    assert_eq!(template["languageVersion"], "2.0");
    assert_eq!(
        serde_json::to_string(&template["definitions"]).expect("json"),
        r##"{"pair":{"type":"object","properties":{"name":{"type":"string","minLength":1},"size":{"type":"string","allowedValues":["a","b",1],"nullable":true}},"metadata":{"__bicep_export!":true,"description":"A pair."}}}"##
    );
    assert_eq!(
        serde_json::to_string(&template["parameters"]).expect("json"),
        r##"{"p":{"type":"array","items":{"$ref":"#/definitions/pair"},"nullable":true},"n":{"type":"string","nullable":true,"defaultValue":null},"t":{"$ref":"#/definitions/pair/properties/size"}}"##
    );
    assert!(template["resources"].is_object());
}

/// `resourceInput<'T@v'>.tags`, `.properties` and deeper paths compile to the ARM type of that path
/// in the resource schema, also on outputs and beside `@secure()`; a reference spelled otherwise
/// than the type index spells it, or `@metadata` beside one, is refused.
#[test]
fn resource_derived_types_compile() {
    let text = "@description('Tags.')\nparam tags resourceInput<'Microsoft.Storage/storageAccounts@2021-04-01'>.tags = {}\n\
                param tier resourceInput<'Microsoft.Storage/storageAccounts@2021-04-01'>.properties.accessTier\n\
                @secure()\nparam props resourceInput<'Microsoft.Storage/storageAccounts@2021-04-01'>.properties\n\
                output sku resourceInput<'Microsoft.Storage/storageAccounts@2021-04-01'>.sku.name = tier\n";
    let template = compile_text(text).expect("derived types");
    let json = |v: &serde_json::Value| serde_json::to_string(v).expect("json");
    let source = "Microsoft.Storage/storageAccounts@2021-04-01#properties";
    assert_eq!(
        json(&template["parameters"]["tags"]),
        format!(
            r#"{{"type":"object","metadata":{{"__bicep_resource_derived_type!":{{"source":"{source}/tags"}},"description":"Tags."}},"defaultValue":{{}}}}"#
        )
    );
    assert_eq!(
        json(&template["parameters"]["tier"]),
        format!(
            r#"{{"type":"string","metadata":{{"__bicep_resource_derived_type!":{{"source":"{source}/properties/properties/accessTier"}}}}}}"#
        )
    );
    assert_eq!(template["parameters"]["props"]["type"], "secureObject");
    assert_eq!(
        json(&template["outputs"]["sku"]),
        format!(
            r#"{{"type":"string","metadata":{{"__bicep_resource_derived_type!":{{"source":"{source}/sku/properties/name"}}}},"value":"[parameters('tier')]"}}"#
        )
    );
    // The source is spelled as the index spells the type; `@metadata`'s entries follow the
    // derived type's (avm/res/cdn/profile, avm/ptn/app/iaas-vm-cosmosdb-tier4).
    let spelled = compile_text("param r resourceInput<'microsoft.storage/storageAccounts@2021-04-01'>.properties\n")
        .expect("lower-case reference");
    assert_eq!(
        spelled["parameters"]["r"]["metadata"]["__bicep_resource_derived_type!"]["source"],
        "Microsoft.Storage/storageAccounts@2021-04-01#properties/properties"
    );
    let with_metadata = compile_text(
        "@metadata({ example: {} })\n@description('d')\nparam r resourceInput<'Microsoft.Storage/storageAccounts@2021-04-01'>.tags\n",
    )
    .expect("@metadata on a derived type");
    let keys: Vec<&String> =
        with_metadata["parameters"]["r"]["metadata"].as_object().expect("metadata").keys().collect();
    assert_eq!(keys, ["__bicep_resource_derived_type!", "example", "description"]);
}

/// `res.?x` on a conditional resource: bicep build guards the reference with the condition
/// (`tryGet(if(cond, reference(…, 'full'), null()), …)`, the id and name as `if(cond, …, null())`);
/// a `tryGet(…)` written out is not guarded.
#[test]
fn safe_access_to_a_conditional_resource_is_guarded_on_its_condition() {
    let text = "param c bool\n\
                resource r 'Microsoft.Storage/storageAccounts@2021-04-01' existing = if (c) {\n  name: 'x'\n}\n\
                output o string = r.?properties.accessTier ?? ''\n\
                output i string = r.?id ?? ''\n\
                output s object = r[?'sku'] ?? {}\n\
                output w object = tryGet(r, 'sku') ?? {}\n";
    let template = compile_text(text).expect("compiles");
    let full = "reference(resourceId('Microsoft.Storage/storageAccounts', 'x'), '2021-04-01', 'full')";
    let outputs = &template["outputs"];
    assert_eq!(
        outputs["o"]["value"],
        format!("[coalesce(tryGet(if(parameters('c'), {full}, null()), 'properties', 'accessTier'), '')]")
    );
    assert_eq!(
        outputs["i"]["value"],
        "[coalesce(if(parameters('c'), resourceId('Microsoft.Storage/storageAccounts', 'x'), null()), '')]"
    );
    assert_eq!(
        outputs["s"]["value"],
        format!("[coalesce(tryGet(if(parameters('c'), {full}, null()), 'sku'), createObject())]")
    );
    assert_eq!(outputs["w"]["value"], format!("[coalesce(tryGet({full}, 'sku'), createObject())]"));
}

#[test]
fn non_null_assertions_compile_to_their_operand() {
    let text =
        "param u string\noutput last string = last(split(u, '/'))!\noutput first string = first(split(u, '/'))!\n";
    let template = compile_text(text).expect("non-null assertion");
    assert_eq!(template["outputs"]["last"]["value"], "[last(split(parameters('u'), '/'))]");
    assert_eq!(template["outputs"]["first"]["value"], "[first(split(parameters('u'), '/'))]");
}

#[test]
fn truncated_corpus_files_give_errors_not_panics() {
    let root = corpus();
    let mut files = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "bicep") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 100);
    let mut compiled = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let len = text.len();
        for cut in [1, 7, len / 5, len / 3, len / 2, 2 * len / 3, len.saturating_sub(3)] {
            let mut at = cut.min(len);
            while at > 0 && !text.is_char_boundary(at) {
                at -= 1;
            }
            // Must return (Ok or Err) rather than panic or hang.
            if bicep::compile_str(file, &text[..at]).is_ok() {
                compiled += 1;
            }
        }
    }
    assert!(compiled < files.len() * 7, "truncation must break most files");
}

const SECURE_CHILD: &str = "@secure()\nparam pw string\nparam plain string = ''\n";

/// Compiles `main` beside a module `child.bicep` with `SECURE_CHILD`'s parameters.
fn compile_with_child(main: &str) -> Result<Value, bicep::BicepError> {
    let ws = crate::support::Workspace::new();
    ws.write("child.bicep", SECURE_CHILD);
    bicep::compile_file(&ws.write("main.bicep", main))
}

const VAULTS: &str = "param names array\n\
    resource kv 'Microsoft.KeyVault/vaults@2019-09-01' existing = {\n  name: 'vault'\n}\n\
    resource kvs 'Microsoft.KeyVault/vaults@2019-09-01' existing = [for n in names: {\n  name: n\n  scope: resourceGroup(n)\n}]\n";

#[test]
fn get_secret_in_a_module_parameter_becomes_a_key_vault_reference() {
    let main = format!(
        "{VAULTS}module m 'child.bicep' = {{\n  name: 'm'\n  params: {{\n    pw: kv.getSecret('s', 'v1')\n    plain: 'x'\n  }}\n}}\n\
         module l 'child.bicep' = [for (n, i) in names: {{\n  name: 'l${{i}}'\n  params: {{\n    pw: kvs[i].getSecret(n)\n  }}\n}}]\n\
         module t 'child.bicep' = {{\n  name: 't'\n  params: {{\n    pw: empty(names) ? kv.getSecret('s') : 'none'\n    plain: empty(names) ? 'a' : 'b'\n  }}\n}}\n"
    );
    let template = compile_with_child(&main).expect("compiles");
    let params = |i: usize| template["resources"][i]["properties"]["parameters"].clone();
    assert_eq!(
        params(0)["pw"],
        serde_json::json!({"reference": {
            "keyVault": {"id": "[resourceId('Microsoft.KeyVault/vaults', 'vault')]"},
            "secretName": "s",
            "secretVersion": "v1",
        }})
    );
    assert_eq!(params(0)["plain"], serde_json::json!({"value": "x"}));
    assert_eq!(
        params(1)["pw"]["reference"]["keyVault"]["id"],
        "[extensionResourceId(format('/subscriptions/{0}/resourceGroups/{1}', subscription().subscriptionId, \
         parameters('names')[copyIndex()]), 'Microsoft.KeyVault/vaults', parameters('names')[copyIndex()])]"
    );
    assert_eq!(params(1)["pw"]["reference"]["secretName"], "[parameters('names')[copyIndex()]]");
    assert_eq!(
        params(2)["pw"],
        "[if(empty(parameters('names')), createObject('reference', createObject('keyVault', createObject('id', \
         resourceId('Microsoft.KeyVault/vaults', 'vault')), 'secretName', 's')), createObject('value', 'none'))]"
    );
    assert_eq!(
        params(2)["plain"],
        "[if(empty(parameters('names')), createObject('value', 'a'), createObject('value', 'b'))]"
    );
    assert!(template["resources"][0].get("dependsOn").is_none(), "an existing vault is no dependency");
}

#[test]
fn get_secret_anywhere_but_a_secure_module_parameter_is_refused() {
    let module = |value: &str| format!("{VAULTS}module m 'child.bicep' = {{\n  name: 'm'\n  params: {value}\n}}\n");
    let unsupported = [
        format!("{VAULTS}output o string = kv.getSecret('s')\n"),
        format!("{VAULTS}var v = kv.getSecret('s')\n"),
        module("{\n    pw: 'x'\n    plain: '${kv.getSecret('s')}'\n  }"),
        module("{\n    pw: concat(kv.getSecret('s'))\n  }"),
    ];
    for text in &unsupported {
        let err = compile_with_child(text).expect_err(text);
        assert_eq!(err.kind(), Some(ErrorKind::Unsupported), "{text}: {err}");
        assert!(err.to_string().contains("getSecret()"), "{err}");
    }
    let err = compile_with_child(&module("{\n    pw: 'x'\n    plain: kv.getSecret('s')\n  }")).expect_err("not secure");
    assert_eq!(err.kind(), Some(ErrorKind::Type), "{err}");
    assert!(err.to_string().contains("'plain' is not"), "{err}");
}

const APIM_PRODUCTS: &str = "param products array\n\
    resource apim 'Microsoft.ApiManagement/service@2020-12-01' existing = {\n  name: 'apim'\n}\n\
    resource prods 'Microsoft.ApiManagement/service/products@2020-12-01' = [for p in products: {\n  parent: apim\n  name: p\n}]\n";

#[test]
fn parent_can_be_an_element_of_a_resource_loop() {
    let text = format!(
        "{APIM_PRODUCTS}resource apis 'Microsoft.ApiManagement/service/products/apis@2020-12-01' = [for (p, i) in products: {{\n  parent: prods[i]\n  name: 'api'\n}}]\n\
         output second string = apis[1].id\n"
    );
    let template = compile_text(&text).expect("compiles");
    let apis = &template["resources"][1];
    assert_eq!(apis["name"], "[format('{0}/{1}/{2}', 'apim', parameters('products')[copyIndex()], 'api')]");
    assert_eq!(
        apis["dependsOn"],
        serde_json::json!([
            "[resourceId('Microsoft.ApiManagement/service/products', 'apim', parameters('products')[copyIndex()])]"
        ])
    );
    assert_eq!(
        template["outputs"]["second"]["value"],
        "[resourceId('Microsoft.ApiManagement/service/products/apis', 'apim', parameters('products')[1], 'api')]"
    );

    let whole = format!(
        "{APIM_PRODUCTS}resource apis 'Microsoft.ApiManagement/service/products/apis@2020-12-01' = [for p in products: {{\n  parent: prods\n  name: 'api'\n}}]\n"
    );
    let err = compile_text(&whole).expect_err("a whole loop as parent");
    assert_eq!(err.kind(), Some(ErrorKind::Unsupported), "{err}");
    assert!(err.to_string().contains("a whole resource loop as 'parent'"), "{err}");

    let scoped = "param names array\n\
        resource kvs 'Microsoft.KeyVault/vaults@2019-09-01' existing = [for n in names: {\n  name: n\n  scope: resourceGroup(n)\n}]\n\
        resource s 'Microsoft.KeyVault/vaults/secrets@2019-09-01' = [for (n, i) in names: {\n  parent: kvs[i]\n  name: 's'\n}]\n";
    let err = compile_text(scoped).expect_err("a scoped loop as parent");
    assert_eq!(err.kind(), Some(ErrorKind::Unsupported), "{err}");
    assert!(err.to_string().contains("with 'scope' as 'parent'"), "{err}");
}

/// The official compiler's registry baseline (`Registry_LF`: `br:` modules on five kinds of
/// registry host, `br/` aliases, `ts:` template specs direct and through a `ts/` alias, in and out
/// of loops) compiles to its `main.json` once its modules are in the cache: the registry modules
/// as the official tests publish them (`Publish/*.bicep` to each `*.metadata.json` target) and the
/// template spec versions as the official tests' ARM answers them (`TemplateSpecs/*.json`).
#[test]
fn registry_baseline_compiles_identically_with_its_modules_and_template_specs_cached() {
    let source = corpus().join("baselines/Registry_LF");
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = |from: &Path, to: &Path| std::fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    copy(&source.join("main.bicep"), &dir.path().join("main.bicep"));
    copy(&source.join("main.json"), &dir.path().join("main.json"));
    // The baseline's configuration, with the cache inside the temporary directory.
    let mut config: Value =
        serde_json::from_slice(&std::fs::read(source.join("bicepconfig.json")).expect("bicepconfig")).expect("json");
    config["cacheRootDirectory"] = "cache".into();
    std::fs::write(dir.path().join("bicepconfig.json"), config.to_string()).expect("write bicepconfig");
    let main = dir.path().join("main.bicep");
    let registry = bicep::registry::Config::for_file(&main).expect("config");
    let target = |metadata: &Path| -> String {
        let json: Value = serde_json::from_slice(&std::fs::read(metadata).expect("metadata")).expect("json");
        json["target"].as_str().expect("target").to_string()
    };
    let place = |dir: PathBuf, bytes: &[u8]| {
        std::fs::create_dir_all(&dir).expect("cache dir");
        std::fs::write(dir.join("main.json"), bytes).expect("cache file");
    };
    let mut published = Vec::new();
    for entry in std::fs::read_dir(source.join("Publish")).expect("Publish").flatten() {
        let path = entry.path();
        let Some(stem) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".metadata.json"))
        else {
            continue;
        };
        let module = source.join("Publish").join(format!("{stem}.bicep"));
        let compiled = bicep::compile_file(&module).unwrap_or_else(|e| panic!("{}: {e}", module.display()));
        let reference = registry.parse(&target(&path)).expect("target");
        place(registry.cache_dir(&reference), bicep::to_pretty_json(&compiled).as_bytes());
        published.push(stem.to_string());
        // bicepconfig.json's `moduleAliasesMock` maps the `mock-registry-mocked` alias to Publish/.
        if stem == "plan" {
            let mocked = registry.parse("br/mock-registry-mocked:plan:v2").expect("alias");
            place(registry.cache_dir(&mocked), bicep::to_pretty_json(&compiled).as_bytes());
        }
    }
    published.sort();
    assert_eq!(published.len(), 7, "{published:?}");
    for name in ["storage-spec", "vnet-spec"] {
        let specs = source.join("TemplateSpecs");
        let reference = registry.parse_spec(&target(&specs.join(format!("{name}.metadata.json")))).expect("target");
        place(registry.spec_cache_dir(&reference), &std::fs::read(specs.join(format!("{name}.json"))).expect("spec"));
    }
    let actual = bicep::compile_file(&main).unwrap_or_else(|e| panic!("{e}"));
    let expected: Value =
        serde_json::from_slice(&std::fs::read(source.join("main.json")).expect("main.json")).expect("json");
    assert!(compare::equivalent(&actual, &expected), "{:?}", compare::first_difference(&actual, &expected));
    let links: Vec<&Value> = actual["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["properties"].get("templateLink"))
        .collect();
    assert_eq!(links.len(), 3, "three template-spec modules link by id");
}

/// Compile-time loads that cannot be compiled say why, at the argument, with their kind.
#[test]
fn bad_loads_name_the_argument_and_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("a.json"), r#"{"a": [1, 2], "f": 1.5}"#).expect("write");
    std::fs::write(dir.path().join("a.yaml"), "base: &b 1\nother: *b\n").expect("write");
    let cases: &[(&str, ErrorKind, &str)] = &[
        ("var x = loadTextContent('a.json', 'utf-32')\n", ErrorKind::Type, "'utf-32' is not an encoding"),
        ("var x = loadJsonContent('a.json', '.missing')\n", ErrorKind::Invalid, "no value of"),
        ("var x = loadJsonContent('a.json', '.a[0:1]')\n", ErrorKind::Unsupported, "slice"),
        ("var x = loadJsonContent('a.json')\n", ErrorKind::Unsupported, "fractional number"),
        ("var x = loadJsonContent('a.json', '.a')\n", ErrorKind::Unsupported, "NOT AN ERROR"),
        ("var x = loadYamlContent('a.yaml')\n", ErrorKind::Unsupported, "anchor, alias"),
        ("var x = loadDirectoryFileInfo('nope')\n", ErrorKind::Invalid, "cannot read the directory"),
    ];
    for (text, kind, says) in cases {
        let main = dir.path().join("main.bicep");
        let result = bicep::compile_str(&main, text);
        if *says == "NOT AN ERROR" {
            // Only the selected value must be free of fractional numbers.
            let template = result.unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(template["variables"]["$fxv#0"], serde_json::json!([1, 2]), "{text}");
            continue;
        }
        let err = result.expect_err(text);
        assert_eq!(err.kind(), Some(*kind), "{text}: {err}");
        assert!(err.to_string().contains(says), "{text}: {err}");
        assert!(err.to_string().contains("main.bicep:1:"), "{text}: {err}");
    }
}

/// `dependsOn` may be any expression of resources and modules: its dependencies are every symbol it
/// mentions, both branches of a condition included (the official `ResourceDependencyVisitor`).
#[test]
fn depends_on_expressions_depend_on_every_symbol_they_mention() {
    let text = "param c bool\n\
        resource a 'Microsoft.Storage/storageAccounts@2023-01-01' = {\n  name: 'a'\n  location: 'l'\n  sku: {\n    name: 'Standard_LRS'\n  }\n  kind: 'StorageV2'\n}\n\
        resource many 'Microsoft.Storage/storageAccounts@2023-01-01' = [for i in range(0, 2): {\n  name: 'm${i}'\n  location: 'l'\n  sku: {\n    name: 'Standard_LRS'\n  }\n  kind: 'StorageV2'\n}]\n\
        resource b 'Microsoft.Storage/storageAccounts@2023-01-01' = {\n  name: 'b'\n  location: 'l'\n  sku: {\n    name: 'Standard_LRS'\n  }\n  kind: 'StorageV2'\n  dependsOn: c ? [a] : []\n}\n\
        resource d 'Microsoft.Storage/storageAccounts@2023-01-01' = {\n  name: 'd'\n  location: 'l'\n  sku: {\n    name: 'Standard_LRS'\n  }\n  kind: 'StorageV2'\n  dependsOn: many\n}\n";
    let template = compile_text(text).expect("compiles");
    let resources = template["resources"].as_array().expect("resources");
    let depends =
        |name: &str| resources.iter().find(|r| r["name"] == name).map(|r| r["dependsOn"].clone()).expect("resource");
    assert_eq!(depends("b"), serde_json::json!(["[resourceId('Microsoft.Storage/storageAccounts', 'a')]"]));
    assert_eq!(depends("d"), serde_json::json!(["many"]));
    for (bad, kind) in [("dependsOn: a", ErrorKind::Type), ("dependsOn: 'a'", ErrorKind::Type)] {
        let err = compile_text(&text.replace("dependsOn: many", bad)).expect_err(bad);
        assert_eq!(err.kind(), Some(kind), "{bad}: {err}");
    }
}

/// User-defined functions: `__bicep.<name>(…)` calls, a `functions` section, languageVersion 2.0;
/// a body sees only its parameters, and calls must match the declared parameters.
#[test]
fn user_defined_functions_compile_and_misuse_is_named() {
    let text = "@export()\n@description('Doubles.')\nfunc double(x int) int => x * 2\n\
                func quad(x int) int => double(double(x))\noutput four int = quad(1)\n";
    let template = compile_text(text).expect("compiles");
    assert_eq!(template["languageVersion"], "2.0");
    assert_eq!(template["outputs"]["four"]["value"], "[__bicep.quad(1)]");
    let members = &template["functions"][0]["members"];
    assert_eq!(template["functions"][0]["namespace"], "__bicep");
    assert_eq!(
        members["double"],
        serde_json::json!({"parameters": [{"type": "int", "name": "x"}],
                           "output": {"type": "int", "value": "[mul(parameters('x'), 2)]"},
                           "metadata": {"description": "Doubles.", "__bicep_export!": true}})
    );
    assert_eq!(members["quad"]["output"]["value"], "[__bicep.double(__bicep.double(parameters('x')))]");
    let cases: &[(&str, ErrorKind, &str)] = &[
        ("param p int\nfunc f(x int) int => x + p\noutput o int = f(1)\n", ErrorKind::Invalid, "only its parameters"),
        ("func f(x int) int => x\noutput o int = f(1, 2)\n", ErrorKind::Type, "expects 1 argument(s)"),
        ("func f(x int) int => x\nparam f int\n", ErrorKind::Duplicate, "declared more than once"),
        ("func f(x int, x int) int => x\n", ErrorKind::Duplicate, "parameter 'x' is declared more than once"),
        ("func f() object => loadJsonContent('x.json').a\n", ErrorKind::Unsupported, "in a user-defined function"),
    ];
    for (text, kind, says) in cases {
        let err = compile_text(text).expect_err(text);
        assert_eq!(err.kind(), Some(*kind), "{text}: {err}");
        assert!(err.to_string().contains(says), "{text}: {err}");
    }
}

/// Imported functions are written into the importing template's `functions`, after its own,
/// sorted, with where they came from; calls are `__bicep.<local name>(…)`.
#[test]
fn imported_functions_are_copied_with_their_origin() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("fns.bicep"),
        "@export()\n@description('Splits an id.')\nfunc parts(id string?) string[] => split(id ?? '', '/')\n\
         @export()\nfunc last2(p string[]) string => last(p)\n\
         type t = { a: string }\n@export()\nfunc typed(x t) string => x.a\n",
    )
    .expect("write");
    let main = dir.path().join("main.bicep");
    let text = "import { parts, last2 as tail } from 'fns.bicep'\nfunc own() int => 1\n\
                output o string = tail(parts('a/b'))\n";
    let template = bicep::compile_str(&main, text).expect("compiles");
    assert_eq!(template["outputs"]["o"]["value"], "[__bicep.tail(__bicep.parts('a/b'))]");
    let members = template["functions"][0]["members"].as_object().expect("members");
    assert_eq!(members.keys().collect::<Vec<_>>(), ["own", "parts", "tail"]);
    assert_eq!(
        members["parts"]["metadata"],
        serde_json::json!({"description": "Splits an id.", "__bicep_imported_from!": {"sourceTemplate": "fns.bicep"}})
    );
    assert_eq!(
        members["tail"]["metadata"],
        serde_json::json!({"__bicep_imported_from!": {"sourceTemplate": "fns.bicep", "originalIdentifier": "last2"}})
    );
    let err = bicep::compile_str(&main, "import { typed } from 'fns.bicep'\n").expect_err("typed");
    assert_eq!(err.kind(), Some(ErrorKind::Unsupported), "{err}");
    assert!(err.to_string().contains("uses other functions or declared types"), "{err}");
}

/// An explicit dependency on an `existing` resource: with symbolic names it is the resource's own
/// name in `dependsOn`; classic output is refused.
#[test]
fn explicit_dependencies_on_existing_resources_need_symbolic_names() {
    let body = "resource e 'Microsoft.Storage/storageAccounts@2023-01-01' existing = {\n  name: 'e'\n}\n\
                resource b 'Microsoft.Storage/storageAccounts@2023-01-01' = {\n  name: 'b'\n  location: 'l'\n  sku: {\n    name: 'Standard_LRS'\n  }\n  kind: 'StorageV2'\n  dependsOn: [\n    e\n  ]\n}\n";
    let symbolic = compile_text(&format!("param p string?\n{body}")).expect("compiles");
    assert_eq!(symbolic["languageVersion"], "2.0");
    assert_eq!(symbolic["resources"]["b"]["dependsOn"], serde_json::json!(["e"]));
    let err = compile_text(body).expect_err("classic");
    assert_eq!(err.kind(), Some(ErrorKind::Unsupported), "{err}");
    assert!(err.to_string().contains("an explicit dependency on an existing resource"), "{err}");
}

/// A wildcard import inside an imported file: the types it names come along as the official
/// compiler brings them (`_1.<name>`, with their origin).
#[test]
fn wildcard_imports_inside_imported_files_bring_their_types_along() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("inner.bicep"), "@export()\ntype name = string\n").expect("write");
    std::fs::write(
        dir.path().join("outer.bicep"),
        "import * as inner from 'inner.bicep'\n@export()\ntype pair = {\n  first: inner.name\n}\n",
    )
    .expect("write");
    let main = dir.path().join("main.bicep");
    let template = bicep::compile_str(&main, "import { pair } from 'outer.bicep'\nparam p pair\n").expect("compiles");
    let definitions = &template["definitions"];
    assert_eq!(definitions["pair"]["properties"]["first"]["$ref"], "#/definitions/_1.name");
    assert_eq!(definitions["_1.name"]["type"], "string");
    assert_eq!(definitions["_1.name"]["metadata"]["__bicep_imported_from!"]["sourceTemplate"], "inner.bicep");
}

/// `@discriminator` over imported member types: each tag is read from the imported definition.
#[test]
fn a_discriminated_union_of_imported_types_reads_their_tags() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("kinds.bicep"),
        "@export()\ntype a = {\n  kind: 'a'\n  x: int\n}\n@export()\ntype b = {\n  kind: 'b'\n}\n",
    )
    .expect("write");
    let text = "import { a, b } from 'kinds.bicep'\n@discriminator('kind')\ntype ab = a | b\nparam p ab\n";
    let template = bicep::compile_str(&dir.path().join("main.bicep"), text).expect("compiles");
    assert_eq!(
        template["definitions"]["ab"]["discriminator"],
        serde_json::json!({"propertyName": "kind", "mapping": {"a": {"$ref": "#/definitions/a"}, "b": {"$ref": "#/definitions/b"}}})
    );
}
