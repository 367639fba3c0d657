//! The registry step of the AVM benchmark: which files use registry modules (`module … 'br…'`) or
//! import from a registry (`import … from 'br…'`), and how many get past restore. There is no
//! registry here, so the cache is loaded with the published JSON of each referenced version. A
//! module's is its template as the official compiler embedded it in the file's committed
//! main.json (a languageVersion 2.0 template keys its nested deployments by symbol, so
//! `resources.<symbol>.properties.template`), and so for the registry modules of the local
//! modules a file uses, from their nested templates: that is exactly what was published. Every
//! other reference (imports, and modules of imported files) whose version is a release tag of the
//! snapshot (`avm/<path>/<version>`, when it is a git clone with its tags) gets the main.json at
//! that tag, which is the published JSON up to the telemetry version (AVM's publishing writes each
//! module's and nested module's version over `-..--..-`; only the top module's is restored here)
//! and, for some versions, the API version of nested deployments (user-assigned-identity 0.5.0:
//! `2022-09-01` at the tag, `2025-04-01` where avm/ptn/alz/ama embeds it); what imports read,
//! the type definitions, is not affected. Over the test fixtures (not a git clone), their own
//! module cache (`cache/`) serves the same purpose.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use mlops::infra::bicep::registry::{Config, ModuleRef, is_registry};
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
    /// Versions loaded from a release tag of the snapshot.
    tagged_versions: usize,
}

/// The release tags of a git snapshot (`avm/res/x/y/1.2.3`), empty when it is not a git clone.
struct Tags {
    root: PathBuf,
    names: HashSet<String>,
}

impl Tags {
    fn of(root: &Path) -> Tags {
        let names = Command::new("git")
            .args(["-C", &root.display().to_string(), "tag", "--list", "avm/*"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect())
            .unwrap_or_default();
        Tags { root: root.to_path_buf(), names }
    }

    /// The published main.json of a public registry module version, if the snapshot has its tag.
    /// AVM's publishing writes the version over the telemetry placeholder `-..--..-` (the
    /// templates embedded in the committed main.json files have the version there, and are
    /// otherwise equal to the tag's main.json but for `templateHash`).
    fn template(&self, module: &ModuleRef) -> Option<String> {
        let path = module.repository.strip_prefix("bicep/").filter(|_| module.registry == "mcr.microsoft.com")?;
        let version = module.tag.as_deref()?;
        let tag = format!("{path}/{version}");
        if !self.names.contains(&tag) {
            return None;
        }
        let object = format!("{tag}:{path}/main.json");
        let out = Command::new("git").args(["-C", &self.root.display().to_string(), "show", &object]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).replace("-..--..-", version))
    }
}

/// Finds the registry references of every file and loads the module cache from the official
/// main.json files.
pub fn load_cache(root: &Path, files: &[PathBuf]) -> Registry {
    let mut out = Registry { files: BTreeMap::new(), references: 0, cached_versions: 0, tagged_versions: 0 };
    let tags = Tags::of(root);
    for file in files {
        let official: Value = std::fs::read(file.with_file_name("main.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut usage = FileUse::default();
        load_file(file, &official, &mut usage, &mut out, 0);
        load_tagged(file, &tags, &mut out);
        if usage.modules + usage.imports > 0 {
            out.files.insert(file.strip_prefix(root).unwrap_or(file).display().to_string(), usage);
        }
    }
    out
}

/// Loads every registry reference of `file`, the local modules it uses and the files it imports
/// from, whose version is a release tag of the snapshot.
fn load_tagged(file: &Path, tags: &Tags, out: &mut Registry) {
    let Ok(uses) = mlops::infra::bicep::external_references(file) else { return };
    for used in uses {
        let Ok(config) = Config::for_file(&used.file) else { continue };
        let Ok(module) = config.parse(&used.reference) else { continue };
        let dir = config.cache_dir(&module);
        if dir.join("main.json").is_file() {
            continue;
        }
        // The test fixtures carry a module cache of their own (`cache/`, the official layout).
        let fixture =
            Config { cache_root: tags.root.join("cache"), ..config.clone() }.cache_dir(&module).join("main.json");
        let Some(template) = tags.template(&module).or_else(|| std::fs::read_to_string(fixture).ok()) else {
            continue;
        };
        if std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join("main.json"), template)).is_ok() {
            out.tagged_versions += 1;
        }
    }
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
        let from = line.split(" from '").nth(1).and_then(|r| r.split('\'').next()).unwrap_or_default();
        if (line.starts_with("import ") || line.starts_with('}')) && is_registry(from) {
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
        let Ok(config) = Config::for_file(file) else { continue };
        let Ok(module) = config.parse(quoted) else { continue };
        let dir = config.cache_dir(&module);
        if dir.join("main.json").is_file() {
            usage.loaded += 1;
            continue;
        }
        if template.is_null() {
            continue;
        }
        let text = serde_json::to_string_pretty(template).unwrap_or_default();
        if std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join("main.json"), text)).is_ok() {
            out.cached_versions += 1;
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
        "| … whose every referenced version's JSON was loaded (cache: {} versions from release tags, {} from official main.json files) | {fully_loaded} |",
        registry.tagged_versions, registry.cached_versions
    );
    println!("| … past the registry step (compiled, or refused later for another construct) | {} |", past.len());
    println!("| … and compiled equal to the official main.json | {compiled} |");
    let imports_past =
        results.iter().filter(|(n, o)| using(n).is_some_and(|u| u.modules == 0 && u.imports > 0) && !stuck(o)).count();
    let imports_compiled = results
        .iter()
        .filter(|(n, o)| {
            using(n).is_some_and(|u| u.modules == 0 && u.imports > 0)
                && matches!(o, Outcome::Identical | Outcome::KeyOrder | Outcome::Equivalent)
        })
        .count();
    println!("| with only `import … from 'br…'` | {with_imports_only} |");
    println!("| … past the registry step | {imports_past} |");
    println!("| … and compiled equal to the official main.json | {imports_compiled} |");
    if verbose {
        for (name, o) in results {
            if using(name).is_some() && stuck(o) {
                let why = match o {
                    Outcome::Error(e) | Outcome::Unsupported(e) => e.as_str(),
                    _ => "",
                };
                println!("REGISTRY    {name}: {why}");
            }
        }
    }
}
