"""MLflow pyfunc loader for linear models written by `mlops` (format mlops-linear/v1).

MLflow imports this module from the model's code/ directory and calls _load_pyfunc with the path
of model.json. It needs only numpy and pandas, which MLflow itself depends on; no pickle is used.
"""
import json

import numpy as np

FORMAT = "mlops-linear/v1"


class LinearModel:
    """y = X @ coefficients + intercept, with columns taken by name when a DataFrame is given."""

    def __init__(self, spec):
        if spec.get("format") != FORMAT:
            raise ValueError(f"unsupported model format {spec.get('format')!r}, expected {FORMAT!r}")
        self.feature_names = list(spec["feature_names"])
        self.coefficients = np.asarray(spec["coefficients"], dtype=np.float64)
        self.intercept = float(spec["intercept"])

    def predict(self, model_input, params=None):
        import pandas as pd

        if isinstance(model_input, pd.DataFrame):
            # MLflow's schema enforcement already hands over the signature's columns in order;
            # selecting them again costs more than the prediction, so only reorder when needed.
            if list(model_input.columns) != self.feature_names:
                missing = [c for c in self.feature_names if c not in model_input.columns]
                if not missing:
                    model_input = model_input[self.feature_names]
            x = model_input.to_numpy(dtype=np.float64)
        else:
            x = np.asarray(model_input, dtype=np.float64)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.shape[1] != self.coefficients.shape[0]:
            raise ValueError(f"expected {self.coefficients.shape[0]} features, got {x.shape[1]}")
        return x @ self.coefficients + self.intercept


def _load_pyfunc(data_path):
    with open(data_path, encoding="utf-8") as f:
        return LinearModel(json.load(f))
