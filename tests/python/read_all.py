"""Reads a whole run store with MLflow's own client and prints what it sees, as JSON.

Usage: read_all.py TRACKING_URI [EXPERIMENT_NAME…]. Every experiment (or those named), every run (search_runs over all experiments,
then get_run of each), every metric history, the runs' dataset inputs and model outputs, every
logged model, and the model registry. Works for file stores (MLFLOW_ALLOW_FILE_STORE=true is set
here) and for tracking servers. Any error MLflow raises fails the script.
"""
import json
import os
import sys

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

import mlflow  # noqa: E402
from mlflow.entities import ViewType  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

uri = sys.argv[1]
mlflow.set_tracking_uri(uri)
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
experiments = client.search_experiments(view_type=ViewType.ALL)
if sys.argv[2:]:
    experiments = [e for e in experiments if e.name in sys.argv[2:]]
experiment_ids = [e.experiment_id for e in experiments]

runs = []
frame = mlflow.search_runs(experiment_ids=experiment_ids, run_view_type=ViewType.ALL, max_results=50000)
for run_id in frame["run_id"] if len(frame) else []:
    run = client.get_run(run_id)
    runs.append(
        {
            "run_id": run.info.run_id,
            "experiment_id": run.info.experiment_id,
            "status": run.info.status,
            "end_time": run.info.end_time,
            "params": run.data.params,
            "tags": run.data.tags,
            "metrics": {
                key: [[m.timestamp, m.value, m.step] for m in client.get_metric_history(run_id, key)]
                for key in run.data.metrics
            },
            "inputs": len(run.inputs.dataset_inputs) if run.inputs else 0,
            "outputs": [o.model_id for o in (run.outputs.model_outputs if run.outputs else [])],
        }
    )

logged_models = [
    {
        "model_id": m.model_id,
        "source_run_id": m.source_run_id,
        "status": str(m.status),
        "metrics": {x.key: x.value for x in (m.metrics or [])},
    }
    for m in mlflow.search_logged_models(experiment_ids=experiment_ids, output_format="list")
]
registered = [] if sys.argv[2:] else [
    {
        "name": m.name,
        "versions": sorted(int(v.version) for v in client.search_model_versions(f"name = '{m.name}'")),
    }
    for m in client.search_registered_models()
]
print(json.dumps({"experiments": experiment_ids, "runs": runs, "logged_models": logged_models, "registered_models": registered}))
