//! The CSV reader: `mlops data profile`'s column reader and training's first pass, on any bytes,
//! with chunk sizes small enough that records straddle chunk boundaries.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mlops::data::{DataError, NoProgress, ReadOptions, read_columns};

/// One scratch file per process: the readers take a path.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("mlops-fuzz-csv-{}.csv", std::process::id())))
}

/// A reader's panic is caught per chunk and reported as an internal error; for the fuzzer it is
/// the crash it is looking for.
fn check(result: Result<(), DataError>) {
    if let Err(err) = result {
        let message = err.to_string();
        assert!(!matches!(err, DataError::Internal(_)), "internal error: {message}");
        assert!(message.len() < 2_000, "an error message of {} bytes", message.len());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&knob, bytes)) = data.split_first() else { return };
    let path = scratch();
    std::fs::write(path, bytes).expect("scratch file");
    // Chunks of 16 to 1,032 bytes split records of these small inputs; one-byte chunks (unit-tested
    // in `data::columns`) made a 2 KB input take seconds under the sanitizer.
    let options = ReadOptions { threads: 1 + usize::from(knob & 1), chunk_bytes: 16 + 8 * usize::from(knob >> 1) };
    check(read_columns(path, &options, &mut NoProgress).map(|_| ()));
    let target = String::from_utf8_lossy(bytes.split(|b| *b == b',' || *b == b'\n').next().unwrap_or_default())
        .into_owned();
    check(mlops::ml::stream::survey(path, &target, &options, &mut NoProgress).map(|_| ()));
});
