"""Benchmark: `mlops serve` against `mlflow models serve --env-manager local`, same model, same run.

Usage: python benches/serve.py [--duration SECS] [--mlops PATH]   (from the repository root,
after `cargo build --release`, with the test virtualenv's python, e.g. .venv/bin/python; needs
wrk: `apt-get install wrk`)

Trains the diabetes model with mlops into a scratch directory, then serves that one model
directory with each server in turn (the other one stopped) on 127.0.0.1 and drives it with wrk:
one thread, 1 and 4 connections, single-row `dataframe_split` POSTs to /invocations. Prints
requests/s, p50 and p99 for both and the ratios. wrk and the server share this machine's cores.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FEATURES = ["AGE", "SEX", "BMI", "BP", "S1", "S2", "S3", "S4", "S5", "S6"]
ROW = [0.0380759064334241, 0.0506801187398187, 0.0616962065186885, 0.0218723549949558,
       -0.0442234984244464, -0.0348207628376986, -0.0434008456520269, -0.00259226199818282,
       0.0199084208763183, -0.0176461251598052]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, proc, limit):
    start = time.time()
    while time.time() - start < limit:
        if proc.poll() is not None:
            sys.exit(f"server exited ({proc.returncode}) before answering {url}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{url} did not answer within {limit}s")


def stop(proc):
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def to_ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def wrk(url, connections, duration, script):
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script, url],
        check=True, capture_output=True, text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    if bad or errors:
        sys.exit(f"wrk saw failures against {url}:\n{out}")
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--mlops", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "mlops"))
    args = parser.parse_args()
    venv_bin = os.path.dirname(sys.executable)
    scratch = tempfile.mkdtemp(prefix="mlops-serve-bench-")
    report = json.loads(subprocess.run(
        [args.mlops, "train", "--data", os.path.join(ROOT, "data/diabetes.csv"), "-o", "json"],
        cwd=scratch, check=True, capture_output=True, text=True).stdout)
    model = report["model"]["path"]
    script = os.path.join(scratch, "post.lua")
    body = json.dumps({"dataframe_split": {"columns": FEATURES, "data": [ROW]}})
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        f.write(f"wrk.body = {json.dumps(body)}\n")

    servers = {
        "mlops serve": lambda port: [args.mlops, "serve", "--model", model, "--port", str(port), "-q"],
        "mlflow models serve": lambda port: [
            os.path.join(venv_bin, "mlflow"), "models", "serve", "-m", model, "--env-manager", "local",
            "-h", "127.0.0.1", "-p", str(port)],
    }
    env = dict(os.environ, PATH=f"{venv_bin}:{os.environ.get('PATH', '')}", MLFLOW_ALLOW_FILE_STORE="true")
    results = {}
    for name, command in servers.items():
        port = free_port()
        proc = subprocess.Popen(command(port), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for(f"http://127.0.0.1:{port}/ping", proc, 180)
            url = f"http://127.0.0.1:{port}/invocations"
            wrk(url, 1, 2, script)  # warm-up
            results[name] = {c: wrk(url, c, args.duration, script) for c in (1, 4)}
        finally:
            stop(proc)

    ours, theirs = results["mlops serve"], results["mlflow models serve"]
    print(f"single-row /invocations, wrk -t1, {args.duration}s per run, model {model}")
    print(f"{'server':22} {'conns':>5} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9}")
    for name, by_conns in results.items():
        for c, r in by_conns.items():
            print(f"{name:22} {c:>5} {r['rps']:>10.0f} {r['p50_ms']:>9.3f} {r['p99_ms']:>9.3f}")
    for c in (1, 4):
        print(f"{c} connection(s): mlops serve is {ours[c]['rps'] / theirs[c]['rps']:.0f}x the req/s, "
              f"p50 {theirs[c]['p50_ms'] / ours[c]['p50_ms']:.0f}x lower, "
              f"p99 {theirs[c]['p99_ms'] / ours[c]['p99_ms']:.0f}x lower")


if __name__ == "__main__":
    main()
