//! Pipeline files: YAML shape, steps, parameters and `${{ }}` references, on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mlops::pipeline::file::parse_bytes(std::path::Path::new("p.yml"), data);
});
