//! Benchmark: the native Bicep compiler against the official one on the Azure Verified Modules.
//!
//! `cargo bench --bench bicep_avm -- PATH [--verbose]`, where PATH is a checkout of
//! Azure/bicep-registry-modules (about 75 MB, so it is not in the repository); without PATH, the
//! 23 modules of `tests/fixtures/bicep-avm`. Every
//! `avm/**/main.bicep` with a sibling `main.json` (the official compiler's output, committed by the
//! module's authors) is compiled and sorted into one bucket: equal, different, a clean
//! `unsupported:` refusal, any other error (every such file is valid Bicep, so that is a false
//! syntax or type error), or a crash. It prints the table, the unsupported features by count, and
//! the compile time per file (median and p90); `--verbose` also lists every file's result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mlops::infra::bicep::{self, BicepError, ErrorKind, compare};
use serde_json::Value;

#[path = "bicep_avm/registry_step.rs"]
mod registry_step;

/// Where one file ended up.
pub(crate) enum Outcome {
    /// The same JSON, keys in the same order, after dropping `metadata._generator`.
    Identical,
    /// The same JSON with keys in another order somewhere.
    KeyOrder,
    /// Equal only up to what ARM ignores (`dependsOn` order, the module deployments' API version).
    Equivalent,
    Different(String),
    Unsupported(String),
    /// An error other than `unsupported:` on a file the official compiler accepted.
    Error(String),
    Crash(String),
}

