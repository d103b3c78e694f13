"""Checks of the NNFS-style SGD exercise: the grader's side.

For a check with a probe, `inputs_<id>(ctx)` chooses what the student's code is run on (in
the sandbox, by probes.py) and `compare_<id>(ctx, inputs, outcome)` judges the raw outputs
against the reference, here (the CHECKS table at the end pairs them for the grader). dense_backward
judges the dense probe's run (`outcome_of` in assignment.toml). training and test_accuracy are of
the check kind "training", on one run of the student's classes: their hooks here, in TRAINING.
Messages name what is wrong and the likely cause, in the student's terms.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grader.check import FAIL, PASS, WARN, Check, Verdict, by_case, first_line, probe_failed, raised
from grader.numeric import (UNITS, Comparison, compare, magnitude, momentum_steps_scale, numerical_gradient,
                           precision_note, precision_of, sample_indices, summary)
from grader.kinds import training

DENSE_CASES = [(2, 5, 4), (4, 3, 6), (64, 3, 10)]        # (n_inputs, n_neurons, batch)
OPTIMIZER_SETTINGS = [(1.0, 0.0, 0.0), (0.5, 0.05, 0.0), (1.0, 0.0, 0.9), (0.8, 0.01, 0.5)]
SETTINGS = ("learning_rate", "decay", "momentum")
PARAMS = ("w1", "b1", "w2", "b2")    # the optimizer probe's two layers
SAMPLES, CLASSES = 100, 3     # spiral_data(samples=100, classes=3), as the exercise makes it
TRAIN_SEED = 0                # nnfs.init() seeds numpy with 0; the test set's seed is the reference's
VALIDATION_SEED = 2           # another fresh set, its labels given to the probe to decide when to stop


# ---------------------------------------------------------------- shared helpers

def _units(ctx) -> float:
    return float(ctx.rubric.get("roundoff_units", UNITS))


def _with_note(message: str, notes: list[str]) -> str:
    notes = [n for n in notes if n]
    return message + (f" ({'; '.join(notes)})" if notes else "")


def _passed(message: str, comparisons: list[Comparison], **details) -> Verdict:
    """A pass, with the precision it was judged at when reduced; float16 passes with a warning."""
    note, coarse = summary(comparisons)
    return Verdict(WARN if coarse else PASS, _with_note(message, [note]), details=details)


def _wrong(label: str, got: np.ndarray, expected: np.ndarray, c: Comparison) -> str:
    if got.shape != expected.shape:
        return f"{label} has shape {got.shape}; expected {expected.shape}"
    ix = c.where
    return _with_note(f"{label} is wrong (max error {c.error:.2g} of the magnitude of the terms, at index {ix}: "
                      f"got {got[ix]:.6g}, expected {expected[ix]:.6g})", [precision_note(c)])


# ---------------------------------------------------------------- Layer_Dense

def inputs_dense_forward(ctx) -> dict:
    rng = np.random.default_rng(ctx.seed)
    flat = {}
    for k, (n_in, n_out, batch) in enumerate(DENSE_CASES):
        flat[f"c{k}.weights"] = 0.5 * rng.standard_normal((n_in, n_out))
        flat[f"c{k}.biases"] = rng.standard_normal((1, n_out))
        flat[f"c{k}.inputs"] = rng.standard_normal((batch, n_in))
        flat[f"c{k}.dvalues"] = rng.standard_normal((batch, n_out))
    return flat


def _ref_dense(ctx, case):
    layer = ctx.reference.Layer_Dense(*case["weights"].shape)
    layer.weights, layer.biases = case["weights"].copy(), case["biases"].copy()
    layer.forward(case["inputs"].copy())
    layer.backward(case["dvalues"].copy())
    return layer


def _dense_scales(ctx, case) -> dict[str, np.ndarray]:
    """Magnitude of the terms behind each entry of output, dweights, dbiases, dinputs: the
    reference layer on absolute values."""
    layer = _ref_dense(ctx, {k: np.abs(v) for k, v in case.items()})
    return {name: np.asarray(getattr(layer, name), np.float64) for name in ("output", "dweights", "dbiases", "dinputs")}


_DENSE_FORWARD_MISTAKES = [   # functions of (inputs, weights, biases): their magnitude is theirs on |·|
    (lambda x, w, b: x @ w, "the biases are not added"),
    (lambda x, w, b: np.maximum(x @ w + b, 0), "a ReLU is applied inside the layer; the activation is a class "
                                               "of its own"),
]


def compare_dense_forward(ctx, inputs, outcome) -> Verdict:
    if outcome.error:
        return probe_failed("Layer_Dense could not be run", outcome)
    outs = by_case(outcome.outputs)
    failed = raised("Layer_Dense forward", outs, "forward_error")
    if failed:
        return failed
    units = _units(ctx)
    comparisons = []
    for k, case in by_case(inputs).items():
        o, ref = outs[k], _ref_dense(ctx, case)
        if not np.array_equal(o["inputs_after"], case["inputs"]):
            return Verdict(FAIL, "forward changed its inputs in place; compute the output on a new array")
        precision, got = precision_of(o["output"]), o["output"].astype(np.float64)
        scale = _dense_scales(ctx, case)["output"]
        c = compare(got, ref.output, precision, scale, units, ctx.expected_error * scale)
        if not c.ok:
            arrays = (case["inputs"], case["weights"], case["biases"])
            for f, why in _DENSE_FORWARD_MISTAKES:
                if compare(got, f(*arrays), precision, magnitude(f, *arrays), units).ok:
                    return Verdict(FAIL, f"self.output is wrong: {why}")
            return Verdict(FAIL, _wrong("self.output", got, ref.output, c))
        comparisons.append(c)
    return _passed("self.output = inputs · weights + biases, as the reference", comparisons,
                   max_rel_error=max(c.error for c in comparisons))


def compare_dense_backward(ctx, inputs, outcome) -> Verdict:
    """dweights, dbiases and dinputs, against the reference and against centered differences."""
    if outcome.error:
        return probe_failed("Layer_Dense could not be run", outcome)
    outs = by_case(outcome.outputs)
    failed = raised("Layer_Dense forward", outs, "forward_error") or raised("Layer_Dense backward", outs,
                                                                              "backward_error")
    if failed:
        return failed
    units, numeric_rtol = _units(ctx), ctx.rubric.get("numeric_rtol", 1e-6)
    rng = np.random.default_rng(ctx.seed + 1)
    problems: dict[str, str] = {}
    comparisons = []
    for k, case in by_case(inputs).items():
        o, ref, scales = outs[k], _ref_dense(ctx, case), _dense_scales(ctx, case)
        numeric = _dense_numeric(ctx, case, rng)
        for name in ("dweights", "dbiases", "dinputs"):
            if name in problems:
                continue
            got, expected, scale = o[name], getattr(ref, name), scales[name]
            precision = precision_of(got, o.get("precision"))
            got = got.astype(np.float64)
            if name == "dbiases" and got.shape == expected.shape[1:]:
                got = got.reshape(expected.shape)   # (n,) instead of (1, n): the same update
            allowance = ctx.expected_error * scale   # the error of `expected` itself (0 for the reference)
            c = compare(got, expected, precision, scale, units, allowance)
            if not c.ok:
                problems[name] = _dense_diagnosis(name, got, expected, case, precision, units, c)
                continue
            at = list(numeric[name])
            sampled = scale.reshape(-1)[at]
            if not compare(got.reshape(-1)[at], np.array(list(numeric[name].values())), precision, sampled, units,
                           numeric_rtol * sampled).ok:
                problems[name] = f"{name} disagrees with the numerical gradient"
            elif not compare(o[f"{name}.again"].reshape(expected.shape), expected, precision, scale, units,
                             allowance).ok:
                problems[name] = (f"{name} changes when backward is called twice with the same input: it "
                                  "accumulates (+=); assign it with = instead")
            else:
                comparisons.append(c)
    if problems:
        right = 3 - len(problems)
        return Verdict(FAIL, "; ".join(problems.values()) + f" ({right} of 3 gradients right)", fraction=right / 3)
    return _passed("dweights, dbiases and dinputs match the reference and the numerical gradient", comparisons)


def _dense_numeric(ctx, case, rng) -> dict[str, dict[int, float]]:
    """Centered differences of sum(output · dvalues), at sampled flat positions of each array."""
    layer = ctx.reference.Layer_Dense(*case["weights"].shape)
    layer.weights, layer.biases = case["weights"].copy(), case["biases"].copy()
    x = case["inputs"].copy()

    def objective() -> float:
        layer.forward(x)
        return float(np.sum(layer.output * case["dvalues"]))

    grads = {}
    for name, array in (("dweights", layer.weights), ("dbiases", layer.biases), ("dinputs", x)):
        idx = sample_indices(array.shape, int(ctx.rubric.get("numeric_entries", 30)), rng)
        values = numerical_gradient(objective, array, idx)
        grads[name] = {int(np.ravel_multi_index(ix, array.shape)): v for ix, v in values.items()}
    return grads


_DENSE_BACKWARD_MISTAKES = {   # the usual mistakes, each as what it computes from (inputs, weights, dvalues)
    "dweights": [(lambda x, w, dv: dv.T @ x, "dweights is transposed: inputs.T · dvalues, not dvalues.T · inputs"),
                 (lambda x, w, dv: x.T @ dv / len(x), "dweights is divided by the batch size; dvalues already is")],
    "dbiases": [(lambda x, w, dv: dv.sum(axis=1, keepdims=True), "dbiases sums over the wrong axis: sum over the "
                                                                 "samples, axis=0"),
                (lambda x, w, dv: dv.mean(axis=0, keepdims=True), "dbiases takes the mean; it is the sum over the "
                                                                  "samples")],
    "dinputs": [(lambda x, w, dv: dv @ w, "dinputs is missing a transpose: dvalues · weights.T"),
                (lambda x, w, dv: dv @ w.T * (x > 0), "dinputs applies a ReLU mask; that is Activation_ReLU's job")],
}


def _dense_diagnosis(name: str, got: np.ndarray, expected: np.ndarray, case, precision, units, c) -> str:
    arrays = (case["inputs"], case["weights"], case["dvalues"])
    for f, why in _DENSE_BACKWARD_MISTAKES[name]:
        try:
            alt = f(*arrays)
        except ValueError:   # shapes that do not fit: not this mistake
            continue
        if got.shape == alt.shape and compare(got, alt, precision, magnitude(f, *arrays), units).ok:
            return why
    if got.size == expected.size and not np.any(got):
        return f"{name} is all zeros"
    return _wrong(name, got, expected, c)


# ---------------------------------------------------------------- Activation_ReLU

def inputs_relu_backward(ctx) -> dict:
    rng = np.random.default_rng(ctx.seed + 2)
    flat = {}
    for k, shape in enumerate([(5, 4), (12, 64)]):
        x = rng.standard_normal(shape)
        x[np.abs(x) < 1e-3] = 0.5   # away from the kink, where conventions may differ
        flat[f"c{k}.inputs"], flat[f"c{k}.dvalues"] = x, rng.standard_normal(shape)
    return flat


def compare_relu_backward(ctx, inputs, outcome) -> Verdict:
    """Nothing is summed here: each entry is judged at its own magnitude, at the precision used."""
    if outcome.error:
        return probe_failed("Activation_ReLU could not be run", outcome)
    outs = by_case(outcome.outputs)
    failed = raised("Activation_ReLU forward or backward", outs)
    if failed:
        return failed
    units, note, comparisons = _units(ctx), "", []
    for k, case in by_case(inputs).items():
        o, x, dv = outs[k], case["inputs"], case["dvalues"]
        precision = precision_of(o["output"], o["dinputs"], o.get("precision"))

        def judge(got, want, scale):
            return compare(got, want, precision, scale, units)

        c = judge(o["output"], np.maximum(0, x), np.abs(x))
        if not c.ok:
            return Verdict(FAIL, _wrong("forward's self.output", o["output"], np.maximum(0, x), c))
        expected = np.where(x > 0, dv, 0.0)
        got = o["dinputs"]
        c = judge(got, expected, np.abs(dv))
        if not c.ok:
            for alt, scale, why in ((dv, np.abs(dv), "dinputs is dvalues unchanged: zero it where the inputs were <= 0"),
                                    (np.where(dv > 0, dv, 0.0), np.abs(dv), "the mask looks at dvalues; it must look "
                                                                            "at the forward pass's inputs (self.inputs <= 0)"),
                                    (np.where(x > 0, 1.0, 0.0), 1.0, "dinputs is the mask alone; multiply it by dvalues")):
                if judge(got, alt, scale).ok:
                    return Verdict(FAIL, why)
            return Verdict(FAIL, _wrong("dinputs", got, expected, c))
        comparisons.append(c)
        if not np.array_equal(o["dvalues_after"], dv):
            note = (" (but backward changed dvalues in place: copy it first, dvalues.copy(), as the layer after "
                    "may still use it)")
    return _passed("dinputs = dvalues where the inputs were positive, else 0" + note, comparisons)


# ---------------------------------------------------------------- softmax with cross-entropy

def inputs_softmax_ce_backward(ctx) -> dict:
    rng = np.random.default_rng(ctx.seed + 3)
    flat = {}
    for k, (n, classes) in enumerate([(6, 3), (20, 5)]):
        flat[f"c{k}.inputs"] = 2 * rng.standard_normal((n, classes))
        flat[f"c{k}.y"] = rng.integers(0, classes, n)
    return flat


def _mean_loss(ctx, inputs, y) -> float:
    combined = ctx.reference.Activation_Softmax_Loss_CategoricalCrossentropy()
    return combined.forward(inputs, y)


def _softmax_scales(x: np.ndarray, y: np.ndarray, probs: np.ndarray, loss: float) -> tuple[float, np.ndarray]:
    """Magnitude of the terms behind the loss and each entry of dinputs. exp() turns a rounding of
    x into a relative error of |x| roundoffs, hence the inputs' size; the one-hot 1 is a term too."""
    size = 1 + np.abs(x) + np.abs(x).max(axis=1, keepdims=True)
    onehot = np.eye(x.shape[1])[y]
    return float(np.mean(size.max(axis=1)) + loss), (probs * size + onehot) / len(x)


