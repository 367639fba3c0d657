"""Benchmark: the whole `mlops train` process against the equivalent Python process, in one run.

Usage: python benches/train.py [--runs N]   (run from the repository root, after
`cargo build --release` and with the test virtualenv's python, e.g. .venv/bin/python)

Each side runs N times as a fresh process on data/diabetes.csv; the script prints both medians
and the ratio. mlops logs to a scratch local store each time, so it does strictly more work than
the Python side (which only trains and prints the MSE).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd, env=None):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    mlops = os.path.join(ROOT, "target", "release", "mlops")
    if not os.path.exists(mlops):
        sys.exit("build first: cargo build --release")
    data = os.path.join(ROOT, "data", "diabetes.csv")
    python_cmd = [sys.executable, os.path.join(ROOT, "benches", "python", "train_reference.py"), data]
    with tempfile.TemporaryDirectory() as store:
        mlops_cmd = [mlops, "train", "--data", data, "--tracking-uri", store, "-q"]
        timed(mlops_cmd)  # warm the page cache for both sides
        timed(python_cmd)
        ours, theirs = [], []
        for _ in range(args.runs):
            ours.append(timed(mlops_cmd))
            theirs.append(timed(python_cmd))
    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    print(f"mlops train (whole process)     median {m_ours * 1000:8.2f} ms over {args.runs} runs")
    print(f"python train.py (whole process) median {m_theirs * 1000:8.2f} ms over {args.runs} runs")
    print(f"speed-up: {m_theirs / m_ours:.0f}x")


if __name__ == "__main__":
    main()
