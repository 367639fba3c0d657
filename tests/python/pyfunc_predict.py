"""Loads a model with mlflow.pyfunc and prints its predictions for a CSV file as a JSON list.

Usage: pyfunc_predict.py MODEL_URI CSV [TRACKING_URI]. Extra columns (such as the target) are dropped
by name before predicting, as a user would.
"""
import json
import os
import sys

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402

model_uri, csv_path = sys.argv[1], sys.argv[2]
if len(sys.argv) > 3:
    mlflow.set_tracking_uri(sys.argv[3])
model = mlflow.pyfunc.load_model(model_uri)
features = [c.name for c in model.metadata.get_input_schema().inputs]
df = pd.read_csv(csv_path)[features]
print(json.dumps([float(v) for v in model.predict(df)]))
