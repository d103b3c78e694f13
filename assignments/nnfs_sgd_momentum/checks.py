"""Checks of the NNFS-style SGD exercise: the grader's side.

For a check with a probe, `inputs_<id>(ctx)` chooses what the student's code is run on (in
the sandbox, by probes.py) and `compare_<id>(ctx, inputs, outcome)` judges the raw outputs
against the reference, here. dense_backward judges the dense probe's run and test_accuracy
the training run (`outcome_of` in assignment.toml). Messages name what is wrong and the
likely cause, in the student's terms.
"""
from __future__ import annotations

import json
import math

import numpy as np

from grader import bounded, seeds
from grader.check import FAIL, PASS, WARN, Verdict, by_case
from grader.numeric import numerical_gradient, rel_error, sample_indices, worst_index

DENSE_CASES = [(2, 5, 4), (4, 3, 6), (64, 3, 10)]        # (n_inputs, n_neurons, batch)
OPTIMIZER_SETTINGS = [(1.0, 0.0, 0.0), (0.5, 0.05, 0.0), (1.0, 0.0, 0.9), (0.8, 0.01, 0.5)]
SETTINGS = ("learning_rate", "decay", "momentum")
SAMPLES, CLASSES = 100, 3     # spiral_data(samples=100, classes=3), as the exercise makes it
TRAIN_SEED, TEST_SEED = 0, 1  # nnfs.init() seeds numpy with 0; the test set is a fresh one
VALIDATION_SEED = 2           # another fresh set, its labels given to the probe to decide when to stop


# ---------------------------------------------------------------- shared helpers

def _first_line(text) -> str:
    return str(text).split("\n", 1)[0]


def _raised(what: str, outs: dict, key: str = "error") -> Verdict | None:
    errors = {k: o[key].item() for k, o in outs.items() if key in o}
    if not errors:
        return None
    first = next(iter(errors.values()))
    return Verdict(FAIL, f"{what} raised {_first_line(first)}",
                   details={"traceback": first.split("\n", 1)[-1], "cases": list(errors)})


def _probe_failed(what: str, outcome) -> Verdict:
    return Verdict(FAIL, f"{what}: {outcome.error}", details={"traceback": outcome.traceback})


def _matches(got: np.ndarray, expected: np.ndarray, rtol: float) -> bool:
    return got.shape == expected.shape and rel_error(got, expected) <= rtol


def _wrong(label: str, got: np.ndarray, expected: np.ndarray) -> str:
    if got.shape != expected.shape:
        return f"{label} has shape {got.shape}; expected {expected.shape}"
    ix = worst_index(got, expected)
    return (f"{label} is wrong (max relative error {rel_error(got, expected):.2g}, at index {ix}: "
            f"got {got[ix]:.6g}, expected {expected[ix]:.6g})")


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


def compare_dense_forward(ctx, inputs, outcome) -> Verdict:
    if outcome.error:
        return _probe_failed("Layer_Dense could not be run", outcome)
    outs = by_case(outcome.outputs)
    raised = _raised("Layer_Dense forward", outs, "forward_error")
    if raised:
        return raised
    rtol = ctx.rubric.get("rtol", 1e-7)
    worst = 0.0
    for k, case in by_case(inputs).items():
        o, ref = outs[k], _ref_dense(ctx, case)
        if not np.array_equal(o["inputs_after"], case["inputs"]):
            return Verdict(FAIL, "forward changed its inputs in place; compute the output on a new array")
        got = o["output"].astype(np.float64)
        if not _matches(got, ref.output, rtol):
            x, w, b = case["inputs"], case["weights"], case["biases"]
            for alt, why in ((x @ w, "the biases are not added"), (np.maximum(x @ w + b, 0), "a ReLU is applied "
                             "inside the layer; the activation is a class of its own")):
                if _matches(got, alt, 1e-6):
                    return Verdict(FAIL, f"self.output is wrong: {why}")
            return Verdict(FAIL, _wrong("self.output", got, ref.output))
        worst = max(worst, rel_error(got, ref.output))
    return Verdict(PASS, "self.output = inputs · weights + biases, as the reference", details={"max_rel_error": worst})


