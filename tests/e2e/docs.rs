//! The documentation against the code: the pages that copy a table from the sources fail here
//! when the two drift apart, and every link between the repository's Markdown files resolves.
//!
//! docs/environment.md is written by hand, grouped by task with the flag beside each variable,
//! rather than generated from src/env_vars.rs; these tests hold the two to the same set of names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use mlops::error_kind::ErrorKind;
use mlops::exit;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The lines of a Markdown text outside fenced code blocks.
fn prose_lines(text: &str) -> Vec<&str> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push(line);
        }
    }
    out
}

/// The inline code spans of one line (`like this`).
fn code_spans(line: &str) -> Vec<&str> {
    line.split('`').skip(1).step_by(2).collect()
}

/// The cells of a table row, or None for other lines and for the `|---|` separator.
fn table_cells(line: &str) -> Option<Vec<&str>> {
    let inner = line.trim().strip_prefix('|')?.strip_suffix('|')?;
    let cells: Vec<&str> = inner.split('|').map(str::trim).collect();
    let separator = cells.iter().all(|c| !c.is_empty() && c.chars().all(|ch| ch == '-' || ch == ':'));
    (!separator).then_some(cells)
}

fn looks_like_a_variable(span: &str) -> bool {
    span.len() >= 2
        && span.starts_with(|c: char| c.is_ascii_uppercase())
        && span.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The names `src/env_vars.rs` declares: the value of every `pub const X: &str = "…";`.
fn declared_variables() -> BTreeSet<String> {
    let source = read("src/env_vars.rs");
    let names: BTreeSet<String> = source
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub const "))
        .filter_map(|rest| rest.split_once(": &str = \"").map(|(_, value)| value))
        .map(|value| value.trim_end_matches("\";").to_string())
        .collect();
    assert!(names.len() > 40, "src/env_vars.rs declares only {names:?}; has its shape changed?");
    names
}

#[test]
fn environment_page_documents_exactly_the_declared_variables() {
    let declared = declared_variables();
    let page = read("docs/environment.md");
    let mut documented = BTreeSet::new();
    let mut mentioned = BTreeSet::new();
    for line in prose_lines(&page) {
        if let Some(cells) = table_cells(line)
            && cells.first().is_some_and(|first| *first != "variable")
        {
            documented.extend(code_spans(cells[0]).into_iter().filter(|s| looks_like_a_variable(s)).map(String::from));
        }
        mentioned.extend(code_spans(line).into_iter().filter(|s| looks_like_a_variable(s)).map(String::from));
    }
    let undocumented: Vec<_> = declared.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "declared in src/env_vars.rs but without a row in docs/environment.md: {undocumented:?}"
    );
    let unknown: Vec<_> = mentioned.difference(&declared).collect();
    assert!(unknown.is_empty(), "named in docs/environment.md but not declared in src/env_vars.rs: {unknown:?}");
}

#[test]
fn exit_code_page_lists_exactly_the_exit_table() {
    let page = read("docs/exit-codes.md");
    let lines = prose_lines(&page);
    let header = lines
        .iter()
        .position(|l| table_cells(l).is_some_and(|c| c.starts_with(&["code", "kind"])))
        .expect("docs/exit-codes.md has a table with the columns code | kind | meaning");
    let mut documented = Vec::new();
    for line in &lines[header + 1..] {
        if !line.trim_start().starts_with('|') {
            break;
        }
        let Some(cells) = table_cells(line) else { continue };
        let code: u8 = cells[0].parse().unwrap_or_else(|_| panic!("not an exit code: {line}"));
        documented.push((code, cells[1].trim_matches('`').to_string()));
    }
    let mut expected = vec![(exit::OK, "—".to_string())];
    expected.extend(ErrorKind::ALL.iter().map(|kind| (exit::code(*kind), format!("{kind:?}"))));
    assert_eq!(documented, expected, "docs/exit-codes.md against exit::code for every ErrorKind");
}

/// Markdown files of the repository (hidden directories, build output and installed tools aside).
fn markdown_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with('.') || ["target", "node_modules", "mlruns"].contains(&name) {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for line in prose_lines(text) {
        let Some(heading) = line.strip_prefix('#').map(|h| h.trim_start_matches('#')) else { continue };
        let base = slug(heading);
        let n = seen.entry(base.clone()).or_default();
        out.insert(if *n == 0 { base.clone() } else { format!("{base}-{n}") });
        *n += 1;
    }
    out
}

