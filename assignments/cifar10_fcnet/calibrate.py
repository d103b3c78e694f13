"""Calibrate the subset's accuracy threshold against full-size CIFAR-10.

    python assignments/cifar10_fcnet/calibrate.py FULL_DATA [--out CALIBRATION.json]

Trains the reference (the notebook's loop) with a grid of hyperparameter sets a student
might pick, on full-size data and on the embedded subset, several seeds each, and reports
the subset threshold below which no set that reaches 0.40 on full-size data would fail.
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from grader import datasets  # noqa: E402
from reference.cifar10_fcnet import preprocess, train_and_evaluate  # noqa: E402

GRID = {"hidden_dim": [50, 100, 200, 500, 1000], "alpha": [1e-3, 3e-3, 1e-2, 3e-2],
        "beta": [0.0, 0.5, 0.9], "batch_size": [20, 40, 100, 200],
        "num_iters": [300, 1000, 2000, 3000]}


def load(ds):
    xtr, ytr, xte = ds.load_public()
    return preprocess(xtr), ytr.astype(np.int64), preprocess(xte), ds.load_test_labels().astype(np.int64)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("full_data")
    ap.add_argument("--configs", type=int, default=30)
    ap.add_argument("--seeds-full", type=int, default=2)
    ap.add_argument("--seeds-subset", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).with_name("calibration.json")))
    args = ap.parse_args()
    full, subset = load(datasets.resolve(args.full_data)), load(datasets.resolve(None))
    rng = random.Random(0)
    grid = [dict(zip(GRID, v)) for v in itertools.product(*GRID.values())]
    cheap = [c for c in grid if c["num_iters"] * c["batch_size"] * c["hidden_dim"] <= 4e7]
    configs = rng.sample(cheap, args.configs)
    rows = []
    for k, cfg in enumerate(configs):
        t = time.time()
        f = [train_and_evaluate(*full, seed=s, **cfg).accuracy for s in range(args.seeds_full)]
        s = [train_and_evaluate(*subset, seed=s, **cfg).accuracy for s in range(args.seeds_subset)]
        rows.append({**cfg, "full": float(np.mean(f)), "full_seeds": f,
                     "subset": float(np.mean(s)), "subset_seeds": s})
        print(f"[{k + 1}/{len(configs)}] {cfg} full={np.mean(f):.3f} subset={np.mean(s):.3f} "
              f"({time.time() - t:.0f}s)", flush=True)
        Path(args.out).write_text(json.dumps(rows, indent=1))
    passers = [r["subset"] for r in rows if r["full"] >= 0.40]
    print(f"{len(passers)} of {len(rows)} sets reach 0.40 on full data; "
          f"lowest subset accuracy among them: {min(passers):.3f}")


if __name__ == "__main__":
    main()
