//! Files larger than one read chunk (1 MiB): scikit-learn parity whatever the line ends, quoting
//! and thread count, bit-identical numbers with 1 and 3 threads, a bad line found at the end of
//! the file, and line numbers of LF, CRLF and CR files in every command that reads CSV.

use serde_json::{Value, json};

use crate::support::{Workspace, assert_close, floats, on_a_terminal, python_json, python_output, stderr};

/// The chunk size `mlops` reads with (`data::chunks::DEFAULT_CHUNK_BYTES`).
const CHUNK: usize = 1 << 20;

/// A generated LF file from `make_dataset.py`: `rows` rows, `features` features and `target`.
fn generated(ws: &Workspace, rows: usize, features: usize) -> String {
    let path = ws.path().join(format!("generated-{rows}.csv"));
    let args = [path.to_str().expect("utf-8"), &rows.to_string(), &features.to_string(), "3"];
    let out = python_output("make_dataset.py", &args, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(&path).expect("generated file")
}

/// The same table with other line ends, optionally every field quoted, optionally without the
/// final line end.
fn variant(text: &str, eol: &str, quoted: bool, final_eol: bool) -> String {
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if quoted {
                line.split(',').map(|f| format!("\"{f}\"")).collect::<Vec<_>>().join(",")
            } else {
                line.to_string()
            }
        })
        .collect();
    let mut out = lines.join(eol);
    if final_eol {
        out.push_str(eol);
    }
    out
}

fn train(ws: &Workspace, data: &str, threads: &str) -> Value {
    ws.json(&["train", "--data", data, "--target", "target", "--threads", threads])
}

#[test]
fn parity_across_sizes_line_ends_quoting_and_threads() {
    let ws = Workspace::new();
    for (rows, features) in [(60, 3), (40_000, 8)] {
        let text = generated(&ws, rows, features);
        let variants = [
            ("lf", variant(&text, "\n", false, true)),
            ("crlf-quoted-no-final-eol", variant(&text, "\r\n", true, false)),
            ("cr", variant(&text, "\r", false, true)),
        ];
        let mut cases = Vec::new();
        for (name, contents) in &variants {
            let path = ws.write(&format!("{name}-{rows}.csv"), contents);
            cases.push(json!({"data": path, "target": "target", "alpha": 0.5, "test_size": 0.2, "seed": 0}));
        }
        let references = python_json("sklearn_reference.py", &[], Some(&Value::Array(cases.clone()).to_string()));
        for ((name, contents), (case, reference)) in
            variants.iter().zip(cases.iter().zip(references.as_array().expect("list")))
        {
            let what = format!("{name}, {rows} rows");
            if rows > 1000 {
                assert!(contents.len() > 5 * CHUNK, "{what}: several chunks");
                if name.contains("quoted") {
                    // The first chunk's nominal end falls inside a quoted field.
                    let quotes = contents.as_bytes()[..CHUNK].iter().filter(|&&b| b == b'"').count();
                    assert_eq!(quotes % 2, 1, "{what}: byte {CHUNK} is inside quotes");
                }
            }
            let data = case["data"].as_str().expect("path");
            let one = train(&ws, data, "1");
            let three = train(&ws, data, "3");
            for key in [&["model", "coefficients"][..], &["model", "intercept"], &["metrics"], &["split"]] {
                let pick = |v: &Value| key.iter().fold(v.clone(), |v, k| v[k].clone());
                assert_eq!(pick(&one), pick(&three), "{what}: {key:?} bit-identical with 1 and 3 threads");
            }
            let coefficients = floats(&one["model"]["coefficients"]);
            let expected = floats(&reference["coefficients"]);
            let scale = expected.iter().fold(0.0f64, |m, c| m.max(c.abs()));
            for (i, (a, e)) in coefficients.iter().zip(&expected).enumerate() {
                assert!((a - e).abs() <= 1e-9 * e.abs().max(scale * 1e-3), "{what}: coefficient {i}: {a:?} vs {e:?}");
            }
            let intercept = one["model"]["intercept"].as_f64().expect("intercept");
            assert_close(intercept, reference["intercept"].as_f64().expect("f64"), 1e-9, &format!("{what}: intercept"));
            for metric in ["mse", "rmse", "mae", "r2"] {
                let got = one["metrics"][metric].as_f64().expect("metric");
                let want = reference["metrics"][metric].as_f64().expect("metric");
                assert_close(got, want, 1e-9, &format!("{what}: {metric}"));
            }
            assert_eq!(one["split"]["n_test"], reference["n_test"], "{what}");
            assert_eq!(one["dataset"]["rows"], rows, "{what}");
        }
        if rows > 1000 {
            // A bad cell on the very last line is found, named by line, and logs no run.
            let mut bad = variants[1].1.clone();
            let cut = bad.rfind(',').expect("a comma");
            bad.replace_range(cut + 1.., "\"oops\"");
            let path = ws.write("bad-last-line.csv", &bad);
            let runs_before = ws.json(&["runs", "list"])["runs"].as_array().map_or(0, Vec::len);
            let out = ws.run(&["train", "--data", path.to_str().expect("utf-8"), "--target", "target"]);
            assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
            let needle = format!("bad-last-line.csv:{}: column \"target\": \"oops\" is not a number", rows + 1);
            assert!(stderr(&out).contains(&needle), "{needle:?} missing from {}", stderr(&out));
            let runs_after = ws.json(&["runs", "list"])["runs"].as_array().map_or(0, Vec::len);
            assert_eq!(runs_after, runs_before, "a failed read logs nothing");
        }
    }
}

