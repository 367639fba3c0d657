"""What the process benchmarks share: the release binary, free ports, timing whole processes, and
running both sides alternately so that machine load hits them alike."""
import os
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def release_binary():
    """The release build of mlops; exits with the build command when it is missing."""
    path = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "mlops")
    if not os.path.exists(path):
        sys.exit("build first: cargo build --release")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(cmd, env=None):
    """Seconds one run of `cmd` takes as a fresh process (output discarded; failure raises)."""
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def compare(ours_cmd, theirs_cmd, runs, ours_label, theirs_label, env=None):
    """Runs each command once to warm up, then `runs` times alternately; prints both medians (ms)
    and the ratio."""
    timed(ours_cmd, env)
    timed(theirs_cmd, env)
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(timed(ours_cmd, env))
        theirs.append(timed(theirs_cmd, env))
    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    width = max(len(ours_label), len(theirs_label))
    print(f"{ours_label:<{width}}  median {m_ours * 1000:9.2f} ms over {runs} runs")
    print(f"{theirs_label:<{width}}  median {m_theirs * 1000:9.2f} ms over {runs} runs")
    print(f"speed-up: {m_theirs / m_ours:.0f}x")
