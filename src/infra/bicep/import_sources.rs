//! The templates a file imports from, loaded for [`imports`](super::imports): registry modules
//! from the restore cache (the same cache and the same error as a registry `module`), local ARM
//! JSON templates, and local Bicep files, of which only the type declarations (and the imports
//! they use) are compiled, as the official compiler binds only the symbols an import needs.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use super::ast::{ImportDecl, ImportItems, Stmt};
use super::convert::Compiler;
use super::error::{DResult, Diag, ErrorKind, Span};
use super::imports::{self, Closure, Source, Symbol};
use super::model::Model;
use super::template_spec::{self, CachedSpec, SpecRef};
use super::{decode_source, normalise, parser, registry};

/// Loads the templates one file imports from, each once.
pub struct Loader {
    /// The directory of the file being compiled: local template identifiers are relative to it.
    entry_dir: PathBuf,
    sources: Vec<Source>,
    by_id: HashMap<String, usize>,
    /// Bicep files whose types are being compiled, to refuse an import cycle.
    stack: Vec<PathBuf>,
}

impl Loader {
    pub fn new(entry: &Path) -> Self {
        let entry_dir = entry.parent().map(Path::to_path_buf).unwrap_or_default();
        Loader { entry_dir, sources: Vec::new(), by_id: HashMap::new(), stack: vec![normalise(entry)] }
    }

    /// The import closure of `model`, the declarations of `file`.
    pub fn closure(mut self, file: &Path, model: &Model<'_>) -> DResult<Closure> {
        let mut loaded = Vec::new();
        for &decl in &model.imports {
            loaded.push((decl, self.load(file, decl)?));
        }
        imports::closure(&self.sources, &loaded)
    }

    fn load(&mut self, importer: &Path, decl: &ImportDecl) -> DResult<usize> {
        if registry::is_registry(&decl.path) {
            // Each version is read and parsed once, however many statements import from it.
            let (config, module) = registry_reference(importer, &decl.path, decl.path_span)?;
            if let Some(&i) = self.by_id.get(&module.to_string()) {
                return Ok(i);
            }
            let template = cached_template(&config, &module, importer, &decl.path, decl.path_span)?;
            return Ok(self.add(arm_source(module.to_string(), &template)));
        }
        if template_spec::is_template_spec(&decl.path) {
            let (_, spec) = spec_reference(importer, &decl.path, decl.path_span)?;
            if let Some(&i) = self.by_id.get(&spec.to_string()) {
                return Ok(i);
            }
            let cached = cached_spec(importer, &decl.path, decl.path_span)?;
            return Ok(self.add(arm_source(spec.to_string(), &cached.main_template)));
        }
        let file = importer.parent().unwrap_or(Path::new("")).join(&decl.path);
        let id = relative(&self.entry_dir, &file);
        if let Some(&i) = self.by_id.get(&id) {
            return Ok(i);
        }
        if !file.is_file() {
            let message = format!("the imported file '{}' does not exist", file.display());
            return Err(Diag::new(ErrorKind::Invalid, decl.path_span, message));
        }
        if is_arm_template_path(&decl.path) {
            let template = local_arm_template(&file, decl.path_span)?;
            return Ok(self.add(arm_source(id, &template)));
        }
        if !decl.path.ends_with(".bicep") {
            return Err(Diag::unsupported(decl.path_span, "an import from a file that is not .bicep or .json"));
        }
        if self.stack.contains(&normalise(&file)) {
            return Err(Diag::new(
                ErrorKind::Cycle,
                decl.path_span,
                "this import refers back to a file that imports it",
            ));
        }
        self.stack.push(normalise(&file));
        let source = self.bicep_source(id, &file);
        self.stack.pop();
        Ok(self.add(source?))
    }

    fn add(&mut self, source: Source) -> usize {
        self.by_id.insert(source.id.clone(), self.sources.len());
        self.sources.push(source);
        self.sources.len() - 1
    }

