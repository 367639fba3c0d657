//! Native Bicep: conformance with the official compiler's outputs, diagnostics, and the CLI.

use std::path::{Path, PathBuf};

use mlops::infra::bicep::{self, ErrorKind, compare};
use serde_json::Value;

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bicep-corpus");
    dir.is_dir().then_some(dir)
}

/// The entry directories `depth` levels under `root` that hold a `main.bicep`, sorted.
fn entries(root: &Path, depth: usize) -> Vec<PathBuf> {
    let mut level = vec![root.to_path_buf()];
    for _ in 0..depth {
        let mut next = Vec::new();
        for dir in &level {
            if let Ok(read) = std::fs::read_dir(dir) {
                next.extend(read.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
            }
        }
        level = next;
    }
    let mut out: Vec<PathBuf> = level
        .into_iter()
        .filter(|d| d.join("main.bicep").is_file())
        .collect();
    out.sort();
    out
}

#[derive(Default)]
struct Report {
    equal: Vec<String>,
    unsupported: Vec<(String, String)>,
    different: Vec<(String, String)>,
    rejected: Vec<(String, String)>,
    /// Entries the corpus cannot check: a file they load is not part of it.
    missing_input: Vec<(String, String)>,
    accepted_invalid: Vec<String>,
}

fn run(root: &Path, part: &str, depth: usize) -> Report {
    let mut report = Report::default();
    for dir in entries(&root.join(part), depth) {
        let name = dir.strip_prefix(root).unwrap_or(&dir).display().to_string();
        let expected_path = dir.join("main.json");
        let result = bicep::compile_file(&dir.join("main.bicep"));
        if !expected_path.is_file() {
            match result {
                Ok(_) => report.accepted_invalid.push(name),
                Err(e) => report.rejected.push((name, first_line(&e.to_string()))),
            }
            continue;
        }
        let expected: Value = match std::fs::read_to_string(&expected_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
        {
            Some(v) => v,
            None => panic!("unreadable {}", expected_path.display()),
        };
        match result {
            Ok(actual) => {
                if compare::equivalent(&actual, &expected) {
                    report.equal.push(name);
                } else {
                    let (mut a, mut b) = (actual, expected);
                    compare::normalise(&mut a);
                    compare::normalise(&mut b);
                    let d = compare::first_difference(&a, &b).unwrap_or_default();
                    report.different.push((name, d));
                }
            }
            Err(e) if e.to_string().contains("cannot read '") => {
                report
                    .missing_input
                    .push((name, first_line(&e.to_string())));
            }
            Err(e) if e.kind() == Some(ErrorKind::Unsupported) => {
                report.unsupported.push((name, first_line(&e.to_string())));
            }
            Err(e) => report
                .different
                .push((name, format!("rejected: {}", first_line(&e.to_string())))),
        }
    }
    report
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

fn print(part: &str, r: &Report) {
    eprintln!(
        "bicep conformance [{part}]: {} equal, {} unsupported, {} different, {} invalid rejected, {} invalid accepted, {} missing a loaded file",
        r.equal.len(),
        r.unsupported.len(),
        r.different.len(),
        r.rejected.len(),
        r.accepted_invalid.len(),
        r.missing_input.len()
    );
    for (n, why) in &r.missing_input {
        eprintln!("  missing file {n}: {why}");
    }
    for (n, why) in &r.unsupported {
        eprintln!("  unsupported  {n}: {why}");
    }
    for (n, why) in &r.different {
        eprintln!("  DIFFERENT    {n}: {why}");
    }
    for n in &r.accepted_invalid {
        eprintln!("  ACCEPTED INVALID {n}");
    }
}

#[test]
fn corpus_conformance() {
    let Some(root) = corpus() else {
        eprintln!(
            "SKIPPED: ../shared/bicep-corpus is absent; the Bicep conformance test did not run"
        );
        return;
    };
    let user = run(&root, "user_submitted", 2);
    let base = run(&root, "baselines", 1);
    print("user_submitted", &user);
    print("baselines", &base);
    assert!(
        user.different.is_empty(),
        "user_submitted entries compiled differently"
    );
    assert!(base.different.is_empty(), "baselines compiled differently");
    assert!(
        base.accepted_invalid.is_empty(),
        "invalid baselines were accepted"
    );
    let total = user.equal.len() + user.unsupported.len();
    assert!(total > 0, "no user_submitted entries found");
    assert!(
        user.equal.len() * 10 >= total * 9,
        "only {} of {} user_submitted entries are equal (90% required)",
        user.equal.len(),
        total
    );
}