def compare_softmax_ce_backward(ctx, inputs, outcome) -> Verdict:
    """The loss forward returns, and dinputs against the reference and centered differences of the loss."""
    if outcome.error:
        return probe_failed("Activation_Softmax_Loss_CategoricalCrossentropy could not be run", outcome)
    outs = by_case(outcome.outputs)
    failed = raised("Activation_Softmax_Loss_CategoricalCrossentropy", outs)
    if failed:
        return failed
    units = _units(ctx)
    loss_ok, grad_problem, comparisons = True, "", []
    for k, case in by_case(inputs).items():
        o, x, y = outs[k], case["inputs"].astype(np.float64), case["y"].astype(np.int64)
        precision = precision_of(o["output"], o["dinputs"], o.get("precision"))
        ref = ctx.reference.Activation_Softmax_Loss_CategoricalCrossentropy()
        expected_loss = ref.forward(x.copy(), y)
        ref.backward(ref.output.copy(), y)
        loss_scale, scale = _softmax_scales(x, y, ref.output, expected_loss)
        loss = compare(o["loss"], expected_loss, precision, loss_scale, units)
        loss_ok &= loss.ok
        got = o["dinputs"]
        if grad_problem:
            continue
        c = compare(got, ref.dinputs, precision, scale, units, ctx.expected_error * scale)
        if not c.ok:
            n = len(x)
            probs = ref.output
            for alt, alt_scale, why in ((ref.dinputs * n, scale * n, "dinputs is not divided by the number of samples"),
                                        (probs / n, scale, "the 1 at each sample's true class is not subtracted"),
                                        (-ref.dinputs, scale, "dinputs has the wrong sign")):
                if compare(got, alt, precision, alt_scale, units).ok:
                    grad_problem = why
                    break
            grad_problem = grad_problem or _wrong("dinputs", got.astype(np.float64), ref.dinputs, c)
            continue
        xs = x.copy()
        idx = sample_indices(xs.shape, 12, np.random.default_rng(ctx.seed + 4))
        at = tuple(np.array(i) for i in zip(*idx))
        numeric = numerical_gradient(lambda: _mean_loss(ctx, xs, y), xs, idx)
        # centered differences of the loss are good to 1e-5 of the terms' magnitude (floored: 1e-11)
        if not compare(got[at], np.array([numeric[ix] for ix in idx]), precision, scale[at], units,
                       1e-5 * np.maximum(scale[at], 1e-6)).ok:
            grad_problem = "dinputs disagrees with the numerical gradient of the loss"
        comparisons += [c, loss]
    if grad_problem or not loss_ok:
        parts = ([grad_problem] if grad_problem else []) + (
            [] if loss_ok else ["forward does not return the mean cross-entropy loss of the softmax outputs"])
        return Verdict(FAIL, "; ".join(parts), fraction=0.5 if (loss_ok or not grad_problem) else 0.0)
    return _passed("the loss and dinputs = (softmax − one-hot) / samples match the reference and the "
                   "numerical gradient of the loss", comparisons)