def compare_dense_backward(ctx, inputs, outcome) -> Verdict:
    """dweights, dbiases and dinputs, against the reference and against centered differences."""
    if outcome.error:
        return _probe_failed("Layer_Dense could not be run", outcome)
    outs = by_case(outcome.outputs)
    raised = _raised("Layer_Dense forward", outs, "forward_error") or _raised("Layer_Dense backward", outs,
                                                                              "backward_error")
    if raised:
        return raised
    rtol, numeric_rtol = ctx.rubric.get("rtol", 1e-7), ctx.rubric.get("numeric_rtol", 1e-6)
    rng = np.random.default_rng(ctx.seed + 1)
    problems: dict[str, str] = {}
    for k, case in by_case(inputs).items():
        o, ref = outs[k], _ref_dense(ctx, case)
        numeric = _dense_numeric(ctx, case, rng)
        for name in ("dweights", "dbiases", "dinputs"):
            if name in problems:
                continue
            got, expected = o[name], getattr(ref, name)
            if name == "dbiases" and got.shape == expected.shape[1:]:
                got = got.reshape(expected.shape)   # (n,) instead of (1, n): the same update
            if not _matches(got, expected, rtol):
                problems[name] = _dense_diagnosis(name, got, expected, case)
            elif rel_error(got.reshape(-1)[list(numeric[name])], np.array(list(numeric[name].values()))) > numeric_rtol:
                problems[name] = f"{name} disagrees with the numerical gradient"
            elif not _matches(o[f"{name}.again"].reshape(expected.shape), expected, rtol):
                problems[name] = (f"{name} changes when backward is called twice with the same input: it "
                                  "accumulates (+=); assign it with = instead")
    if problems:
        right = 3 - len(problems)
        return Verdict(FAIL, "; ".join(problems.values()) + f" ({right} of 3 gradients right)", fraction=right / 3)
    return Verdict(PASS, "dweights, dbiases and dinputs match the reference and the numerical gradient")


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


def _dense_diagnosis(name: str, got: np.ndarray, expected: np.ndarray, case) -> str:
    x, w, dv = case["inputs"], case["weights"], case["dvalues"]
    alternatives = {   # the usual mistakes, each as what it computes
        "dweights": [(lambda: dv.T @ x, "dweights is transposed: inputs.T · dvalues, not dvalues.T · inputs"),
                     (lambda: x.T @ dv / len(x), "dweights is divided by the batch size; dvalues already is")],
        "dbiases": [(lambda: dv.sum(axis=1, keepdims=True), "dbiases sums over the wrong axis: sum over the "
                                                            "samples, axis=0"),
                    (lambda: dv.mean(axis=0, keepdims=True), "dbiases takes the mean; it is the sum over the samples")],
        "dinputs": [(lambda: dv @ w, "dinputs is missing a transpose: dvalues · weights.T"),
                    (lambda: dv @ w.T * (x > 0), "dinputs applies a ReLU mask; that is Activation_ReLU's job")],
    }[name]
    for compute, why in alternatives:
        try:
            alt = compute()
        except ValueError:   # shapes that do not fit: not this mistake
            continue
        if got.shape == alt.shape and rel_error(got, alt) <= 1e-6:
            return why
    if got.size == expected.size and not np.any(got):
        return f"{name} is all zeros"
    return _wrong(name, got, expected)


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
    if outcome.error:
        return _probe_failed("Activation_ReLU could not be run", outcome)
    outs = by_case(outcome.outputs)
    raised = _raised("Activation_ReLU forward or backward", outs)
    if raised:
        return raised
    note = ""
    for k, case in by_case(inputs).items():
        o, x, dv = outs[k], case["inputs"], case["dvalues"]
        if not _matches(o["output"], np.maximum(0, x), 1e-12):
            return Verdict(FAIL, _wrong("forward's self.output", o["output"], np.maximum(0, x)))
        expected = np.where(x > 0, dv, 0.0)
        got = o["dinputs"]
        if not _matches(got, expected, 1e-12):
            for alt, why in ((dv, "dinputs is dvalues unchanged: zero it where the inputs were <= 0"),
                             (np.where(dv > 0, dv, 0.0), "the mask looks at dvalues; it must look at the forward "
                                                         "pass's inputs (self.inputs <= 0)"),
                             (np.where(x > 0, 1.0, 0.0), "dinputs is the mask alone; multiply it by dvalues")):
                if _matches(got, alt, 1e-12):
                    return Verdict(FAIL, why)
            return Verdict(FAIL, _wrong("dinputs", got, expected))
        if not np.array_equal(o["dvalues_after"], dv):
            note = (" (but backward changed dvalues in place: copy it first, dvalues.copy(), as the layer after "
                    "may still use it)")
    return Verdict(PASS, "dinputs = dvalues where the inputs were positive, else 0" + note)


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


