"""Per-column statistics of a CSV file as pandas and numpy compute them: profile_reference.py FILE.

Prints {column: {count, mean, std (ddof=1), min, max, quantiles at 0.05/0.25/0.5/0.75/0.95}}.
"""
import json
import sys

import numpy as np
import pandas as pd

df = pd.read_csv(sys.argv[1])
print(
    json.dumps(
        {
            name: {
                "count": int(column.count()),
                "mean": float(column.mean()),
                "std": float(column.std(ddof=1)),
                "min": float(column.min()),
                "max": float(column.max()),
                "quantiles": np.quantile(column.to_numpy(), [0.05, 0.25, 0.5, 0.75, 0.95]).tolist(),
            }
            for name, column in df.items()
        }
    )
)
