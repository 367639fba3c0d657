//! Hostile inputs: no crash, and an error that names the file and the position, quotes at most a
//! short excerpt and exits with the documented code (6 for a malformed file, 2 for a bad flag).

use std::process::Output;

use crate::support::{Workspace, diabetes, stderr};

/// Less than this on stdout plus stderr: a message, not an echo of the input.
const BOUNDED: usize = 4_096;

fn assert_bounded(out: &Output, what: &str) {
    let total = out.stdout.len() + out.stderr.len();
    assert!(total < BOUNDED, "{what}: {total} bytes of output:\n{}", &stderr(out)[..stderr(out).len().min(2_000)]);
}

/// `1 + 1 + …` with 20,000 terms aborted the process with "stack overflow"; so would any
/// expression nested deep enough. Each is now a syntax error at its position, with a short excerpt.
#[test]
fn deeply_nested_bicep_is_a_clean_error() {
    let ws = Workspace::new();
    let n = 20_000;
    let cases = [
        ("sum", format!("output x int = {}\n", vec!["1"; n].join(" + "))),
        ("and", format!("output x bool = {}\n", vec!["true"; n].join(" && "))),
        ("parens", format!("output x int = {}1{}\n", "(".repeat(n), ")".repeat(n))),
        ("arrays", format!("output x array = {}{}\n", "[".repeat(n), "]".repeat(n))),
        ("objects", format!("output x object = {}1{}\n", "{a: ".repeat(n), "}".repeat(n))),
        ("members", format!("param a object\noutput x object = a{}\n", ".b".repeat(n))),
        ("indexes", format!("param a object\noutput x object = a{}\n", "[0]".repeat(n))),
        ("conditions", format!("param p bool\noutput x int = {}1\n", "p ? 1 : ".repeat(n))),
        ("negations", format!("output x int = {}1\n", "-".repeat(n))),
        ("interpolations", format!("output x string = {}1{}\n", "'${".repeat(n), "}'".repeat(n))),
        ("calls", format!("output x string = {}'a'{}\n", "concat(".repeat(n), ")".repeat(n))),
    ];
    for (name, text) in cases {
        let file = format!("{name}.bicep");
        ws.write(&file, &text);
        let out = ws.run(&["infra", "build", &file, "--stdout"]);
        assert_eq!(out.status.code(), Some(6), "{name}: {}", &stderr(&out)[..stderr(&out).len().min(2_000)]);
        let err = stderr(&out);
        assert!(err.contains(&format!("{file}:")) && err.contains("expression is nested too deeply"), "{name}: {err}");
        assert_bounded(&out, name);
    }
    // Below the limit, long expressions still compile, to what `bicep build` emits.
    ws.write("long.bicep", &format!("param p int\noutput x int = {}\n", vec!["p"; 90].join(" + ")));
    let out = ws.run(&["infra", "build", "long.bicep", "--stdout"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let template: serde_json::Value = serde_json::from_slice(&out.stdout).expect("template");
    let value = template["outputs"]["x"]["value"].as_str().expect("expression");
    assert_eq!(value.matches("parameters('p')").count(), 90, "{value}");
}

/// Bicep files are UTF-8: another encoding is refused at its first bad byte (it was read with
/// replacement characters, which changed string values silently); a byte-order mark is fine.
#[test]
fn bicep_encoding() {
    let ws = Workspace::new();
    std::fs::write(ws.path().join("latin1.bicep"), b"param p string = 'caf\xe9'\n").expect("write");
    let out = ws.run(&["infra", "build", "latin1.bicep", "--stdout"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("latin1.bicep:1:22: not valid UTF-8: byte 0xE9 at byte offset 21"),
        "{}",
        stderr(&out)
    );
    std::fs::write(ws.path().join("bom.bicep"), b"\xef\xbb\xbfparam p string = 'caf\xc3\xa9'\n").expect("write");
    let out = ws.run(&["infra", "build", "bom.bicep", "--stdout"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let template: serde_json::Value = serde_json::from_slice(&out.stdout).expect("template");
    assert_eq!(template["parameters"]["p"]["defaultValue"], "café");
}

/// A 5 MB cell was echoed whole into the error (and into `data validate`'s report).
#[test]
fn huge_csv_cells_are_quoted_in_part() {
    let ws = Workspace::new();
    let mut csv = String::from("a,b,Y\n1,2,3\n4,");
    csv.push_str(&"x".repeat(5_000_000));
    csv.push_str(",6\n7,8,9\n");
    ws.write("huge.csv", &csv);
    let out = ws.run(&["train", "--data", "huge.csv", "--param", "target=Y"]);
    assert_eq!(out.status.code(), Some(6), "{}", &stderr(&out)[..stderr(&out).len().min(2_000)]);
    assert!(
        stderr(&out).contains("huge.csv:3: column \"b\": \"xxxx"),
        "{}",
        &stderr(&out)[..2_000.min(stderr(&out).len())]
    );
    assert!(stderr(&out).contains("…\" is not a number"), "{}", &stderr(&out)[..2_000.min(stderr(&out).len())]);
    assert_bounded(&out, "train");
    for format in ["text", "json"] {
        let out = ws.run(&["data", "validate", "--data", "huge.csv", "-o", format]);
        assert_eq!(out.status.code(), Some(5), "{format}: {}", &stderr(&out)[..stderr(&out).len().min(2_000)]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("xxx…"), "{format}");
        assert_bounded(&out, format);
    }
    // A column name of 1 MB is cut in messages too.
    ws.write("wide.csv", &format!("a,{},Y\n1,x,3\n4,5,6\n", "n".repeat(1_000_000)));
    let out = ws.run(&["train", "--data", "wide.csv", "--param", "target=Y"]);
    assert_eq!(out.status.code(), Some(6), "{}", &stderr(&out)[..stderr(&out).len().min(2_000)]);
    assert!(stderr(&out).contains("wide.csv:2: column \"nnnn"), "{}", &stderr(&out)[..2_000.min(stderr(&out).len())]);
    assert_bounded(&out, "wide train");
    let out = ws.run(&["data", "validate", "--data", "wide.csv"]);
    assert_eq!(out.status.code(), Some(5), "{}", &stderr(&out)[..stderr(&out).len().min(2_000)]);
    assert_bounded(&out, "wide validate");
}

/// Every JSON and YAML file: the first bad byte of a non-UTF-8 file by line, column and offset; a
/// byte-order mark accepted; a key given twice refused where it stands; nesting bounded.
#[test]
fn json_and_yaml_files_decode_alike() {
    let ws = Workspace::new();
    let params = |name: &str, bytes: &[u8]| {
        std::fs::write(ws.path().join(name), bytes).expect("write");
        ws.run(&["train", "--data", diabetes().to_str().expect("path"), "--params", name, "--tracking-uri", "mlruns"])
    };
    let out = params("latin1.json", b"{\"training\": {\n  \"alpha\": \"\xe9\"}}");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "latin1.json:2:13: parameters file is not valid JSON: not valid UTF-8: byte 0xE9 at byte offset 27"
        ),
        "{}",
        stderr(&out)
    );
    let out = params("twice.json", b"{\"training\": {\"alpha\": 0.1,\n \"alpha\": 0.9}}");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("twice.json:2:8: parameters file is not valid JSON: duplicate key \"alpha\""),
        "{}",
        stderr(&out)
    );
    let deep = format!("{{\"training\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let out = params("deep.json", deep.as_bytes());
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("recursion limit exceeded"), "{}", stderr(&out));
    let out = params("bom.json", b"\xef\xbb\xbf{\"training\": {\"alpha\": 0.5}}");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let pipeline = |name: &str, bytes: &[u8]| {
        std::fs::write(ws.path().join(name), bytes).expect("write");
        ws.run(&["pipeline", "validate", name])
    };
    let out = pipeline("latin1.yml", b"name: caf\xe9\nsteps:\n  - name: a\n    run: [train]\n");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("latin1.yml:1: not valid UTF-8: byte 0xE9 at byte offset 9 (column 10)"),
        "{}",
        stderr(&out)
    );
    let out = pipeline("twice.yml", b"name: p\nsteps:\n  - name: a\n    run: [train]\n    run: [data, validate]\n");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("twice.yml:5: duplicate key \"run\" (column 5)"), "{}", stderr(&out));
    let deep = format!("name: p\nsteps: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let out = pipeline("deep.yml", deep.as_bytes());
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("recursion limit exceeded"), "{}", stderr(&out));
    let out = pipeline("bom.yml", b"\xef\xbb\xbfname: p\nsteps:\n  - name: a\n    run: [train]\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// `${{ steps.a.outputs.nosuch }}` passed the check and failed the run after step a had run.
#[test]
fn undeclared_step_outputs_fail_the_check() {
    let ws = Workspace::new();
    let data = diabetes();
    let text = format!(
        "name: p\nsteps:\n  - name: a\n    run: [train, --data, \"{}\"]\n    outputs: [run_id]\n  - name: b\n    depends_on: [a]\n    run: [model, evaluate, --run-id, \"${{{{ steps.a.outputs.nosuch }}}}\", --name, m]\n",
        data.display()
    );
    ws.write("p.yml", &text);
    for verb in ["validate", "run"] {
        let out = ws.run(&["pipeline", verb, "p.yml"]);
        assert_eq!(out.status.code(), Some(6), "{verb}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("p.yml:8: step \"b\": ${{ steps.a.outputs.nosuch }} names output \"nosuch\", which step \"a\" does not declare (its outputs: run_id)"),
            "{verb}: {}",
            stderr(&out)
        );
    }
    assert!(!ws.path().join("mlruns").exists(), "step a did not run");
}

/// Every invalid tracking URI is a usage error; `http://` was a failure to build a client (exit 1).
#[test]
fn tracking_uris_without_a_host_are_usage_errors() {
    let ws = Workspace::new();
    for uri in ["http://", "https://", "http://:5000/"] {
        let out = ws.run(&["train", "--data", diabetes().to_str().expect("path"), "--tracking-uri", uri]);
        assert_eq!(out.status.code(), Some(2), "{uri}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("the URL has no host") || stderr(&out).contains("not a valid URL"),
            "{uri}: {}",
            stderr(&out)
        );
    }
}

/// `mlops.toml` decodes like the other files (TOML itself refuses duplicate keys at their line).
#[test]
fn project_file_decodes_alike() {
    let ws = Workspace::new();
    let train = |toml: &[u8]| {
        std::fs::write(ws.path().join("mlops.toml"), toml).expect("write");
        ws.run(&["train", "--data", diabetes().to_str().expect("path")])
    };
    let out = train(b"[tracking]\nuri = \"caf\xe9\"\n");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("mlops.toml: line 2, column 11: not valid UTF-8: byte 0xE9 at byte offset 21"),
        "{}",
        stderr(&out)
    );
    let out = train(b"[tracking]\nuri = \"a\"\nuri = \"b\"\n");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 3") && stderr(&out).contains("duplicate key"), "{}", stderr(&out));
    let out = train(b"\xef\xbb\xbf[tracking]\nuri = \"store\"\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(ws.path().join("store").is_dir(), "the BOM-prefixed file was read");
}

/// `loadTextContent` and `loadFileAsBase64` read no more than the official compiler accepts, so a
/// device that never ends is an error, not a compile that never does.
#[test]
fn bicep_load_functions_are_bounded() {
    let ws = Workspace::new();
    ws.write("big.txt", &"x".repeat(131_073));
    ws.write("ok.txt", &"x".repeat(131_072));
    for (file, expected) in [
        ("loadTextContent('/dev/zero')", "'/dev/zero' is larger than 'loadTextContent' accepts"),
        ("loadFileAsBase64('/dev/zero')", "'/dev/zero' is larger than 'loadFileAsBase64' accepts (98304 bytes)"),
        ("loadTextContent('big.txt')", "is longer than the 131072 characters 'loadTextContent' accepts"),
    ] {
        ws.write("main.bicep", &format!("output x string = {file}\n"));
        let out = ws.run(&["infra", "build", "main.bicep", "--stdout"]);
        assert_eq!(out.status.code(), Some(6), "{file}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{file}: {}", stderr(&out));
    }
    ws.write("main.bicep", "output x string = loadTextContent('ok.txt')\n");
    let out = ws.run(&["infra", "build", "main.bicep", "--stdout"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
