"""Batch scoring as MLOpsPython's batch scoring step does it: pandas `read_csv` of the whole file,
scikit-learn `Ridge.predict`, the predictions written as CSV (row_id,prediction,model_version).
`pandas-chunked` reads and scores 100,000 rows at a time instead, which bounds its memory.

    python scale_predict_reference.py pandas|pandas-chunked MODEL_JSON DATA OUT

The Ridge model carries the coefficients of mlops' model.json, so both sides compute the same
numbers. Prints {"rows": N}."""
import json
import sys

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge


def main():
    mode, model_json, data, out = sys.argv[1:5]
    with open(model_json) as f:
        spec = json.load(f)
    model = Ridge(alpha=spec["alpha"])
    model.coef_ = np.asarray(spec["coefficients"])
    model.intercept_ = spec["intercept"]
    model.n_features_in_ = len(spec["feature_names"])
    features = spec["feature_names"]
    frames = pd.read_csv(data, chunksize=100_000) if mode == "pandas-chunked" else [pd.read_csv(data)]
    rows = 0
    with open(out, "w") as f:
        f.write("row_id,prediction,model_version\n")
        for frame in frames:
            predictions = model.predict(frame[features].to_numpy())
            pd.DataFrame(
                {"row_id": np.arange(rows, rows + len(frame)), "prediction": predictions, "model_version": "bench"}
            ).to_csv(f, header=False, index=False)
            rows += len(frame)
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
