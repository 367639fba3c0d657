"""The Python side of the scale benchmark: scale_reference.py pandas|polars FILE.

Reads the CSV with pandas.read_csv or polars.read_csv (multi-threaded) + to_numpy, then the same
train_test_split(test_size=0.2, random_state=0), Ridge(alpha=0.5) and test metrics as
`mlops train`'s defaults; prints coefficients, intercept and metrics as JSON.
"""
import json
import sys

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

reader, path = sys.argv[1], sys.argv[2]
if reader == "pandas":
    import pandas as pd

    df = pd.read_csv(path)
    y = df.pop("Y").to_numpy(dtype=np.float64)
    x = df.to_numpy(dtype=np.float64)
else:
    import polars as pl

    df = pl.read_csv(path)
    y = df.get_column("Y").to_numpy()
    x = df.drop("Y").to_numpy()
del df
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0)
model = Ridge(alpha=0.5).fit(x_train, y_train)
predictions = model.predict(x_test)
print(
    json.dumps(
        {
            "coefficients": model.coef_.tolist(),
            "intercept": float(model.intercept_),
            "mse": float(mean_squared_error(y_test, predictions)),
            "mae": float(mean_absolute_error(y_test, predictions)),
            "r2": float(r2_score(y_test, predictions)),
        }
    )
)
