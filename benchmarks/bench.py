"""make bench: grade N generated submissions, then execute the same notebooks one after another
with plain nbclient, and print both from this one run.

    python benchmarks/bench.py [--n 20] [--data DIR] [-j 2] [--json FILE]

The submissions mix correct notebooks (the reference with different hyperparameter cells),
buggy ones (the real sample, and the reference with a missing ReLU, a wrong momentum update,
a transposed gradient), slow ones (long training) and the untouched release, cycled to N.
Reference training is not memoized from earlier runs (a fresh cache), so the figures
include it. The seconds per submission are worker time, split into the stages of grading.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
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

from arithmetic import old_rule  # noqa: E402 - benchmarks/, beside this script

HYPERPARAMETERS = ("hidden_dim", "alpha", "beta", "batch_size", "num_iters")
CORRECT = [(50, 1e-2, 0, 40, 1000), (100, 3e-3, 0.5, 40, 1000), (200, 1e-3, 0.9, 40, 800),
           (50, 1e-2, 0.9, 100, 500), (100, 1e-3, 0.9, 50, 1500)]
SLOW = [(300, 1e-3, 0.9, 100, 3000), (500, 2e-3, 0.9, 64, 2500)]
BUGS = {   # (cell, the reference's text, the bug)
    "no_relu": (3, "h1 = np.maximum(0, z1)", "h1 = z1"),
    "momentum": (6, "self.momentum[name] = self.beta * self.momentum[name] + grads[name]",
                 "self.momentum[name] = self.beta * self.momentum[name] + (1 - self.beta) * grads[name]"),
    "transposed": (3, "self.grads['W2'] = h1.T.dot(dscores)", "self.grads['W2'] = dscores.T.dot(h1).T.T"),
}


def _with_hyperparameters(ref, values):
    nb = copy.deepcopy(ref)
    for name, value in zip(HYPERPARAMETERS, values):
        nb.cells[15].source = re.sub(rf"^{name} = .*$", f"{name} = {value}", nb.cells[15].source, count=1, flags=re.M)
    return nb


def make_submissions(folder: Path, n: int) -> dict[str, str]:
    """N notebooks in `folder`; returns each one's kind."""
    ref = nbformat.read(REPO / "reference" / "cifar10_fcnet.ipynb", as_version=4)
    kinds = [("correct", _with_hyperparameters(ref, v)) for v in CORRECT]
    kinds += [("slow", _with_hyperparameters(ref, v)) for v in SLOW]
    for name, (cell, old, new) in BUGS.items():
        nb = copy.deepcopy(ref)
        assert old in nb.cells[cell].source, name
        nb.cells[cell].source = nb.cells[cell].source.replace(old, new)
        kinds.append(("buggy", nb))
    kinds.append(("buggy", nbformat.read(REPO / "examples" / "cifar10_fcnet" / "student_004.ipynb", as_version=4)))
    kinds.append(("release", nbformat.read(REPO / "assignments" / "cifar10_fcnet" / "release.ipynb", as_version=4)))
    made = {}
    for i in range(n):
        kind, nb = kinds[i % len(kinds)]
        nbformat.write(nb, folder / f"student_{i:03d}.ipynb")
        made[f"student_{i:03d}"] = kind
    return made


PLAIN_SITE = """\
# The baseline kernel's start-up hook: keras' own cifar10.load_data(), which parses the
# cifar-10-batches-py files at every call, with only its download pointed at the local folder
# (a .npz source is parsed with np.load instead). The training images are then split as the
# grader's kernel splits them, so both run the notebooks on the same images.
import importlib.abc, os, sys
import numpy as np
SOURCE, HELD_OUT = os.environ["BENCH_CIFAR10_SOURCE"], int(os.environ["BENCH_CIFAR10_HELD_OUT"])
STOCK = None
def load_data():
    if os.path.isdir(SOURCE):
        from keras.src.datasets import cifar10
        cifar10.get_file = lambda *args, **kwargs: os.path.dirname(SOURCE)
        (x, y), _ = STOCK()
    else:
        with np.load(SOURCE) as z:
            x, y = z["x_train"], z["y_train"].reshape(-1, 1)
    return (x[:-HELD_OUT], y[:-HELD_OUT]), (x[-HELD_OUT:], y[-HELD_OUT:])
class Patch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in ("keras.src.datasets.cifar10", "keras.datasets.cifar10"):
            return None
        for finder in sys.meta_path:
            spec = None if finder is self else finder.find_spec(name, path, target)
            if spec is not None:
                run = spec.loader.exec_module
                def exec_module(module, run=run):
                    global STOCK
                    run(module)
                    STOCK = STOCK or module.load_data
                    module.load_data = load_data
                spec.loader.exec_module = exec_module
                return spec
sys.meta_path.insert(0, Patch())
"""


