"""Do training verdicts depend on the machine? Train a calibration grid under two BLAS
arithmetics, apply the rubric's rule over seeds to each, and count the settings whose verdict
changes (issue 11, item 5; the figures are in each assignment's CALIBRATION.md).

    .venv/bin/python benchmarks/arithmetic.py cifar10_fcnet --out cifar.json
    .venv/bin/python benchmarks/arithmetic.py nnfs_sgd_momentum --out nnfs.json
    .venv/bin/python benchmarks/arithmetic.py cifar10_fcnet --report cifar.json   # the table again

Each arithmetic is a child process with its own OPENBLAS_CORETYPE, since OpenBLAS picks its
kernels once, at load; both children run at once, one BLAS thread each. CIFAR-10: the 30
settings calibrate.py draws, on the default data set (the embedded subset), every seed up to
the rubric's max_seeds, so the old rule (3 seeds, more while the mean is within the spread)
can be replayed on the same runs. NNFS: the 36-setting grid, seed after seed until the
training and validation accuracies are both decided, as the probe does.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader import seeds  # noqa: E402

ARITHMETICS = {"native": {"OPENBLAS_NUM_THREADS": "1"},
               "Sandybridge": {"OPENBLAS_CORETYPE": "Sandybridge", "OPENBLAS_NUM_THREADS": "1"}}


def _rubric(assignment_id: str) -> dict:
    return tomllib.loads((REPO / "rubrics" / f"{assignment_id}.toml").read_text())


# ---------------------------------------------------------------- CIFAR-10

def cifar_settings() -> list[dict]:
    grid = {"hidden_dim": [50, 100, 200, 500, 1000], "alpha": [1e-3, 3e-3, 1e-2, 3e-2],
            "beta": [0.0, 0.5, 0.9], "batch_size": [20, 40, 100, 200], "num_iters": [300, 1000, 2000, 3000]}
    every = [dict(zip(grid, v)) for v in itertools.product(*grid.values())]
    cheap = [c for c in every if c["num_iters"] * c["batch_size"] * c["hidden_dim"] <= 4e7]
    return random.Random(0).sample(cheap, 30)   # calibrate.py's draw


def cifar_rules() -> dict[str, seeds.Rule]:
    table = _rubric("cifar10_fcnet")["checks"]["hyperparams"]
    return {"test accuracy": seeds.Rule.from_rubric(table, table["threshold"]["cifar10-subset"])}


def cifar_worker() -> None:
    from grader import datasets
    from reference.cifar10_fcnet import preprocess, train_and_evaluate
    ds = datasets.for_assignment("cifar10", None)
    x_train, y_train, x_test = ds.load_public()
    data = (preprocess(x_train), y_train.astype(np.int64), preprocess(x_test), ds.load_test_labels().astype(np.int64))
    rule = cifar_rules()["test accuracy"]
    for k, setting in enumerate(cifar_settings()):
        for seed in range(rule.max_seeds):
            started = time.perf_counter()
            accuracy = float(train_and_evaluate(*data, seed=seed, **setting).accuracy)
            _emit(k, seed, time.perf_counter() - started, {"test accuracy": accuracy})


# ---------------------------------------------------------------- NNFS

def nnfs_settings() -> list[dict]:
    return [{"learning_rate": lr, "decay": d, "momentum": m}
            for lr, d, m in itertools.product([1, 0.5, 0.1, 0.02], [0, 1e-3, 1e-2], [0, 0.5, 0.9])]


def nnfs_rules() -> dict[str, seeds.Rule]:
    table = _rubric("nnfs_sgd_momentum")["checks"]["training"]
    train = seeds.Rule.from_rubric(table, table["threshold"])
    return {"training": train, "test": seeds.Rule(float(table["test_threshold"]), train.level, train.min_seeds,
                                                  train.max_seeds)}


def nnfs_worker() -> None:
    from grader import assignment
    from reference import nnfs_sgd_momentum as reference
    train = reference.train
    checks = assignment.load("nnfs_sgd_momentum").adapter()
    x, y = checks.spiral(checks.SAMPLES, checks.CLASSES, checks.TRAIN_SEED)
    x_test, y_test = checks.test_set(reference)
    x_val, y_val = checks.spiral(checks.SAMPLES, checks.CLASSES, checks.VALIDATION_SEED)
    rules = nnfs_rules()
    validation = rules["test"]   # the probe judges validation with the test threshold
    for k, setting in enumerate(nnfs_settings()):
        accs: dict[str, list[float]] = {"training": [], "validation": []}
        for seed in range(rules["training"].max_seeds):
            started = time.perf_counter()
            outcome = train(x, y, np.concatenate([x_test, x_val]), seed=seed, **setting)
            test, val = np.split(outcome.test_predictions, [len(y_test)])
            figures = {"training": float(np.mean(outcome.train_predictions == y)),
                       "test": float(np.mean(test == y_test)), "validation": float(np.mean(val == y_val))}
            _emit(k, seed, time.perf_counter() - started, figures)
            accs["training"].append(figures["training"])
            accs["validation"].append(figures["validation"])
            # the probe's stopping rule: both accuracies it can see are decided
            if len(accs["training"]) >= rules["training"].min_seeds and \
                    seeds.side(accs["training"], rules["training"]) != seeds.OPEN and \
                    seeds.side(accs["validation"], validation) != seeds.OPEN:
                break


# ---------------------------------------------------------------- both

ASSIGNMENTS = {"cifar10_fcnet": (cifar_settings, cifar_rules, cifar_worker),
               "nnfs_sgd_momentum": (nnfs_settings, nnfs_rules, nnfs_worker)}


def _emit(setting: int, seed: int, seconds: float, figures: dict) -> None:
    print(json.dumps({"setting": setting, "seed": seed, "seconds": seconds, **figures}), flush=True)


def old_rule(values: list[float], threshold: float, low: int = 3, high: int = 7) -> int | None:
    """Seeds the rule before 2026-12-01 trained: 3, and more (up to 7) while the mean is within
    the spread of the threshold; it passed when the mean reached it. None: it needs a seed that
    `values` does not have yet."""
    n = low
    while n < high and abs(np.mean(values[:n]) - threshold) <= max(values[:n]) - min(values[:n]):
        if len(values) <= n:
            return None
        n += 1
    return n


def report(assignment_id: str, data: dict) -> str:
    """A markdown table per setting and figure: each arithmetic's verdict, seeds and interval; then
    how many verdicts change between the arithmetics, and the trainings each needed."""
    settings, rules = data["settings"], ASSIGNMENTS[assignment_id][1]()
    names = list(data["runs"])
    replay = assignment_id == "cifar10_fcnet"   # every seed was trained: the rules are replayed on them
    lines = ["| setting | figure | " + " | ".join(f"{n}: verdict, seeds, mean, interval" for n in names) + " |",
             "|" + "---|" * (2 + len(names))]
    changed, borderline = {f: 0 for f in rules}, {f: 0 for f in rules}
    trained = {n: [0, 0.0] for n in names}        # trainings the rule needed, and their seconds
    old = {n: [0, 0.0, 0] for n in names}         # the same for the old rule, and its verdicts that differ
    for k, setting in enumerate(settings):
        for name in names:
            runs = sorted((r for r in data["runs"][name] if r["setting"] == k), key=lambda r: r["seed"])
            used = max(len(seeds.first_clear([r[f] for r in runs], rule).values) for f, rule in rules.items()) \
                if replay else len(runs)
            trained[name][0] += used
            trained[name][1] += sum(r["seconds"] for r in runs[:used])
        for figure, rule in rules.items():
            cells, outcomes = [], []
            for name in names:
                runs = sorted((r for r in data["runs"][name] if r["setting"] == k), key=lambda r: r["seed"])
                values = [r[figure] for r in runs]
                decision = seeds.first_clear(values, rule)
                outcomes.append(decision.outcome)
                iv = decision.interval
                shown = {"pass": "pass", "fail": "fail", "open": "**borderline**"}[decision.outcome]
                cells.append(f"{shown}, {len(decision.values)}, {iv.mean:.3f}, {iv.low:.3f}-{iv.high:.3f}")
                if replay:
                    n = old_rule(values, rule.threshold)
                    verdict = seeds.PASSED if np.mean(values[:n]) >= rule.threshold else seeds.FAILED
                    old[name][0] += n
                    old[name][1] += sum(r["seconds"] for r in runs[:n])
                    old[name][2] += decision.outcome != seeds.OPEN and verdict != decision.outcome
            changed[figure] += len(set(outcomes)) > 1 and seeds.OPEN not in outcomes
            borderline[figure] += seeds.OPEN in outcomes
            text = ", ".join(f"{key}={value:g}" for key, value in setting.items())
            lines.append(f"| {text} | {figure} | " + " | ".join(cells) + " |")
    summary = [f"{len(settings)} settings; " + "; ".join(
        f"{figure}: {changed[figure]} change verdict between {' and '.join(names)} outside the borderline band, "
        f"{borderline[figure]} borderline under at least one" for figure in rules)]
    for name in names:
        summary.append(f"{name}: the rule trained {trained[name][0]} seeds, {trained[name][1]:.0f} s"
                       + (f"; the old rule (3 seeds, up to 7 while the mean is within the spread) {old[name][0]} "
                          f"seeds, {old[name][1]:.0f} s, {old[name][2]} verdicts unlike the rule's clear ones"
                          if replay else ""))
    return "\n".join(lines + [""] + [f"* {s}" for s in summary])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("assignment", choices=sorted(ASSIGNMENTS))
    ap.add_argument("--out", help="where to write every run (JSON)")
    ap.add_argument("--report", help="print the table of an earlier --out file and stop")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    settings, _, worker = ASSIGNMENTS[args.assignment]
    if args.worker:
        return worker()
    if args.report:
        return print(report(args.assignment, json.loads(Path(args.report).read_text())))
    started = time.time()
    children = {name: subprocess.Popen([sys.executable, __file__, args.assignment, "--worker"], text=True,
                                       env={**os.environ, **env}, stdout=subprocess.PIPE)
                for name, env in ARITHMETICS.items()}
    runs = {}
    for name, child in children.items():
        out, _ = child.communicate()
        if child.returncode:
            sys.exit(f"{name}: the worker failed ({child.returncode})")
        runs[name] = [json.loads(line) for line in out.splitlines()]
        print(f"{name}: {len(runs[name])} trainings, done at {time.time() - started:.0f} s", flush=True)
    data = {"settings": settings(), "arithmetics": ARITHMETICS, "runs": runs}
    if args.out:
        Path(args.out).write_text(json.dumps(data, indent=1))
    print(report(args.assignment, data))


if __name__ == "__main__":
    main()
