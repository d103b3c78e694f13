"""Checks of the CIFAR-10 two-layer-net assignment: the grader's side.

forward, backward and sgd_step are check kinds (assignment.toml); here are their inputs
(CASES), known mistakes (MISTAKES) and what may go either way at the ReLU's kink (ALLOWANCES).
`hyperparams` is of the check kind "training": its hooks here, in TRAINING, say how the reference
trains with the student's settings and what that costs. `end_to_end` is the kind
"notebook_model" (the model the notebook trained, scored from kernel_probe.py's predictions).
Every message names what is wrong and the likely cause, in the student's terms.
"""
from __future__ import annotations

import numpy as np

from grader.numeric import FLOAT32, eps
from grader.kinds import training

D, C = 3072, 10                       # CIFAR-10: students may rely on these defaults
FORWARD_CASES = [(5, 20), (8, 50), (3, 7)]   # (batch, hidden)
BACKWARD_CASES = [(5, 12), (8, 25)]   # hidden != C, so a transposed W2 gradient shows


# ---------------------------------------------------------------- shared helpers

def _params(rng, hidden):
    return {"W1": rng.standard_normal((D, hidden)) / np.sqrt(D / 2),
            "b1": 0.1 * rng.standard_normal(hidden),
            "W2": rng.standard_normal((hidden, C)) / np.sqrt(hidden / 2),
            "b2": 0.1 * rng.standard_normal(C)}


def _sizes(hidden: int) -> dict[str, np.ndarray]:
    """FullyConnectedNet's constructor arguments (the check kinds pass them from the case)."""
    return {"hidden_dim": np.asarray(hidden), "input_dim": np.asarray(D), "num_classes": np.asarray(C)}


# ---------------------------------------------------------------- forward and backward (check kinds)

def forward_cases(ctx) -> list[dict]:
    rng = np.random.default_rng(ctx.seed)
    return [{"x": rng.standard_normal((n, D)), **_params(rng, hidden), **_sizes(hidden)}
            for n, hidden in FORWARD_CASES]


def backward_cases(ctx) -> list[dict]:
    rng = np.random.default_rng(ctx.seed + 1)
    cases = []
    for n, hidden in BACKWARD_CASES:
        while True:  # keep every hidden pre-activation away from the ReLU kink
            x, params = rng.standard_normal((n, D)), _params(rng, hidden)
            if np.min(np.abs(x @ params["W1"] + params["b1"])) > 1e-4:
                break
        cases.append({"x": x, "dscores": rng.standard_normal((n, C)) / n, **params, **_sizes(hidden)})
    return cases


def kink_allowance(case, precision, units) -> dict[str, np.ndarray]:
    """A hidden unit whose pre-activation is within rounding (at `precision`, float32 at least) of
    the ReLU's kink may be on or off: its share of W1's and b1's gradient may go either way. The
    rounding of a long sum adds up like a random walk: units roundoffs of the terms' root sum of
    squares (the worst case, |x| @ |W1|, would call a third of the units ambiguous in float16)."""
    x, dscores, p = case["x"], case["dscores"], case
    z1 = x @ p["W1"] + p["b1"]
    spread = np.sqrt(x ** 2 @ p["W1"] ** 2 + p["b1"] ** 2)
    ambiguous = np.abs(z1) <= units * max(eps(precision), eps(FLOAT32)) * spread
    share = np.abs(dscores @ p["W2"].T) * ambiguous
    return {"W1": np.abs(x).T @ share, "b1": share.sum(axis=0)}


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