def plain_nbclient(folder: Path, dataset, source: str, work: Path) -> float:
    """The baseline: each notebook executed alone, sequentially, by stock nbclient in a plain
    kernel (default threads, tensorflow imported for real, the data parsed by keras' own
    loader from `source`)."""
    from nbclient import NotebookClient
    site = work / "plain-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(PLAIN_SITE)
    if Path(source).is_dir():   # keras reads <folder>/cifar-10-batches-py and expects 50,000 images
        if dataset.n_train != 50000:
            raise SystemExit("make bench: keras' own loader reads full-size batches folders only; use an .npz")
        link = work / "plain-data" / "cifar-10-batches-py"
        link.parent.mkdir()
        link.symlink_to(Path(source).resolve())
        source = str(link)
    env = {**os.environ, "PYTHONPATH": str(site), "BENCH_CIFAR10_SOURCE": source,
           "BENCH_CIFAR10_HELD_OUT": dataset.kernel_env()["NNGRADER_CIFAR10_HELD_OUT"]}
    started = time.monotonic()
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=1800, allow_errors=True, kernel_name="python3")
        with client.setup_kernel(env=env, cwd=str(folder), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            for i, cell in enumerate(nb.cells):
                client.execute_cell(cell, i)
    return time.monotonic() - started


def _rerun_at_scale(work: Path, out: Path, subs: Path, args) -> dict:
    """A re-run with nothing changed over `--rerun-scale` results: copies of one graded
    submission (its notebook and its output folder), as a class of that size would leave them."""
    from grader import cli
    big_subs, big_out = work / "scale-subs", work / "scale-out"
    big_subs.mkdir()
    big_out.mkdir()
    for i in range(args.rerun_scale):
        student = f"copy_{i:04d}"
        shutil.copy(subs / "student_000.ipynb", big_subs / f"{student}.ipynb")
        shutil.copytree(out / "student_000", big_out / student)
        result = json.loads((big_out / student / "result.json").read_text())
        (big_out / student / "result.json").write_text(json.dumps({**result, "student": student}, indent=1))
    argv = ["grade", str(big_subs), "--assignment", "cifar10_fcnet", "--out", str(big_out), "-j", str(args.jobs)]
    cli.main(argv + (["--data", args.data] if args.data else []))   # the first pass rewrites the copies' reports
    t0 = time.monotonic()
    cli.main(argv + (["--data", args.data] if args.data else []))
    return {"results": args.rerun_scale, "seconds": round(time.monotonic() - t0, 2)}


def seed_rules(results: list[dict], data: str | None) -> dict:
    """What the sequential-seed rule saved or cost in this batch: for each distinct setting the
    hyperparams check trained, its seeds and training seconds under the rule, against the old
    rule (3 seeds, more while the mean is within the spread), whose extra seeds are trained
    here, one BLAS thread as a worker, with the same reference and data."""
    from threadpoolctl import threadpool_limits
    from grader import datasets
    from reference.cifar10_fcnet import preprocess, train_and_evaluate
    settings = {}
    for r in results:
        check = next(c for c in r["checks"] if c["id"] == "hyperparams")
        d = check.get("details") or {}
        if "accuracies" in d and d.get("train_seconds") and "threshold" in d:
            settings.setdefault(json.dumps(d["hyperparams"], sort_keys=True), d)
    ds, data_arrays = datasets.for_assignment("cifar10", data), None
    rows = []
    for key, d in settings.items():
        accs, secs = list(d["accuracies"]), [float(s or 0) for s in d["train_seconds"]]
        while (n_old := old_rule(accs, d["threshold"])) is None:
            if data_arrays is None:
                x_train, y_train, x_test = ds.load_public()
                data_arrays = (preprocess(x_train), y_train.astype("int64"), preprocess(x_test),
                               ds.load_test_labels().astype("int64"))
            started = time.monotonic()
            with threadpool_limits(1):
                accs.append(float(train_and_evaluate(*data_arrays, seed=len(accs), **json.loads(key)).accuracy))
            secs.append(time.monotonic() - started)
        rows.append({"hyperparams": json.loads(key), "rule_seeds": len(d["accuracies"]),
                     "rule_s": round(sum(secs[:len(d["accuracies"])]), 1), "old_seeds": n_old,
                     "old_s": round(sum(secs[:n_old]), 1), "borderline": bool(d.get("borderline")),
                     "old_verdict": "pass" if statistics.mean(accs[:n_old]) >= d["threshold"] else "fail"})
    return {"settings": rows, "rule_seeds": sum(r["rule_seeds"] for r in rows),
            "rule_s": round(sum(r["rule_s"] for r in rows), 1), "old_seeds": sum(r["old_seeds"] for r in rows),
            "old_s": round(sum(r["old_s"] for r in rows), 1)}


def against(rev: str, subs: Path, work: Path, args) -> dict:
    """The same submissions graded by this checkout's grader and by the grader at `rev` (a git
    worktree), each as a fresh process with a fresh cache, in turn: a change's cost from one run,
    on one machine in one state. Verdicts and totals are compared too."""
    tree = work / f"at-{rev}"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(tree), rev], check=True)
    walls, totals = {}, {}
    try:
        for name, root in (("this checkout", REPO), (rev, tree)):
            out, cache = work / f"out-{name.replace(' ', '-')}", work / f"cache-{name.replace(' ', '-')}"
            argv = [sys.executable, "-m", "grader", "grade", str(subs), "--assignment", "cifar10_fcnet",
                    "--out", str(out), "-j", str(args.jobs)] + (["--data", args.data] if args.data else [])
            started = time.monotonic()   # python -m: the checkout's own grader package comes first
            subprocess.run(argv, cwd=root, env={**os.environ, "NNGRADER_CACHE": str(cache)},
                           stdout=subprocess.DEVNULL, check=False)
            walls[name] = round(time.monotonic() - started, 1)
            stored = (json.loads(path.read_text()) for path in out.glob("*/result.json"))
            totals[name] = {r["student"]: r.get("total") for r in stored}
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
    a, b = walls.values()
    same = totals["this checkout"] == totals[rev]
    return {"rev": rev, "walls_s": walls, "ratio": round(a / b, 2), "same_totals": same}


