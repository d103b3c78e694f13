"""Known mistakes of the CS231n-style layers assignment, by check: what each computes, so that a
check kind's message names the likely bug; the published variants of the update rules that are
accepted as right; and the training section's data, cost model and hints (TRAINING). Everything
else is the kinds' (grader/kinds/), configured in assignment.toml."""
from __future__ import annotations

import math

import numpy as np

from grader.kinds import training


def _flat(x):
    return x.reshape(x.shape[0], -1)


def _rmsprop(square, inside: bool, own_epsilon: bool = True):
    """RMSProp with the running mean of square(dw); epsilon inside or outside the square root;
    config['epsilon'] used, or 1e-8 whatever it says."""
    def rule(w, dw, config=None):
        c = {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8, "cache": np.zeros_like(w), **(config or {})}
        eps = c["epsilon"] if own_epsilon else 1e-8
        c["cache"] = c["decay_rate"] * c["cache"] + (1 - c["decay_rate"]) * square(dw)
        denominator = np.sqrt(c["cache"] + eps) if inside else np.sqrt(c["cache"]) + eps
        return w - c["learning_rate"] * dw / denominator, c
    return rule


def _adam(form: str):
    """Adam: "efficient" (Kingma & Ba, section 2: the corrections folded into the step size,
    epsilon not corrected), "uncorrected" (no bias correction) or "fixed epsilon" (1e-8 whatever
    config['epsilon'] says)."""
    def rule(w, dw, config=None):
        c = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "m": np.zeros_like(w),
             "v": np.zeros_like(w), "t": 0, **(config or {})}
        c["t"] += 1
        c["m"] = c["beta1"] * c["m"] + (1 - c["beta1"]) * dw
        c["v"] = c["beta2"] * c["v"] + (1 - c["beta2"]) * dw ** 2
        correct1, correct2 = 1 - c["beta1"] ** c["t"], 1 - c["beta2"] ** c["t"]
        eps = 1e-8 if form == "fixed epsilon" else c["epsilon"]
        if form == "efficient":
            return w - c["learning_rate"] * np.sqrt(correct2) / correct1 * c["m"] / (np.sqrt(c["v"]) + eps), c
        m, v = (c["m"], c["v"]) if form == "uncorrected" else (c["m"] / correct1, c["v"] / correct2)
        return w - c["learning_rate"] * m / (np.sqrt(v) + eps), c
    return rule


def _momentum(sign: float, keep: bool):
    def rule(w, dw, config=None):
        c = {"learning_rate": 1e-2, "momentum": 0.9, **(config or {})}
        v = c["momentum"] * (c.get("velocity", np.zeros_like(w)) if keep else 0) + sign * c["learning_rate"] * dw
        if keep:
            c["velocity"] = v
        return w + v, c
    return rule


MISTAKES = {   # check id -> message (completing "<what is wrong> ...") -> what the mistake computes
    "affine_forward": {
        "is wrong: the bias b is not added": lambda x, w, b: _flat(x) @ w,
    },
    "affine_backward": {   # each gives (dx, dw, db) from (x, w, b, dout)
        "is divided by the batch size; dout already carries the loss's averaging": lambda x, w, b, d: (
            (d @ w.T).reshape(x.shape) / len(x), _flat(x).T @ d / len(x), d.sum(axis=0) / len(x)),
    },
    "relu_forward": {
        "is wrong: it returns a mask instead of max(0, x)": lambda x: (x > 0).astype(float),
    },
    "relu_backward": {   # from (x, dout)
        "is dout unchanged: zero it where x <= 0": lambda x, d: (d,),
        "is wrong: the mask looks at dout; it must look at the forward pass's input x": lambda x, d: (d * (d > 0),),
        "is the mask alone; multiply it by dout": lambda x, d: ((x > 0).astype(float),),
    },
    "sgd_momentum": {
        "sgd_momentum moves w up the gradient: v = momentum * v - learning_rate * dw, then w + v": _momentum(1.0, True),
        "sgd_momentum does not keep the velocity in config['velocity'] between steps": _momentum(-1.0, False),
    },
    "rmsprop": {
        "rmsprop keeps a moving average of |dw| instead of dw**2 in config['cache']": _rmsprop(np.abs, False),
        "rmsprop ignores config['epsilon']": _rmsprop(np.square, False, own_epsilon=False),
    },
    "adam": {
        "adam has no bias correction: divide m by (1 - beta1**t) and v by (1 - beta2**t)": _adam("uncorrected"),
        "adam ignores config['epsilon']": _adam("fixed epsilon"),
    },
}