CASES = {"forward": forward_cases, "backward": backward_cases}
ALLOWANCES = {"backward": kink_allowance}
MISTAKES = {   # check id -> message (completing "scores ...", "grads['W1'] ...") -> what the mistake computes
    "forward": {   # from (x, W1, b1, W2, b2)
        "are wrong: the ReLU is missing: apply np.maximum(0, ·) to the hidden layer":
            lambda x, W1, b1, W2, b2: (x @ W1 + b1) @ W2 + b2,
        "are wrong: the biases b1 and b2 are not added": lambda x, W1, b1, W2, b2: np.maximum(x @ W1, 0) @ W2,
        "are wrong: b1 is not added": lambda x, W1, b1, W2, b2: np.maximum(x @ W1, 0) @ W2 + b2,
        "are wrong: b2 is not added": lambda x, W1, b1, W2, b2: np.maximum(x @ W1 + b1, 0) @ W2,
        "are wrong: the ReLU is applied to the output scores too":
            lambda x, W1, b1, W2, b2: np.maximum(np.maximum(x @ W1 + b1, 0) @ W2 + b2, 0),
        "are wrong: forward returns softmax probabilities; return the raw scores (the loss applies softmax)":
            lambda x, W1, b1, W2, b2: _softmax(np.maximum(x @ W1 + b1, 0) @ W2 + b2),
    },
    "backward": {   # (W1, b1, W2, b2) gradients from (x, W1, b1, W2, b2, dscores); None: not this one's
        "ignores the ReLU: multiply the gradient flowing into the hidden layer by (z1 > 0), where z1 = x @ W1 + b1":
            lambda x, W1, b1, W2, b2, d: (x.T @ (d @ W2.T), (d @ W2.T).sum(axis=0), None, None),
    },
}


# ---------------------------------------------------------------- SGD with momentum
# sgd_step is the check kind update_rule (assignment.toml); here, what its known mistakes compute.

def _sgd(update):
    """SGD(params, alpha, beta) whose step applies `update(theta, m, grad, alpha, beta) -> (theta, m)`
    to each parameter, in the params dict it was given."""
    class SGD:
        def __init__(self, params: dict, alpha: float, beta: float = 0):
            self.params, self.alpha, self.beta = params, alpha, beta
            self.m = {n: np.zeros_like(p) for n, p in params.items()}

        def step(self, grads: dict) -> None:
            for n in self.params:
                self.params[n], self.m[n] = update(self.params[n], self.m[n], grads[n], self.alpha, self.beta)
    return SGD


MISTAKES["sgd_step"] = {
    "SGD.step does not change the parameters": _sgd(lambda th, m, g, a, b: (th, m)),
    "SGD.step uses m = beta*m + (1-beta)*grad (a moving average); the assignment's update is m = beta*m + grad":
        _sgd(lambda th, m, g, a, b: (th - a * (b * m + (1 - b) * g), b * m + (1 - b) * g)),
    "SGD.step ignores the momentum (beta has no effect): keep m in self.momentum across steps and use it":
        _sgd(lambda th, m, g, a, b: (th - a * g, m)),
    "SGD.step updates theta with the momentum from before this step: update m first, then theta":
        _sgd(lambda th, m, g, a, b: (th - a * m, b * m + g)),
    "SGD.step moves the parameters up the gradient: subtract alpha*m":
        _sgd(lambda th, m, g, a, b: (th + a * (b * m + g), b * m + g)),
    "SGD.step scales the gradient by alpha twice (m = beta*m + alpha*grad and theta -= alpha*m)":
        _sgd(lambda th, m, g, a, b: (th - a * (b * m + a * g), b * m + a * g)),
    "SGD.step uses Nesterov momentum; the assignment's update is theta -= alpha*m with m = beta*m + grad":
        _sgd(lambda th, m, g, a, b: (th - a * (g + b * (b * m + g)), b * m + g)),
}


# ---------------------------------------------------------------- hyperparameters (kind "training")

_DATA: dict[str, tuple] = {}


def _training_data(ctx):
    """The data set as the reference trains on it: preprocessed once per data set and
    reference, memory-mapped and shared by every worker (the notebook standardises each
    image on its own, so preprocessing by blocks of rows gives the same bits)."""
    ds = ctx.dataset
    if ds.fingerprint not in _DATA:
        x_train, y_train, x_test = ds.load_public()
        prep, version = ctx.reference.preprocess, ctx.reference.__fingerprint__[:16]
        _DATA[ds.fingerprint] = (ds.derived(f"x_train-{version}", x_train, prep), y_train.astype(np.int64),
                                 ds.derived(f"x_test-{version}", x_test, prep), ds.load_test_labels().astype(np.int64))
    return _DATA[ds.fingerprint]


