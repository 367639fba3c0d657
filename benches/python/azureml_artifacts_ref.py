"""The reference side of benches/azureml_artifacts.py: the official azureml-mlflow plugin (stock
mlflow) moving one file to and from a workspace. Endpoint and sign-in come from the environment.

Usage: azureml_artifacts_ref.py upload FILE EXPERIMENT   -> prints the run id
       azureml_artifacts_ref.py download RUN_ID NAME DEST
"""
import sys

import mlflow

if sys.argv[1] == "upload":
    mlflow.set_experiment(sys.argv[3])
    with mlflow.start_run() as run:
        mlflow.log_artifact(sys.argv[2])
    print(run.info.run_id)
else:
    mlflow.artifacts.download_artifacts(run_id=sys.argv[2], artifact_path=sys.argv[3], dst_path=sys.argv[4])
