//! Reading the server's JSON into the tracking types, leniently: a missing field is empty, a
//! number may come as a string, and non-finite metrics come as `"NaN"`/`"Infinity"`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::LoggedModel;
use crate::tracking::{DatasetInput, Experiment, Metric, Run, RunInfo, RunStatus};

pub(super) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub(super) fn int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

pub(super) fn float(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            other => other.parse().unwrap_or(f64::NAN),
        },
        _ => f64::NAN,
    }
}

pub(super) fn experiment_from_json(doc: &Value) -> Experiment {
    Experiment {
        experiment_id: text(&doc["experiment_id"]),
        name: text(&doc["name"]),
        artifact_location: text(&doc["artifact_location"]),
    }
}

pub(super) fn run_info_from_json(info: &Value) -> RunInfo {
    let status = match info["status"].as_str().unwrap_or("") {
        "SCHEDULED" => RunStatus::Scheduled,
        "FINISHED" => RunStatus::Finished,
        "FAILED" => RunStatus::Failed,
        "KILLED" => RunStatus::Killed,
        _ => RunStatus::Running,
    };
    RunInfo {
        run_id: text(&info["run_id"]),
        experiment_id: text(&info["experiment_id"]),
        run_name: text(&info["run_name"]),
        status,
        start_time: int(&info["start_time"]).unwrap_or(0),
        end_time: int(&info["end_time"]),
        artifact_uri: text(&info["artifact_uri"]),
        user_id: text(&info["user_id"]),
        lifecycle_stage: text(&info["lifecycle_stage"]),
    }
}

pub(super) fn metric_from_json(m: &Value) -> Metric {
    Metric {
        value: float(&m["value"]),
        timestamp: int(&m["timestamp"]).unwrap_or(0),
        step: int(&m["step"]).unwrap_or(0),
    }
}

pub(super) fn pairs(list: &Value) -> BTreeMap<String, String> {
    list.as_array().into_iter().flatten().map(|kv| (text(&kv["key"]), text(&kv["value"]))).collect()
}

pub(super) fn run_from_json(doc: &Value) -> Run {
    let data = &doc["data"];
    let metrics =
        data["metrics"].as_array().into_iter().flatten().map(|m| (text(&m["key"]), metric_from_json(m))).collect();
    let inputs = doc["inputs"]["dataset_inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|input| {
            let d = &input["dataset"];
            DatasetInput {
                name: text(&d["name"]),
                digest: text(&d["digest"]),
                source_type: text(&d["source_type"]),
                source: text(&d["source"]),
                schema: text(&d["schema"]),
                profile: text(&d["profile"]),
                context: pairs(&input["tags"]).remove("mlflow.data.context").unwrap_or_default(),
            }
        })
        .collect();
    Run {
        info: run_info_from_json(&doc["info"]),
        params: pairs(&data["params"]),
        metrics,
        tags: pairs(&data["tags"]),
        inputs,
    }
}

pub(super) fn logged_model_from_json(info: &Value) -> LoggedModel {
    LoggedModel { model_id: text(&info["model_id"]), artifact_uri: text(&info["artifact_uri"]) }
}
