"""Probes of the CIFAR-10 two-layer-net assignment. They run in the sandbox, next to the
student's extracted code (`student`), on inputs the grader chose, and return raw arrays;
they judge nothing: the grader compares. numpy only: nothing of the grader or the reference
is visible here.

Inputs and outputs are flat dicts; a key "c3.W1" is entry W1 of case 3.
"""
import itertools
import traceback

import numpy as np

PARAMS = ("W1", "b1", "W2", "b2")


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


def _make_net(student, params):
    input_dim, hidden_dim = params["W1"].shape
    num_classes = params["W2"].shape[1]
    try:
        net = student.FullyConnectedNet(hidden_dim=hidden_dim, input_dim=input_dim, num_classes=num_classes)
    except TypeError:
        net = student.FullyConnectedNet(hidden_dim, input_dim, num_classes)
    for name in PARAMS:  # into the net's own dict: the student's code may hold on to it
        net.params[name] = params[name].copy()
    return net


def _scores(result):
    """(scores, 1) for a (scores, cache) pair; (result, 0) for anything else."""
    if isinstance(result, (tuple, list)) and len(result) == 2:
        return result[0], 1
    return result, 0


def _cache(result):
    return result[1] if isinstance(result, (tuple, list)) and len(result) == 2 else None


def forward(student, inputs):
    out = {}
    for case, c in _cases(inputs).items():
        try:
            net = _make_net(student, c)
            x = c["x"].copy()
            scores, pair = _scores(net.forward(x))
            if scores is None:
                raise TypeError("forward returned None as scores")
            out[f"{case}.scores"] = np.asarray(scores)
            out[f"{case}.pair"] = pair
            out[f"{case}.x_after"] = x
        except Exception as exc:  # noqa: BLE001 - reported per case
            out[f"{case}.error"] = _error(exc)
    return out


def _grads(net):
    grads, status = {}, []
    for name in PARAMS:
        g = getattr(net, "grads", {}).get(name) if isinstance(getattr(net, "grads", None), dict) else None
        if g is None:
            status.append(1)
            continue
        try:
            grads[name] = _floats(g)
            status.append(0)
        except (TypeError, ValueError):
            status.append(2)
    return grads, status


def backward(student, inputs):
    out = {}
    for case, c in _cases(inputs).items():
        try:
            net = _make_net(student, c)
            result = net.forward(c["x"].copy())
            net.backward(c["dscores"].copy(), _cache(result))
            grads, status = _grads(net)
            out[f"{case}.precision"] = _precision(result, *grads.values())
            out[f"{case}.status"] = status
            out.update({f"{case}.{k}": v for k, v in grads.items()})
            # the same call again: gradients must be overwritten, not accumulated
            net.backward(c["dscores"].copy(), _cache(net.forward(c["x"].copy())))
            again, _ = _grads(net)
            out.update({f"{case}.{k}.again": v for k, v in again.items()})
        except Exception as exc:  # noqa: BLE001
            out[f"{case}.error"] = _error(exc)
    return out
