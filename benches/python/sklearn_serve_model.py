"""The reference model for the serving benchmark: MLOpsPython's Ridge saved the way MLflow users do.

Usage: sklearn_serve_model.py DATA_CSV MODEL_DIR

pandas read → train_test_split(test_size=0.2, random_state=0) → Ridge(alpha=0.5), written with
mlflow.sklearn.save_model (the directory mlflow.sklearn.log_model uploads) and an input example, so
the model has the same named-column signature as the mlops model: ten doubles AGE … S6.
"""
import sys

import mlflow.sklearn
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

df = pd.read_csv(sys.argv[1])
y = df.pop("Y")
x_train, _, y_train, _ = train_test_split(df, y, test_size=0.2, random_state=0)
model = Ridge(alpha=0.5).fit(x_train, y_train)
mlflow.sklearn.save_model(model, sys.argv[2], input_example=x_train.head(1))
