"""Reference numbers from scikit-learn for the parity tests.

Reads a JSON list of cases on stdin: {"data", "target", "alpha", "test_size", "seed"}.
For each, runs the reference training (pandas → train_test_split → Ridge → metrics) and prints
a JSON list of results: coefficients, intercept, test indices, test predictions and metrics.
"""
import json
import sys

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split


def run(case):
    df = pd.read_csv(case["data"])
    y = df.pop(case["target"]).to_numpy(dtype=np.float64)
    x = df.to_numpy(dtype=np.float64)
    idx = np.arange(len(y))
    x_train, x_test, y_train, y_test, _, idx_test = train_test_split(
        x, y, idx, test_size=case["test_size"], random_state=case["seed"]
    )
    model = Ridge(alpha=case["alpha"]).fit(x_train, y_train)
    preds = model.predict(x_test)
    mse = mean_squared_error(y_test, preds)
    return {
        "feature_names": list(df.columns),
        "coefficients": model.coef_.tolist(),
        "intercept": float(model.intercept_),
        "n_train": int(len(y_train)),
        "n_test": int(len(y_test)),
        "test_indices": idx_test.tolist(),
        "test_predictions": preds.tolist(),
        "metrics": {
            "mse": float(mse),
            "rmse": float(np.sqrt(mse)),
            "mae": float(mean_absolute_error(y_test, preds)),
            "r2": float(r2_score(y_test, preds)),
        },
    }


if __name__ == "__main__":
    print(json.dumps([run(case) for case in json.load(sys.stdin)]))