fn main() {
    // Registry modules are read from the module cache, whose root only the environment (or a
    // bicepconfig.json) sets: run again as a child with a cache of its own, loaded below.
    if std::env::var_os(bicep::registry::CACHE_ENV).is_none() {
        let cache = tempfile::tempdir().expect("temp dir for the module cache");
        let status = std::process::Command::new(std::env::current_exe().expect("own path"))
            .args(std::env::args_os().skip(1))
            .env(bicep::registry::CACHE_ENV, cache.path())
            .status()
            .expect("run the benchmark with a module cache");
        std::process::exit(status.code().unwrap_or(1));
    }
    let all: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test` does not, and passes its test-name filter
    // instead (`scripts/test.sh infra`), which is not a corpus path.
    let benching = all.iter().any(|a| a == "--bench");
    let args: Vec<String> = all.into_iter().filter(|a| a != "--bench").collect();
    let verbose = args.iter().any(|a| a == "--verbose" || a == "-v");
    // Without a path, the subset committed for the tests: `cargo test --all-targets` (the test
    // command) runs every bench once, so the benchmark itself stays exercised.
    let root = match args.iter().find(|a| benching && !a.starts_with('-')) {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bicep-avm"),
    };
    let mut files = Vec::new();
    walk(&root.join("avm"), &mut files);
    files.sort();
    assert!(!files.is_empty(), "no avm/**/main.bicep with a main.json beside it under {}", root.display());

    let registry = registry_step::load_cache(&root, &files);

    // A panic is a result here, not the end of the run; its message goes into the table instead.
    std::panic::set_hook(Box::new(|_| {}));
    // The first compile that meets a resource loads the type index (28k entries); keep that out of
    // the per-file times.
    let _ = std::panic::catch_unwind(|| bicep::compile_file(&files[0]));

    let mut results = Vec::new();
    let mut times = Vec::new();
    let mut compiled_times = Vec::new();
    for file in &files {
        let start = Instant::now();
        let compiled = std::panic::catch_unwind(|| bicep::compile_file(file));
        let elapsed = start.elapsed();
        times.push(elapsed);
        if matches!(compiled, Ok(Ok(_))) {
            compiled_times.push(elapsed);
        }
        let outcome = match compiled {
            Err(panic) => Outcome::Crash(panic_message(&panic)),
            Ok(Ok(actual)) => compare_with_official(file, actual),
            Ok(Err(err)) => refusal(&err),
        };
        results.push((file.strip_prefix(&root).unwrap_or(file).display().to_string(), outcome));
    }
    report(&root, &results, [("every file", &mut times), ("files that compile", &mut compiled_times)], verbose);
    registry_step::report(&registry, &results, verbose);
}

/// Every `main.bicep` under `dir` with a `main.json` beside it.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.file_name().is_some_and(|n| n == "main.bicep") && path.with_file_name("main.json").is_file() {
            out.push(path);
        }
    }
}

fn compare_with_official(file: &Path, mut actual: Value) -> Outcome {
    let text = std::fs::read_to_string(file.with_file_name("main.json")).unwrap_or_default();
    let Ok(mut expected) = serde_json::from_str::<Value>(&text) else {
        return Outcome::Different("the official main.json is not JSON".into());
    };
    compare::drop_generator(&mut actual);
    compare::drop_generator(&mut expected);
    if actual == expected {
        // serde_json's maps keep insertion order but compare without it; the text does not.
        if serde_json::to_string(&actual).ok() == serde_json::to_string(&expected).ok() {
            Outcome::Identical
        } else {
            Outcome::KeyOrder
        }
    } else if compare::equivalent(&actual, &expected) {
        Outcome::Equivalent
    } else {
        Outcome::Different(compare::first_difference(&actual, &expected).unwrap_or_default())
    }
}

fn refusal(err: &BicepError) -> Outcome {
    let line = err.to_string().lines().next().unwrap_or_default().to_string();
    match err.diagnostic() {
        Some(d) if d.kind == ErrorKind::Unsupported => Outcome::Unsupported(feature(&d.message)),
        _ => Outcome::Error(line),
    }
}

/// The unsupported feature a message names, with quoted specifics (type names, paths) elided so
/// that the same feature counts once; short quoted keywords (`'import'`) stay.
fn feature(message: &str) -> String {
    let message = message.strip_suffix(" is not supported by mlops' native Bicep compiler").unwrap_or(message);
    let message = message.split(", so ").next().unwrap_or(message);
    let mut out = String::new();
    let mut parts = message.split('\'');
    out.push_str(parts.next().unwrap_or_default());
    for (i, part) in parts.enumerate() {
        let specific = part.contains('/');
        // Even parts are inside quotes.
        if i % 2 == 0 && specific {
            out.push_str("'…");
        } else {
            out.push('\'');
            out.push_str(part);
        }
    }
    out
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

fn report(root: &Path, results: &[(String, Outcome)], timings: [(&str, &mut Vec<Duration>); 2], verbose: bool) {
    let count = |f: fn(&Outcome) -> bool| results.iter().filter(|(_, o)| f(o)).count();
    let total = results.len();
    let rows = [
        ("equal (identical JSON, same key order)", count(|o| matches!(o, Outcome::Identical))),
        ("equal JSON, keys in another order", count(|o| matches!(o, Outcome::KeyOrder))),
        ("equal up to dependsOn order / module deployment apiVersion", count(|o| matches!(o, Outcome::Equivalent))),
        ("different", count(|o| matches!(o, Outcome::Different(_)))),
        ("unsupported (clean refusal)", count(|o| matches!(o, Outcome::Unsupported(_)))),
        ("syntax or type error on a valid file", count(|o| matches!(o, Outcome::Error(_)))),
        ("crash (panic)", count(|o| matches!(o, Outcome::Crash(_)))),
    ];
    // Only a checkout of its own has a commit: inside this repository (the fixtures), git would
    // name mlops's commit, not the modules'.
    let commit = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "--show-prefix", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .filter(|o| String::from_utf8_lossy(&o.stdout).lines().next().is_some_and(|prefix| prefix.trim().is_empty()))
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().last().unwrap_or_default().trim().to_string())
        .unwrap_or_else(|| "unknown: not the top of a git checkout".into());
    println!("Azure Verified Modules at {} (commit {commit}): {total} main.bicep with a main.json\n", root.display());
    println!("| result | files | share |\n|---|---|---|");
    for (name, n) in rows {
        println!("| {name} | {n} | {:.1}% |", percent(n, total));
    }

    let mut features: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, o) in results {
        if let Outcome::Unsupported(f) = o {
            *features.entry(f).or_default() += 1;
        }
    }
    let mut features: Vec<_> = features.into_iter().collect();
    features.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    println!("\n| unsupported feature (first one met in the file) | files |\n|---|---|");
    for (f, n) in &features {
        println!("| {f} | {n} |");
    }

    // A refusal stops at the first unsupported construct, so "every file" mixes whole compiles
    // with partial ones; the second line times whole compiles only.
    for (label, times) in timings {
        if times.is_empty() {
            continue;
        }
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
        println!(
            "\ncompile time per file, {label} ({}; type index loaded beforehand): median {:.2} ms, p90 {:.2} ms, max {:.2} ms, total {:.0} ms",
            times.len(),
            at(0.5),
            at(0.9),
            at(1.0),
            times.iter().sum::<Duration>().as_secs_f64() * 1e3
        );
    }

    println!();
    for (name, o) in results {
        match o {
            Outcome::Different(d) => println!("DIFFERENT   {name}: {}", cut(d)),
            Outcome::Error(e) => println!("ERROR       {name}: {e}"),
            Outcome::Crash(p) => println!("CRASH       {name}: {p}"),
            Outcome::KeyOrder if verbose => println!("KEY ORDER   {name}"),
            Outcome::Unsupported(f) if verbose => println!("unsupported {name}: {f}"),
            Outcome::Identical if verbose => println!("equal       {name}"),
            Outcome::Equivalent if verbose => println!("equivalent  {name}"),
            _ => {}
        }
    }
}

/// A JSON difference can quote a whole embedded document; a report line shows its start.
fn cut(text: &str) -> String {
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

fn percent(n: usize, total: usize) -> f64 {
    if total == 0 { 0.0 } else { 100.0 * n as f64 / total as f64 }
}