# ---------------------------------------------------------------- Optimizer_SGD

def inputs_optimizer(ctx) -> dict:
    rng = np.random.default_rng(ctx.seed + 5)
    steps = int(ctx.rubric.get("steps", 20))
    shapes = {1: ((2, 4), (1, 4)), 2: ((4, 3), (1, 3))}   # two layers: momentum kept per layer
    flat = {}
    for k, (lr, decay, momentum) in enumerate(OPTIMIZER_SETTINGS):
        flat.update({f"c{k}.learning_rate": lr, f"c{k}.decay": decay, f"c{k}.momentum": momentum,
                     f"c{k}.steps": steps})
        for layer, (w_shape, b_shape) in shapes.items():
            flat[f"c{k}.w{layer}"], flat[f"c{k}.b{layer}"] = rng.standard_normal(w_shape), rng.standard_normal(b_shape)
            for t in range(steps):
                flat[f"c{k}.t{t}_dw{layer}"] = rng.standard_normal(w_shape)
                flat[f"c{k}.t{t}_db{layer}"] = rng.standard_normal(b_shape)
    return flat


def _trajectory(case, rule: str = "right") -> list[dict]:
    """Parameters, rate in use and iterations after each step, by the exercise's rules or a known wrong one."""
    lr, decay, momentum = float(case["learning_rate"]), float(case["decay"]), float(case["momentum"])
    params = {f"{p}{k}": case[f"{p}{k}"].copy() for p in "wb" for k in (1, 2)}
    moms = {name: np.zeros_like(v) for name, v in params.items()}
    iterations, out = 0, []
    for t in range(int(case["steps"])):
        current = lr / (1 + decay * iterations) if decay else lr
        if rule == "decay ignored" or (rule == "vanilla without decay" and not momentum):
            current = lr
        for name in params:
            grad = case[f"t{t}_d{name}"]
            rate = lr if rule == "momentum without decay" and momentum else current
            if momentum:
                moms[name] = momentum * moms[name] - rate * grad
                params[name] = params[name] + (moms[name] if rule != "uphill" else -moms[name])
            else:
                params[name] = params[name] - rate * grad * (1 if rule != "uphill" else -1)
        iterations += 1 if rule != "no iterations" else 0
        out.append({**{n: v.copy() for n, v in params.items()}, "lr": current, "iterations": iterations})
    return out


