"""Reference solution of the NNFS-style SGD exercise (learning-rate decay and momentum).

Grader-side only: never copied into a student's sandbox. The classes are the ones of
"Neural Networks from Scratch" (Kinsley & Kukieła), chapters 9 to 10; `train` is the
exercise's loop (a 2-64-3 network on spiral data), so that a setting of the optimizer
means the same here as in the student's notebook.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEST_SEED = 1   # the hidden test set's spiral (checks.test_set): known only here, on the grader's side


class Layer_Dense:
    def __init__(self, n_inputs: int, n_neurons: int):
        self.weights = 0.01 * np.random.randn(n_inputs, n_neurons)
        self.biases = np.zeros((1, n_neurons))

    def forward(self, inputs: np.ndarray) -> None:
        self.inputs = inputs
        self.output = inputs @ self.weights + self.biases

    def backward(self, dvalues: np.ndarray) -> None:
        self.dweights = self.inputs.T @ dvalues
        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)
        self.dinputs = dvalues @ self.weights.T


class Activation_ReLU:
    def forward(self, inputs: np.ndarray) -> None:
        self.inputs = inputs
        self.output = np.maximum(0, inputs)

    def backward(self, dvalues: np.ndarray) -> None:
        self.dinputs = dvalues.copy()
        self.dinputs[self.inputs <= 0] = 0


class Activation_Softmax:
    def forward(self, inputs: np.ndarray) -> None:
        exp = np.exp(inputs - np.max(inputs, axis=1, keepdims=True))
        self.output = exp / np.sum(exp, axis=1, keepdims=True)


class Loss_CategoricalCrossentropy:
    def calculate(self, output: np.ndarray, y: np.ndarray) -> float:
        clipped = np.clip(output, 1e-7, 1 - 1e-7)
        correct = clipped[range(len(output)), y] if y.ndim == 1 else np.sum(clipped * y, axis=1)
        return float(np.mean(-np.log(correct)))


class Activation_Softmax_Loss_CategoricalCrossentropy:
    def __init__(self):
        self.activation = Activation_Softmax()
        self.loss = Loss_CategoricalCrossentropy()

    def forward(self, inputs: np.ndarray, y_true: np.ndarray) -> float:
        self.activation.forward(inputs)
        self.output = self.activation.output
        return self.loss.calculate(self.output, y_true)

    def backward(self, dvalues: np.ndarray, y_true: np.ndarray) -> None:
        samples = len(dvalues)
        if y_true.ndim == 2:
            y_true = np.argmax(y_true, axis=1)
        self.dinputs = dvalues.copy()
        self.dinputs[range(samples), y_true] -= 1
        self.dinputs = self.dinputs / samples


class Optimizer_SGD:
    def __init__(self, learning_rate: float = 1.0, decay: float = 0.0, momentum: float = 0.0):
        self.learning_rate = learning_rate
        self.current_learning_rate = learning_rate
        self.decay = decay
        self.iterations = 0
        self.momentum = momentum

    def pre_update_params(self) -> None:
        if self.decay:
            self.current_learning_rate = self.learning_rate / (1.0 + self.decay * self.iterations)

    def update_params(self, layer) -> None:
        if self.momentum:
            if not hasattr(layer, "weight_momentums"):
                layer.weight_momentums = np.zeros_like(layer.weights)
                layer.bias_momentums = np.zeros_like(layer.biases)
            weight_updates = self.momentum * layer.weight_momentums - self.current_learning_rate * layer.dweights
            layer.weight_momentums = weight_updates
            bias_updates = self.momentum * layer.bias_momentums - self.current_learning_rate * layer.dbiases
            layer.bias_momentums = bias_updates
        else:
            weight_updates = -self.current_learning_rate * layer.dweights
            bias_updates = -self.current_learning_rate * layer.dbiases
        layer.weights += weight_updates
        layer.biases += bias_updates

    def post_update_params(self) -> None:
        self.iterations += 1


@dataclass
class TrainOutcome:
    train_predictions: np.ndarray
    test_predictions: np.ndarray
    losses: list[float]          # every 100th epoch, as the notebook prints them


def train(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, *, learning_rate: float, decay: float,
          momentum: float, epochs: int = 10001, seed: int = 0, hidden: int = 64) -> TrainOutcome:
    """The exercise's loop: dense(2, 64), ReLU, dense(64, 3), softmax with cross-entropy."""
    np.random.seed(seed)
    dense1, activation1 = Layer_Dense(x.shape[1], hidden), Activation_ReLU()
    dense2 = Layer_Dense(hidden, int(y.max()) + 1)
    loss_activation = Activation_Softmax_Loss_CategoricalCrossentropy()
    optimizer = Optimizer_SGD(learning_rate=learning_rate, decay=decay, momentum=momentum)
    losses = []
    with np.errstate(all="ignore"):
        for epoch in range(epochs):
            dense1.forward(x)
            activation1.forward(dense1.output)
            dense2.forward(activation1.output)
            loss = loss_activation.forward(dense2.output, y)
            if epoch % 100 == 0:
                losses.append(loss)
            loss_activation.backward(loss_activation.output, y)
            dense2.backward(loss_activation.dinputs)
            activation1.backward(dense2.dinputs)
            dense1.backward(activation1.dinputs)
            optimizer.pre_update_params()
            optimizer.update_params(dense1)
            optimizer.update_params(dense2)
            optimizer.post_update_params()
        return TrainOutcome(_predict(x, dense1, activation1, dense2), _predict(x_test, dense1, activation1, dense2),
                            losses)


def _predict(x, dense1, activation1, dense2) -> np.ndarray:
    dense1.forward(x)
    activation1.forward(dense1.output)
    dense2.forward(activation1.output)
    return np.argmax(dense2.output, axis=1)
