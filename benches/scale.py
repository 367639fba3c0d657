"""Benchmark: training at scale. `mlops train` against pandas + scikit-learn and polars +
scikit-learn on generated 1M- and 10M-row CSV files, whole processes, in one run.

Usage (from the repository root, after `cargo build --release`, with the test virtualenv's
python and `pip install -r benches/requirements.txt`):

    python benches/scale.py [--rows 1000000 10000000] [--dir /tmp] [--runs 1] [--keep] [--profile]

For each size it writes a deterministic CSV (10 features + target, three ill-conditioned
columns), measures `cat FILE > /dev/null` (the warm-cache read rate), then runs each side `--runs`
times as a fresh process under `/usr/bin/time -v` (wall time and peak RSS), checks the
coefficients of both Python sides and of mlops against each other and against the exact least-
squares solution of the same training rows (accumulated in extended precision, solved in exact
rational arithmetic), and prints a table with the ratios. Files are deleted unless --keep.

With --profile it also times `mlops data profile` and `mlops data validate` (against the profile
of the same file) on each file against pandas and polars computing the same per-column statistics
(benches/python/scale_profile_reference.py), and checks that the means agree.

With --predict it also times `mlops predict --out FILE` (batch scoring: every row's prediction
with its row id and model version) against what MLOpsPython's batch scoring does — pandas
`read_csv` of the whole file and scikit-learn `Ridge.predict` — and pandas reading 100,000-row
chunks (benches/python/scale_predict_reference.py), all with the same coefficients, and checks the
predictions agree. `--predict-only` skips the training comparison (the files are the same).
"""
import argparse
import fractions
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

from common import ROOT, release_binary

ALPHA, TEST_SIZE, SEED = 0.5, 0.2, 0
PYTHON_SIDES = {
    "pandas + scikit-learn": "pandas",
    "polars + scikit-learn": "polars",
}
REFERENCE = os.path.join(ROOT, "benches", "python", "scale_reference.py")
PROFILE_REFERENCE = os.path.join(ROOT, "benches", "python", "scale_profile_reference.py")
PREDICT_REFERENCE = os.path.join(ROOT, "benches", "python", "scale_predict_reference.py")


def generate(path, rows, seed=7):
    """Writes `rows` rows: f0–f5 of different scales, f6 = 1e6 + noise (a large offset), f7 ≈ f0
    (nearly collinear), f8 ≈ 1e3·f1 (nearly collinear and badly scaled), f9 uniform;
    Y linear in them plus noise. Written by polars (shortest round-trip decimals) in blocks."""
    import polars as pl

    rng = np.random.default_rng(seed)
    beta = np.array([1.5, -2.0, 0.5, 3.0, -1.0, 0.25, 0.8, 2.0, 0.004, -0.6])
    block = 1_000_000
    with open(path, "wb") as out:
        for start in range(0, rows, block):
            n = min(block, rows - start)
            x = np.empty((n, 10))
            x[:, :6] = rng.normal(size=(n, 6)) * np.array([1.0, 10.0, 0.1, 100.0, 3.0, 0.01])
            x[:, 6] = 1e6 + rng.normal(size=n)
            x[:, 7] = x[:, 0] + 1e-2 * rng.normal(size=n)
            x[:, 8] = 1e3 * x[:, 1] + rng.normal(size=n)
            x[:, 9] = rng.uniform(size=n)
            y = x @ beta + 42.0 + rng.normal(scale=5.0, size=n)
            frame = pl.DataFrame({**{f"f{i}": x[:, i] for i in range(10)}, "Y": y})
            frame.write_csv(out, include_header=(start == 0))


def timed(cmd):
    """Wall seconds and peak RSS (MB) of one process, from GNU time; its stdout."""
    with tempfile.NamedTemporaryFile(mode="r", suffix=".time") as report:
        proc = subprocess.run(
            ["/usr/bin/time", "-v", "-o", report.name] + cmd, check=True, capture_output=True, text=True
        )
        text = report.read()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
    seconds = sum(float(part) * 60**i for i, part in enumerate(reversed(wall.split(":"))))
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return seconds, rss_kb / 1024, proc.stdout


def cat_rate(path):
    subprocess.run(["cat", path], check=True, stdout=subprocess.DEVNULL)  # warm the cache
    # Timed here, not by GNU time: its 10 ms resolution rounds a warm 200 MB read to 0.00 s.
    start = time.perf_counter()
    subprocess.run(["sh", "-c", f"cat '{path}' > /dev/null"], check=True)
    return time.perf_counter() - start