#[test]
fn line_numbers_of_lf_crlf_and_cr_files_in_every_command() {
    let ws = Workspace::new();
    for (name, eol) in [("lf", "\n"), ("crlf", "\r\n"), ("cr", "\r")] {
        let rows: String = (0..10).map(|i| format!("{i},{},{}{eol}", i * i % 7, i * 3 + i % 4)).collect();
        let good = ws.write(&format!("good-{name}.csv"), &format!("a,b,Y{eol}{rows}"));
        let model = ws.json(&["train", "--data", good.to_str().expect("utf-8")])["model"]["path"]
            .as_str()
            .expect("model")
            .to_string();
        // An empty cell on line 2.
        let missing = ws.write(&format!("missing-{name}.csv"), &format!("a,b,Y{eol}1,,3{eol}{rows}"));
        let missing = missing.to_str().expect("utf-8");
        let needle = format!("missing-{name}.csv:2: column \"b\": missing value");
        for args in [vec!["train", "--data", missing], vec!["predict", "--model", &model, "--data", missing]] {
            let out = ws.run(&args);
            assert_eq!(out.status.code(), Some(6), "{args:?}: {}", stderr(&out));
            assert!(stderr(&out).contains(&needle), "{args:?} ({name}): {needle:?} missing from {}", stderr(&out));
        }
        let out = ws.run(&["data", "validate", "--data", missing, "-o", "json"]);
        let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        let check = report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["column"] == "b" && c["check"] == "missing_values");
        assert_eq!(check.map(|c| c["details"]["first_line"].clone()), Some(json!(2)), "{name}: {report:#}");

        // A short row on line 5, after a blank line 4.
        let ragged =
            ws.write(&format!("ragged-{name}.csv"), &format!("a,b,Y{eol}1,2,3{eol}4,5,6{eol}{eol}7,8{eol}{rows}"));
        let ragged = ragged.to_str().expect("utf-8");
        let needle = format!("ragged-{name}.csv:5: row has 2 fields, but the header has 3");
        for args in [
            vec!["train", "--data", ragged],
            vec!["predict", "--model", &model, "--data", ragged],
            vec!["data", "validate", "--data", ragged],
            vec!["data", "profile", "--data", ragged],
        ] {
            let out = ws.run(&args);
            assert_eq!(out.status.code(), Some(6), "{args:?}: {}", stderr(&out));
            assert!(stderr(&out).contains(&needle), "{args:?} ({name}): {needle:?} missing from {}", stderr(&out));
        }
    }
}

