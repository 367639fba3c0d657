"""The official azureml-mlflow plugin with stock mlflow, unchanged, against the stand-in: reads what
mlops put in the workspace, and logs a run the other way. Only the endpoint and trust are set, by
the environment (MLFLOW_TRACKING_URI=azureml://…, IDENTITY_ENDPOINT/IDENTITY_HEADER for a managed
identity token, REQUESTS_CA_BUNDLE, AZUREML_CURRENT_CLOUD=AzureCloud).

Usage:
  azureml_mlflow_conformance.py read RUN_ID MODEL_URI CSV DEST
      downloads the run's artifacts into DEST and loads MODEL_URI with mlflow.pyfunc; prints
      {"files": {path: sha256}, "predictions": [...]}
  azureml_mlflow_conformance.py log MODEL_DIR EXPERIMENT
      logs a run whose artifacts are MODEL_DIR's files under model/; prints {"run_id": …}
"""
import hashlib
import json
import os
import sys

import mlflow
import pandas as pd

command = sys.argv[1]
if command == "read":
    run_id, model_uri, csv_path, dest = sys.argv[2:6]
    local = mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=dest)
    files = {}
    for root, _, names in os.walk(local):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, local).replace(os.sep, "/")] = hashlib.sha256(f.read()).hexdigest()
    model = mlflow.pyfunc.load_model(model_uri)
    features = [c.name for c in model.metadata.get_input_schema().inputs]
    predictions = [float(v) for v in model.predict(pd.read_csv(csv_path)[features])]
    print(json.dumps({"files": files, "predictions": predictions}))
elif command == "log":
    model_dir, experiment = sys.argv[2:4]
    mlflow.set_experiment(experiment)
    with mlflow.start_run() as run:
        mlflow.log_param("logged_by", "azureml-mlflow")
        mlflow.log_artifacts(model_dir, artifact_path="model")
    print(json.dumps({"run_id": run.info.run_id}))
else:
    sys.exit(f"unknown command {command!r}")
