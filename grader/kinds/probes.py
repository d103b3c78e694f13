# ---------------------------------------------------------------- the check kinds' probes
# (grader/kinds/probes.py, put ahead of an assignment's own probes.py in the probe process:
# numpy only, nothing of the grader's). Inputs: "spec.<name>" (text: function names, argument
# names) and, per case, "c<k>.<name>" arrays. They judge nothing: they call and send back.
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
    arr = np.array(value, subok=False)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"a {type(value).__name__} of {arr.dtype} values, not an array of real numbers")
    return arr if arr.dtype.kind == "f" else arr.astype(np.float64)


def _kind_returned(exc):
    """What a function returned that is not what the check can read, in words."""
    return str(exc).split("\n")[0][:200]


def kind_outputs(student, inputs):
    """function(*args) per case: its output (the first value of a pair, beside a cache), whether
    it returned a pair, and each argument afterwards (changed in place?)."""
    spec, cases = _kind_cases(inputs)
    names = spec["args"].split(",")
    out = {}
    for case, c in cases.items():
        args = [c[n].copy() for n in names]
        try:
            result = getattr(student, spec["function"])(*args)
        except Exception as exc:  # noqa: BLE001 - reported per case
            out[f"{case}.error"] = _kind_error(exc)
            continue
        pair = isinstance(result, (tuple, list)) and len(result) == 2
        try:
            out[f"{case}.out"] = _kind_floats(result[0] if pair else result)
        except Exception as exc:  # noqa: BLE001 - what it returned cannot be read as numbers
            out[f"{case}.returned"] = _kind_returned(exc)
            continue
        out[f"{case}.pair"] = int(pair)
        for n, a in zip(names, args):
            out[f"{case}.after_{n}"] = a
    return out


def kind_gradients(student, inputs):
    """forward(*args), then backward(dout, cache) twice: the gradients it returns (one array, or
    several), in order, and those of the second call."""
    spec, cases = _kind_cases(inputs)
    names = spec["args"].split(",")
    out = {}
    for case, c in cases.items():
        for call in ("", "again_"):
            try:
                result = getattr(student, spec["forward"])(*[c[n].copy() for n in names])
                cache = result[1] if isinstance(result, (tuple, list)) and len(result) == 2 else None
                grads = getattr(student, spec["backward"])(c["dout"].copy(), cache)
            except Exception as exc:  # noqa: BLE001
                out[f"{case}.error"] = _kind_error(exc)
                break
            grads = list(grads) if isinstance(grads, (tuple, list)) else [grads]
            out[f"{case}.{call}count"] = len(grads)
            try:
                for i, g in enumerate(grads[:8]):
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
