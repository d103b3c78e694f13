# ---------------------------------------------------------------- the check kinds' probes
# (grader/kinds/probes.py, put ahead of an assignment's own probes.py in the probe process:
# numpy only, nothing of the grader's). Inputs: "spec.<name>" (text: function names, argument
# names) and, per case, "c<k>.<name>" arrays. They judge nothing: they call and send back.
# The grader imports _kind_update_steps too: it drives the reference's update rule, and known
# mistakes, exactly as the probe drives the student's.
import numpy as np
import traceback as _traceback
import itertools as _itertools
import json as _json
import math as _math
import os as _os
import platform as _platform
import types as _types


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
            value = _kind_output(obj, spec["output"]) if "output" in spec else result
        except _KindNoOutput as exc:
            out[f"{case}.no_output"] = str(exc)
            continue
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
    """forward(*args), then backward(dout, *backward_args, cache) twice (no cache when `cache` is
    False), on one object when it is a class's: the gradients returned, in order, or read from the
    object's attributes; the forward's output when asked; dout afterwards; the least precise float
    around. A loss layer's forward returns the loss (sent back), and its backward gets the
    forward's own output as dout."""
    spec, cases = _kind_cases(inputs)
    names = spec["args"].split(",")
    paths = spec["grads"].split(",") if "class" in spec else None
    extra = spec["backward_args"].split(",") if spec.get("backward_args") else []
    loss = spec.get("loss") == "True"
    out = {}
    for case, c in cases.items():
        obj = None
        for call in ("", "again_"):
            try:
                obj = obj if obj is not None else _kind_object(student, spec, c)
                result = _kind_callable(student, spec, obj, spec["forward"])(*[c[n].copy() for n in names])
                if "output" in spec:
                    output = _kind_floats(_kind_output(obj, spec["output"]))
                    if not call:
                        out[f"{case}.out"] = output
                if loss and not call:
                    out[f"{case}.loss"] = _kind_number(result)
                    if np.isnan(out[f"{case}.loss"]) and not _kind_is_nan(result):
                        out[f"{case}.loss_returned"] = _kind_what(result)
            except _KindNoOutput as exc:
                out[f"{case}.no_output"] = str(exc)
                break
            except Exception as exc:  # noqa: BLE001
                out[f"{case}.forward_error"] = _kind_error(exc)
                break
            try:
                cache = [result[1] if isinstance(result, (tuple, list)) and len(result) == 2 else None]
                dout = output.copy() if loss else c[spec["dout"]].copy()
                grads = _kind_callable(student, spec, obj, spec["backward"])(
                    dout, *[c[n].copy() for n in extra], *(cache if spec["cache"] == "True" else []))
                if paths is None:
                    grads = list(grads) if isinstance(grads, (tuple, list)) else [grads]
                    out[f"{case}.{call}count"] = len(grads)
                else:
                    grads = [_kind_attribute(obj, p) for p in paths]
                if not call:
                    out[f"{case}.dout_after"] = dout
                    out[f"{case}.precision"] = _kind_least_precision(obj, result, grads)
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
    """An update rule step after step on each case (_kind_update_steps), a function or an
    optimizer class: what it leaves after every step."""
    spec, cases = _kind_cases(inputs)
    optimizer = _json.loads(spec["optimizer"]) if "optimizer" in spec else None
    out = {}
    for case, c in cases.items():
        try:
            steps, precision = _kind_update_steps(getattr(student, spec["name"]), optimizer, c)
        except _KindUnreadable as exc:
            out[f"{case}.returned"] = str(exc)
            continue
        except Exception as exc:  # noqa: BLE001 - reported per case
            out[f"{case}.error"] = _kind_error(exc)
            continue
        for t, step in enumerate(steps):
            out.update({f"{case}.t{t}.{key}": value for key, value in step.items()})
        if precision is not None:
            out[f"{case}.precision"] = precision
    return out


class _KindUnreadable(Exception):
    """What the code left is not an array of real numbers; the message says what and where."""


def _kind_readable(value, where):
    try:
        return _kind_floats(value)
    except Exception as exc:  # noqa: BLE001 - whatever it is, it cannot be read as numbers
        raise _KindUnreadable(f"{where} {_kind_returned(exc)}") from None