def exact_solution(path, rows):
    """Ridge on the training rows of the same split, from cross-products accumulated in extended
    precision (numpy longdouble) and solved exactly with rationals."""
    import polars as pl

    data = pl.read_csv(path).to_numpy()
    n_test = int(np.ceil(TEST_SIZE * rows))
    train = np.sort(np.random.RandomState(SEED).permutation(rows)[n_test:])
    xy = data[train].astype(np.longdouble)
    del data
    mean = xy.sum(axis=0) / len(train)
    xy -= mean
    m = xy.T @ xy
    p = m.shape[0] - 1
    frac = lambda v: fractions.Fraction(*v.as_integer_ratio())  # noqa: E731
    a = [[frac(m[i, j]) + (fractions.Fraction(ALPHA) if i == j else 0) for j in range(p)] for i in range(p)]
    b = [frac(m[i, p]) for i in range(p)]
    for col in range(p):  # Gaussian elimination, exact
        for row in range(col + 1, p):
            f = a[row][col] / a[col][col]
            for k in range(col, p):
                a[row][k] -= f * a[col][k]
            b[row] -= f * b[col]
    w = [fractions.Fraction(0)] * p
    for i in reversed(range(p)):
        w[i] = (b[i] - sum(a[i][k] * w[k] for k in range(i + 1, p))) / a[i][i]
    return [float(v) for v in w]


