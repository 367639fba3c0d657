//! Scoring request bodies, as `/score` and `/invocations` read them: the first byte picks the
//! route and content type, the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlops::serve::input::{Route, Schema, parse_request};

fuzz_target!(|data: &[u8]| {
    let Some((&knob, body)) = data.split_first() else { return };
    let features: Vec<String> = ["age", "sex", "bmi"].iter().map(|s| s.to_string()).collect();
    let schema = Schema { features: &features, max_rows: 64 };
    let route = if knob & 1 == 0 { Route::Score } else { Route::Invocations };
    let content_type = match (knob >> 1) % 3 {
        0 => "application/json",
        1 => "text/csv",
        _ => "application/json; charset=utf-8",
    };
    match parse_request(route, Some(content_type), body, schema) {
        Ok(batch) => {
            assert_eq!(batch.values.len(), batch.rows * features.len());
            assert!(batch.rows <= schema.max_rows);
            assert!(batch.values.iter().all(|v| v.is_finite()));
        }
        // An answer quotes at most an excerpt of what it was sent.
        Err(err) => assert!(err.message.len() < 2_000, "a message of {} bytes", err.message.len()),
    }
});
