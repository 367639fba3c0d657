"""The Python side of the tracking benchmark: MLOpsPython's train.py logic plus MLflow logging.

pandas read → train_test_split(test_size=0.2, random_state=0) → Ridge(alpha=0.5) → MSE, logged to
the tracking server in MLFLOW_TRACKING_URI with log_param / log_metric / mlflow.sklearn.log_model.
"""
import sys

import mlflow
import mlflow.sklearn
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

df = pd.read_csv(sys.argv[1])
y = df.pop("Y").values
x = df.values
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0)
mlflow.set_experiment("bench-python")
with mlflow.start_run():
    mlflow.log_param("alpha", 0.5)
    model = Ridge(alpha=0.5).fit(x_train, y_train)
    mse = mean_squared_error(model.predict(x_test), y_test)
    mlflow.log_metric("mse", mse)
    mlflow.sklearn.log_model(model, name="model")
