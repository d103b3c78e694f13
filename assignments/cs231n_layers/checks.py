"""Known mistakes of the CS231n-style layers assignment, by check: what each computes, so that a
check kind's message names the likely bug. Everything else is the kinds' (grader/kinds/),
configured in assignment.toml."""
from __future__ import annotations

import numpy as np


def _flat(x):
    return x.reshape(x.shape[0], -1)


def _adam(bias_correction: bool, count_after: bool):
    """Adam as students get it wrong: without bias correction, or with t advanced after its use."""
    def rule(w, dw, config=None):
        c = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "m": np.zeros_like(w),
             "v": np.zeros_like(w), "t": 0, **(config or {})}
        c["t"] += 0 if count_after else 1
        c["m"] = c["beta1"] * c["m"] + (1 - c["beta1"]) * dw
        c["v"] = c["beta2"] * c["v"] + (1 - c["beta2"]) * dw ** 2
        m, v = c["m"], c["v"]
        if bias_correction:
            m, v = m / (1 - c["beta1"] ** c["t"]), v / (1 - c["beta2"] ** c["t"])
        c["t"] += 1 if count_after else 0
        return w - c["learning_rate"] * m / (np.sqrt(v) + c["epsilon"]), c
    return rule


def _rmsprop_without_square(w, dw, config=None):
    c = {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8, "cache": np.zeros_like(w), **(config or {})}
    c["cache"] = c["decay_rate"] * c["cache"] + (1 - c["decay_rate"]) * np.abs(dw)
    return w - c["learning_rate"] * dw / (np.sqrt(c["cache"]) + c["epsilon"]), c


def _momentum_ascending(w, dw, config=None):
    c = {"learning_rate": 1e-2, "momentum": 0.9, **(config or {})}
    v = c["momentum"] * c.get("velocity", np.zeros_like(w)) + c["learning_rate"] * dw
    c["velocity"] = v
    return w + v, c


def _momentum_forgotten(w, dw, config=None):
    c = {"learning_rate": 1e-2, "momentum": 0.9, **(config or {})}
    v = c["momentum"] * np.zeros_like(w) - c["learning_rate"] * dw
    return w + v, c


MISTAKES = {
    "affine_forward": {
        "the bias b is not added": lambda x, w, b: _flat(x) @ w,
        "x is not reshaped to (N, D) first: use x.reshape(x.shape[0], -1)": lambda x, w, b: x @ w + b,
    },
    "affine_backward": {   # each gives (dx, dw, db) from (x, w, b, dout)
        "db sums over the wrong axis: sum over the samples, axis=0": lambda x, w, b, d: (
            (d @ w.T).reshape(x.shape), _flat(x).T @ d, d.sum(axis=1)),
        "dx is not reshaped back to x's shape": lambda x, w, b, d: (d @ w.T, _flat(x).T @ d, d.sum(axis=0)),
        "gradients are divided by the batch size; dout already carries the loss's averaging": lambda x, w, b, d: (
            (d @ w.T).reshape(x.shape) / len(x), _flat(x).T @ d / len(x), d.sum(axis=0) / len(x)),
    },
    "relu_forward": {
        "it returns a mask instead of max(0, x)": lambda x: (x > 0).astype(float),
    },
    "relu_backward": {   # from (x, dout)
        "dx is dout unchanged: zero it where x <= 0": lambda x, d: (d,),
        "the mask looks at dout; it must look at the forward pass's input x": lambda x, d: (d * (d > 0),),
        "dx is the mask alone; multiply it by dout": lambda x, d: ((x > 0).astype(float),),
    },
    "sgd_momentum": {
        "moves w up the gradient: v = momentum * v - learning_rate * dw, then w + v": _momentum_ascending,
        "does not keep the velocity in config['velocity'] between steps": _momentum_forgotten,
    },
    "rmsprop": {
        "keeps a moving average of |dw| instead of dw**2 in config['cache']": _rmsprop_without_square,
    },
    "adam": {
        "has no bias correction: divide m by (1 - beta1**t) and v by (1 - beta2**t)": _adam(False, False),
    },
}
