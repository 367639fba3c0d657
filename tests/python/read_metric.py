"""Prints one metric of a run as MLflow's own client reads it, with repr() so that NaN shows.

Usage: read_metric.py TRACKING_URI RUN_ID KEY. Also prints scikit-learn's r2_score of one sample
pair on the second line, the reference for what a one-row test split gives.
"""
import os
import sys
import warnings

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

from mlflow.tracking import MlflowClient  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402

uri, run_id, key = sys.argv[1], sys.argv[2], sys.argv[3]
print(repr(MlflowClient(tracking_uri=uri).get_run(run_id).data.metrics[key]))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    print(repr(r2_score([5.0], [3.0])))
