//! Native Bicep: compiles a subset of Bicep to the classic ARM JSON that `bicep build` emits.
//!
//! The rule: for every input, either the official compiler's output (up to the normalisation in
//! [`compare`]) or an error that names the problem or the unsupported construct and its location.

mod arm;
mod ast;
pub mod compare;
mod convert;
mod deps;
mod emit;
mod error;
mod functions;
mod lexer;
mod model;
mod parser;
mod types;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use error::{BicepError, Diagnostic, ErrorKind};

use convert::Compiler;
use error::{DResult, Diag};
use model::Model;

/// Compiles a `.bicep` file (and the local modules it uses) to an ARM template.
pub fn compile_file(path: &Path) -> Result<Value, BicepError> {
    let mut stack = Vec::new();
    compile_at(path, &mut stack)
}

/// Compiles Bicep text; `path` names it in diagnostics and anchors relative paths.
pub fn compile_str(path: &Path, text: &str) -> Result<Value, BicepError> {
    let mut stack = vec![normalise(path)];
    compile_text(path, text, &mut stack)
}

/// Compiles a Bicep file's bytes: UTF-8 (a byte-order mark allowed), anything else refused at the
/// first bad byte rather than read with replacement characters.
pub fn compile_bytes(path: &Path, bytes: &[u8]) -> Result<Value, BicepError> {
    let mut stack = vec![normalise(path)];
    compile_text(path, decode_source(path, bytes)?, &mut stack)
}

fn decode_source<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, BicepError> {
    crate::decode::utf8(bytes).map_err(|e| BicepError::NotUtf8 {
        path: path.to_path_buf(),
        line: e.line,
        column: e.column,
        message: e.message,
    })
}

/// Writes a template as `bicep build` formats it: two-space indentation and a final newline.
pub fn to_pretty_json(template: &Value) -> String {
    let mut out = serde_json::to_string_pretty(template).unwrap_or_default();
    out.push('\n');
    out
}

fn normalise(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn compile_at(path: &Path, stack: &mut Vec<PathBuf>) -> Result<Value, BicepError> {
    let bytes = std::fs::read(path).map_err(|source| BicepError::Io { path: path.to_path_buf(), source })?;
    let text = decode_source(path, &bytes)?;
    stack.push(normalise(path));
    let result = compile_text(path, text, stack);
    stack.pop();
    result
}

fn compile_text(path: &Path, text: &str, stack: &mut Vec<PathBuf>) -> Result<Value, BicepError> {
    compile_inner(path, text, stack).map_err(|d| d.locate(path, text))
}

fn compile_inner(path: &Path, text: &str, stack: &mut Vec<PathBuf>) -> DResult<Value> {
    let stmts = parser::parse(text)?;
    let model = Model::build(&stmts)?;
    deps::check_variable_cycles(&model)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut module_templates = Vec::new();
    for module in &model.modules {
        let decl = module.decl;
        if decl.path.contains(':') {
            return Err(Diag::unsupported(decl.path_span, "a registry or template-spec module"));
        }
        if !decl.path.ends_with(".bicep") {
            return Err(Diag::unsupported(decl.path_span, "a module that is not a .bicep file"));
        }
        let child = dir.join(&decl.path);
        if stack.contains(&normalise(&child)) {
            return Err(Diag::new(
                ErrorKind::Cycle,
                decl.path_span,
                "this module refers back to a file that is being compiled",
            ));
        }
        if !child.is_file() {
            return Err(Diag::new(
                ErrorKind::Invalid,
                decl.path_span,
                format!("the module file '{}' does not exist", child.display()),
            ));
        }
        module_templates.push(compile_at(&child, stack).map_err(Diag::Done)?);
    }
    let compiler = Compiler { model: &model, dir, inline: deps::runtime_variables(&model), module_templates };
    compiler.template()
}
