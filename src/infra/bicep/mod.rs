//! Native Bicep: compiles a subset of Bicep to the ARM JSON that `bicep build` emits (classic or
//! languageVersion 2.0, as the official compiler chooses).
//!
//! The rule: for every input, either the official compiler's output (up to the normalisation in
//! [`compare`]) or an error that names the problem or the unsupported construct and its location.

mod arm;
mod ast;
mod collation;
pub mod compare;
mod convert;
mod cycles;
mod deps;
mod emit;
mod error;
mod functions;
mod import_sources;
mod imports;
mod language_version;
mod lexer;
mod model;
mod module_names;
mod parser;
pub mod registry;
mod shape;
pub mod template_spec;
mod type_shapes;
mod types;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use error::{BicepError, Diagnostic, ErrorKind, Warning};

use convert::{Compiler, ModuleTemplate};
use error::{DResult, Diag};
use model::Model;

/// A compiled template and what `bicep build` would have warned about on the way.
#[derive(Debug)]
pub struct Compiled {
    pub template: Value,
    /// The file's warnings, then each local module's, in source order.
    pub warnings: Vec<Warning>,
}

/// Compiles a `.bicep` file (and the local modules it uses) to an ARM template.
pub fn compile_file(path: &Path) -> Result<Value, BicepError> {
    build_file(path).map(|compiled| compiled.template)
}

/// Compiles a `.bicep` file as [`compile_file`] does, keeping the warnings.
pub fn build_file(path: &Path) -> Result<Compiled, BicepError> {
    on_compile_stack(|| compile_at(path, &mut Vec::new()))
}

/// Compiles Bicep text; `path` names it in diagnostics and anchors relative paths.
pub fn compile_str(path: &Path, text: &str) -> Result<Value, BicepError> {
    on_compile_stack(|| compile_text(path, text, &mut vec![normalise(path)])).map(|compiled| compiled.template)
}

/// Compiles a Bicep file's bytes: UTF-8 (a byte-order mark allowed), anything else refused at the
/// first bad byte rather than read with replacement characters.
pub fn compile_bytes(path: &Path, bytes: &[u8]) -> Result<Value, BicepError> {
    let text = decode_source(path, bytes)?;
    on_compile_stack(|| compile_text(path, text, &mut vec![normalise(path)])).map(|compiled| compiled.template)
}

/// The stack a compile runs on. Every pass after the parser walks the tree recursively, and an
/// unoptimised build needs up to ~16 KiB per level of the deepest tree the parser accepts; the
/// caller may be on a small stack (tokio's workers have 2 MiB). Untouched stack costs no memory.
const COMPILE_STACK: usize = 64 << 20;

/// Runs `compile` on a thread with [`COMPILE_STACK`] of stack (or on this one if no thread can be
/// started), so that the nesting limit, not the caller's stack, decides what compiles.
fn on_compile_stack<T: Send>(compile: impl FnOnce() -> T + Send) -> T {
    let job = std::sync::Mutex::new(Some(compile));
    let run = || job.lock().ok().and_then(|mut job| job.take()).map(|compile| compile());
    let spawned = std::thread::scope(|scope| {
        std::thread::Builder::new().stack_size(COMPILE_STACK).spawn_scoped(scope, run).map(|handle| handle.join())
    });
    match spawned {
        Ok(Ok(Some(result))) => result,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        // No thread could be started (or it found no job, which cannot happen): compile here.
        Ok(Ok(None)) | Err(_) => match job.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()) {
            Some(compile) => compile(),
            None => unreachable!("the compile job runs once"),
        },
    }
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

fn compile_at(path: &Path, stack: &mut Vec<PathBuf>) -> Result<Compiled, BicepError> {
    let bytes = std::fs::read(path).map_err(|source| BicepError::Io { path: path.to_path_buf(), source })?;
    let text = decode_source(path, &bytes)?;
    stack.push(normalise(path));
    let result = compile_text(path, text, stack);
    stack.pop();
    result
}

fn compile_text(path: &Path, text: &str, stack: &mut Vec<PathBuf>) -> Result<Compiled, BicepError> {
    let (template, hints, module_warnings) = compile_inner(path, text, stack).map_err(|d| d.locate(path, text))?;
    let mut warnings: Vec<Warning> = hints.into_iter().map(|hint| hint.locate(path, text)).collect();
    // A module used twice is compiled twice; its warnings are told once.
    let mut seen = std::collections::HashSet::new();
    warnings.extend(module_warnings.into_iter().filter(|w| seen.insert(w.clone())));
    Ok(Compiled { template, warnings })
}

/// The template, this file's warnings (not yet located) and its local modules' warnings.
type Inner = (Value, Vec<error::Hint>, Vec<Warning>);

