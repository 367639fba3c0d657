"""scikit-learn's predictions for rows scored by a served model.

Reads JSON on stdin: {"data", "target", "alpha", "test_size", "seed", "rows": [[...], ...]}. Trains
the reference model (pandas → train_test_split → Ridge) and prints its predictions for "rows"
(feature values in the data file's column order) as a JSON list.
"""
import json
import sys

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

case = json.load(sys.stdin)
df = pd.read_csv(case["data"])
y = df.pop(case["target"]).to_numpy(dtype=np.float64)
x_train, _, y_train, _ = train_test_split(
    df.to_numpy(dtype=np.float64), y, test_size=case["test_size"], random_state=case["seed"]
)
model = Ridge(alpha=case["alpha"]).fit(x_train, y_train)
rows = np.asarray(case["rows"], dtype=np.float64)
print(json.dumps(model.predict(rows).tolist()))
