"""Known mistakes of the CS231n-style layers assignment, by check: what each computes, so that a
check kind's message names the likely bug; and the published variants of the update rules that
are accepted as right. Everything else is the kinds' (grader/kinds/), configured in
assignment.toml."""
from __future__ import annotations

import numpy as np


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