fn compile_inner(path: &Path, text: &str, stack: &mut Vec<PathBuf>) -> DResult<Inner> {
    let stmts = parser::parse(text)?;
    let model = Model::build(&stmts)?;
    let mut module_warnings = Vec::new();
    cycles::check_variable_cycles(&model)?;
    module_names::check_module_names(&model)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut module_templates = Vec::new();
    for module in &model.modules {
        let decl = module.decl;
        if registry::is_registry(&decl.path) {
            let template = import_sources::registry_template(path, &decl.path, decl.path_span)?;
            module_templates.push(ModuleTemplate::embedded(template));
            continue;
        }
        if template_spec::is_template_spec(&decl.path) {
            let spec = import_sources::cached_spec(path, &decl.path, decl.path_span)?;
            module_templates.push(ModuleTemplate { template: spec.main_template, spec_id: Some(spec.id) });
            continue;
        }
        if decl.path.contains(':') {
            let message = format!("'{}' is not a module path or a 'br:' or 'ts:' reference", decl.path);
            return Err(Diag::new(ErrorKind::Invalid, decl.path_span, message));
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
        // As the official compiler reads a module file: an ARM template by its extension, else Bicep.
        if import_sources::is_arm_template_path(&decl.path) {
            let template = import_sources::local_arm_template(&child, decl.path_span)?;
            module_templates.push(ModuleTemplate::embedded(template));
            continue;
        }
        let compiled = compile_at(&child, stack).map_err(Diag::Done)?;
        module_warnings.extend(compiled.warnings);
        module_templates.push(ModuleTemplate::embedded(compiled.template));
    }
    let imports = import_sources::Loader::new(path).closure(path, &model)?;
    let compiler = Compiler {
        model: &model,
        dir,
        inline: deps::runtime_variables(&model),
        symbolic: language_version::symbolic_names(&model, &module_templates),
        module_templates,
        function_vars: convert::function_vars::collect(&stmts),
        imports,
    };
    let template = compiler.template()?;
    Ok((template, model.warnings, module_warnings))
}

/// A registry module or template spec used by a template: the reference as written and where.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExternalUse {
    pub reference: String,
    pub file: PathBuf,
    pub line: usize,
}

/// Every registry (`br:`) and template-spec (`ts:`) reference (`module` and `import`) in `path` and
/// the local modules and Bicep files it imports from, in source order.
/// Only parses, so it works before the modules are restored.
pub fn external_references(path: &Path) -> Result<Vec<ExternalUse>, BicepError> {
    let mut out = Vec::new();
    collect_external_references(path, &mut Vec::new(), &mut out)?;
    Ok(out)
}

fn collect_external_references(
    path: &Path,
    seen: &mut Vec<PathBuf>,
    out: &mut Vec<ExternalUse>,
) -> Result<(), BicepError> {
    if seen.contains(&normalise(path)) {
        return Ok(());
    }
    seen.push(normalise(path));
    let bytes = std::fs::read(path).map_err(|source| BicepError::Io { path: path.to_path_buf(), source })?;
    let text = decode_source(path, &bytes)?;
    let stmts = parser::parse(text).map_err(|d| d.locate(path, text))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    for stmt in &stmts {
        let (reference, span) = match stmt {
            ast::Stmt::Module(decl) => (&decl.path, decl.path_span),
            ast::Stmt::Import(decl) => (&decl.path, decl.path_span),
            _ => continue,
        };
        if registry::is_registry(reference) || template_spec::is_template_spec(reference) {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            out.push(ExternalUse { reference: reference.clone(), file: path.to_path_buf(), line });
        } else if reference.ends_with(".bicep") && dir.join(reference).is_file() {
            collect_external_references(&dir.join(reference), seen, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `mlops infra restore` fetches what imports read too, through the files imported from.
    #[test]
    fn registry_references_include_imports_and_the_files_imported_from() {
        let dir = tempfile::tempdir().expect("temp dir");
        let main = dir.path().join("main.bicep");
        std::fs::write(&main, "import { a } from 'br/public:x/y:1.0'\nimport { b } from 'types.bicep'\n")
            .expect("write");
        std::fs::write(dir.path().join("types.bicep"), "import { c } from 'br:r.io/z:2'\n@export()\ntype b = c\n")
            .expect("write");
        let uses = external_references(&main).expect("parses");
        let found: Vec<(&str, usize)> = uses.iter().map(|u| (u.reference.as_str(), u.line)).collect();
        assert_eq!(found, [("br/public:x/y:1.0", 1), ("br:r.io/z:2", 1)]);
    }

    /// The deepest expressions the parser accepts compile when the caller is on a 2 MiB stack (a
    /// tokio worker's), unoptimised.
    #[test]
    fn the_deepest_accepted_expressions_fit_a_small_stack() {
        let cases = [
            format!("param p int\noutput x int = {}\n", vec!["p"; 127].join(" + ")),
            format!("output x int = {}1{}\n", "(".repeat(63), ")".repeat(63)),
            format!("output x array = {}{}\n", "[".repeat(63), "]".repeat(63)),
            format!("param p int\nvar v = {}p{}\noutput x object = v\n", "{a: ".repeat(63), "}".repeat(63)),
            format!("param a object\noutput x object = a{}\n", ".b".repeat(127)),
            format!("param p bool\noutput x int = {}1\n", "p ? 1 : ".repeat(127)),
            format!("param s string\noutput x string = {}'a'{}\n", "concat(s, ".repeat(63), ")".repeat(63)),
            format!("param p int\noutput x string = {}p{}\n", "'${".repeat(63), "}'".repeat(63)),
        ];
        for text in cases {
            let head: String = text.chars().take(60).collect();
            let result = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || compile_str(Path::new("deep.bicep"), &text).map(drop).map_err(|e| e.to_string()))
                .expect("thread")
                .join()
                .expect("no stack overflow");
            assert!(result.is_ok(), "{head}: {result:?}");
        }
    }
}
