//! The registry step of the AVM benchmark: which files use registry modules (`module … 'br…'`) or
//! import from a registry (`import … from 'br…'`), and how many get past restore. There is no
//! registry here, so the cache is loaded with the published JSON of each referenced version as
//! the official compiler embedded it in the file's committed main.json (a languageVersion 2.0
//! template keys its nested deployments by symbol, so `resources.<symbol>.properties.template`),
//! and so for the registry modules of the local modules a file uses, from their nested templates.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlops::infra::bicep::registry::{Config, is_registry};
use serde_json::Value;

use super::Outcome;

#[derive(Default)]
pub struct FileUse {
    /// `module` statements with a registry reference.
    modules: usize,
    /// Of those, how many had a template to load into the cache.
    loaded: usize,
    /// `import … from 'br…'` statements.
    imports: usize,
}

/// Per file (as the results name it), its registry use; only files that have one.
pub struct Registry {
    files: BTreeMap<String, FileUse>,
    references: usize,
    cached_versions: usize,
}

/// Finds the registry references of every file and loads the module cache from the official
/// main.json files.
pub fn load_cache(root: &Path, files: &[PathBuf]) -> Registry {
    let mut out = Registry { files: BTreeMap::new(), references: 0, cached_versions: 0 };
    for file in files {
        let official: Value = std::fs::read(file.with_file_name("main.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut usage = FileUse::default();
        load_file(file, &official, &mut usage, &mut out, 0);
        if usage.modules + usage.imports > 0 {
            out.files.insert(file.strip_prefix(root).unwrap_or(file).display().to_string(), usage);
        }
    }
    out
}

/// Loads the registry modules `file` references from `official`, its compiled template, and
/// those of the local modules it uses from their nested templates in it.
fn load_file(file: &Path, official: &Value, usage: &mut FileUse, out: &mut Registry, depth: usize) {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    // A classic template lists its modules last, in declaration order, as deployments.
    let module_count = text.lines().filter(|l| l.trim_start().starts_with("module ")).count();
    let classic: Vec<&Value> = official["resources"]
        .as_array()
        .map(|all| all.iter().filter(|r| r["type"] == "Microsoft.Resources/deployments").collect())
        .unwrap_or_default();
    let classic = &classic[classic.len().saturating_sub(module_count)..];
    let mut module_index = 0;
    for line in text.lines().map(str::trim_start) {
        let quoted = line.split('\'').nth(1).unwrap_or_default();
        if line.starts_with("import ") && is_registry(quoted) {
            usage.imports += 1;
        }
        let Some(rest) = line.strip_prefix("module ") else { continue };
        let symbol = rest.split_whitespace().next().unwrap_or_default();
        // A 2.0 template keys its resources by symbol; a classic one lists them.
        let template = match &official["resources"] {
            Value::Array(_) if classic.len() == module_count => &classic[module_index]["properties"]["template"],
            Value::Array(_) => &Value::Null,
            resources => &resources[symbol]["properties"]["template"],
        };
        module_index += 1;
        if !is_registry(quoted) {
            if quoted.ends_with(".bicep") && depth < 8 && !template.is_null() {
                let child = file.parent().unwrap_or(Path::new(".")).join(quoted);
                load_file(&child, template, usage, out, depth + 1);
            }
            continue;
        }
        usage.modules += 1;
        out.references += 1;
        let (Ok(config), false) = (Config::for_file(file), template.is_null()) else { continue };
        let Ok(module) = config.parse(quoted) else { continue };
        let dir = config.cache_dir(&module);
        if !dir.join("main.json").is_file() {
            let text = serde_json::to_string_pretty(template).unwrap_or_default();
            if std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join("main.json"), text)).is_ok() {
                out.cached_versions += 1;
            }
        }
        usage.loaded += 1;
    }
}

/// Whether a result is a failure of the registry step (a module not in the cache, a bad reference).
fn stuck(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Error(e) => e.contains("is not restored") || e.contains("module alias") || e.contains("bicepconfig"),
        Outcome::Unsupported(f) => f.contains("registry"),
        _ => false,
    }
}

pub fn report(registry: &Registry, results: &[(String, Outcome)], verbose: bool) {
    let using = |name: &str| registry.files.get(name);
    let with_modules = results.iter().filter(|(n, _)| using(n).is_some_and(|u| u.modules > 0)).count();
    let with_imports_only = results.iter().filter(|(n, _)| using(n).is_some_and(|u| u.modules == 0)).count();
    let past: Vec<_> = results.iter().filter(|(n, o)| using(n).is_some_and(|u| u.modules > 0) && !stuck(o)).collect();
    let fully_loaded =
        results.iter().filter(|(n, _)| using(n).is_some_and(|u| u.modules > 0 && u.loaded == u.modules)).count();
    let compiled =
        past.iter().filter(|(_, o)| matches!(o, Outcome::Identical | Outcome::KeyOrder | Outcome::Equivalent)).count();
    println!("\nRegistry step ({} files reference a registry):", registry.files.len());
    println!("| | files |\n|---|---|");
    println!("| with `module … 'br…'` ({} references) | {with_modules} |", registry.references);
    println!(
        "| … whose every referenced version's JSON was in the official main.json (cache loaded: {} versions) | {fully_loaded} |",
        registry.cached_versions
    );
    println!("| … past the registry step (compiled, or refused later for another construct) | {} |", past.len());
    println!("| … and compiled equal to the official main.json | {compiled} |");
    println!("| with only `import … from 'br…'` (compile-time imports: not restored by mlops) | {with_imports_only} |");
    if verbose {
        for (name, o) in results {
            if using(name).is_some_and(|u| u.modules > 0) && stuck(o) {
                let why = match o {
                    Outcome::Error(e) | Outcome::Unsupported(e) => e.as_str(),
                    _ => "",
                };
                println!("REGISTRY    {name}: {why}");
            }
        }
    }
}