def _kind_update_steps(rule, optimizer, c, observe=None):
    """What an update rule does on case c ("p_<name>": the parameters, "g<t>_<name>": the
    gradients of step t, "set_<name>": the setting), step after step: per step, the parameters
    ("p.<name>"), the optimizer's attributes named in `observe` ("a.<name>", NaN when not a
    number) and, for an optimizer given a dict of parameters, the dicts like it that it holds
    instead ("h.<attribute>.<name>"); and the least precise float of the optimizer's state (None
    for a function). `rule` is a function, next_w, config = rule(w, dw, config) with the config
    it returned carried on (the first: None, or the setting), or an optimizer class, as
    `optimizer` (the check's spec) says. The grader runs the reference and the known mistakes
    through this too, so that they are driven exactly as the student's code is."""
    setting = {k[4:]: float(v) for k, v in c.items() if k.startswith("set_")}
    steps = []
    if optimizer is None:
        w, config = c["p_w"].copy(), setting or None
        for t in range(int(c["steps"])):
            next_w, config = rule(w, c[f"g{t}_w"].copy(), config)
            w = _kind_readable(next_w, "returned")
            steps.append({"p.w": w.copy()})
        return steps, None
    names = optimizer["params"]
    params = {n: c[f"p_{n}"].copy() for n in names}
    layers = {}   # "<layer>.<attribute>": the parameters are attributes of layers, their gradients beside them
    for n in names if optimizer["layers"] else ():
        layer, _, attr = n.partition(".")
        setattr(layers.setdefault(layer, _types.SimpleNamespace()), attr, params[n])
    values = [setting[n] for n in optimizer["settings"]]
    first = () if layers else (params,)   # a dict of parameters is the constructor's first argument
    try:
        opt = rule(*first, **dict(zip(optimizer["settings"], values)))
    except TypeError:   # settings named otherwise: by position
        opt = rule(*first, *values)
    observe = optimizer["observe"] if observe is None else observe
    for t in range(int(c["steps"])):
        grads = {n: c[f"g{t}_{n}"].copy() for n in names}
        for n in names if layers else ():
            layer, _, attr = n.partition(".")
            setattr(layers[layer], optimizer["gradients"][attr], grads[n])
        for call in optimizer["step"]:   # "method()", "method(grads)" or "method(layer)": each layer in turn
            method, _, arg = call.rstrip(")").partition("(")
            for args in {"grads": [(grads,)], "layer": [(x,) for x in layers.values()]}.get(arg, [()]):
                getattr(opt, method)(*args)
        step = {}
        for n in names:
            layer, _, attr = n.partition(".")
            value, where = (getattr(layers[layer], attr), f"left layer.{attr} as") if layers else \
                (params[n], f"left params[{n!r}] as")
            step[f"p.{n}"] = _kind_readable(value, where)
        step.update({f"a.{name}": _kind_number(getattr(opt, name, None)) for name in observe})
        step.update({} if layers else _kind_held(opt, params))
        steps.append(step)
    return steps, _kind_least_precision(list(layers.values()) or params, opt)


def _kind_held(opt, params):
    """The dicts with the parameters' names that the optimizer holds, other than the one it was
    given (a copy it updates, which the model never sees), as arrays; those not of numbers skipped."""
    found = {}
    try:
        attributes = list(vars(opt).items())
    except TypeError:   # no __dict__
        return found
    for attr, held in attributes:
        # a name the grader can show: an identifier of reasonable length (setattr takes any string)
        if not (isinstance(attr, str) and attr.isidentifier() and len(attr) <= 80 and isinstance(held, dict)) \
                or held is params:
            continue
        try:
            found.update({f"h.{attr}.{n}": _kind_floats(held[n]) for n in params})
        except Exception:  # noqa: BLE001 - not a dict of parameters
            continue
    return found


def _kind_number(value):
    """A 0-d float for a scalar attribute, NaN for anything that is not one (the grader says so)."""
    try:
        return np.asarray(float(value))
    except (TypeError, ValueError):
        return np.asarray(float("nan"))


class _KindNoOutput(Exception):
    """The method ran, but did not leave the attribute its check reads (self.output)."""


def _kind_output(obj, path):
    try:
        value = _kind_path(obj, path)
    except Exception:  # noqa: BLE001 - not there (AttributeError, KeyError, or a __getattr__ of its own)
        raise _KindNoOutput(path) from None
    return value


def _kind_is_nan(value):
    try:
        return bool(np.isnan(float(value)))
    except Exception:  # noqa: BLE001 - not a number at all
        return False


