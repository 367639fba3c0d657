"""Moves a 200 MB artifact to and from an Azure ML workspace (the stand-in of
scripts/azure-standin, blobs in Azurite) with mlops and with the official azureml-mlflow plugin, in
the same run, and prints each side's wall time and peak resident memory (the process's maxrss).

mlops: `runs sync` of a local run whose model holds the file (upload), then `model download` of the
registered version from an empty cache (download). The plugin: `mlflow.log_artifact` (upload) and
`mlflow.artifacts.download_artifacts` (download), in processes of its own virtualenv (.venv-azureml).

Usage: benches/azureml_artifacts.py [--size-mb N] [--binary PATH]
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, release_binary  # noqa: E402


def peak(cmd, env, cwd=None):
    """Runs `cmd` as a direct child and returns (seconds, peak RSS MiB, stdout)."""
    start = time.perf_counter()
    out_file = tempfile.TemporaryFile(mode="w+")
    err_file = tempfile.TemporaryFile(mode="w+")
    pid = os.fork()
    if pid == 0:
        os.dup2(out_file.fileno(), 1)
        os.dup2(err_file.fileno(), 2)
        if cwd:
            os.chdir(cwd)
        try:
            os.execvpe(cmd[0], cmd, env)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    out_file.seek(0)
    err_file.seek(0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{err_file.read()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, out_file.read()


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--binary", help="an mlops binary other than the release build")
    args = parser.parse_args()
    mlops = os.path.abspath(args.binary) if args.binary else release_binary()
    plugin_python = os.environ.get("MLOPS_TEST_AZUREML_PYTHON", os.path.join(ROOT, ".venv-azureml/bin/python"))
    work = tempfile.mkdtemp(prefix="aml-bench-")
    standin = subprocess.Popen(
        [os.path.join(ROOT, "scripts/azure-standin"), "--state", os.path.join(work, "state")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        ready = json.loads(standin.stdout.readline())
        env = dict(os.environ, **ready["env"])
        for var in ["AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "MLFLOW_TRACKING_URI"]:
            env.pop(var, None)
        uri = ready["tracking_uri"]
        project = os.path.join(work, "project")
        os.makedirs(project)
        subprocess.run(
            [mlops, "train", "--data", os.path.join(ROOT, "data/diabetes.csv"), "-o", "json"],
            cwd=project, env=env, check=True, stdout=subprocess.PIPE,
        )
        runs = [d for d in os.listdir(os.path.join(project, "mlruns", "0")) if len(d) == 32]
        big = os.path.join(project, "mlruns", "0", runs[0], "artifacts", "model", "big.bin")
        with open(big, "wb") as f:
            for _ in range(args.size_mb):
                f.write(os.urandom(1 << 20))
        digest = sha256(big)

        up_s, up_rss, out = peak([mlops, "runs", "sync", "--to", uri, "-o", "json"], env, cwd=project)
        remote = json.loads(out)["synced"][0]["remote_run_id"]
        name = f"bench-{uuid.uuid4().hex[:8]}"
        subprocess.run([mlops, "model", "register", "--run-id", remote, "--name", name, "--tracking-uri", uri],
                       cwd=project, env=env, check=True, stdout=subprocess.DEVNULL)
        dest = os.path.join(work, "mlops-download")
        env_dl = dict(env, MLOPS_CACHE_DIR=os.path.join(work, "cache"))
        down_s, down_rss, _ = peak([mlops, "model", "download", f"{name}/1", "--dest", dest, "--tracking-uri", uri],
                                   env_dl, cwd=project)
        assert sha256(os.path.join(dest, "big.bin")) == digest, "mlops download differs"

        ref_env = dict(env, MLFLOW_TRACKING_URI=uri)
        ref = os.path.join(ROOT, "benches/python/azureml_artifacts_ref.py")
        ref_up_s, ref_up_rss, out = peak([plugin_python, ref, "upload", big, f"bench-{uuid.uuid4().hex[:8]}"], ref_env)
        ref_run = out.strip().splitlines()[-1]
        ref_dest = os.path.join(work, "plugin-download")
        ref_down_s, ref_down_rss, _ = peak([plugin_python, ref, "download", ref_run, "big.bin", ref_dest], ref_env)
        assert sha256(os.path.join(ref_dest, "big.bin")) == digest, "plugin download differs"

        print(f"artifact: {args.size_mb} MiB")
        print(f"{'':28}{'time':>10}{'peak RSS':>12}")
        print(f"{'mlops runs sync (upload)':28}{up_s:9.2f}s{up_rss:10.0f} MiB")
        print(f"{'plugin log_artifact':28}{ref_up_s:9.2f}s{ref_up_rss:10.0f} MiB")
        print(f"{'mlops model download':28}{down_s:9.2f}s{down_rss:10.0f} MiB")
        print(f"{'plugin download_artifacts':28}{ref_down_s:9.2f}s{ref_down_rss:10.0f} MiB")
    finally:
        os.killpg(standin.pid, signal.SIGTERM)
        standin.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