/// The targets of the inline links `[text](target)` on one line, code spans aside.
fn link_targets(line: &str) -> Vec<String> {
    let without_code: String = line.split('`').step_by(2).collect();
    let mut targets = Vec::new();
    let mut rest = without_code.as_str();
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            targets.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    targets
}

/// Links between the repository's files are relative and resolve, anchors included; nothing
/// links outside the repository.
#[test]
fn markdown_links_stay_inside_the_repository_and_resolve() {
    let files = markdown_files();
    assert!(files.iter().any(|f| f.ends_with("docs/environment.md")), "the walk found {files:?}");
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("Markdown is UTF-8");
        let shown = file.strip_prefix(root()).unwrap_or(file).display().to_string();
        for line in prose_lines(&text) {
            for target in link_targets(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    broken.push(format!("{shown}: links outside the repository: {target}"));
                    continue;
                }
                let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
                let linked =
                    if path.is_empty() { file.clone() } else { file.parent().expect("in a directory").join(path) };
                if !linked.exists() {
                    broken.push(format!("{shown}: no such file: {target}"));
                    continue;
                }
                if !anchor.is_empty() {
                    let linked_text = std::fs::read_to_string(&linked).unwrap_or_default();
                    if !anchors(&linked_text).contains(anchor) {
                        broken.push(format!("{shown}: no heading #{anchor} in {path}"));
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken Markdown links:\n{}", broken.join("\n"));
}

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug(" Tracking to Azure Machine Learning (`azureml://`)"),
        "tracking-to-azure-machine-learning-azureml"
    );
    assert_eq!(slug(" `mlops train --compute NAME`"), "mlops-train---compute-name");
    assert_eq!(link_targets("see [a](b.md#c) and `[x](y)` and [d](../e)"), ["b.md#c", "../e"]);
}

/// The top-level directories a Markdown file may name a path under, in a code span.
const REPOSITORY_DIRS: &[&str] = &[
    "src/",
    "tests/",
    "docs/",
    "benches/",
    "scripts/",
    "pipelines/",
    "data/",
    "environment_setup/",
    "experimentation/",
    ".ci/",
    ".github/",
];

/// Every repository path a Markdown file names in a code span exists (relative to the root or
/// to the file), so moving or renaming a file cannot leave the documentation pointing at nothing.
#[test]
fn paths_named_in_the_documentation_exist() {
    let mut missing = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).expect("Markdown is UTF-8");
        let shown = file.strip_prefix(root()).unwrap_or(&file).display().to_string();
        for line in prose_lines(&text) {
            for span in code_spans(line) {
                let placeholder = span.contains(['<', '>', '*', '…', ' ', '$', '{', '|']) || span.contains("NAME");
                if placeholder || !REPOSITORY_DIRS.iter().any(|dir| span.starts_with(dir)) {
                    continue;
                }
                let here = file.parent().expect("in a directory").join(span);
                if !root().join(span).exists() && !here.exists() {
                    missing.push(format!("{shown}: {span}"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "paths named in the documentation that do not exist:\n{}", missing.join("\n"));
}

/// CONTRIBUTING.md's layout table names every top-level module of `src/`.
#[test]
fn contributing_names_every_source_module() {
    let contributing = read("CONTRIBUTING.md");
    let mut unnamed = Vec::new();
    for entry in std::fs::read_dir(root().join("src")).expect("src is readable") {
        let path = entry.expect("directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let named = if path.is_dir() { format!("`src/{name}/`") } else { format!("`src/{name}`") };
        if !contributing.contains(&named) {
            unnamed.push(named);
        }
    }
    unnamed.sort();
    assert!(unnamed.is_empty(), "src/ entries CONTRIBUTING.md's layout does not name: {unnamed:?}");
}

/// `mlops --help` ends with the exit codes in one line each; they are the table's codes.
#[test]
fn help_lists_the_exit_codes() {
    let out = crate::support::Workspace::new().run(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let (_, codes) = help.split_once("Exit codes:").expect("mlops --help lists the exit codes");
    let listed: Vec<u8> =
        codes.split(',').filter_map(|item| item.split_whitespace().next().and_then(|n| n.parse().ok())).collect();
    let mut expected = vec![exit::OK];
    expected.extend(ErrorKind::ALL.iter().map(|kind| exit::code(*kind)));
    assert_eq!(listed, expected, "exit codes in `mlops --help`: {codes}");
}