# Published variants accepted as right (README, "The checks of cs231n_layers"): they differ from
# the reference only where epsilon goes, and epsilon only guards a division.
EQUIVALENTS = {
    "rmsprop": {"epsilon inside the square root (TensorFlow 1)": _rmsprop(np.square, True)},
    "adam": {"Kingma & Ba's efficient form": _adam("efficient")},
}


# ---------------------------------------------------------------- the training section (kind "training")
D, C = 3072, 10   # CIFAR-10 images, flattened, and its classes


def probe_data(dataset, rubric: dict) -> dict:
    """What the probe trains on: the public training images less a held-out part (as the
    notebook's load_data() holds one out), that part with its labels to stop on, and the test
    images, whose labels stay here; as uint8 (the probe standardises them), capped in rows."""
    x, y, x_test = dataset.load_public()
    held = min(dataset.n_test, len(x) // 5)
    rows, val_rows = int(rubric.get("train_rows", 10000)), int(rubric.get("validation_rows", 2000))
    return {"x": np.asarray(x[:-held][:rows]), "y": y[:-held][:rows], "x_val": np.asarray(x[-held:][:val_rows]),
            "y_val": y[-held:][:val_rows], "x_test": np.asarray(x_test)}


def _inputs(ctx, hp: dict) -> dict:
    return probe_data(ctx.dataset, ctx.rubric)


def _test_labels(ctx, split: str) -> np.ndarray:
    return ctx.dataset.load_test_labels()


def train_cost(hp: dict, rubric: dict) -> float:
    """One run in multiply-adds that take as long: the products of forward and backward (affine_backward
    computes dx of the first layer too: three products a layer) plus, per iteration, the update of
    every parameter, gathering the batch and Python's own steps (factors: CALIBRATION.md)."""
    h, b = float(hp["hidden_dim"]), float(hp["batch_size"])
    per_iteration = (3 * b * h * (D + C) + float(rubric.get("cost_per_parameter", 300)) * h * (D + C)
                     + float(rubric.get("cost_per_input", 30)) * b * D + float(rubric.get("cost_per_iteration", 3e6)))
    return float(hp["num_iters"]) * per_iteration


def _memory_mb(hp: dict, dataset) -> float:
    """The probe's arrays: the standardised images (float64), W1 with its gradient, velocity and
    three temporaries, a batch's activations, a chunk of predictions; plus numpy's own."""
    h, b = float(hp["hidden_dim"]), float(hp["batch_size"])
    images = min(dataset.n_train, 12000) + dataset.n_test
    return 8 * (images * D + 6 * h * (D + C) + 3 * b * D + 4 * b * h + 1000 * h) / 2**20 + 100


def _hints(ctx, hp: dict, runs: list[dict]) -> list[str]:
    """What the losses the probe recorded (every 10 iterations) say: divergence, a loss that grows,
    or one that hardly moves; the functions that would cause it have checks of their own."""
    suspects = "affine_backward, relu_backward and sgd_momentum (see their checks)"
    for run in runs:
        bad = next((k for k, loss in enumerate(run["losses"]) if not math.isfinite(loss)), None)
        if bad is not None:
            return [f"training diverged (the loss stopped being finite by iteration {10 * bad}): learning_rate="
                    f"{hp['learning_rate']:g} is too large, or a gradient or the update has the wrong sign: {suspects}"]
    losses = runs[0]["losses"]
    early, late = np.mean(losses[:3]), np.mean(losses[-3:])   # minibatch losses: a few together
    if late > 1.5 * early:
        return [f"the loss grew from about {early:.3g} to {late:.3g}: learning_rate={hp['learning_rate']:g} is "
                f"too large, or a gradient or the update has the wrong sign: {suspects}"]
    if late > 0.9 * early:
        return [f"the loss hardly decreased (about {early:.3g} at first, {late:.3g} at the end): "
                f"learning_rate={hp['learning_rate']:g} may be too small; if it is not, {suspects}"]
    return ["try more iterations, a larger hidden layer or another learning rate"]


TRAINING = {"training": training.Hooks(
    hints=_hints, cost=train_cost, reduce="num_iters, batch_size or hidden_dim",
    memory_mb=_memory_mb, memory_settings=("hidden_dim", "batch_size"), reduce_memory="hidden_dim or batch_size",
    inputs=_inputs, labels=_test_labels)}
