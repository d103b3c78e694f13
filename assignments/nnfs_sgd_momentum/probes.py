"""The NNFS-style exercise's training loop, run in the sandbox next to the student's extracted
code (`student`) by the training kind's probe (kind_training), seed after seed. It judges
nothing: it sends back predictions and losses. numpy only. The other checks' probes are the
check kinds' (grader/kinds/probes.py).
"""
import numpy as np


def _number(value):
    """A float for a scalar, NaN for anything that is not one (the grader says so)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _optimizer(student, learning_rate, decay, momentum):
    try:
        return student.Optimizer_SGD(learning_rate=learning_rate, decay=decay, momentum=momentum)
    except TypeError:
        return student.Optimizer_SGD(learning_rate, decay, momentum)


def _predict(x, dense1, activation1, dense2):
    dense1.forward(x)
    activation1.forward(dense1.output)
    dense2.forward(activation1.output)
    return np.argmax(np.asarray(dense2.output), axis=1)


def spiral_run(student, inputs, seed):
    """The exercise's loop with the student's classes and optimizer settings, for one seed (the
    training kind's probe, kind_training, runs the seeds): a function giving its predictions on
    the training points, a validation set and the test points, and the loss every 100 epochs."""
    x, y = inputs["x"], inputs["y"].astype(np.int64)
    np.random.seed(seed)
    dense1 = student.Layer_Dense(x.shape[1], int(inputs["hidden"]))
    activation1 = student.Activation_ReLU()
    dense2 = student.Layer_Dense(int(inputs["hidden"]), int(y.max()) + 1)
    loss_activation = student.Activation_Softmax_Loss_CategoricalCrossentropy()
    opt = _optimizer(student, float(inputs["learning_rate"]), float(inputs["decay"]), float(inputs["momentum"]))
    losses = []
    for epoch in range(int(inputs["epochs"])):
        dense1.forward(x)
        activation1.forward(dense1.output)
        dense2.forward(activation1.output)
        loss = loss_activation.forward(dense2.output, y)
        if epoch % 100 == 0:
            losses.append(_number(loss))
        loss_activation.backward(loss_activation.output, y)
        dense2.backward(loss_activation.dinputs)
        activation1.backward(dense2.dinputs)
        dense1.backward(activation1.dinputs)
        opt.pre_update_params()
        opt.update_params(dense1)
        opt.update_params(dense2)
        opt.post_update_params()
    return (lambda points: _predict(points, dense1, activation1, dense2)), losses