def _kind_what(value):
    """What a value that should be one number is, in words: "None", "an array of shape (6,)"."""
    try:
        if value is None:
            return "None"
        shape = getattr(value, "shape", None)
        if isinstance(shape, tuple):
            return f"an array of shape {tuple(int(n) for n in shape)}"
        return f"a {type(value).__name__}"[:80]
    except Exception:  # noqa: BLE001 - an object that cannot even say what it is
        return "something that is not a number"


def _kind_least_precision(*objects, depth=3):
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
            queue.extend((item, left - 1) for item in _itertools.islice(items, 100))
        except Exception:  # noqa: BLE001 - no attributes to look at
            continue
    return np.zeros((), max(found, key=lambda d: np.finfo(d).eps))


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


def _kind_environment():
    """The arithmetic of this process: numpy, BLAS implementation, core type and threads."""
    try:
        from threadpoolctl import threadpool_info
        blas = [{k: lib.get(k) for k in ("internal_api", "version", "architecture", "threading_layer", "num_threads")}
                for lib in threadpool_info() if lib.get("user_api") == "blas"]
    except Exception:  # noqa: BLE001 - informative only
        blas = []
    return _json.dumps({"numpy": np.__version__, "blas": blas, "machine": _platform.machine(),
                        "OPENBLAS_CORETYPE": _os.environ.get("OPENBLAS_CORETYPE", "")})


def _kind_decided(accuracies, threshold, t_values, min_seeds):
    """The grader's rule over seeds (grader/seeds.py, which this process cannot import): a t-interval
    of the mean accuracy, with the grader's t values, clear of the threshold."""
    n = len(accuracies)
    if n < min_seeds:
        return False
    mean = sum(accuracies) / n
    half = float(t_values[n]) * _math.sqrt(sum((a - mean) ** 2 for a in accuracies) / (n - 1)) / _math.sqrt(n)
    return mean - half >= threshold or mean + half < threshold


def _kind_accuracy(predictions, labels):
    predictions = np.asarray(predictions).reshape(-1)
    return float(np.mean(predictions == labels)) if predictions.shape == labels.shape else None


def kind_training(student, inputs):
    """The training kind's seeds, with the assignment's loop: "spec.loop" names its function in this
    module, run(student, inputs, seed) -> (predict, losses), predict(x) giving the class of each
    row; "spec.prepare", if any, names what turns the inputs into what the loop uses, once for all
    seeds (e.g. images standardised). Predictions of every split ("x": the training points,
    "x_<split>": another set, the test set's labels not here) and the losses, seed after seed, until
    the accuracy of every split with labels here ("y", "y_<split>") and a threshold
    ("threshold_<split>") is decided, or at the last seed."""
    spec, inputs = _kind_cases(inputs)[0], {k: v for k, v in inputs.items() if not k.startswith("spec.")}
    run = globals()[spec["loop"]]
    if "prepare" in spec:
        inputs = globals()[spec["prepare"]](inputs)
    splits = {("train" if key == "x" else key[2:]): x for key, x in inputs.items()
              if key == "x" or key.startswith("x_")}
    stop = {}
    for split in splits:
        labels = "y" if split == "train" else f"y_{split}"
        if labels in inputs and f"threshold_{split}" in inputs:
            stop[split] = (inputs[labels].astype(np.int64), float(inputs[f"threshold_{split}"]), [])
    t_values, min_seeds = inputs["t_values"], int(inputs["min_seeds"])
    out = {"env": _kind_environment()}
    with np.errstate(all="ignore"):
        for seed in inputs["seeds"].tolist():
            predict, losses = run(student, inputs, seed)
            for split, x in splits.items():
                out[f"s{seed}.{split}_predictions"] = predict(x)
            out[f"s{seed}.losses"] = np.asarray(losses, dtype=np.float64)
            scored = {split: _kind_accuracy(out[f"s{seed}.{split}_predictions"], labels)
                      for split, (labels, _, _) in stop.items()}
            if any(accuracy is None for accuracy in scored.values()):   # the grader reports the shape
                break
            for split, (_, _, accuracies) in stop.items():
                accuracies.append(scored[split])
            if stop and all(_kind_decided(accs, threshold, t_values, min_seeds)
                            for _, threshold, accs in stop.values()):
                break
    return out
