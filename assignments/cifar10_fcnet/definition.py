"""What the assignment's text defines, for a student's self-check (`nngrader check`): the forward
pass as the notebook states it (linear, ReLU, linear) and gradients by centered differences of
it, and SGD with momentum as the notebook writes it. In the public checks it stands where the
reference stands when grading, so a self-check needs neither the reference nor its outputs.
"""
from __future__ import annotations

import numpy as np

from grader.numeric import full_gradient

# Error of these gradients, of the magnitude of their terms: the centered differences' rounding
# (about 1e-16 of the hidden pre-activations over a 1e-6 step); the checks allow it on top.
ERROR = 1e-8
STEP = 1e-6    # largest move of a hidden pre-activation: the checks keep them 1e-4 from the kink


class FullyConnectedNet:
    def __init__(self, hidden_dim: int, input_dim: int = 3072, num_classes: int = 10):
        self.params = {"W1": np.zeros((input_dim, hidden_dim)), "b1": np.zeros(hidden_dim),
                       "W2": np.zeros((hidden_dim, num_classes)), "b2": np.zeros(num_classes)}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray):
        p = self.params
        return np.maximum(x @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"], x

    def backward(self, dscores: np.ndarray, x: np.ndarray) -> None:
        """Gradients of f = sum(scores * dscores), the quantity backward's are of, by centered
        differences. f is linear in W2 and b2: a unit step is exact. Moving W1[i, j] or b1[j]
        moves only hidden unit j, by x[:, i] (or 1) times the step: f is regrouped by hidden
        unit, f = sum_j sum_n relu(z1[n, j]) * u[n, j] + const with u = dscores @ W2.T, so
        every entry of a column is moved at once."""
        p = self.params

        def f() -> float:
            return float(np.sum(self.forward(x)[0] * dscores))

        self.grads = {name: full_gradient(f, p[name], 1.0) for name in ("W2", "b2")}
        z1, u = x @ p["W1"] + p["b1"], dscores @ p["W2"].T
        for name, moves in (("W1", x.T), ("b1", np.ones((1, len(x))))):
            # per row i of the parameter, a step that moves no pre-activation by more than STEP
            h = STEP / np.maximum(np.abs(moves).max(axis=1, keepdims=True), 1e-300)     # (rows, 1)
            d = (h * moves)[:, :, None]                                                  # (rows, n, 1)
            plus, minus = np.maximum(z1[None] + d, 0), np.maximum(z1[None] - d, 0)       # (rows, n, hidden)
            grad = np.sum((plus - minus) * u[None], axis=1) / (2 * h)                    # (rows, hidden)
            self.grads[name] = grad if name == "W1" else grad[0]


class SGD:
    """m = beta*m + grad; theta -= alpha*m, on the params dict it is given."""

    def __init__(self, params: dict, alpha: float, beta: float = 0):
        self.params, self.alpha, self.beta = params, alpha, beta
        self.momentum = {n: np.zeros_like(p) for n, p in params.items()}

    def step(self, grads: dict) -> None:
        for name in self.params:
            self.momentum[name] = self.beta * self.momentum[name] + grads[name]
            self.params[name] = self.params[name] - self.alpha * self.momentum[name]
