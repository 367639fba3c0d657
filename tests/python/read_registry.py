"""Reads a registered model back with MLflow's client and prints it as JSON.

Usage: read_registry.py TRACKING_URI NAME. Prints {"versions": [{version, run_id, tags}], "aliases": {alias: version}}.
"""
import json
import os
import sys

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

import mlflow  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

uri, name = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(uri)
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
versions = client.search_model_versions(f"name='{name}'")
model = client.get_registered_model(name)
print(
    json.dumps(
        {
            "versions": sorted(
                [{"version": int(v.version), "run_id": v.run_id, "tags": v.tags} for v in versions],
                key=lambda v: v["version"],
            ),
            "aliases": {alias: int(version) for alias, version in model.aliases.items()},
        }
    )
)
