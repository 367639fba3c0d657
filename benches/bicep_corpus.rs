//! Benchmark: compile every entry point of the Bicep conformance corpus with the native compiler.
//!
//! Run with `cargo bench --bench bicep_corpus`; the corpus is `tests/fixtures/bicep-corpus`. The official `bicep build` CLI is a .NET
//! program that needs about a second per invocation to start (documented figure); it cannot
//! be installed on these machines, so it is quoted, not measured, here.

use std::path::{Path, PathBuf};
use std::time::Instant;

fn entries(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (part, depth) in [("user_submitted", 2), ("baselines", 1)] {
        let mut level = vec![root.join(part)];
        for _ in 0..depth {
            level = level
                .iter()
                .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect();
        }
        out.extend(level.into_iter().map(|d| d.join("main.bicep")).filter(|p| p.is_file()));
    }
    out.sort();
    out
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bicep-corpus");
    let files = entries(&root);
    assert!(!files.is_empty(), "no Bicep entry points under {}", root.display());
    // The first pass also builds the resource type index (28k entries) once; it is timed on its own.
    let mut ok = 0;
    let first = Instant::now();
    for f in &files {
        ok += usize::from(mlops::infra::bicep::compile_file(f).is_ok());
    }
    let first_pass = first.elapsed().as_secs_f64();
    let rounds = 5;
    let start = Instant::now();
    for _ in 0..rounds {
        for f in &files {
            let _ = std::hint::black_box(mlops::infra::bicep::compile_file(f));
        }
    }
    let per_pass = start.elapsed().as_secs_f64() / f64::from(rounds);
    println!(
        "native Bicep: whole corpus ({} entry points, {} compile, modules included) in {:.1} ms per pass; {:.3} ms per file",
        files.len(),
        ok,
        per_pass * 1e3,
        per_pass * 1e3 / files.len() as f64
    );
    println!("first pass, including loading the type index once: {:.1} ms", first_pass * 1e3);
    println!(
        "official bicep CLI: about 1 s per invocation to start (documented figure, not measured: the .NET CLI is not installable here), so about {} s for the same files one by one",
        files.len()
    );
    println!("speed-up over one CLI start per file: about {:.0}x", files.len() as f64 / per_pass);
}
