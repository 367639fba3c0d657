"""MLOpsPython's train.py logic, as the Python side of the training benchmark.

pandas read → train_test_split(test_size=0.2, random_state=0) → Ridge(alpha=0.5) → MSE.
"""
import sys

import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

df = pd.read_csv(sys.argv[1])
y = df.pop("Y").values
x = df.values
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0)
model = Ridge(alpha=0.5).fit(x_train, y_train)
print({"mse": mean_squared_error(model.predict(x_test), y_test)})
