"""Benchmark: `mlops train --tracking-uri <server>` against the Python equivalent, in one run.

Usage: python benches/train_tracking.py [--runs N]   (repository root, after `cargo build
--release`, with the test virtualenv's python, e.g. .venv/bin/python)

Starts one local `mlflow server` (SQLite, one worker, proxied artifacts) on a free port, then runs
each side N times as a fresh process: mlops (train, log params, metrics, dataset input and the
model as a logged model) and Python (pandas, scikit-learn Ridge, mlflow.log_param/log_metric,
mlflow.sklearn.log_model). Prints both medians and the ratio.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from common import ROOT, compare, free_port, release_binary


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    mlops = release_binary()
    data = os.path.join(ROOT, "data", "diabetes.csv")
    bin_dir = os.path.dirname(sys.executable)
    with tempfile.TemporaryDirectory() as work:
        port = free_port()
        env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
        server = subprocess.Popen(
            [os.path.join(bin_dir, "mlflow"), "server", "--backend-store-uri", f"sqlite:///{work}/mlflow.db",
             "--artifacts-destination", f"{work}/artifacts", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True,
        )
        try:
            uri = f"http://127.0.0.1:{port}"
            for _ in range(600):
                try:
                    urllib.request.urlopen(uri + "/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
            run_env = dict(env, MLFLOW_TRACKING_URI=uri)
            mlops_cmd = [mlops, "train", "--data", data, "--tracking-uri", uri, "--local-store", f"{work}/journal", "-q"]
            python_cmd = [sys.executable, os.path.join(ROOT, "benches", "python", "train_tracking_reference.py"), data]
            compare(mlops_cmd, python_cmd, args.runs, "mlops train --tracking-uri (whole process)",
                    "python + mlflow logging (whole process)", run_env)
        finally:
            os.killpg(server.pid, 15)
            server.wait()


if __name__ == "__main__":
    main()
