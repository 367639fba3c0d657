"""Writes a synthetic regression CSV: make_dataset.py PATH ROWS FEATURES SEED.

Correlated features of different scales and a noisy linear target, written with 17 significant
digits so that both readers see exactly the same numbers.
"""
import sys

import numpy as np

path, rows, features, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(seed)
base = rng.normal(size=(rows, features))
mix = np.eye(features) + 0.3 * rng.normal(size=(features, features))
x = base @ mix * rng.uniform(0.1, 100.0, size=features) + rng.normal(size=features) * 5
y = x @ rng.normal(size=features) + rng.normal(scale=10.0, size=rows) + 42.0
header = ",".join([f"f{i}" for i in range(features)] + ["target"])
np.savetxt(path, np.column_stack([x, y]), delimiter=",", header=header, comments="", fmt="%.17g")
