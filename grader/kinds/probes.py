# ---------------------------------------------------------------- the check kinds' probes
# (grader/kinds/probes.py, put ahead of an assignment's own probes.py in the probe process:
# numpy only, nothing of the grader's). Inputs: "spec.<name>" (text: function names, argument
# names) and, per case, "c<k>.<name>" arrays. They judge nothing: they call and send back.
import itertools

import numpy as np
import traceback as _traceback


def _kind_cases(inputs):
    spec, cases = {}, {}
    for key, value in inputs.items():
        case, _, name = key.partition(".")
        if case == "spec":
            spec[name] = str(value.reshape(-1)[0]) if value.dtype.kind == "U" else value
        else:
            cases.setdefault(case, {})[name] = value
    return spec, cases


def _kind_error(exc):
    said = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return said[:300] + "\n" + _traceback.format_exc()[-3000:]


def _kind_floats(value):
    """An array as the student's code computed it: a floating dtype is kept (judged at its
    precision), booleans and integers become float64; anything else raises."""
    if value is None:
        raise TypeError("None")
    arr = np.array(value, subok=False)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"a {type(value).__name__} of {arr.dtype} values, not an array of real numbers")
    return arr if arr.dtype.kind == "f" else arr.astype(np.float64)


def _kind_returned(exc):
    """What a function returned that is not what the check can read, in words."""
    return str(exc).split("\n")[0][:200]


def kind_outputs(student, inputs):
    """function(*args), or a method of an object made from the case, per case: its output (the
    first value of a pair beside a cache, or the attribute named `output`), whether it returned a
    pair, and each argument afterwards (changed in place?)."""
    spec, cases = _kind_cases(inputs)
    names = spec["args"].split(",")
    out = {}
    for case, c in cases.items():
        args = [c[n].copy() for n in names]
        try:
            obj = _kind_object(student, spec, c)
            result = _kind_callable(student, spec, obj, spec.get("method", spec.get("function")))(*args)
            value = _kind_path(obj, spec["output"]) if "output" in spec else result
        except Exception as exc:  # noqa: BLE001 - reported per case
            out[f"{case}.error"] = _kind_error(exc)
            continue
        pair = isinstance(result, (tuple, list)) and len(result) == 2
        try:
            out[f"{case}.out"] = _kind_floats(value[0] if pair and "output" not in spec else value)
        except Exception as exc:  # noqa: BLE001 - what it returned cannot be read as numbers
            out[f"{case}.returned"] = _kind_returned(exc)
            continue
        out[f"{case}.pair"] = int(pair)
        for n, a in zip(names, args):
            out[f"{case}.after_{n}"] = a
    return out


def kind_gradients(student, inputs):
    """forward(*args), then backward(dout, cache) twice (backward(dout) when `cache` is False), on
    one object when it is a class's: the gradients returned, in order, or read from the object's
    attributes; the forward's output when asked; dout afterwards; the least precise float around."""
    spec, cases = _kind_cases(inputs)
    names = spec["args"].split(",")
    paths = spec["grads"].split(",") if "class" in spec else None
    out = {}
    for case, c in cases.items():
        obj = None
        for call in ("", "again_"):
            try:
                obj = obj if obj is not None else _kind_object(student, spec, c)
                result = _kind_callable(student, spec, obj, spec["forward"])(*[c[n].copy() for n in names])
                if "output" in spec and not call:
                    out[f"{case}.out"] = _kind_floats(_kind_path(obj, spec["output"]))
            except Exception as exc:  # noqa: BLE001
                out[f"{case}.forward_error"] = _kind_error(exc)
                break
            try:
                cache = [result[1] if isinstance(result, (tuple, list)) and len(result) == 2 else None]
                dout = c[spec["dout"]].copy()
                grads = _kind_callable(student, spec, obj, spec["backward"])(
                    dout, *(cache if spec["cache"] == "True" else []))
                if paths is None:
                    grads = list(grads) if isinstance(grads, (tuple, list)) else [grads]
                    out[f"{case}.{call}count"] = len(grads)
                else:
                    grads = [_kind_attribute(obj, p) for p in paths]
                if not call:
                    out[f"{case}.dout_after"] = dout
                    out[f"{case}.precision"] = _kind_precision(obj, result, grads)
            except Exception as exc:  # noqa: BLE001
                out[f"{case}.error"] = _kind_error(exc)
                break
            try:
                for i, g in enumerate(grads[:8]):
                    if isinstance(g, _KindBad):
                        out[f"{case}.{call}bad{i}"] = g.why
                    else:
                        out[f"{case}.{call}g{i}"] = _kind_floats(g)
            except Exception as exc:  # noqa: BLE001
                out[f"{case}.returned"] = _kind_returned(exc)
                break
    return out


