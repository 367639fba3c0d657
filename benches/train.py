"""Benchmark: the whole `mlops train` process against the equivalent Python process, in one run.

Usage: python benches/train.py [--runs N]   (run from the repository root, after
`cargo build --release` and with the test virtualenv's python, e.g. .venv/bin/python)

Each side runs N times as a fresh process on data/diabetes.csv; the script prints both medians
and the ratio. mlops logs to a scratch local store each time, so it does strictly more work than
the Python side (which only trains and prints the MSE).
"""
import argparse
import os
import sys
import tempfile

from common import ROOT, compare, release_binary


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    mlops = release_binary()
    data = os.path.join(ROOT, "data", "diabetes.csv")
    python_cmd = [sys.executable, os.path.join(ROOT, "benches", "python", "train_reference.py"), data]
    with tempfile.TemporaryDirectory() as store:
        mlops_cmd = [mlops, "train", "--data", data, "--tracking-uri", store, "-q"]
        compare(mlops_cmd, python_cmd, args.runs, "mlops train (whole process)", "python train.py (whole process)")


if __name__ == "__main__":
    main()
