"""The Python side of the profile benchmark: scale_profile_reference.py pandas|polars FILE.

What `mlops data profile` reports, computed the way a data scientist would: read the CSV, then per
column the count, missing values, mean, std (ddof=1), min, max, the 0.05/0.25/0.5/0.75/0.95
quantiles and a 10-bin histogram; prints them as JSON.
"""
import json
import sys

import numpy as np

QUANTILES = [0.05, 0.25, 0.5, 0.75, 0.95]
reader, path = sys.argv[1], sys.argv[2]
if reader == "pandas":
    import pandas as pd

    df = pd.read_csv(path)
    columns = {name: column.to_numpy(dtype=np.float64) for name, column in df.items()}
else:
    import polars as pl

    df = pl.read_csv(path)
    columns = {name: df.get_column(name).to_numpy() for name in df.columns}
profile = {}
for name, values in columns.items():
    present = values[~np.isnan(values)]
    profile[name] = {
        "count": int(present.size),
        "missing": int(values.size - present.size),
        "mean": float(present.mean()),
        "std": float(present.std(ddof=1)),
        "min": float(present.min()),
        "max": float(present.max()),
        "quantiles": np.quantile(present, QUANTILES).tolist(),
        "histogram": np.histogram(present, bins=10)[0].tolist(),
    }
print(json.dumps(profile))
