"""Benchmark: `mlops serve` against `mlflow models serve --env-manager local`, same model, same run.

Usage: python benches/serve.py [--duration SECS] [--rounds N] [--workers N] [--mlops PATH]
(from the repository root, after `cargo build --release`, with the test virtualenv's python,
e.g. .venv/bin/python; needs wrk: `apt-get install wrk`)

Trains the diabetes model with mlops into a scratch directory and, as a reference for what MLflow
does with an ordinary model, a scikit-learn Ridge on the same data saved by mlflow.sklearn. Starts
three servers on 127.0.0.1: `mlops serve` and `mlflow models serve` on the mlops model directory,
and `mlflow models serve` on the scikit-learn one. Each is driven in turn with wrk (one thread;
1 and 4 connections; single-row `dataframe_split` POSTs to /invocations) for N interleaved rounds,
the idle servers waiting; prints the medians of requests/s, p50 and p99 and the ratios. wrk and
the server under test share this machine's cores.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from common import ROOT, free_port, release_binary

FEATURES = ["AGE", "SEX", "BMI", "BP", "S1", "S2", "S3", "S4", "S5", "S6"]
ROW = [0.0380759064334241, 0.0506801187398187, 0.0616962065186885, 0.0218723549949558,
       -0.0442234984244464, -0.0348207628376986, -0.0434008456520269, -0.00259226199818282,
       0.0199084208763183, -0.0176461251598052]


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


def post(url, body):
    request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def cpu_seconds(pgid):
    """User + system CPU time of every live process in the process group (the server's session)."""
    ticks = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # after the name: state, ppid, pgrp, …, utime, stime
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def to_ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def wrk(url, connections, duration, script, pgid):
    cpu_before = cpu_seconds(pgid)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script, url],
        check=True, capture_output=True, text=True,
    ).stdout
    cpu = cpu_seconds(pgid) - cpu_before
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    if bad or errors:
        sys.exit(f"wrk saw failures against {url}:\n{out}")
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "cpu_ms": cpu * 1e3 / max(requests, 1)}


def median_run(runs):
    return {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms", "cpu_ms")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per server and connection count")
    parser.add_argument("--workers", type=int, help="`mlops serve --workers` (default: its own, one per CPU)")
    parser.add_argument("--mlops", help="the mlops binary (default: the release build)")
    args = parser.parse_args()
    args.mlops = args.mlops or release_binary()
    venv_bin = os.path.dirname(sys.executable)
    scratch = tempfile.mkdtemp(prefix="mlops-serve-bench-")
    data = os.path.join(ROOT, "data/diabetes.csv")
    report = json.loads(subprocess.run(
        [args.mlops, "train", "--data", data, "-o", "json"],
        cwd=scratch, check=True, capture_output=True, text=True).stdout)
    model = report["model"]["path"]
    sklearn_model = os.path.join(scratch, "sklearn-model")
    subprocess.run([sys.executable, os.path.join(ROOT, "benches", "python", "sklearn_serve_model.py"), data,
                    sklearn_model], check=True, capture_output=True)
    script = os.path.join(scratch, "post.lua")
    body = json.dumps({"dataframe_split": {"columns": FEATURES, "data": [ROW]}})
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        f.write(f"wrk.body = {json.dumps(body)}\n")

    def mlflow_serve(path):
        return lambda port: [os.path.join(venv_bin, "mlflow"), "models", "serve", "-m", path,
                             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]

    servers = {
        "mlops serve": lambda port: [args.mlops, "serve", "--model", model, "--port", str(port), "-q"]
        + (["--workers", str(args.workers)] if args.workers else []),
        "mlflow models serve": mlflow_serve(model),
        "mlflow, sklearn model": mlflow_serve(sklearn_model),
    }
    env = dict(os.environ, PATH=f"{venv_bin}:{os.environ.get('PATH', '')}", MLFLOW_ALLOW_FILE_STORE="true")
    procs, urls = {}, {}
    try:
        # All servers start at once and wait idle while another is measured; the rounds interleave
        # them so that a change in the machine's load falls on every server alike.
        for name, command in servers.items():
            port = free_port()
            procs[name] = subprocess.Popen(command(port), env=env, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL, start_new_session=True)
            urls[name] = f"http://127.0.0.1:{port}"
        for name, proc in procs.items():
            wait_for(f"{urls[name]}/ping", proc, 180)
        answers = {name: post(f"{urls[name]}/invocations", body) for name in ("mlops serve", "mlflow models serve")}
        ours, theirs = (answers[n]["predictions"][0] for n in ("mlops serve", "mlflow models serve"))
        if abs(ours - theirs) > 1e-9 * abs(theirs):
            sys.exit(f"the servers disagree on the same model: {answers}")
        load_before = os.getloadavg()[0]
        runs = {name: {1: [], 4: []} for name in servers}
        for round_ in range(args.rounds):
            for name in servers:
                url = f"{urls[name]}/invocations"
                pgid = procs[name].pid
                wrk(url, 1, 2 if round_ == 0 else 1, script, pgid)  # warm-up
                for c in (1, 4):
                    runs[name][c].append(wrk(url, c, args.duration, script, pgid))
        load_after = os.getloadavg()[0]
    finally:
        for proc in procs.values():
            stop(proc)

    results = {name: {c: median_run(r) for c, r in by_conns.items()} for name, by_conns in runs.items()}
    print(f"single-row dataframe_split POSTs to /invocations, wrk -t1, {args.duration}s per run, "
          f"median of {args.rounds} interleaved rounds")
    print(f"{os.cpu_count()} CPUs shared by wrk and the server under test; "
          f"1-minute load average {load_before:.2f} before, {load_after:.2f} after")
    print(f"mlops serve --workers {args.workers or 'default'}; mlflow models serve: its default, one uvicorn worker")
    print(f"model: {model}; sklearn reference: {sklearn_model}")
    print("CPU ms/req: CPU time of the server's processes per request, which the machine's load changes little")
    print(f"{'server':22} {'conns':>5} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'CPU ms/req':>11}   "
          "req/s per round")
    for name, by_conns in results.items():
        for c, r in by_conns.items():
            each = " ".join(f"{run['rps']:.0f}" for run in runs[name][c])
            print(f"{name:22} {c:>5} {r['rps']:>10.0f} {r['p50_ms']:>9.3f} {r['p99_ms']:>9.3f} "
                  f"{r['cpu_ms']:>11.3f}   {each}")
    ours = results["mlops serve"]
    for reference in ("mlflow models serve", "mlflow, sklearn model"):
        theirs = results[reference]
        for c in (1, 4):
            print(f"vs {reference}, {c} connection(s): {ours[c]['rps'] / theirs[c]['rps']:.0f}x the req/s, "
                  f"p50 {theirs[c]['p50_ms'] / ours[c]['p50_ms']:.0f}x lower, "
                  f"p99 {theirs[c]['p99_ms'] / ours[c]['p99_ms']:.0f}x lower")


if __name__ == "__main__":
    main()
