"""Calibration of the training section's threshold (CALIBRATION.md): the probe's loop, with the
reference's functions (and with typical bugs), on the data set the grader uses, seeds 0..N-1 each;
test accuracy scored on the hidden labels, as the grader does. One JSON line per run.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python assignments/cs231n_layers/calibrate.py [--seeds 3] [--bugs] [--data SPEC]
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from grader import assignment, datasets  # noqa: E402
from grader.kinds import PROBES  # noqa: E402

GRID = {"hidden_dim": [20, 50, 100], "learning_rate": [1e-3, 1e-2, 5e-2], "momentum": [0.0, 0.9],
        "batch_size": [100], "num_iters": [300, 1000]}
BUGS = {   # what each replaces in the reference, and how
    "relu_backward returns dout (no mask)": ("relu_backward", lambda dout, cache: dout),
    "sgd_momentum moves up the gradient": ("sgd_momentum", None),
}


def probes() -> types.ModuleType:
    """The probe module as the sandbox builds it: the assignment's probes, then the kinds'."""
    module = types.ModuleType("probes")
    source = "\n\n".join(p.read_text() for p in (REPO / "assignments/cs231n_layers/probes.py", PROBES))
    exec(compile(source, "probes.py", "exec"), module.__dict__)
    return module


def uphill(reference):
    def rule(w, dw, config=None):
        config = dict(config or {})
        v = config.get("momentum", 0.9) * config.get("velocity", np.zeros_like(w)) + config["learning_rate"] * dw
        config["velocity"] = v
        return w + v, config
    return rule


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--data", default=None)
    ap.add_argument("--settings", default=None, help="JSON list of settings instead of the grid")
    ap.add_argument("--bugs", action="store_true", help="also the typical bugs, with the first setting")
    args = ap.parse_args()
    a = assignment.load("cs231n_layers")
    ds = datasets.for_assignment("cifar10", args.data)
    checks, reference = a.adapter(), a.reference()
    data = checks.probe_data(ds, a.check_rubric("training"))
    y_test = ds.load_test_labels().astype(np.int64)
    module = probes()
    prepared = module.standardised_inputs(data)
    settings = json.loads(args.settings) if args.settings else [dict(zip(GRID, v)) for v in itertools.product(*GRID.values())]
    variants = {"reference": reference}
    for name, (function, replacement) in BUGS.items() if args.bugs else ():
        variants[name] = types.SimpleNamespace(**{**vars(reference), function: replacement or uphill(reference)})
    for hp in settings:
        for variant, student in variants.items():
            if variant != "reference" and hp != settings[0]:
                continue
            for seed in range(args.seeds):
                started = time.process_time()
                with np.errstate(all="ignore"):
                    predict, losses = module.two_layer_run(student, {**prepared, **hp}, seed)
                    val = float(np.mean(predict(prepared["x_val"]) == data["y_val"]))
                    test = float(np.mean(predict(prepared["x_test"]) == y_test))
                print(json.dumps({"variant": variant, **hp, "seed": seed, "val": val, "test": test,
                                  "last_loss": losses[-1], "cpu_s": round(time.process_time() - started, 2)}),
                      flush=True)


if __name__ == "__main__":
    main()
