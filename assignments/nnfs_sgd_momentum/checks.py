"""Checks of the NNFS-style SGD exercise: the grader's side. Every check is a check kind
(assignment.toml); here is what the kinds need of this assignment: inputs (CASES), known
mistakes (MISTAKES) with messages in the student's terms, the magnitude of softmax's terms
(SCALES), and the training hooks (TRAINING: spiral data, hidden test labels, hints).
dense_forward, dense_backward, relu_backward and softmax_ce_backward (a loss layer) are outputs
and gradients; optimizer is an update_rule; training and test_accuracy are of the kind
"training", on one run of the student's classes.
"""
from __future__ import annotations

import numpy as np

from grader.kinds import training

DENSE_CASES = [(2, 5, 4), (4, 3, 6), (64, 3, 10)]        # (n_inputs, n_neurons, batch)
SAMPLES, CLASSES = 100, 3     # spiral_data(samples=100, classes=3), as the exercise makes it
TRAIN_SEED = 0                # nnfs.init() seeds numpy with 0; the test set's seed is the reference's
VALIDATION_SEED = 2           # another fresh set, its labels given to the probe to decide when to stop


# ---------------------------------------------------------------- Layer_Dense and Activation_ReLU (check kinds)

def dense_cases(ctx) -> list[dict]:
    rng = np.random.default_rng(ctx.seed)
    cases = []
    for n_in, n_out, batch in DENSE_CASES:
        cases.append({"weights": 0.5 * rng.standard_normal((n_in, n_out)), "biases": rng.standard_normal((1, n_out)),
                      "inputs": rng.standard_normal((batch, n_in)), "dvalues": rng.standard_normal((batch, n_out)),
                      "n_inputs": np.asarray(n_in), "n_neurons": np.asarray(n_out)})
    return cases


def relu_cases(ctx) -> list[dict]:
    rng = np.random.default_rng(ctx.seed + 2)
    cases = []
    for shape in [(5, 4), (12, 64)]:
        x = rng.standard_normal(shape)
        x[np.abs(x) < 1e-3] = 0.5   # away from the kink, where conventions may differ
        cases.append({"inputs": x, "dvalues": rng.standard_normal(shape)})
    return cases


CASES = {"dense_forward": dense_cases, "dense_backward": dense_cases, "relu_backward": relu_cases}
MISTAKES = {   # check id -> message (completing "self.output ...", "dweights ...") -> what the mistake computes
    "dense_forward": {   # from (inputs, weights, biases)
        "is wrong: the biases are not added": lambda x, w, b: x @ w,
        "is wrong: a ReLU is applied inside the layer; the activation is a class of its own":
            lambda x, w, b: np.maximum(x @ w + b, 0),
    },
    "dense_backward": {   # (dweights, dbiases, dinputs) from (inputs, weights, biases, dvalues); None: not this one's
        "is transposed: inputs.T · dvalues, not dvalues.T · inputs": lambda x, w, b, dv: (dv.T @ x, None, None),
        "is divided by the batch size; dvalues already is": lambda x, w, b, dv: (x.T @ dv / len(x), None, None),
        "sums over the wrong axis: sum over the samples, axis=0":
            lambda x, w, b, dv: (None, dv.sum(axis=1, keepdims=True), None),
        "takes the mean; it is the sum over the samples": lambda x, w, b, dv: (None, dv.mean(axis=0, keepdims=True), None),
        "is missing a transpose: dvalues · weights.T": lambda x, w, b, dv: (None, None, dv @ w),
        "applies a ReLU mask; that is Activation_ReLU's job": lambda x, w, b, dv: (None, None, dv @ w.T * (x > 0)),
    },
    "relu_backward": {   # (dinputs,) from (inputs, dvalues)
        "is dvalues unchanged: zero it where the inputs were <= 0": lambda x, dv: (dv,),
        "is wrong: the mask looks at dvalues; it must look at the forward pass's inputs (self.inputs <= 0)":
            lambda x, dv: (np.where(dv > 0, dv, 0.0),),
        "is the mask alone; multiply it by dvalues": lambda x, dv: ((x > 0).astype(float),),
    },
}


# ---------------------------------------------------------------- softmax with cross-entropy (a loss layer)

def softmax_cases(ctx) -> list[dict]:
    rng = np.random.default_rng(ctx.seed + 3)
    cases = []
    for n, classes in [(6, 3), (20, 5)]:
        cases.append({"inputs": 2 * rng.standard_normal((n, classes)), "y": rng.integers(0, classes, n)})
    return cases


def softmax_scales(ctx, case) -> dict:
    """Magnitude of the terms behind the loss and each entry of dinputs. exp() turns a rounding of
    x into a relative error of |x| roundoffs, hence the inputs' size; the one-hot 1 is a term too."""
    x, y = case["inputs"], case["y"]
    reference = ctx.reference.Activation_Softmax_Loss_CategoricalCrossentropy()
    loss = reference.forward(x.copy(), y)
    size = 1 + np.abs(x) + np.abs(x).max(axis=1, keepdims=True)
    onehot = np.eye(x.shape[1])[y]
    return {"loss": float(np.mean(size.max(axis=1)) + loss), "grads": [(reference.output * size + onehot) / len(x)]}