def relative(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--profile", action="store_true", help="also time data profile and data validate")
    parser.add_argument("--predict", action="store_true", help="also time batch scoring (mlops predict)")
    parser.add_argument("--predict-only", action="store_true", help="time batch scoring only")
    args = parser.parse_args()
    mlops = release_binary()
    results, profiles, predictions = {}, {}, {}
    for rows in args.rows:
        path = os.path.join(args.dir, f"mlops-scale-{rows}.csv")
        if not os.path.exists(path):
            print(f"writing {path} ...", file=sys.stderr)
            generate(path, rows)
        size_mb = os.path.getsize(path) / 1e6
        if args.predict or args.predict_only:
            predictions[rows] = (size_mb, predict_sides(mlops, path, args.runs, args.dir))
        if args.predict_only:
            if not args.keep:
                os.remove(path)
            continue
        cat = cat_rate(path)
        sides = {}
        with tempfile.TemporaryDirectory() as store:
            commands = {
                "mlops train": [mlops, "train", "--data", path, "--tracking-uri", store, "-q", "-o", "json"],
                **{label: [sys.executable, REFERENCE, reader, path] for label, reader in PYTHON_SIDES.items()},
            }
            for _ in range(args.runs):
                for label, cmd in commands.items():
                    print(f"{rows} rows: {label} ...", file=sys.stderr)
                    seconds, rss, out = timed(cmd)
                    coefficients = json.loads(out)["model"]["coefficients"] if label == "mlops train" else json.loads(out)["coefficients"]
                    best = sides.get(label)
                    if best is None or seconds < best[0]:
                        sides[label] = (seconds, rss, coefficients)
        exact = exact_solution(path, rows)
        results[rows] = (size_mb, cat, sides, exact)
        if args.profile:
            profiles[rows] = (size_mb, profile_sides(mlops, path, args.runs))
        if not args.keep:
            os.remove(path)
    if results:
        report(results)
    if profiles:
        report_profiles(profiles)
    if predictions:
        report_predictions(predictions)


def predict_sides(mlops, path, runs, scratch_dir):
    """Best wall time and its peak RSS per batch-scoring side, and the largest relative difference
    between mlops' predictions and scikit-learn's (whole-file pandas)."""
    with tempfile.TemporaryDirectory(dir=scratch_dir) as scratch:
        trained = subprocess.run(
            [mlops, "train", "--data", path, "--tracking-uri", os.path.join(scratch, "mlruns"), "-q", "-o", "json"],
            check=True, capture_output=True, text=True,
        )
        model = json.loads(trained.stdout)["model"]["path"]
        outs = {label: os.path.join(scratch, f"{i}.csv") for i, label in enumerate(PREDICT_SIDES)}
        commands = {
            "mlops predict": [mlops, "predict", "--model", model, "--data", path, "--out", outs["mlops predict"], "-q", "-o", "json"],
            **{
                label: [sys.executable, PREDICT_REFERENCE, mode, os.path.join(model, "model.json"), path, outs[label]]
                for label, mode in PREDICT_SIDES.items() if mode
            },
        }
        sides = {}
        for _ in range(runs):
            for label, cmd in commands.items():
                print(f"{path}: {label} ...", file=sys.stderr)
                seconds, rss, _ = timed(cmd)
                if label not in sides or seconds < sides[label][0]:
                    sides[label] = (seconds, rss)
        import pandas as pd

        ours = pd.read_csv(outs["mlops predict"], usecols=["prediction"])["prediction"].to_numpy()
        theirs = pd.read_csv(outs["pandas + scikit-learn"], usecols=["prediction"])["prediction"].to_numpy()
        agreement = relative(ours, theirs)
    return sides, agreement


PREDICT_SIDES = {"mlops predict": None, "pandas + scikit-learn": "pandas", "pandas (100k-row chunks) + scikit-learn": "pandas-chunked"}


def report_predictions(predictions):
    print()
    print("| rows | file | side | wall (s) | peak RSS (MB) | MB/s | vs pandas wall | vs pandas RSS | predictions vs scikit-learn |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rows, (size_mb, (sides, agreement)) in predictions.items():
        pandas_wall, pandas_rss = sides["pandas + scikit-learn"]
        for label, (wall, rss) in sides.items():
            shown = f"{agreement:.1e}" if label == "mlops predict" else ""
            print(
                f"| {rows:,} | {size_mb:,.0f} MB | {label} | {wall:.2f} | {rss:,.0f} | {size_mb / wall:,.0f} "
                f"| {wall / pandas_wall:.2f}× | 1/{pandas_rss / rss:.1f} | {shown} |"
            )


def profile_sides(mlops, path, runs):
    """Best wall time and its peak RSS per side, and the largest relative difference between
    mlops' column means and pandas'."""
    with tempfile.TemporaryDirectory() as scratch:
        baseline = os.path.join(scratch, "baseline.json")
        subprocess.run([mlops, "data", "profile", "--data", path, "--out", baseline, "-q"], check=True)
        commands = {
            "mlops data profile": [mlops, "data", "profile", "--data", path, "-q", "-o", "json"],
            "mlops data validate": [mlops, "data", "validate", "--data", path, "--profile", baseline, "-q", "-o", "json"],
            **{f"{reader} profile": [sys.executable, PROFILE_REFERENCE, reader, path] for reader in ("pandas", "polars")},
        }
        sides, outputs = {}, {}
        for _ in range(runs):
            for label, cmd in commands.items():
                print(f"{path}: {label} ...", file=sys.stderr)
                seconds, rss, out = timed(cmd)
                if label not in sides or seconds < sides[label][0]:
                    sides[label] = (seconds, rss)
                outputs[label] = json.loads(out)
    ours = {c["name"]: c["mean"] for c in outputs["mlops data profile"]["columns"]}
    theirs = {name: stats["mean"] for name, stats in outputs["pandas profile"].items()}
    means = max(abs(ours[n] - theirs[n]) / max(abs(theirs[n]), 1e-300) for n in theirs)
    return sides, means


def report_profiles(profiles):
    print()
    print("| rows | file | side | wall (s) | peak RSS (MB) | MB/s | vs pandas wall | vs pandas RSS | means vs pandas |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rows, (size_mb, (sides, means)) in profiles.items():
        pandas_wall, pandas_rss = sides["pandas profile"]
        for label, (wall, rss) in sides.items():
            agreement = f"{means:.1e}" if label.startswith("mlops data profile") else ""
            print(
                f"| {rows:,} | {size_mb:,.0f} MB | {label} | {wall:.2f} | {rss:,.0f} | {size_mb / wall:,.0f} "
                f"| {wall / pandas_wall:.2f}× | 1/{pandas_rss / rss:.1f} | {agreement} |"
            )


def report(results):
    print("| rows | file | side | wall (s) | peak RSS (MB) | MB/s | vs pandas wall | vs pandas RSS | coef. vs scikit-learn (pandas) | coef. vs exact |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for rows, (size_mb, cat, sides, exact) in results.items():
        pandas_wall, pandas_rss, pandas_coef = sides["pandas + scikit-learn"]
        print(f"| {rows:,} | {size_mb:,.0f} MB | `cat FILE > /dev/null` | {cat:.2f} | | {size_mb / cat:,.0f} | | | | |")
        for label, (wall, rss, coef) in sides.items():
            print(
                f"| {rows:,} | {size_mb:,.0f} MB | {label} | {wall:.2f} | {rss:,.0f} | {size_mb / wall:,.0f} "
                f"| {wall / pandas_wall:.2f}× | 1/{pandas_rss / rss:.1f} | {relative(coef, pandas_coef):.1e} "
                f"| {relative(coef, exact):.1e} |"
            )
    sizes = sorted(results)
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        for label in results[small][2]:
            growth = results[large][2][label][0] / results[small][2][label][0]
            print(f"{label}: wall time grows {growth:.1f}x for {large / small:.0f}x the rows")


if __name__ == "__main__":
    main()
