"""make bench: grade N generated submissions, then execute the same notebooks one after another
with plain nbclient, and print both from this one run.

    python benchmarks/bench.py [--n 6] [--data DIR] [-j 2]

The submissions are the reference notebook with different hyperparameter cells, the real
sample and the untouched release, cycled to N. Reference training is not memoized from
earlier runs (a fresh cache), so the figures include it.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

HP_SETS = [(50, 1e-2, 0, 40, 1000), (100, 3e-3, 0.5, 40, 1000), (200, 1e-3, 0.9, 40, 800),
           (50, 1e-2, 0.9, 100, 500)]


def make_submissions(folder: Path, n: int) -> None:
    ref = nbformat.read(REPO / "reference" / "cifar10_fcnet.ipynb", as_version=4)
    sources = []
    for values in HP_SETS:
        nb = copy.deepcopy(ref)
        for name, value in zip(("hidden_dim", "alpha", "beta", "batch_size", "num_iters"), values):
            nb.cells[15].source = re.sub(rf"^{name} = .*$", f"{name} = {value}", nb.cells[15].source,
                                         count=1, flags=re.M)
        sources.append(nb)
    sample = REPO / "tests" / "data" / "student_004.ipynb"
    if sample.is_file():
        sources.append(nbformat.read(sample, as_version=4))
    sources.append(nbformat.read(REPO / "assignments" / "cifar10_fcnet" / "release.ipynb", as_version=4))
    for i in range(n):
        nbformat.write(sources[i % len(sources)], folder / f"student_{i:03d}.ipynb")


def plain_nbclient(folder: Path, dataset) -> float:
    """The baseline: each notebook executed alone, sequentially, stock nbclient (plus the
    data hook, without which load_data() would try to download)."""
    from nbclient import NotebookClient
    from grader.execute import KERNEL_SITE
    env = {**os.environ, "PYTHONPATH": str(KERNEL_SITE), **dataset.kernel_env()}
    started = time.monotonic()
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=1800, allow_errors=True, kernel_name="python3")
        with client.setup_kernel(env=env, cwd=str(folder), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            for i, cell in enumerate(nb.cells):
                client.execute_cell(cell, i)
    return time.monotonic() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--data", default=None)
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nngrader-bench-"))
    os.environ["NNGRADER_CACHE"] = str(work / "cache")
    from grader import cli, datasets
    dataset = datasets.resolve(args.data)  # materialised here: a one-time cost kept out of both timings
    subs = work / "subs"
    subs.mkdir()
    make_submissions(subs, args.n)
    out = work / "out"
    argv = ["grade", str(subs), "--out", str(out), "-j", str(args.jobs), "--force"]
    if args.data:
        argv += ["--data", args.data]
    t0 = time.monotonic()
    cli.main(argv)
    grade_wall = time.monotonic() - t0
    t0 = time.monotonic()
    cli.main(argv[:-1])
    rerun_wall = time.monotonic() - t0
    results = [json.loads(p.read_text()) for p in out.glob("*/result.json")]
    per = {k: statistics.mean(r["timing"][k] for r in results) for k in ("execute", "checks", "train", "total")}
    baseline = plain_nbclient(subs, dataset)
    print()
    print(f"data set: {dataset.name} ({dataset.n_train} training / {dataset.n_test} test images); "
          f"{args.n} submissions; {args.jobs} worker(s); {os.cpu_count()} cores")
    print(f"grader, whole batch: {grade_wall:.1f} s wall ({grade_wall / args.n:.2f} s per submission)")
    print(f"  per submission (worker time): execute {per['execute']:.2f} s, checks {per['checks']:.2f} s, "
          f"reference training {per['train']:.2f} s, total {per['total']:.2f} s")
    print(f"plain nbclient, sequential: {baseline:.1f} s ({baseline / args.n:.2f} s per notebook)")
    print(f"ratio grader / plain nbclient: {grade_wall / baseline:.2f}")
    print(f"re-run with nothing changed: {rerun_wall:.1f} s")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
