"""Reference solution of the CIFAR-10 two-layer-net assignment.

Grader-side only: never copied into a student's sandbox. The training loop mirrors the
notebook's (same preprocessing, same sampling with replacement, same update order) so
that a hyperparameter set means the same thing here as in the student's notebook.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class FullyConnectedNet:
    def __init__(self, hidden_dim: int, input_dim: int = 3072, num_classes: int = 10):
        self.params = {
            "W1": np.random.randn(input_dim, hidden_dim) / np.sqrt(input_dim / 2),
            "b1": np.zeros(hidden_dim),
            "W2": np.random.randn(hidden_dim, num_classes) / np.sqrt(hidden_dim / 2),
            "b2": np.zeros(num_classes),
        }
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}

    def forward(self, x: np.ndarray):
        p = self.params
        z1 = x @ p["W1"] + p["b1"]
        h1 = np.maximum(z1, 0)
        scores = h1 @ p["W2"] + p["b2"]
        return scores, (x, z1, h1)

    def backward(self, dscores: np.ndarray, cache) -> None:
        x, z1, h1 = cache
        self.grads["W2"] = h1.T @ dscores
        self.grads["b2"] = dscores.sum(axis=0)
        dz1 = (dscores @ self.params["W2"].T) * (z1 > 0)
        self.grads["W1"] = x.T @ dz1
        self.grads["b1"] = dz1.sum(axis=0)


def cross_entropy_loss(scores: np.ndarray, y: np.ndarray, eps: float = 1e-8):
    """As handed out in the notebook (including its eps clamp)."""
    scores = scores - scores.max()
    exp = np.maximum(np.exp(scores), eps)
    rows = np.arange(scores.shape[0])
    loss = (-scores[rows, y] + np.log(exp.sum(axis=1))).mean()
    dscores = exp / exp.sum(axis=1, keepdims=True)
    dscores[rows, y] -= 1
    return loss, dscores / scores.shape[0]


class SGD:
    def __init__(self, params: dict, alpha: float, beta: float = 0):
        self.params, self.alpha, self.beta = params, alpha, beta
        self.momentum = {n: np.zeros_like(p) for n, p in params.items()}

    def step(self, grads: dict) -> None:
        for name in self.params:
            self.momentum[name] = self.beta * self.momentum[name] + grads[name]
            self.params[name] = self.params[name] - self.alpha * self.momentum[name]


def _backward_into(model: FullyConnectedNet, dscores: np.ndarray, cache) -> None:
    """FullyConnectedNet.backward, writing W1's gradient into the array it already has: the
    same arithmetic (so the same bits), without a fresh input_dim x hidden_dim array a step."""
    x, z1, h1 = cache
    grads = model.grads
    grads["W2"] = h1.T @ dscores
    grads["b2"] = dscores.sum(axis=0)
    dz1 = (dscores @ model.params["W2"].T) * (z1 > 0)
    np.matmul(x.T, dz1, out=grads["W1"])
    grads["b1"] = dz1.sum(axis=0)


def _step_in_place(optimizer: SGD, grads: dict) -> None:
    """SGD.step updating momentum and parameters in place: each element goes through the same
    operations in the same order as in SGD.step, so training gives the same bits, about 20%
    faster (tests/test_checks.py holds them equal)."""
    for name, param in optimizer.params.items():
        m = optimizer.momentum[name]
        m *= optimizer.beta
        m += grads[name]
        param -= optimizer.alpha * m


def preprocess(images: np.ndarray) -> np.ndarray:
    """The notebook's preprocessing: flatten, float64, standardise each image."""
    x = images.reshape(images.shape[0], -1).astype(np.float64)
    x -= x.mean(axis=1, keepdims=True)
    x /= x.std(axis=1, keepdims=True)
    return x


@dataclass
class TrainOutcome:
    accuracy: float
    diverged_at: int | None  # iteration at which the loss stopped being finite
    losses: list[float]      # loss every `record_every` iterations, for the report's curve


def train_and_evaluate(x_train, y_train, x_test, y_test, *, hidden_dim, alpha, beta,
                       batch_size, num_iters, seed, record_every: int = 10) -> TrainOutcome:
    """Train the reference net with the notebook's loop and return test accuracy."""
    np.random.seed(seed)
    model = FullyConnectedNet(hidden_dim=hidden_dim, input_dim=x_train.shape[1],
                              num_classes=int(max(y_train.max(), y_test.max())) + 1)
    optimizer = SGD(model.params, alpha=alpha, beta=beta)
    losses: list[float] = []
    diverged_at = None
    with np.errstate(all="ignore"):
        for i in range(num_iters):
            idx = np.random.choice(x_train.shape[0], batch_size)
            scores, cache = model.forward(x_train[idx])
            loss, dscores = cross_entropy_loss(scores, y_train[idx])
            if not np.isfinite(loss):
                diverged_at = i
                break
            _backward_into(model, dscores, cache)
            _step_in_place(optimizer, model.grads)
            if i % record_every == 0:
                losses.append(float(loss))
        # A diverged net is scored as it stands (NaN scores predict class 0).
        chunks = np.array_split(x_test, max(1, len(x_test) // 2000))
        predictions = np.concatenate([model.forward(c)[0].argmax(axis=1) for c in chunks])
    accuracy = float(np.mean(predictions == y_test))
    return TrainOutcome(accuracy=accuracy, diverged_at=diverged_at, losses=losses)
