"""What the exercise's text defines, for a student's self-check (`nngrader check`): each layer's
forward pass as the book states it, and its gradients by centered differences of that forward
pass, and the optimizer as the book writes it. In the public checks it stands where the
reference stands when grading, so a self-check needs neither the reference nor its outputs.
"""
from __future__ import annotations

import numpy as np

from grader.numeric import full_gradient

# Error of these gradients, of the magnitude of their terms: a dense layer is linear, so a unit
# step is exact up to rounding; the loss is not: fourth-order differences leave about 1e-10.
ERROR = 1e-8


class Layer_Dense:
    def __init__(self, n_inputs: int, n_neurons: int):
        self.weights, self.biases = np.zeros((n_inputs, n_neurons)), np.zeros((1, n_neurons))

    def forward(self, inputs: np.ndarray) -> None:
        self.inputs = inputs
        self.output = inputs @ self.weights + self.biases

    def backward(self, dvalues: np.ndarray) -> None:
        """Gradients of sum(output * dvalues) by centered differences (unit steps: it is linear)."""
        x = self.inputs.copy()

        def f() -> float:
            return float(np.sum((x @ self.weights + self.biases) * dvalues))

        self.dweights, self.dbiases, self.dinputs = (full_gradient(f, a, 1.0) for a in (self.weights, self.biases, x))


class Activation_ReLU:
    """max(0, x); its gradient passes dvalues where the input was positive (the checks keep the
    inputs off the kink at 0, where conventions differ)."""

    def forward(self, inputs: np.ndarray) -> None:
        self.inputs = inputs
        self.output = np.maximum(0, inputs)

    def backward(self, dvalues: np.ndarray) -> None:
        self.dinputs = np.where(self.inputs > 0, dvalues, 0.0)


class Activation_Softmax_Loss_CategoricalCrossentropy:
    """Softmax, then the mean cross-entropy with the true classes (probabilities clipped to
    [1e-7, 1 - 1e-7], as the book does)."""

    def forward(self, inputs: np.ndarray, y_true: np.ndarray) -> float:
        self.inputs, self.y = inputs.copy(), y_true
        exp = np.exp(inputs - np.max(inputs, axis=1, keepdims=True))
        self.output = exp / np.sum(exp, axis=1, keepdims=True)
        return _mean_loss(inputs, y_true)

    def backward(self, dvalues: np.ndarray, y_true: np.ndarray) -> None:
        """The gradient of the mean loss with respect to the inputs, by centered differences of
        fourth order (steps of 1e-3: the loss is smooth), one sample's share of the loss at a time
        (an input moves only its own sample's loss, so rounding stays at that share's size)."""
        x, n = self.inputs.copy(), len(self.inputs)
        self.dinputs = np.zeros(x.shape)
        h = 1e-3
        for i, j in np.ndindex(x.shape):
            row = x[i:i + 1].copy()

            def share(step: float) -> float:
                moved = row.copy()
                moved[0, j] += step
                return _mean_loss(moved, y_true[i:i + 1]) / n

            self.dinputs[i, j] = (8 * (share(h) - share(-h)) - (share(2 * h) - share(-2 * h))) / (12 * h)

def _mean_loss(inputs: np.ndarray, y: np.ndarray) -> float:
    exp = np.exp(inputs - np.max(inputs, axis=1, keepdims=True))
    probs = np.clip(exp / np.sum(exp, axis=1, keepdims=True), 1e-7, 1 - 1e-7)
    return float(np.mean(-np.log(probs[np.arange(len(probs)), y])))


class Optimizer_SGD:
    """Learning rate decayed as learning_rate / (1 + decay * iterations); with momentum, each
    layer keeps its own (weight_momentums, bias_momentums): update = momentum * update - rate * gradient."""

    def __init__(self, learning_rate: float = 1.0, decay: float = 0.0, momentum: float = 0.0):
        self.learning_rate = self.current_learning_rate = learning_rate
        self.decay, self.momentum, self.iterations = decay, momentum, 0

    def pre_update_params(self) -> None:
        if self.decay:
            self.current_learning_rate = self.learning_rate / (1.0 + self.decay * self.iterations)

    def update_params(self, layer) -> None:
        if self.momentum:
            layer.weight_momentums = self.momentum * getattr(layer, "weight_momentums", 0.0) - \
                self.current_learning_rate * layer.dweights
            layer.bias_momentums = self.momentum * getattr(layer, "bias_momentums", 0.0) - \
                self.current_learning_rate * layer.dbiases
            layer.weights, layer.biases = layer.weights + layer.weight_momentums, layer.biases + layer.bias_momentums
        else:
            layer.weights = layer.weights - self.current_learning_rate * layer.dweights
            layer.biases = layer.biases - self.current_learning_rate * layer.dbiases

    def post_update_params(self) -> None:
        self.iterations += 1