def compare_softmax_ce_backward(ctx, inputs, outcome) -> Verdict:
    """The loss forward returns, and dinputs against the reference and centered differences of the loss."""
    if outcome.error:
        return _probe_failed("Activation_Softmax_Loss_CategoricalCrossentropy could not be run", outcome)
    outs = by_case(outcome.outputs)
    raised = _raised("Activation_Softmax_Loss_CategoricalCrossentropy", outs)
    if raised:
        return raised
    rtol = ctx.rubric.get("rtol", 1e-7)
    loss_ok, grad_problem = True, ""
    for k, case in by_case(inputs).items():
        o, x, y = outs[k], case["inputs"].astype(np.float64), case["y"].astype(np.int64)
        ref = ctx.reference.Activation_Softmax_Loss_CategoricalCrossentropy()
        expected_loss = ref.forward(x.copy(), y)
        ref.backward(ref.output.copy(), y)
        loss_ok &= abs(float(o["loss"]) - expected_loss) <= 1e-6 * max(1.0, abs(expected_loss))
        got = o["dinputs"]
        if grad_problem:
            continue
        if not _matches(got, ref.dinputs, rtol):
            n = len(x)
            probs = ref.output
            for alt, why in ((ref.dinputs * n, "dinputs is not divided by the number of samples"),
                             (probs / n, "the 1 at each sample's true class is not subtracted"),
                             (-ref.dinputs, "dinputs has the wrong sign")):
                if _matches(got, alt, 1e-6):
                    grad_problem = why
                    break
            grad_problem = grad_problem or _wrong("dinputs", got, ref.dinputs)
            continue
        xs = x.copy()
        idx = sample_indices(xs.shape, 12, np.random.default_rng(ctx.seed + 4))
        numeric = numerical_gradient(lambda: _mean_loss(ctx, xs, y), xs, idx)
        if rel_error(np.array([got[ix] for ix in idx]), np.array([numeric[ix] for ix in idx]), floor=1e-6) > 1e-5:
            grad_problem = "dinputs disagrees with the numerical gradient of the loss"
    if grad_problem or not loss_ok:
        parts = ([grad_problem] if grad_problem else []) + (
            [] if loss_ok else ["forward does not return the mean cross-entropy loss of the softmax outputs"])
        return Verdict(FAIL, "; ".join(parts), fraction=0.5 if (loss_ok or not grad_problem) else 0.0)
    return Verdict(PASS, "the loss and dinputs = (softmax − one-hot) / samples match the reference and the "
                         "numerical gradient of the loss")


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


def _explains(rule: str, case, o) -> bool:
    """The known mistake `rule` gives exactly these parameters (a stuck step count is told from an
    ignored decay by the iterations the student's optimizer shows)."""
    if rule == "no iterations" and _counts_steps(o, int(case["steps"])):
        return False
    return _close(o, _trajectory(case, rule), 1e-6)


def _close(o: dict, want: list[dict], tol: float) -> bool:
    """The student's parameters after every step are those of `want`."""
    for t, step in enumerate(want):
        for name in ("w1", "b1", "w2", "b2"):
            g = o[f"t{t}_{name}"]
            if g.shape != step[name].shape or rel_error(g, step[name]) > tol:
                return False
    return True


def compare_optimizer(ctx, inputs, outcome) -> Verdict:
    """Parameters after every step, for each setting; partial credit per setting. A known mistake
    that explains every setting at once is named; else the first setting's own diagnosis."""
    if outcome.error:
        return _probe_failed("Optimizer_SGD could not be run", outcome)
    rtol = ctx.rubric.get("rtol", 1e-9)
    cases, outs = by_case(inputs), by_case(outcome.outputs)
    errors, ran, details = {}, {}, {}
    for k, case in cases.items():
        label = ", ".join(f"{name}={float(case[name]):g}" for name in SETTINGS)
        if "error" in outs.get(k, {}):
            errors[label] = outs[k]["error"].item()
        else:
            ran[label] = (case, outs[k])
    right = [label for label, (case, o) in ran.items() if _close(o, _trajectory(case), rtol)]
    details = {label: {"right": label in right} for label in ran}
    fraction = len(right) / len(cases)
    if errors:
        label, first = next(iter(errors.items()))
        return Verdict(FAIL, f"Optimizer_SGD raised {_first_line(first)} ({label})", fraction=fraction,
                       details={"traceback": first.split("\n", 1)[-1], "settings": details})
    wrong = [label for label in ran if label not in right]
    if wrong:
        why = next((message for rule, message in _WRONG.items()
                    if all(_explains(rule, case, o) for case, o in ran.values())), None)
        why = why or _optimizer_diagnosis(*ran[wrong[0]], rtol)
        return Verdict(FAIL, f"{why} (first seen with {wrong[0]}; {len(right)} of {len(cases)} settings right)",
                       fraction=fraction, details={"settings": details})
    steps = int(cases["c0"]["steps"])
    note = "" if all(_counts_steps(o, steps) for _, o in ran.values()) else " (self.iterations does not hold the number of steps taken, though)"
    return Verdict(PASS, f"{steps} steps on two layers match lr/(1 + decay·iterations) with momentum kept per "
                         f"layer, for {len(cases)} settings" + note, details={"settings": details})


