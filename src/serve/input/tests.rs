use serde_json::json;

use super::*;

fn features() -> Vec<String> {
    vec!["a".into(), "b".into()]
}

fn schema(features: &[String]) -> Schema<'_> {
    Schema { features, max_rows: 3 }
}

fn err(result: Result<Batch, ApiError>) -> ApiError {
    result.expect_err("should be refused")
}

#[test]
fn every_json_format_gives_the_same_batch() {
    let f = features();
    let want = Batch { rows: 2, values: vec![1.0, 2.0, 3.0, 4.5] };
    let bodies = [
        json!({"dataframe_split": {"columns": ["b", "x", "a"], "data": [[2, "ignored", 1], [4.5, null, 3]]}}),
        json!({"dataframe_records": [{"a": 1, "b": 2}, {"b": 4.5, "a": 3, "extra": true}]}),
        json!({"instances": [{"a": 1, "b": 2}, {"a": 3, "b": 4.5}]}),
        json!({"inputs": {"a": [1, 3], "b": [2, 4.5]}, "params": {}}),
    ];
    for body in bodies {
        assert_eq!(invocations_json(&body, schema(&f)), Ok(want.clone()), "{body}");
    }
    let one = json!({"inputs": {"a": 1, "b": 2}});
    assert_eq!(invocations_json(&one, schema(&f)).map(|b| b.rows), Ok(1));
    let score = json!({"data": [[1, 2], [3, 4.5]]});
    assert_eq!(score_body(&score, schema(&f)), Ok(want));
}