#[test]
fn profile_and_predict_stream_large_files() {
    let ws = Workspace::new();
    // More rows than a profile keeps for exact quantiles (131,072), so they come from the sketch.
    let rows = 150_000;
    let text = variant(&generated(&ws, rows, 3), "\r\n", false, true);
    let path = ws.write("big.csv", &text);
    let data = path.to_str().expect("utf-8");
    let profile = ws.json(&["data", "profile", "--data", data, "--threads", "1"]);
    assert_eq!(profile, ws.json(&["data", "profile", "--data", data, "--threads", "3"]), "bit-identical");
    assert_eq!(profile["rows"], rows);
    use sha2::Digest;
    assert_eq!(profile["sha256"], hex::encode(sha2::Sha256::digest(text.as_bytes())), "digest of the file's bytes");
    let reference = python_json("profile_reference.py", &[data], None);
    for column in profile["columns"].as_array().expect("columns") {
        let name = column["name"].as_str().expect("name");
        let expected = &reference[name];
        let what = |stat: &str| format!("column {name}: {stat}");
        assert_eq!(column["count"], expected["count"], "{}", what("count"));
        for stat in ["mean", "std", "min", "max"] {
            let got = column[stat].as_f64().expect("number");
            assert_close(got, expected[stat].as_f64().expect("number"), 1e-9, &what(stat));
        }
        let bound = column["quantile_error"].as_f64().expect("sketched quantiles say so");
        assert_eq!(bound, 1.0 / 2048.0);
        let range = expected["max"].as_f64().expect("max") - expected["min"].as_f64().expect("min");
        for (got, want) in column["quantiles"].as_array().expect("quantiles").iter().zip(floats(&expected["quantiles"]))
        {
            let got = got["value"].as_f64().expect("value");
            assert!((got - want).abs() <= bound * range, "{}: {got} vs {want}", what("quantile"));
        }
        let counts = column["histogram"]["counts"].as_array().expect("counts");
        assert_eq!(counts.iter().filter_map(Value::as_u64).sum::<u64>(), rows as u64);
    }

    // predict streams the same file: 1 and 3 threads agree, and --out holds the same numbers.
    let model =
        ws.json(&["train", "--data", data, "--target", "target"])["model"]["path"].as_str().expect("model").to_string();
    let one = ws.json(&["predict", "--model", &model, "--data", data, "--threads", "1"]);
    let three = ws.json(&["predict", "--model", &model, "--data", data, "--threads", "3", "--out", "p.csv"]);
    assert_eq!(one["rows"], rows);
    assert_eq!(three["rows"], rows);
    let written = std::fs::read_to_string(ws.path().join("p.csv")).expect("p.csv");
    let parsed: Vec<f64> =
        written.lines().skip(1).map(|l| l.split(',').nth(1).expect("prediction").parse().expect("number")).collect();
    let streamed: Vec<f64> = one["predictions"]
        .as_array()
        .expect("predictions")
        .iter()
        .map(|p| p["prediction"].as_f64().expect("number"))
        .collect();
    assert_eq!(parsed, streamed);
    assert!(!ws.path().join("p.csv.partial").exists());
}

#[test]
fn a_large_file_shows_a_progress_bar_on_a_terminal_only() {
    let ws = Workspace::new();
    // Over the 50 MB from which a read is long enough for a bar (`progress::READ_BAR_MIN_BYTES`),
    // in long rows: the debug build's time goes by rows, and this test reads the file five times.
    let mut text = String::from("x,y\n");
    let mut i = 0u64;
    while text.len() < 52 * 1024 * 1024 {
        text.push_str(&format!("{}.12345678901234,{}.98765432109876\n", i % 9973, (i % 9973) * 3 + i % 7));
        i += 1;
    }
    let path = ws.write("large.csv", &text);
    let data = path.to_str().expect("utf-8");
    let args = ["train", "--data", data, "--target", "y"];

    let shown = on_a_terminal(&ws.mlops(&args));
    for pass in ["reading", "training", "testing"] {
        assert!(shown.contains(pass), "the {pass} pass has a bar: {shown}");
    }
    assert!(shown.contains("rows/s") && shown.contains("ETA") && shown.contains("MiB"), "{shown}");

    // Whether a bar is shown is decided once for every command that reads data; `data profile`
    // reads the file once where `train` reads it three times.
    let profile = ["data", "profile", "--data", data];
    let quiet = on_a_terminal(&ws.mlops(&[&profile[..], &["--quiet"]].concat()));
    assert!(!quiet.contains("ETA"), "--quiet shows no bar: {quiet}");
    let piped = ws.run(&profile);
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert!(!stderr(&piped).contains("ETA"), "no bar when stderr is not a terminal: {}", stderr(&piped));
}
