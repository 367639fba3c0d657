"""Reads one run's metadata back with MLflow's own client (no artifacts) and prints it as JSON.

Usage: read_run_metadata.py RUN_ID, with MLFLOW_TRACKING_URI (and MLFLOW_TRACKING_TOKEN,
MLFLOW_TRACKING_SERVER_CERT_PATH) in the environment, as stock MLflow is pointed at Azure ML's
MLflow endpoint without the azureml-mlflow plugin.
"""
import json
import sys

from mlflow.tracking import MlflowClient

run_id = sys.argv[1]
client = MlflowClient()
run = client.get_run(run_id)
experiment = client.get_experiment(run.info.experiment_id)
print(
    json.dumps(
        {
            "experiment_name": experiment.name,
            "status": run.info.status,
            "run_name": run.info.run_name,
            "artifact_uri": run.info.artifact_uri,
            "params": run.data.params,
            "metrics": run.data.metrics,
            "metric_history": {
                key: [[m.timestamp, m.value, m.step] for m in client.get_metric_history(run_id, key)]
                for key in run.data.metrics
            },
            "tags": run.data.tags,
            "inputs": [
                {"name": d.dataset.name, "digest": d.dataset.digest}
                for d in (run.inputs.dataset_inputs if run.inputs else [])
            ],
        }
    )
)
