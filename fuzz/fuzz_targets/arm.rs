//! ARM templates and parameters: a template, then (after a NUL byte) a parameters document,
//! checked against each other as `mlops infra validate` does before any request.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mlops::infra::parameters::{ParameterSource, resolve};
use mlops::infra::template;

fuzz_target!(|data: &[u8]| {
    let (template_bytes, parameter_bytes) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let Ok(template) = template::parse_bytes(Path::new("t.json"), template_bytes) else { return };
    let Some(parameter_bytes) = parameter_bytes else { return };
    let text = String::from_utf8_lossy(parameter_bytes).into_owned();
    let _ = resolve(&template, &[ParameterSource::Inline(text)]);
});
