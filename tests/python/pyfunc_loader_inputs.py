"""Calls the pyfunc loader of an mlops model directory directly, with the inputs MLflow may hand it.

Usage: pyfunc_loader_inputs.py MODEL_DIR CSV. Imports code/mlops_linear_pyfunc.py as MLflow does and
prints, as JSON, its predictions for the CSV's feature columns given (a) in the model's order, (b)
reversed and with the target column left in, and (c) as a bare numpy array.
"""
import importlib.util
import json
import os
import sys

import pandas as pd

model_dir, csv_path = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("loader", os.path.join(model_dir, "code", "mlops_linear_pyfunc.py"))
loader = importlib.util.module_from_spec(spec)
spec.loader.exec_module(loader)
model = loader._load_pyfunc(os.path.join(model_dir, "model.json"))
df = pd.read_csv(csv_path)
in_order = df[model.feature_names]
print(json.dumps({
    "in_order": [float(v) for v in model.predict(in_order)],
    "reversed_with_extra": [float(v) for v in model.predict(df[list(reversed(df.columns))])],
    "numpy": [float(v) for v in model.predict(in_order.to_numpy())],
}))
