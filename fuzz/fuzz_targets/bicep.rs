//! The native Bicep compiler (lexer, parser, model, emitter) on any text: an ARM template or an
//! error with a position, never a panic or a stack overflow.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Modules and load*() functions resolve against a directory that does not exist.
    let path = Path::new("/nonexistent-mlops-fuzz/main.bicep");
    if let Err(err) = mlops::infra::bicep::compile_bytes(path, data) {
        let _ = err.to_string();
    }
});