    /// A Bicep file as an import source: its type declarations compiled as the file's own
    /// `definitions`, and the names its imports bind. Errors are located in that file.
    fn bicep_source(&mut self, id: String, file: &Path) -> DResult<Source> {
        let bytes = std::fs::read(file)
            .map_err(|source| Diag::Done(super::BicepError::Io { path: file.to_path_buf(), source }))?;
        let text = decode_source(file, &bytes).map_err(Diag::Done)?;
        let located = |d: Diag| Diag::Done(d.locate(file, text));
        let stmts = parser::parse(text).map_err(located)?;
        let other_exports = stmts
            .iter()
            .filter_map(|s| match s {
                Stmt::Var(v) if v.decorators.iter().any(|d| d.name == "export") => Some(v.name.clone()),
                Stmt::Func(f) if f.decorators.iter().any(|d| d.name == "export") => Some(f.name.clone()),
                _ => None,
            })
            .collect();
        let stmts: Vec<Stmt> =
            stmts.into_iter().filter(|s| matches!(s, Stmt::Type(_) | Stmt::Import(_) | Stmt::Func(_))).collect();
        let model = Model::build(&stmts).map_err(located)?;
        let mut names = HashMap::new();
        let mut types = HashSet::new();
        let mut wildcard = HashMap::new();
        for &decl in &model.imports {
            let s = self.load(file, decl).map_err(|d| match d {
                Diag::Done(_) => d,
                d => located(d),
            })?;
            let items = match &decl.items {
                ImportItems::Named(items) => items,
                // `import * as ns`: each exported type is bound as `ns.<name>`, a local name no
                // declaration can have, which the definitions compiled here refer to.
                ImportItems::Wildcard { alias, alias_span } => {
                    let source = &self.sources[s];
                    if !source.other_exports.is_empty() {
                        let what = "a wildcard import of variables or functions into an imported file";
                        return Err(located(Diag::unsupported(*alias_span, what)));
                    }
                    for (name, definition) in &source.definitions {
                        if definition["metadata"]["__bicep_export!"] != true {
                            continue;
                        }
                        let local = format!("{alias}.{name}");
                        let symbol =
                            source.imports.get(name).cloned().unwrap_or(Symbol { source: s, name: name.clone() });
                        names.insert(local.clone(), symbol);
                        wildcard.insert((alias.clone(), name.clone()), local);
                    }
                    continue;
                }
            };
            for item in items {
                let source = &self.sources[s];
                if source.other_exports.contains(&item.name) {
                    let what = "importing a variable or a function into an imported file";
                    return Err(located(Diag::unsupported(item.name_span, what)));
                }
                let exported =
                    source.definitions.get(&item.name).is_some_and(|d| d["metadata"]["__bicep_export!"] == true);
                if !exported {
                    let message = format!("'{}' does not export a type named '{}'", decl.path, item.name);
                    return Err(located(Diag::new(ErrorKind::Undefined, item.name_span, message)));
                }
                let symbol =
                    source.imports.get(&item.name).cloned().unwrap_or(Symbol { source: s, name: item.name.clone() });
                names.insert(item.local().to_string(), symbol);
                types.insert(item.local().to_string());
            }
        }
        let compiler = Compiler {
            model: &model,
            dir: file.parent().map(Path::to_path_buf).unwrap_or_default(),
            inline: Vec::new(),
            symbolic: true,
            module_templates: Vec::new(),
            function_vars: Vec::new(),
            imports: Closure { types, wildcard, ..Closure::default() },
        };
        let definitions = compiler.type_definitions().map_err(located)?;
        let functions = compiler.function_members().map_err(located)?;
        let functions = functions.into_iter().filter(|(_, f)| f["metadata"]["__bicep_export!"] == true).collect();
        Ok(Source { id, definitions, functions, other_exports, imports: names, bicep: true })
    }
}

/// An ARM template as an import source: its `definitions`, and the names of the variables and
/// functions it exports (`__bicep_exported_variables!`, `__bicep` functions marked exported).
fn arm_source(id: String, template: &Value) -> Source {
    let definitions = template["definitions"].as_object().cloned().unwrap_or_default();
    let mut other_exports: Vec<String> = template["metadata"]["__bicep_exported_variables!"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    let mut functions = Map::new();
    for namespace in template["functions"].as_array().into_iter().flatten() {
        let members = namespace["members"].as_object().into_iter().flatten();
        for (name, f) in members.filter(|(_, f)| f["metadata"]["__bicep_export!"] == true) {
            other_exports.push(name.clone());
            if namespace["namespace"] == "__bicep" {
                functions.insert(name.clone(), f.clone());
            }
        }
    }
    Source {
        id,
        definitions: definitions.into_iter().collect::<Map<_, _>>(),
        functions,
        other_exports,
        imports: HashMap::new(),
        bicep: false,
    }
}

/// `file` relative to `dir`, with `/` separators, worked out on the paths as written (as the
/// official compiler relates the two URIs), so that the identifier does not depend on where the
/// checkout is.
fn relative(dir: &Path, file: &Path) -> String {
    fn parts(p: &Path) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir if out.last().is_some_and(|l| l != "..") => {
                    out.pop();
                }
                c => out.push(c.as_os_str().to_string_lossy().into_owned()),
            }
        }
        out
    }
    let (dir, file) = (parts(dir), parts(file));
    let common = dir.iter().zip(&file).take_while(|(a, b)| a == b).count();
    let mut out = vec![".."; dir.len() - common];
    out.extend(file[common..].iter().map(String::as_str));
    out.join("/")
}