_WRONG = {
    "no iterations": "iterations does not advance: post_update_params must add 1 to self.iterations",
    "vanilla without decay": "without momentum, the update uses self.learning_rate; it must use "
                             "self.current_learning_rate, the decayed rate",
    "momentum without decay": "with momentum, the update uses self.learning_rate; it must use "
                              "self.current_learning_rate, the decayed rate",
    "decay ignored": "the decayed rate is never used: pre_update_params must set current_learning_rate = "
                     "learning_rate / (1 + decay * iterations)",
    "uphill": "the parameters move up the gradient: subtract the learning rate times the gradient",
}


def _counts_steps(o: dict, steps: int) -> bool:
    return all(float(o[f"t{t}_iterations"]) == t + 1 for t in range(steps))


@dataclass
class _Run:
    """One setting as the student's optimizer ran it, judged at the precision its code used; every
    trajectory is held to the magnitude of the right one's terms."""
    case: dict
    o: dict
    scale: list[dict]
    precision: np.dtype
    units: float

    def compare(self, want: list[dict]) -> list[Comparison]:
        """Step by step, parameter by parameter (in PARAMS order)."""
        return [compare(self.o[f"t{t}_{n}"], step[n], self.precision, self.scale[t][n], self.units)
                for t, step in enumerate(want) for n in PARAMS]

    def close(self, want: list[dict]) -> bool:
        """The student's parameters after every step are those of `want`."""
        return all(c.ok for c in self.compare(want))

    def explains(self, rule: str) -> bool:
        """The known mistake `rule` gives these parameters (a stuck step count is told from an
        ignored decay by the iterations the student's optimizer shows)."""
        if rule == "no iterations" and _counts_steps(self.o, int(self.case["steps"])):
            return False
        return self.close(_trajectory(self.case, rule))


