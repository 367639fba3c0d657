//! The shape of the code: the module graph drawn from the sources' paths has no cycle, so
//! arrows point one way (commands → domain → http/azure/files) and no module depends on itself
//! through others.
//!
//! Nodes are source files (`src/a/b.rs` is `a::b`, `src/a/mod.rs` is `a`). An edge A → B is a
//! path in A that names B (`crate::b::…`, `super::…`, or `b::…` after `use crate::b`). A module's
//! own descendants are not edges: a parent declares and re-exports its children, which is
//! ownership, not use.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every module of `src/`, by path (`["infra", "bicep", "parser"]`), with its file's text.
fn modules(src: &Path) -> BTreeMap<Vec<String>, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("under src");
            let mut parts: Vec<String> =
                rel.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
            if parts.last().is_some_and(|p| p == "mod" || p == "lib" || p == "main") {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            out.insert(parts, strip_tests(&text));
        }
    }
    out
}

/// The text before a trailing `#[cfg(test)]` module: tests may reach anywhere.
fn strip_tests(text: &str) -> String {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => text[..i].to_string(),
        None => text.to_string(),
    }
}

/// The longest known module that `path` (absolute, from the crate root) names.
fn resolve(path: &[String], known: &BTreeMap<Vec<String>, String>) -> Option<Vec<String>> {
    (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|candidate| known.contains_key(candidate))
}

/// The paths a file names, as absolute module paths.
fn references(module: &[String], text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let at_word_start = i == 0 || !ident(bytes[i - 1]) && bytes[i - 1] != ':';
        if at_word_start && (starts(&bytes, i, "crate::") || starts(&bytes, i, "super::")) {
            let mut j = i;
            while j < bytes.len() && (ident(bytes[j]) || bytes[j] == ':') {
                j += 1;
            }
            let raw: String = bytes[i..j].iter().collect();
            let segments: Vec<&str> = raw.split("::").filter(|s| !s.is_empty()).collect();
            let mut base: Vec<String> = Vec::new();
            let mut rest = segments.as_slice();
            if rest.first() == Some(&"crate") {
                rest = &rest[1..];
            } else {
                base = module.to_vec();
                while rest.first() == Some(&"super") {
                    base.pop();
                    rest = &rest[1..];
                }
            }
            base.extend(rest.iter().map(|s| s.to_string()));
            out.push(base);
            // A grouped import `use crate::a::{b, c::d}`: each member is a path under `a`.
            if j < bytes.len() && bytes[j] == '{' {
                let prefix = out.last().cloned().unwrap_or_default();
                let mut depth = 0;
                let mut k = j;
                let mut member = String::new();
                while k < bytes.len() {
                    let c = bytes[k];
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    if c == ',' || c == '}' || c == '{' {
                        let name = member.trim().split("::").next().unwrap_or("").trim().to_string();
                        if !name.is_empty() && name != "self" && name.chars().all(ident) {
                            let mut p = prefix.clone();
                            p.push(name);
                            out.push(p);
                        }
                        member.clear();
                    } else {
                        member.push(c);
                    }
                    if depth == 0 {
                        break;
                    }
                    k += 1;
                }
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

fn starts(chars: &[char], at: usize, word: &str) -> bool {
    word.chars().enumerate().all(|(k, c)| chars.get(at + k) == Some(&c))
}

/// The cycles of the graph (strongly connected components with more than one module).
fn cycles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    // Kosaraju: order by finish time on the graph, then collect on the reversed graph.
    let nodes: Vec<&Vec<String>> = graph.keys().collect();
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for start in &nodes {
        if seen.contains(*start) {
            continue;
        }
        let mut stack = vec![((*start).clone(), false)];
        while let Some((node, done)) = stack.pop() {
            if done {
                order.push(node);
                continue;
            }
            if !seen.insert(node.clone()) {
                continue;
            }
            stack.push((node.clone(), true));
            for next in &graph[&node] {
                if !seen.contains(next) {
                    stack.push((next.clone(), false));
                }
            }
        }
    }
    let mut reversed: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (from, tos) in graph {
        for to in tos {
            reversed.entry(to.clone()).or_default().insert(from.clone());
        }
    }
    let mut assigned = BTreeSet::new();
    let mut out = Vec::new();
    for node in order.into_iter().rev() {
        if assigned.contains(&node) {
            continue;
        }
        let mut component = Vec::new();
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            if !assigned.insert(n.clone()) {
                continue;
            }
            component.push(n.join("::"));
            for prev in reversed.get(&n).into_iter().flatten() {
                if !assigned.contains(prev) {
                    stack.push(prev.clone());
                }
            }
        }
        if component.len() > 1 {
            component.sort();
            out.push(component);
        }
    }
    out
}

#[test]
fn the_module_graph_has_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let known = modules(&src);
    assert!(known.len() > 50, "read {} modules from {}", known.len(), src.display());
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, text) in &known {
        let edges = graph.entry(module.clone()).or_default();
        for path in references(module, text) {
            if let Some(target) = resolve(&path, &known)
                && !target.starts_with(module)
            {
                edges.insert(target);
            }
        }
    }
    let found = cycles(&graph);
    assert!(found.is_empty(), "module cycles (each line is one cycle):\n{}", {
        found.iter().map(|c| c.join(" ↔ ")).collect::<Vec<_>>().join("\n")
    });
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = [
        (vec!["a".to_string()], BTreeSet::from([vec!["b".to_string()]])),
        (vec!["b".to_string()], BTreeSet::from([vec!["a".to_string()]])),
        (vec!["c".to_string()], BTreeSet::from([vec!["a".to_string()]])),
    ]
    .into_iter()
    .collect();
    assert_eq!(cycles(&graph), vec![vec!["a".to_string(), "b".to_string()]]);
    let refs = references(&["x".to_string(), "y".to_string()], "use crate::a::{b, c::d};\nuse super::z;");
    assert!(refs.contains(&vec!["a".to_string(), "b".to_string()]), "{refs:?}");
    assert!(refs.contains(&vec!["a".to_string(), "c".to_string()]), "{refs:?}");
    assert!(refs.contains(&vec!["x".to_string(), "z".to_string()]), "{refs:?}");
}

/// The same at the level of the crate's top modules (`pipeline`, `azureml`, `tracking`, …):
/// a domain area depends on another only one way.
#[test]
fn top_level_modules_depend_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let known = modules(&src);
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, text) in &known {
        let Some(top) = module.first() else { continue };
        let edges = graph.entry(vec![top.clone()]).or_default();
        for path in references(module, text) {
            if let Some(target) = resolve(&path, &known)
                && let Some(target_top) = target.first()
                && target_top != top
            {
                edges.insert(vec![target_top.clone()]);
            }
        }
    }
    for targets in graph.clone().values() {
        for t in targets {
            graph.entry(t.clone()).or_default();
        }
    }
    let found = cycles(&graph);
    assert!(found.is_empty(), "top-level module cycles:\n{}", {
        found.iter().map(|c| c.join(" ↔ ")).collect::<Vec<_>>().join("\n")
    });
}