def kind_update_rule(student, inputs):
    """next_w, config = rule(w, dw, config), step after step with the config it returned; the
    first config is None (the rule fills in its defaults) or the case's settings."""
    spec, cases = _kind_cases(inputs)
    out = {}
    for case, c in cases.items():
        config = {k[4:]: float(v) for k, v in c.items() if k.startswith("cfg_")} or None
        w = c["w"].copy()
        for t in range(int(c["steps"])):
            try:
                next_w, config = getattr(student, spec["function"])(w, c[f"dw{t}"].copy(), config)
            except Exception as exc:  # noqa: BLE001
                out[f"{case}.error"] = _kind_error(exc)
                break
            try:
                w = _kind_floats(next_w)
            except Exception as exc:  # noqa: BLE001
                out[f"{case}.returned"] = _kind_returned(exc)
                break
            out[f"{case}.w{t}"] = w
            w = w.copy()
    return out


def kind_dropout(student, inputs):
    """forward(x, {"p", "mode", "seed"}) and backward(dout, cache), in train and test mode."""
    spec, cases = _kind_cases(inputs)
    out = {}
    for case, c in cases.items():
        for mode in ("train", "test"):
            param = {"p": float(c["p"]), "mode": mode, "seed": int(c["seed"])}
            try:
                result = getattr(student, spec["forward"])(c["x"].copy(), param)
                pair = isinstance(result, (tuple, list)) and len(result) == 2
                value, cache = (result[0], result[1]) if pair else (result, None)
                dx = getattr(student, spec["backward"])(c["dout"].copy(), cache)
            except Exception as exc:  # noqa: BLE001
                out[f"{case}.error"] = _kind_error(exc)
                break
            try:
                out[f"{case}.{mode}_out"], out[f"{case}.{mode}_dx"] = _kind_floats(value), _kind_floats(dx)
            except Exception as exc:  # noqa: BLE001
                out[f"{case}.returned"] = _kind_returned(exc)
                break
    return out


# ---------------------------------------------------------------- methods of an object
# (outputs and gradients: "spec.class" names a class; its object is made per case, as
# grader/kinds/calls.py makes the reference's)

def _kind_object(student, spec, c):
    """None for a function; else an object of spec["class"] made with the case's constructor
    arguments (by keyword, else in order) and its attributes set from the case (copies)."""
    if "class" not in spec:
        return None
    cls = getattr(student, spec["class"])
    init = {n: c[n].item() for n in spec.get("init", "").split(",") if n}
    try:
        obj = cls(**init)
    except TypeError:
        obj = cls(*init.values())
    for path in (p for p in spec.get("attributes", "").split(",") if p):
        name, _, key = path.partition("[")
        if key:   # into the object's own dict: its code may hold on to it
            getattr(obj, name)[key.rstrip("]")] = c[key.rstrip("]")].copy()
        else:
            setattr(obj, name, c[name].copy())
    return obj


def _kind_callable(student, spec, obj, name):
    return getattr(obj if obj is not None else student, name)


def _kind_path(obj, path):
    name, _, key = path.partition("[")
    value = getattr(obj, name)
    return value[key.rstrip("]")] if key else value


class _KindBad:
    """A gradient attribute that cannot be judged, and why (the grader says so for that one only)."""

    def __init__(self, why):
        self.why = why


def _kind_attribute(obj, path):
    """The array at an attribute path after backward, or _KindBad: not set, or not numbers."""
    try:
        value = _kind_path(obj, path)
    except (AttributeError, KeyError, TypeError, IndexError):
        value = None
    if value is None:
        return _KindBad("not set")
    try:
        return _kind_floats(value)
    except (TypeError, ValueError):
        return _KindBad("not an array of numbers")


def _kind_precision(*objects, depth=3):
    """A 0-d array of the least precise floating dtype found in objects, their items and
    attributes, nearest first (a float32 cache makes a float64 result float32-accurate)."""
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
