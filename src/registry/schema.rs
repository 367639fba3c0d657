//! Like with like: what a run's model was trained on (its feature columns with their types, its
//! target and its dataset's name), and how a candidate's differs from the champion's.
//!
//! The gate compares metrics only between models with the same signature: a lower error on other
//! data or another target says nothing, and promoting such a model breaks every client of the
//! alias. The training schema is read from the run itself (its dataset input's `mlflow_colspec`,
//! which is the model signature's columns plus the target, and the `target` parameter), so it is
//! there on the local store, an MLflow server and Azure ML alike, without downloading the model.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::tracking::Run;

/// What a run's model was trained on. `None` where the run does not record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingSchema {
    /// Feature names with their MLflow column type (`double`, `long`, …) in the model's input
    /// order, the target excluded.
    pub features: Option<Vec<(String, String)>>,
    pub target: Option<String>,
    pub dataset: Option<String>,
}

impl TrainingSchema {
    /// The schema a run recorded: its training dataset input and its `target` parameter.
    pub fn of_run(run: &Run) -> Self {
        let input = run.inputs.iter().find(|i| i.context == "training").or_else(|| run.inputs.first());
        let profile_target = input
            .and_then(|i| serde_json::from_str::<Value>(&i.profile).ok())
            .and_then(|p| p.get("target").and_then(Value::as_str).map(str::to_string));
        let target = run.params.get("target").cloned().or(profile_target);
        let features = input
            .and_then(|i| columns(&i.schema))
            .map(|columns| columns.into_iter().filter(|(name, _)| Some(name) != target.as_ref()).collect());
        TrainingSchema { features, target, dataset: input.map(|i| i.name.clone()) }
    }
}

/// The columns of an `{"mlflow_colspec": [{"name": …, "type": …}, …]}` schema, in order.
fn columns(schema: &str) -> Option<Vec<(String, String)>> {
    let doc: Value = serde_json::from_str(schema).ok()?;
    let specs = doc.get("mlflow_colspec")?.as_array()?;
    specs
        .iter()
        .map(|c| {
            let name = c.get("name")?.as_str()?.to_string();
            let kind = c.get("type").and_then(Value::as_str).unwrap_or("unknown").to_string();
            Some((name, kind))
        })
        .collect()
}

/// Each way the candidate's schema differs from the champion's, as a sentence; empty when they
/// are the same. Something a run does not record counts as a difference: it cannot be shown equal.
pub fn differences(candidate: &TrainingSchema, champion: &TrainingSchema) -> Vec<String> {
    let mut out = Vec::new();
    match (&candidate.features, &champion.features) {
        (Some(cand_list), Some(champ_list)) => {
            let cand: BTreeMap<&String, &String> = cand_list.iter().map(|(k, v)| (k, v)).collect();
            let champ: BTreeMap<&String, &String> = champ_list.iter().map(|(k, v)| (k, v)).collect();
            let added: Vec<&str> = cand.keys().filter(|k| !champ.contains_key(*k)).map(|k| k.as_str()).collect();
            let removed: Vec<&str> = champ.keys().filter(|k| !cand.contains_key(*k)).map(|k| k.as_str()).collect();
            let retyped: Vec<String> = cand
                .iter()
                .filter_map(|(k, t)| champ.get(k).filter(|c| *c != t).map(|c| format!("{k} ({c} -> {t})")))
                .collect();
            if !added.is_empty() {
                out.push(format!("features added: {}", added.join(", ")));
            }
            if !removed.is_empty() {
                out.push(format!("features removed: {}", removed.join(", ")));
            }
            if !retyped.is_empty() {
                out.push(format!("features retyped: {}", retyped.join(", ")));
            }
            // The same features in another order break every client that sends rows as lists
            // (`{"data": [[…]]}`, `dataframe_split` without columns).
            let names = |list: &[(String, String)]| list.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
            if added.is_empty() && removed.is_empty() && names(cand_list) != names(champ_list) {
                out.push(format!(
                    "feature order: {} (champion) vs {} (candidate)",
                    names(champ_list).join(", "),
                    names(cand_list).join(", ")
                ));
            }
        }
        (None, _) => out.push("the candidate's run records no training data schema".to_string()),
        (_, None) => out.push("the champion's run records no training data schema".to_string()),
    }
    if candidate.target != champion.target {
        out.push(format!(
            "target: {} (champion) vs {} (candidate)",
            quoted(champion.target.as_deref()),
            quoted(candidate.target.as_deref())
        ));
    }
    if candidate.dataset != champion.dataset {
        out.push(format!(
            "dataset: {} (champion) vs {} (candidate)",
            quoted(champion.dataset.as_deref()),
            quoted(candidate.dataset.as_deref())
        ));
    }
    out
}

fn quoted(value: Option<&str>) -> String {
    value.map_or_else(|| "none recorded".to_string(), |v| format!("{v:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(features: &[(&str, &str)], target: &str, dataset: &str) -> TrainingSchema {
        TrainingSchema {
            features: Some(features.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            target: Some(target.to_string()),
            dataset: Some(dataset.to_string()),
        }
    }

    #[test]
    fn same_schema_has_no_differences() {
        let a = schema(&[("AGE", "double"), ("BMI", "double")], "Y", "diabetes");
        assert!(differences(&a, &a.clone()).is_empty());
    }

    #[test]
    fn a_new_feature_order_is_a_difference() {
        let champion = schema(&[("AGE", "double"), ("BMI", "double")], "Y", "diabetes");
        let candidate = schema(&[("BMI", "double"), ("AGE", "double")], "Y", "diabetes");
        assert_eq!(differences(&candidate, &champion), ["feature order: AGE, BMI (champion) vs BMI, AGE (candidate)"]);
    }

    #[test]
    fn names_every_difference() {
        let champion = schema(&[("AGE", "double"), ("BMI", "double"), ("BP", "double")], "Y", "diabetes");
        let candidate = schema(&[("AGE", "long"), ("BMI", "double"), ("S7", "double")], "Z", "other");
        assert_eq!(
            differences(&candidate, &champion),
            [
                "features added: S7",
                "features removed: BP",
                "features retyped: AGE (double -> long)",
                "target: \"Y\" (champion) vs \"Z\" (candidate)",
                "dataset: \"diabetes\" (champion) vs \"other\" (candidate)",
            ]
        );
    }

    fn run(params: &[(&str, &str)], inputs: Vec<crate::tracking::DatasetInput>) -> Run {
        Run { inputs, ..Run::finished("r", params, &[]) }
    }

    #[test]
    fn reads_the_run_and_leaves_out_the_target() {
        let input = crate::tracking::DatasetInput {
            name: "diabetes".into(),
            digest: "d".into(),
            source_type: "local".into(),
            source: "{}".into(),
            schema: r#"{"mlflow_colspec":[{"type":"double","name":"AGE","required":true},{"type":"double","name":"Y","required":true}]}"#.into(),
            profile: r#"{"target":"Y"}"#.into(),
            context: "training".into(),
        };
        let s = TrainingSchema::of_run(&run(&[("target", "Y")], vec![input.clone()]));
        assert_eq!(s.features, Some(vec![("AGE".to_string(), "double".to_string())]));
        assert_eq!(s.target.as_deref(), Some("Y"));
        assert_eq!(s.dataset.as_deref(), Some("diabetes"));
        // Without the parameter, the dataset profile's target is used.
        assert_eq!(TrainingSchema::of_run(&run(&[], vec![input])), s);
        let nothing = TrainingSchema::of_run(&run(&[], Vec::new()));
        assert_eq!(differences(&nothing, &s)[0], "the candidate's run records no training data schema");
    }
}