/// The restored template of a registry module; compiling never touches the network, so a module
/// missing from the cache is an error that says how to restore it.
pub fn registry_template(file: &Path, reference: &str, span: Span) -> DResult<Value> {
    let (config, module) = registry_reference(file, reference, span)?;
    cached_template(&config, &module, file, reference, span)
}

/// Whether a local path names an ARM template (`.json`, `.jsonc`, `.arm`), which the official
/// compiler reads as one, rather than a Bicep file.
pub fn is_arm_template_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [".json", ".jsonc", ".arm"].iter().any(|ext| lower.ends_with(ext))
}

/// A local ARM template (comments allowed, as the official compiler reads it), which must be a
/// JSON object.
pub fn local_arm_template(file: &Path, span: Span) -> DResult<Value> {
    let bytes =
        std::fs::read(file).map_err(|source| Diag::Done(super::BicepError::Io { path: file.to_path_buf(), source }))?;
    let text = decode_source(file, &bytes).map_err(Diag::Done)?;
    match serde_json::from_str::<Value>(&registry::strip_comments(text)) {
        Ok(template @ Value::Object(_)) => Ok(template),
        Ok(_) => {
            let message = format!("'{}' is not an ARM template (not a JSON object)", file.display());
            Err(Diag::new(ErrorKind::Invalid, span, message))
        }
        Err(e) => {
            let message = format!("'{}' is not an ARM template: {e}", file.display());
            Err(Diag::new(ErrorKind::Invalid, span, message))
        }
    }
}

/// The configuration that applies to `file`, and the template-spec `reference` resolved by it.
fn spec_reference(file: &Path, reference: &str, span: Span) -> DResult<(registry::Config, SpecRef)> {
    let config = registry::Config::for_file(file).map_err(|m| Diag::new(ErrorKind::Invalid, span, m))?;
    let spec = config.parse_spec(reference).map_err(|m| Diag::new(ErrorKind::Invalid, span, m))?;
    Ok((config, spec))
}

/// The restored template spec version a `ts:` reference of `file` names.
pub fn cached_spec(file: &Path, reference: &str, span: Span) -> DResult<CachedSpec> {
    let (config, spec) = spec_reference(file, reference, span)?;
    from_cache(config.cached_spec(&spec), ("template spec", &spec.to_string()), &config, file, reference, span)
}

/// What the cache held for `reference` (`what` and its resolved form name it): a missing entry is
/// an error that says how to restore it.
fn from_cache<T>(
    found: Option<Result<T, String>>,
    (what, resolved): (&str, &str),
    config: &registry::Config,
    file: &Path,
    reference: &str,
    span: Span,
) -> DResult<T> {
    match found {
        Some(Ok(value)) => Ok(value),
        Some(Err(m)) => Err(Diag::new(ErrorKind::Invalid, span, m)),
        None => {
            let resolved = if resolved == reference { String::new() } else { format!(" ({resolved})") };
            let message = format!(
                "the {what} '{reference}'{resolved} is not restored in {}; run `mlops infra restore {}`",
                config.cache_root.display(),
                file.display()
            );
            Err(Diag::new(ErrorKind::Invalid, span, message))
        }
    }
}

/// The registry configuration that applies to `file`, and `reference` resolved by it.
fn registry_reference(file: &Path, reference: &str, span: Span) -> DResult<(registry::Config, registry::ModuleRef)> {
    let config = registry::Config::for_file(file).map_err(|m| Diag::new(ErrorKind::Invalid, span, m))?;
    let module = config.parse(reference).map_err(|m| Diag::new(ErrorKind::Invalid, span, m))?;
    Ok((config, module))
}

fn cached_template(
    config: &registry::Config,
    module: &registry::ModuleRef,
    file: &Path,
    reference: &str,
    span: Span,
) -> DResult<Value> {
    from_cache(config.cached_template(module), ("module", &module.to_string()), config, file, reference, span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_identifiers_are_relative_to_the_compiled_file() {
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b/./key/main.bicep")), "key/main.bicep");
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b/x/../../../c.bicep")), "../../c.bicep");
        assert_eq!(relative(Path::new(""), Path::new("t.bicep")), "t.bicep");
    }
}