def _run(case, o, units) -> _Run:
    expected = _trajectory(case)
    precision = precision_of(*(o[f"t{t}_{n}"] for t in range(len(expected)) for n in PARAMS), o.get("precision"))
    scale = momentum_steps_scale({n: case[n] for n in PARAMS},
                                 [{n: case[f"t{t}_d{n}"] for n in PARAMS} for t in range(len(expected))],
                                 [step["lr"] for step in expected], float(case["momentum"]), expected)
    return _Run(case, o, scale, precision, units)


def compare_optimizer(ctx, inputs, outcome) -> Verdict:
    """Parameters after every step, for each setting; partial credit per setting. A known mistake
    that explains every setting at once is named; else the first setting's own diagnosis."""
    if outcome.error:
        return probe_failed("Optimizer_SGD could not be run", outcome)
    units = _units(ctx)
    cases, outs = by_case(inputs), by_case(outcome.outputs)
    errors, ran, details = {}, {}, {}
    for k, case in cases.items():
        label = ", ".join(f"{name}={float(case[name]):g}" for name in SETTINGS)
        if "error" in outs.get(k, {}):
            errors[label] = outs[k]["error"].item()
        else:
            ran[label] = _run(case, outs[k], units)
    judged = {label: run.compare(_trajectory(run.case)) for label, run in ran.items()}
    right = [label for label, cs in judged.items() if all(c.ok for c in cs)]
    details = {label: {"right": label in right, "precision": ran[label].precision.name} for label in ran}
    fraction = len(right) / len(cases)
    if errors:
        label, first = next(iter(errors.items()))
        return Verdict(FAIL, f"Optimizer_SGD raised {first_line(first)} ({label})", fraction=fraction,
                       details={"traceback": first.split("\n", 1)[-1], "settings": details})
    wrong = [label for label in ran if label not in right]
    if wrong:
        why = next((message for rule, message in _WRONG.items() if all(run.explains(rule) for run in ran.values())),
                   None)
        why = why or _optimizer_diagnosis(ran[wrong[0]])
        return Verdict(FAIL, f"{why} (first seen with {wrong[0]}; {len(right)} of {len(cases)} settings right)",
                       fraction=fraction, details={"settings": details})
    steps = int(cases["c0"]["steps"])
    note = "" if all(_counts_steps(run.o, steps) for run in ran.values()) else " (self.iterations does not hold the number of steps taken, though)"
    return _passed(f"{steps} steps on two layers match lr/(1 + decay·iterations) with momentum kept per "
                   f"layer, for {len(cases)} settings" + note, [c for cs in judged.values() for c in cs],
                   settings=details)


