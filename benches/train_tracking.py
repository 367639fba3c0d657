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
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(cmd, env):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    mlops = os.path.join(ROOT, "target", "release", "mlops")
    if not os.path.exists(mlops):
        sys.exit("build first: cargo build --release")
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
            timed(mlops_cmd, run_env)  # warm-up: experiment creation, page cache
            timed(python_cmd, run_env)
            ours, theirs = [], []
            for _ in range(args.runs):
                ours.append(timed(mlops_cmd, run_env))
                theirs.append(timed(python_cmd, run_env))
        finally:
            os.killpg(server.pid, 15)
            server.wait()
    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    print(f"mlops train --tracking-uri (whole process)  median {m_ours * 1000:9.1f} ms over {args.runs} runs")
    print(f"python + mlflow logging (whole process)     median {m_theirs * 1000:9.1f} ms over {args.runs} runs")
    print(f"speed-up: {m_theirs / m_ours:.0f}x")


if __name__ == "__main__":
    main()
