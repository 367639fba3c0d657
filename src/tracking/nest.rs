//! Child runs under their parents, as the MLflow UI nests them (tag `mlflow.parentRunId`).

use super::Run;

/// The tag MLflow nests child runs by.
pub const PARENT_RUN_ID_TAG: &str = "mlflow.parentRunId";

/// Runs in listing order with each child run right after its parent (depth 1, 2, …); a child
/// whose parent is not in `runs` stays where it is, at depth 0.
pub fn nest_children(runs: Vec<Run>) -> Vec<(usize, Run)> {
    use std::collections::{HashMap, HashSet};
    let ids: HashSet<String> = runs.iter().map(|r| r.info.run_id.clone()).collect();
    let parent_of =
        |run: &Run| run.tags.get(PARENT_RUN_ID_TAG).filter(|p| ids.contains(*p) && **p != run.info.run_id).cloned();
    let mut children: HashMap<String, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (index, run) in runs.iter().enumerate() {
        match parent_of(run) {
            Some(parent) => children.entry(parent).or_default().push(index),
            None => roots.push(index),
        }
    }
    let mut order = Vec::with_capacity(runs.len());
    let mut pending: Vec<(usize, usize)> = roots.into_iter().rev().map(|i| (0, i)).collect();
    let mut seen = HashSet::new();
    while let Some((depth, index)) = pending.pop() {
        if !seen.insert(index) {
            continue;
        }
        order.push((depth, index));
        if let Some(kids) = children.get(&runs[index].info.run_id) {
            pending.extend(kids.iter().rev().map(|&k| (depth + 1, k)));
        }
    }
    let mut slots: Vec<Option<Run>> = runs.into_iter().map(Some).collect();
    order.into_iter().filter_map(|(depth, index)| slots[index].take().map(|run| (depth, run))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, parent: Option<&str>) -> Run {
        let tags: Vec<(&str, &str)> = parent.map(|p| (PARENT_RUN_ID_TAG, p)).into_iter().collect();
        Run::finished(id, &[], &tags)
    }

    #[test]
    fn children_follow_their_parent() {
        let runs =
            vec![run("c1", Some("p")), run("x", None), run("g", Some("c1")), run("p", None), run("o", Some("gone"))];
        let nested: Vec<(usize, String)> =
            nest_children(runs).into_iter().map(|(depth, r)| (depth, r.info.run_id)).collect();
        let expected = [(0, "x"), (0, "p"), (1, "c1"), (2, "g"), (0, "o")];
        assert_eq!(nested, expected.map(|(d, id)| (d, id.to_string())));
    }
}
