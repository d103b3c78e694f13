"""Probes of the NNFS-style SGD exercise. They run in the sandbox, next to the student's
extracted code (`student`), on inputs the grader chose, and return raw arrays; they judge
nothing: the grader compares. numpy only.

Inputs and outputs are flat dicts; a key "c3.weights" is entry `weights` of case 3.
"""
import itertools
import traceback

import numpy as np


def _cases(inputs):
    cases = {}
    for key, value in inputs.items():
        case, _, name = key.partition(".")
        cases.setdefault(case, {})[name] = value
    return cases


def _error(exc):
    return f"{type(exc).__name__}: {exc}"[:300] + "\n" + traceback.format_exc()[-3000:]


def _floats(value):
    """An array of numbers as the student's code computed it: a floating dtype is kept, so that
    the grader judges it at its precision; anything else becomes float64 (or raises)."""
    arr = np.array(value, subok=False)
    return arr if arr.dtype.kind == "f" else arr.astype(np.float64)


def _precision(*objects, depth=3):
    """A 0-d array of the least precise floating dtype found in objects, their items and
    attributes, nearest first (a float32 cache or momentum makes a float64 result float32-accurate)."""
    found, queue = [np.dtype(np.float64)], [(obj, depth) for obj in objects]
    for obj, left in queue:   # breadth first, 100 items of each container, 5000 objects at most
        if isinstance(obj, (np.ndarray, np.generic)):
            if obj.dtype.kind == "f":
                found.append(obj.dtype)
            continue
        if left == 0 or len(queue) >= 5000:
            continue
        try:
            if isinstance(obj, dict):
                items = obj.values()
            elif isinstance(obj, (list, tuple)):
                items = obj
            else:
                items = () if isinstance(obj, type) else vars(obj).values()
            queue.extend((item, left - 1) for item in itertools.islice(items, 100))
        except Exception:  # noqa: BLE001 - no attributes to look at
            continue
    return np.zeros((), max(found, key=lambda d: np.finfo(d).eps))


def _number(value):
    """A float for a scalar attribute, NaN for anything that is not one (the grader says so)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def softmax_loss(student, inputs):
    """The combined softmax and cross-entropy: the loss forward returns, then backward on its output."""
    out = {}
    for case, c in _cases(inputs).items():
        try:
            combined = student.Activation_Softmax_Loss_CategoricalCrossentropy()
            y = c["y"].astype(np.int64)
            loss = combined.forward(c["inputs"].copy(), y)
            out[f"{case}.loss"] = np.asarray(_number(loss))
            output = _floats(combined.output)
            out[f"{case}.output"] = output
            combined.backward(output.copy(), y)
            out[f"{case}.dinputs"] = _floats(combined.dinputs)
            out[f"{case}.precision"] = _precision(loss, combined)
        except Exception as exc:  # noqa: BLE001
            out[f"{case}.error"] = _error(exc)
    return out


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