def _source(data: str | None) -> str:
    """The file or folder the plain kernel parses: what --data names, or the embedded subset."""
    if data is None:
        return str(REPO / "data" / "cifar10_subset.npz")   # the CIFAR-10 provider's default
    path = Path(data)
    return str(path / "cifar-10-batches-py" if (path / "cifar-10-batches-py").is_dir() else path)


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return statistics.mean(values) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--data", default=None)
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--rerun-scale", type=int, default=300,
                    help="also time a re-run with nothing changed over this many results (copies of one)")
    ap.add_argument("--against", default=None, metavar="REV",
                    help="also grade the same submissions with the grader at this git revision, in turn with "
                         "this checkout's, each fresh: a change's cost, from one run")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nngrader-bench-"))
    os.environ["NNGRADER_CACHE"] = str(work / "cache")
    from grader import cli, datasets
    dataset = datasets.for_assignment("cifar10", args.data)  # materialised here: a one-time cost kept out of both timings
    subs = work / "subs"
    subs.mkdir()
    kinds = make_submissions(subs, args.n)
    out = work / "out"
    argv = ["grade", str(subs), "--assignment", "cifar10_fcnet", "--out", str(out), "-j", str(args.jobs), "--force"]
    if args.data:
        argv += ["--data", args.data]
    t0 = time.monotonic()
    cli.main(argv)
    grade_wall = time.monotonic() - t0
    t0 = time.monotonic()
    cli.main(argv[:-1] if not args.data else [a for a in argv if a != "--force"])
    rerun_wall = time.monotonic() - t0
    results = [json.loads(p.read_text()) for p in out.glob("*/result.json")]
    ex = [r["execution"] for r in results]
    stages = {
        "kernel start": _mean(e.get("kernel_start_s") for e in ex),
        "data loading": _mean(e.get("data_load_s") for e in ex),
        "notebook execution": _mean(e["seconds"] - (e.get("kernel_start_s") or 0) for e in ex),
        "checks": _mean(r["timing"]["checks"] for r in results),
        "reference training": _mean(r["timing"]["train"] for r in results),
        "total": _mean(r["timing"]["total"] for r in results),
    }
    peak = {"worker": max(r["timing"].get("worker_peak_rss_mb", 0) for r in results),
            "kernel": max(e.get("kernel_peak_rss_mb") or 0 for e in ex)}
    rerun_scale = _rerun_at_scale(work, out, subs, args) if args.rerun_scale else None
    seeds = seed_rules(results, args.data)
    baseline = plain_nbclient(subs, dataset, _source(args.data), work)
    compared = against(args.against, subs, work, args) if args.against else None
    figures = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
               "dataset": f"{dataset.name} ({dataset.n_train} training / {dataset.n_test} test images)",
               "submissions": args.n, "kinds": {k: list(kinds.values()).count(k) for k in sorted(set(kinds.values()))},
               "workers": args.jobs, "isolation": results[0].get("isolation"),
               "grade_wall_s": round(grade_wall, 1), "per_submission_s": {k: round(v, 2) for k, v in stages.items()},
               "peak_rss_mb": peak, "plain_nbclient_s": round(baseline, 1), "ratio": round(grade_wall / baseline, 2),
               "rerun_s": round(rerun_wall, 2), "rerun_at_scale": rerun_scale, "seeds": seeds, "against": compared}
    print()
    print(f"machine: {figures['machine']}")
    print(f"data set: {figures['dataset']}; {args.n} submissions {figures['kinds']}; {args.jobs} worker(s); "
          f"sandbox {figures['isolation']}")
    print(f"grader, whole batch: {grade_wall:.1f} s wall ({grade_wall / args.n:.2f} s per submission)")
    print("  per submission (worker time): " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))
    print(f"  peak memory: worker {peak['worker']} MB, kernel {peak['kernel']} MB")
    print(f"plain nbclient, sequential: {baseline:.1f} s ({baseline / args.n:.2f} s per notebook)")
    print(f"ratio grader / plain nbclient: {grade_wall / baseline:.2f}")
    print(f"re-run with nothing changed: {rerun_wall:.2f} s"
          + (f"; with {rerun_scale['results']} results: {rerun_scale['seconds']:.2f} s" if rerun_scale else ""))
    print(f"seeds, {len(seeds['settings'])} distinct settings trained: the rule {seeds['rule_seeds']} seeds, "
          f"{seeds['rule_s']:.1f} s; the old rule (3, more while the mean is within the spread) "
          f"{seeds['old_seeds']} seeds, {seeds['old_s']:.1f} s")
    for row in seeds["settings"]:
        print(f"  {row['hyperparams']}: rule {row['rule_seeds']} seeds {row['rule_s']:.1f} s"
              f"{' (borderline)' if row['borderline'] else ''}; old {row['old_seeds']} seeds {row['old_s']:.1f} s, "
              f"{row['old_verdict']}")
    if compared:
        (here, a), (rev, b) = compared["walls_s"].items()
        print(f"against {rev}: this checkout {a:.1f} s, {rev} {b:.1f} s, ratio {compared['ratio']:.2f}; "
              f"totals {'the same' if compared['same_totals'] else 'DIFFER'} for the {args.n} submissions")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