def _optimizer_diagnosis(case, o, rtol) -> str:
    expected = _trajectory(case)
    start = {f"{p}{k}": case[f"{p}{k}"] for p in "wb" for k in (1, 2)}
    if all(np.array_equal(o[f"t{t}_{n}"], start[n]) for t in range(len(expected)) for n in start):
        return "update_params does not change the parameters"
    for rule, message in _WRONG.items():
        if _explains(rule, case, o):
            return message
    t_bad = next(t for t, step in enumerate(expected)
                 if any(o[f"t{t}_{n}"].shape != step[n].shape or rel_error(o[f"t{t}_{n}"], step[n]) > rtol
                        for n in start))
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
    values = ctx.hyperparams.values
    if ctx.hyperparams.source == "none":
        return None, f"not run: {ctx.hyperparams.note}, so the settings to train with are unknown"
    hp = {}
    for name in SETTINGS:
        if name not in values:
            return None, (f"not run: {name} could not be read without running the code ({ctx.hyperparams.note}); "
                          "write it as a number in the call")
        number, problem = bounded.plain_number(values[name])
        if problem or number < 0:
            return None, f"not run: {name} = {problem or f'{number:g} is negative'}: it must be a non-negative number"
        hp[name] = number
    return hp, ""


def test_set() -> tuple[np.ndarray, np.ndarray]:
    """The fresh spiral set, shuffled (spiral data comes sorted by class); its labels stay here."""
    x, y = spiral(SAMPLES, CLASSES, TEST_SEED)
    order = np.random.RandomState(TEST_SEED + 100).permutation(len(y))
    return x[order], y[order]


def _rules(ctx) -> tuple[seeds.Rule, seeds.Rule]:
    """The rule over seeds for training accuracy and for test accuracy. One probe run serves both
    checks, so [checks.training] holds both thresholds, the seeds and the confidence."""
    train = seeds.Rule.from_rubric(ctx.rubric, float(ctx.rubric.get("threshold", 0.0)))
    return train, seeds.Rule(float(ctx.rubric.get("test_threshold", 0.0)), train.level, train.min_seeds,
                             train.max_seeds)


def _rules_of(inputs) -> tuple[seeds.Rule, seeds.Rule]:
    """The rules the probe ran with, as inputs_training wrote them (the test check has no table of them)."""
    level, low, high = float(inputs["level"]), int(inputs["min_seeds"]), len(inputs["seeds"])
    return (seeds.Rule(float(inputs["threshold"]), level, low, high),
            seeds.Rule(float(inputs["val_threshold"]), level, low, high))


def inputs_training(ctx) -> dict | None:
    hp, _ = _settings(ctx)
    if hp is None:
        return None
    train, test = _rules(ctx)
    x, y = spiral(SAMPLES, CLASSES, TRAIN_SEED)
    x_val, y_val = spiral(SAMPLES, CLASSES, VALIDATION_SEED)
    return {"x": x, "y": y, "x_test": test_set()[0], "x_val": x_val, "y_val": y_val,
            "seeds": np.arange(train.max_seeds), "min_seeds": np.asarray(train.min_seeds),
            "level": np.asarray(train.level), "t_values": np.asarray(train.t_values()),
            "threshold": np.asarray(train.threshold), "val_threshold": np.asarray(test.threshold),
            "epochs": int(ctx.rubric.get("epochs", 10001)), "hidden": int(ctx.rubric.get("hidden", 64)),
            **{name: np.asarray(v) for name, v in hp.items()}}