CASES["softmax_ce_backward"] = softmax_cases
SCALES = {"softmax_ce_backward": softmax_scales}
MISTAKES["softmax_ce_backward"] = {   # (dinputs,) from (inputs, y, the softmax outputs)
    "is wrong: the 1 at each sample's true class is not subtracted": lambda x, y, probs: (probs / len(probs),),
}


# ---------------------------------------------------------------- Optimizer_SGD
# optimizer is the check kind update_rule (assignment.toml); here, what its known mistakes compute.

def _optimizer(mistake: str):
    """Optimizer_SGD as the book writes it, with one known mistake."""
    class Optimizer_SGD:
        def __init__(self, learning_rate: float = 1.0, decay: float = 0.0, momentum: float = 0.0):
            self.learning_rate = self.current_learning_rate = learning_rate
            self.decay, self.momentum, self.iterations = decay, momentum, 0

        def pre_update_params(self) -> None:
            if self.decay and mistake != "decay ignored":
                self.current_learning_rate = self.learning_rate / (1 + self.decay * self.iterations)

        def update_params(self, layer) -> None:
            if mistake == "unchanged":
                return
            undecayed = mistake == ("momentum without decay" if self.momentum else "vanilla without decay")
            rate = self.learning_rate if undecayed else self.current_learning_rate
            if self.momentum:
                layer.weight_momentums = self.momentum * getattr(layer, "weight_momentums", 0.0) - rate * layer.dweights
                layer.bias_momentums = self.momentum * getattr(layer, "bias_momentums", 0.0) - rate * layer.dbiases
                updates = layer.weight_momentums, layer.bias_momentums
            else:
                updates = -rate * layer.dweights, -rate * layer.dbiases
            sign = -1 if mistake == "uphill" else 1
            layer.weights, layer.biases = layer.weights + sign * updates[0], layer.biases + sign * updates[1]

        def post_update_params(self) -> None:
            self.iterations += mistake != "no iterations"
    return Optimizer_SGD


MISTAKES["optimizer"] = {
    "update_params does not change the parameters": _optimizer("unchanged"),
    "iterations does not advance: post_update_params must add 1 to self.iterations": _optimizer("no iterations"),
    "without momentum, the update uses self.learning_rate; it must use self.current_learning_rate, the decayed "
    "rate": _optimizer("vanilla without decay"),
    "with momentum, the update uses self.learning_rate; it must use self.current_learning_rate, the decayed "
    "rate": _optimizer("momentum without decay"),
    "the decayed rate is never used: pre_update_params must set current_learning_rate = learning_rate / "
    "(1 + decay * iterations)": _optimizer("decay ignored"),
    "the parameters move up the gradient: subtract the learning rate times the gradient": _optimizer("uphill"),
}


# ---------------------------------------------------------------- training on spiral data

def spiral(samples: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """nnfs.datasets.spiral_data, with its own random state (nnfs.init would patch numpy here)."""
    rng = np.random.RandomState(seed)
    x = np.zeros((samples * classes, 2))
    y = np.zeros(samples * classes, dtype=np.int64)
    for c in range(classes):
        ix = range(samples * c, samples * (c + 1))
        r = np.linspace(0.0, 1, samples)
        t = np.linspace(c * 4, (c + 1) * 4, samples) + rng.randn(samples) * 0.2
        x[ix] = np.c_[r * np.sin(t * 2.5), r * np.cos(t * 2.5)]
        y[ix] = c
    return x, y


def test_set(reference) -> tuple[np.ndarray, np.ndarray]:
    """The fresh spiral set, shuffled (spiral data comes sorted by class); its labels stay here.
    Its seed is the reference's (grader side only): this file reaches students in the
    self-check kit, and with the seed they could make the labels."""
    seed = int(reference.TEST_SEED)
    x, y = spiral(SAMPLES, CLASSES, seed)
    order = np.random.RandomState(seed + 100).permutation(len(y))
    return x[order], y[order]


def _spiral_data(ctx, hp: dict) -> dict:
    """What the probe trains on: the exercise's spiral, a validation spiral (labels given, to stop
    on) and the test set's points; the loop's size, from the rubric."""
    x, y = spiral(SAMPLES, CLASSES, TRAIN_SEED)
    x_val, y_val = spiral(SAMPLES, CLASSES, VALIDATION_SEED)
    return {"x": x, "y": y, "x_test": test_set(ctx.reference)[0], "x_val": x_val, "y_val": y_val,
            "epochs": int(ctx.rubric.get("epochs", 10001)), "hidden": int(ctx.rubric.get("hidden", 64))}


def _test_labels(ctx, split: str) -> np.ndarray:
    return test_set(ctx.reference)[1]


def _hints(ctx, hp: dict, runs: list[dict]) -> list[str]:
    return [] if hp["momentum"] else ["without momentum, 10,001 epochs are rarely enough: try momentum=0.9"]


SPIRAL_TRAINING = training.Hooks(hints=_hints, inputs=_spiral_data, labels=_test_labels)

TRAINING = {"training": SPIRAL_TRAINING, "test_accuracy": SPIRAL_TRAINING}   # the kind's hooks, by check id
