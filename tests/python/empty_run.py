"""Creates a run with MLflow's own client that logs no model and no metric (as a notebook or a
pipeline's parent run would), and prints its id.

Usage: empty_run.py TRACKING_URI EXPERIMENT.
"""
import os
import sys

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

import mlflow  # noqa: E402

uri, experiment = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(uri)
mlflow.set_experiment(experiment)
with mlflow.start_run() as run:
    mlflow.log_param("alpha", "0.5")
print(run.info.run_id)