#[test]
fn csv_by_column_name() {
    let f = features();
    let batch = invocations_csv(b"b,a,y\n2,1,0\n4.5,3,0\n", schema(&f)).expect("csv");
    assert_eq!(batch.values, vec![1.0, 2.0, 3.0, 4.5]);
    assert!(err(invocations_csv(b"a,b\n1,nan\n", schema(&f))).message.contains("not a finite number"));
    assert!(
        err(invocations_csv(b"a,b\n1,x\n", schema(&f))).message.contains("line 2, column b: \"x\" is not a number")
    );
    assert!(err(invocations_csv(b"a\n1\n", schema(&f))).message.contains("[\"b\"]"));
    assert!(err(invocations_csv(b"a,b\n", schema(&f))).message.contains("empty batch"));
    assert_eq!(
        err(invocations_csv(b"a,b\n1,2\n1,2\n1,2\n1,2\n", schema(&f))).status,
        axum::http::StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[test]
fn refusals_name_the_problem() {
    let f = features();
    let cases = [
        (json!({"data": [[1]]}), "data[0] has 1 values, the model expects 2 features (a, b)"),
        (json!({"data": [[1, "x"]]}), "data[0], feature b: \"x\" is not a number"),
        (json!({"data": [[1, null]]}), "null is not a number"),
        (json!({"data": []}), "empty batch"),
        (json!({"rows": []}), "missing \"data\""),
        (json!([1]), "the body is a list"),
    ];
    for (body, message) in cases {
        let e = err(score_body(&body, schema(&f)));
        assert!(e.message.contains(message), "{body}: {}", e.message);
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
    }
    let too_many = json!({"data": [[1, 2], [1, 2], [1, 2], [1, 2]]});
    let e = err(score_body(&too_many, schema(&f)));
    assert_eq!(e.status, axum::http::StatusCode::PAYLOAD_TOO_LARGE);
    assert!(e.message.contains("4 rows, more than the limit of 3"), "{}", e.message);

    let cases = [
        (json!({"dataframe_split": {"columns": ["a"], "data": [[1]]}}), "missing the model's input column(s) [\"b\"]"),
        (
            json!({"dataframe_records": [{"a": 1, "c": 2}]}),
            "dataframe_records[0] is missing the model's input column(s) [\"b\"]",
        ),
        (json!({"inputs": [[1, 2]]}), "unnamed list"),
        (json!({"inputs": {"a": [1, 2], "b": [1]}}), "columns differ in length"),
        (json!({"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}), "has 1 values for 2 columns"),
        (json!({"dataframe_split": {"columns": ["a", "a", "b"], "data": [[1, 1, 2]]}}), "\"a\" appears more than once"),
        (json!({"dataframe_split": {"data": [[1, 2]]}}), "has no \"columns\""),
        (json!({"dataframe_split": {}, "inputs": []}), "exactly one of the keys"),
        (json!({"dataframe_records": [{"a": true, "b": 1}]}), "feature a: true is not a number"),
        (json!([1]), "received a list"),
    ];
    for (body, message) in cases {
        let e = err(invocations_json(&body, schema(&f)));
        assert!(e.message.contains(message), "{body}: {}", e.message);
    }
}

#[test]
fn json_syntax_and_content_types() {
    assert!(parse_json(b"{\"data\": [[NaN, 1]]}").expect_err("NaN").message.contains("non-finite value NaN"));
    assert!(parse_json(b"{\"data\": [[1e999]]}").is_err());
    assert!(parse_json(b"{\"data\":").expect_err("eof").message.starts_with("malformed JSON"));
    let err = parse_json(b"{\"data\": [[1]],\n \"data\": [[2]]}").expect_err("duplicate key");
    assert_eq!(err.message, "malformed JSON: duplicate key \"data\" at line 2 column 7");
    let err = parse_json(b"{\"data\": [[\"\xff\"]]}").expect_err("not UTF-8");
    assert_eq!(err.message, "malformed JSON: not valid UTF-8: byte 0xFF at byte offset 12 at line 1 column 13");
    assert!(parse_json(b"\xef\xbb\xbf{\"data\": [[1]]}").is_ok(), "a BOM is accepted");
    assert_eq!(content_kind(Some("application/json; charset=UTF-8"), false), Ok(BodyKind::Json));
    assert_eq!(content_kind(Some("text/csv"), true), Ok(BodyKind::Csv));
    for bad in [None, Some("text/csv"), Some("application/json; charset=latin-1"), Some("application/json; x=1")] {
        assert_eq!(
            content_kind(bad, false).expect_err("refused").status,
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{bad:?}"
        );
    }
}

#[test]
fn errors_quote_at_most_an_excerpt() {
    let f = features();
    let long = "9".repeat(100_000);
    let bodies = [format!("a,b\n1,x{long}\n"), format!("a,b\n1,1e9{long}\n"), format!("a,b,{long},{long}\n1,2,3,4\n")];
    for body in bodies {
        let message = err(invocations_csv(body.as_bytes(), schema(&f))).message;
        assert!(message.len() < 1_000, "{} bytes: {}", message.len(), &message[..200]);
    }
    let route = parse_request(Route::Invocations, Some("text/csv"), b"a,b\n1,2\n", schema(&f)).expect("csv");
    assert_eq!(route.values, [1.0, 2.0]);
    let score_as_csv = parse_request(Route::Score, Some("text/csv"), b"a,b\n1,2\n", schema(&f));
    assert_eq!(err(score_as_csv).status, axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

/// Found by the `score_request` fuzz target: a CSV header of many long columns was listed whole
/// in the answer (2 KB from a 2 KB body; a 100 MB body would have been echoed whole).
#[test]
fn column_and_key_lists_are_bounded() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fuzz/score-request-crash-long-column-list.bin");
    let input = std::fs::read(path).expect("fixture");
    // The first byte is the fuzz target's knob: 3 is /invocations with text/csv.
    assert_eq!(input[0], 3);
    let features: Vec<String> = ["age", "sex", "bmi"].iter().map(|s| s.to_string()).collect();
    let schema = Schema { features: &features, max_rows: 64 };
    let message = err(parse_request(Route::Invocations, Some("text/csv"), &input[1..], schema)).message;
    assert!(message.len() < 2_000, "{} bytes: {message}", message.len());
    let header: String = (0..1_000).map(|i| format!("column{i},")).collect();
    let message = err(invocations_csv(format!("{header}z\n1\n").as_bytes(), schema)).message;
    assert!(message.contains("\"column0\", \"column1\"") && message.ends_with(" more]"), "{message}");
    assert!(message.len() < 1_000, "{message}");
    let keys: serde_json::Map<String, Value> = (0..1_000).map(|i| (format!("k{i}"), json!(1))).collect();
    let message = err(invocations_json(&Value::Object(keys), schema)).message;
    assert!(message.len() < 1_000 && message.contains("\"k0\", \"k1\"") && message.ends_with(" more]"), "{message}");
}
