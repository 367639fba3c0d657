"""Reads one run back with MLflow's own client and prints what it sees, as JSON.

Usage: read_store.py TRACKING_URI RUN_ID. Works for file stores (MLFLOW_ALLOW_FILE_STORE=true is
set here) and for tracking servers.
"""
import json
import os
import sys

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

import mlflow  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

uri, run_id = sys.argv[1], sys.argv[2]
# Global too: artifact repositories for models:/ URIs build their own client from it.
mlflow.set_tracking_uri(uri)
client = MlflowClient(tracking_uri=uri)
run = client.get_run(run_id)
experiment = client.get_experiment(run.info.experiment_id)


def walk(path=None):
    out = []
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            out.extend(walk(item.path))
        else:
            out.append(item.path)
    return out


history = {
    key: [[m.timestamp, m.value, m.step] for m in client.get_metric_history(run_id, key)]
    for key in run.data.metrics
}
logged_models = [
    {
        "model_id": m.model_id,
        "name": m.name,
        "status": str(m.status),
        "source_run_id": m.source_run_id,
        "params": m.params,
        "metrics": {x.key: x.value for x in (m.metrics or [])},
    }
    for m in mlflow.search_logged_models(experiment_ids=[experiment.experiment_id], output_format="list")
    if m.source_run_id == run_id
]
print(
    json.dumps(
        {
            "logged_models": logged_models,
            "outputs": [o.model_id for o in (run.outputs.model_outputs if run.outputs else [])],
            "experiment_name": experiment.name,
            "status": run.info.status,
            "run_name": run.info.run_name,
            "start_time": run.info.start_time,
            "end_time": run.info.end_time,
            "user_id": run.info.user_id,
            "params": run.data.params,
            "metrics": run.data.metrics,
            "metric_history": history,
            "tags": run.data.tags,
            "artifacts": sorted(walk()),
            "inputs": [
                {
                    "name": d.dataset.name,
                    "digest": d.dataset.digest,
                    "source_type": d.dataset.source_type,
                    "source": d.dataset.source,
                    "schema": d.dataset.schema,
                    "profile": d.dataset.profile,
                    "context": {t.key: t.value for t in d.tags}.get("mlflow.data.context"),
                }
                for d in (run.inputs.dataset_inputs if run.inputs else [])
            ],
        }
    )
)