def _optimizer_diagnosis(run: _Run) -> str:
    expected = _trajectory(run.case)
    if all(np.array_equal(run.o[f"t{t}_{n}"], run.case[n]) for t in range(len(expected)) for n in PARAMS):
        return "update_params does not change the parameters"
    for rule, message in _WRONG.items():
        if run.explains(rule):
            return message
    t_bad = next(i // len(PARAMS) for i, c in enumerate(run.compare(expected)) if not c.ok)
    return f"the parameters differ from the expected ones from step {t_bad + 1} on"


# ---------------------------------------------------------------- training on spiral data

def spiral(samples: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """nnfs.datasets.spiral_data, with its own random state (nnfs.init would patch numpy here)."""
    rng = np.random.RandomState(seed)
    x = np.zeros((samples * classes, 2))
    y = np.zeros(samples * classes, dtype=np.int64)
    for c in range(classes):
        ix = range(samples * c, samples * (c + 1))
        r = np.linspace(0.0, 1, samples)
        t = np.linspace(c * 4, (c + 1) * 4, samples) + rng.randn(samples) * 0.2
        x[ix] = np.c_[r * np.sin(t * 2.5), r * np.cos(t * 2.5)]
        y[ix] = c
    return x, y


def _settings(ctx) -> tuple[dict | None, str]:
    """The student's optimizer settings, read from their last Optimizer_SGD(...) call."""
    return training.settings_from_call(ctx, {name: "non-negative" for name in SETTINGS})


def test_set(reference) -> tuple[np.ndarray, np.ndarray]:
    """The fresh spiral set, shuffled (spiral data comes sorted by class); its labels stay here.
    Its seed is the reference's (grader side only): this file reaches students in the
    self-check kit, and with the seed they could make the labels."""
    seed = int(reference.TEST_SEED)
    x, y = spiral(SAMPLES, CLASSES, seed)
    order = np.random.RandomState(seed + 100).permutation(len(y))
    return x[order], y[order]


def _spiral_data(ctx, hp: dict) -> dict:
    """What the probe trains on: the exercise's spiral, a validation spiral (labels given, to stop
    on) and the test set's points; the loop's size, from the rubric."""
    x, y = spiral(SAMPLES, CLASSES, TRAIN_SEED)
    x_val, y_val = spiral(SAMPLES, CLASSES, VALIDATION_SEED)
    return {"x": x, "y": y, "x_test": test_set(ctx.reference)[0], "x_val": x_val, "y_val": y_val,
            "epochs": int(ctx.rubric.get("epochs", 10001)), "hidden": int(ctx.rubric.get("hidden", 64))}


def _test_labels(ctx, split: str) -> np.ndarray:
    return test_set(ctx.reference)[1]


def _hints(ctx, hp: dict, runs: list[dict]) -> list[str]:
    return [] if hp["momentum"] else ["without momentum, 10,001 epochs are rarely enough: try momentum=0.9"]


SPIRAL_TRAINING = training.Hooks(settings=_settings, hints=_hints, inputs=_spiral_data, labels=_test_labels)


# ---------------------------------------------------------------- what grader/pipeline.py runs

CHECKS = {   # check id (assignment.toml) -> how it is implemented
    "dense_forward": Check(compare_dense_forward, inputs_dense_forward),
    "dense_backward": Check(compare_dense_backward),
    "relu_backward": Check(compare_relu_backward, inputs_relu_backward),
    "softmax_ce_backward": Check(compare_softmax_ce_backward, inputs_softmax_ce_backward),
    "optimizer": Check(compare_optimizer, inputs_optimizer),
}
TRAINING = {"training": SPIRAL_TRAINING, "test_accuracy": SPIRAL_TRAINING}   # the kind's hooks, by check id