def _accuracies(inputs, outcome, which: str, labels: np.ndarray) -> tuple[list[float] | None, str]:
    """Accuracy per seed, for the seeds the probe ran (0, 1, ... until its rule stopped it)."""
    accs = []
    for seed in inputs["seeds"].tolist():
        predictions = outcome.outputs.get(f"s{seed}.{which}_predictions")
        if predictions is None:
            break
        if predictions.reshape(-1).shape != labels.shape:
            return None, f"the {which} predictions of seed {seed} have the wrong shape {predictions.shape}"
        accs.append(float(np.mean(predictions.reshape(-1) == labels)))
    if len(accs) < int(inputs["min_seeds"]):
        return None, f"the {which} predictions of seed {len(accs)} are missing"
    return accs, ""


def _stopped_rightly(inputs, outcome, n: int, train: seeds.Rule, validation: seeds.Rule) -> bool:
    """Whether the probe's rule did stop it at n seeds: training and validation accuracies both
    decided (the grader has both label sets). Otherwise something else cut the runs short."""
    for which, labels, rule in (("train", inputs["y"], train), ("val", inputs["y_val"], validation)):
        accs, _ = _accuracies(inputs, outcome, which, labels)
        if accs is None or len(accs) != n or seeds.side(accs, rule) == seeds.OPEN:
            return False
    return True


def _accuracy_verdict(ctx, inputs, outcome, which: str, label: str) -> Verdict:
    if inputs is None:
        return Verdict(FAIL, _settings(ctx)[1])
    if outcome.error:
        return Verdict(FAIL, f"training your classes failed: {_first_line(outcome.error)}",
                       details={"traceback": outcome.traceback})
    train, test = _rules_of(inputs)
    rule = train if which == "train" else test
    labels = inputs["y"] if which == "train" else test_set()[1]   # test labels never leave the grader
    accs, problem = _accuracies(inputs, outcome, which, labels)
    if accs is None:
        return Verdict(FAIL, problem)
    decision = seeds.first_clear(accs, rule)
    env = outcome.outputs.get("env")
    runs = [{"environment": _environment(env)} for _ in decision.values]
    details = seeds.training_details(decision, rule, runs)
    setting = ", ".join(f"{name}={float(inputs[name]):g}" for name in SETTINGS)
    losses = outcome.outputs.get("s0.losses")
    details.update({"settings": setting, "source": ctx.hyperparams.note, "seeds_ran": len(accs),
                    "environment_source": "reported by the probe process",
                    **({"losses": losses.tolist()} if losses is not None else {})})
    figures = (f"{label} {decision.interval.mean:.3f} (mean of {len(decision.values)} initialisations: "
               f"{', '.join(f'{a:.3f}' for a in decision.values)}; {decision.interval.text(rule.level)})")
    head = f"your classes trained with {setting}: "
    if decision.outcome == seeds.PASSED:
        return Verdict(PASS, f"{head}{figures}, above the threshold {rule.threshold:.2f}", details=details)
    if decision.outcome == seeds.FAILED:
        hint = "" if float(inputs["momentum"]) else "; without momentum, 10,001 epochs are rarely enough: try momentum=0.9"
        return Verdict(FAIL, f"{head}{figures}, below the threshold {rule.threshold:.2f}{hint}", details=details)
    if not decision.exhausted and not _stopped_rightly(inputs, outcome, len(accs), train, test):
        return Verdict(FAIL, f"{head}{figures}: the training runs stopped after {len(accs)} seeds, before the "
                             "accuracy was decided (did your code change the probe's arithmetic?)", details=details)
    why = ("the most the rubric allows" if decision.exhausted else
           "when the training and validation accuracies were decided")
    return Verdict(WARN, f"{head}borderline: {figures} still contains the threshold {rule.threshold:.2f} after "
                         f"{len(accs)} seeds ({why}): a TA should look", details=details)


def _environment(env: np.ndarray | None) -> dict | None:
    """The arithmetic the probe process reported (next to student code: shown, never trusted)."""
    if env is None or env.dtype.kind != "U" or env.size != 1:
        return None
    try:
        return seeds.clean_environment(json.loads(str(env.reshape(-1)[0])))
    except (ValueError, RecursionError):
        return None


def compare_training(ctx, inputs, outcome) -> Verdict:
    return _accuracy_verdict(ctx, inputs, outcome, "train", "training accuracy")


def compare_test_accuracy(ctx, inputs, outcome) -> Verdict:
    return _accuracy_verdict(ctx, inputs, outcome, "test", "accuracy on a fresh spiral test set")
