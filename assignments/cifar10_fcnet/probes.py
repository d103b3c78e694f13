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


def _make_sgd(student, params, alpha, beta):
    try:
        return student.SGD(params, alpha=alpha, beta=beta)
    except TypeError:
        return student.SGD(params, alpha, beta)


def sgd_step(student, inputs):
    out = {}
    for case, c in _cases(inputs).items():
        params = {name: c[f"p_{name}"].copy() for name in PARAMS}
        try:
            opt = _make_sgd(student, params, float(c["alpha"]), float(c["beta"]))
            for t in range(int(c["steps"])):
                opt.step({name: c[f"g{t}_{name}"].copy() for name in PARAMS})
                own = getattr(opt, "params", None)  # copies: later in-place steps must not change them
                for name in PARAMS:
                    out[f"{case}.t{t}_{name}"] = _floats(params[name])
                    if isinstance(own, dict) and own is not params and name in own:
                        out[f"{case}.own{t}_{name}"] = _floats(own[name])
            out[f"{case}.precision"] = _precision(params, opt)
        except Exception as exc:  # noqa: BLE001
            out[f"{case}.error"] = _error(exc)
    return out
