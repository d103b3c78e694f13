# ---------------------------------------------------------------- the check kinds' probes
# (grader/kinds/probes.py, put ahead of an assignment's own probes.py in the probe process:
# numpy only, nothing of the grader's). Inputs: "spec.<name>" (text: function names, argument
# names) and, per case, "c<k>.<name>" arrays. They judge nothing: they call and send back.
import numpy as np
import traceback as _traceback
import json as _json
import math as _math
import os as _os
import platform as _platform


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