def _train_seed(ctx, data, hp: dict, seed: int) -> dict:
    """One seed of the notebook's loop, with the reference (in the kind's bounded child process)."""
    x_train, y_train, x_test, y_test = data
    outcome = ctx.reference.train_and_evaluate(x_train, y_train, x_test, y_test, seed=seed, **hp)
    return {"accuracy": outcome.accuracy, "diverged_at": outcome.diverged_at, "losses": outcome.losses[::5]}


def memo_key(hp: dict, seed: int, dataset: str, reference: str) -> dict:
    """What one training run of the reference depends on. "with": runs memoized before each run
    recorded its arithmetic are trained again, once."""
    return {"assignment": "cifar10_fcnet", "hp": hp, "seed": seed, "dataset": dataset, "reference": reference,
            "with": "arithmetic"}


def train_macs(hp: dict) -> float:
    """Multiply-adds of the notebook's training loop: forward plus backward, per iteration."""
    return float(hp["num_iters"]) * float(hp["batch_size"]) * float(hp["hidden_dim"]) * (2 * D + 3 * C)


def train_cost(hp: dict, rubric: dict) -> float:
    """What a training run costs, in multiply-adds that take as long as it does: the products
    (train_macs) plus, per iteration, what does not scale with them and dominates small batches
    (updating every parameter, gathering the batch, Python's own steps). The factors were
    measured on the grader's machine (CALIBRATION.md); floats, so no setting overflows."""
    h, b = float(hp["hidden_dim"]), float(hp["batch_size"])
    per_iteration = (float(rubric.get("cost_per_parameter", 140)) * h * (D + C)
                     + float(rubric.get("cost_per_input", 30)) * b * D
                     + float(rubric.get("cost_per_iteration", 3e6)))
    return train_macs(hp) + float(hp["num_iters"]) * per_iteration


def train_memory_mb(hp: dict, n_test: int) -> float:
    """Memory a training run maps beyond the worker's own: W1, its gradient, its momentum and two
    temporaries of that size, the batch, the hidden activations, and the test set's forward pass
    (by chunks of 2,000 to 4,000 rows), plus BLAS buffers. Within 10% of what was measured."""
    h, b, rows = float(hp["hidden_dim"]), float(hp["batch_size"]), float(min(n_test, 4000))
    return 8 * (5 * h * (D + C) + 3 * b * D + 6 * b * h + 3 * rows * h) / 2**20 + 64


def _memory_mb(hp: dict, dataset) -> float:
    return train_memory_mb(hp, dataset.n_test)


def _hints(ctx, hp: dict, runs: list[dict]) -> list[str]:
    """Why these settings fall short: momentum that grows, divergence, an unstable step; and for
    the TA, the subset's known disagreement with full data (CALIBRATION.md)."""
    diverged = [r["diverged_at"] for r in runs if r["diverged_at"] is not None]
    hints = []
    if hp["beta"] >= 1:
        hints.append(f"beta={hp['beta']:g} ≥ 1 makes the momentum grow without bound; use 0 ≤ beta < 1 (e.g. 0.9)")
    if diverged:
        hints.append(f"training diverged (the loss stopped being finite at iteration {min(diverged)})")
    elif hp["alpha"] / max(1e-9, 1 - min(hp["beta"], 0.999)) > 0.05:
        hints.append("the effective step alpha/(1-beta) is large: training is unstable; try a smaller alpha")
    elif not hints:
        hints.append("try more iterations, a larger hidden layer or a different learning rate")
    if ctx.dataset.name == "cifar10-subset" and hp["alpha"] / max(1e-9, 1 - min(hp["beta"], 0.999)) >= 0.05 \
            and hp["beta"] < 1:
        hints.append("note for the TA: on the small embedded subset, settings with alpha/(1-beta) >= 0.05 often "
                     "collapse although they reach 0.40 on full CIFAR-10 (assignments/cifar10_fcnet/CALIBRATION.md): "
                     "regrade this one with full data")
    return hints


HYPERPARAMS_TRAINING = training.Hooks(
    hints=_hints, cost=train_cost, reduce="num_iters, batch_size or hidden_dim",
    memory_mb=_memory_mb, memory_settings=("hidden_dim", "batch_size"), reduce_memory="hidden_dim or batch_size",
    data=_training_data, train=_train_seed, memo_key=memo_key)
TRAINING = {"hyperparams": HYPERPARAMS_TRAINING}   # the kind's hooks, by check id
