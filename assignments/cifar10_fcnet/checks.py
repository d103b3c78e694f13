"""Checks of the CIFAR-10 two-layer-net assignment: the grader's side.

For a check with a probe, `inputs_<id>(ctx)` chooses what the student's code is run on (in
the sandbox, by probes.py) and `compare_<id>(ctx, inputs, outcome)` judges the raw outputs
against the reference, here (the CHECKS table at the end pairs them for the grader).
`hyperparams` is of the check kind "training" (assignment.toml): its hooks here, in TRAINING, say
how the reference trains with the student's settings and what that costs. Every message names
what is wrong and the likely cause, in the student's terms.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from grader import bounded
from grader.check import FAIL, PASS, WARN, Check, Verdict, by_case, first_line, probe_failed, raised
from grader.numeric import (FLOAT32, UNITS, Comparison, compare, eps, momentum_steps_scale, numerical_gradient,
                           precision_note, precision_of, sample_indices, summary)
from grader.kinds import training

PARAMS = ("W1", "b1", "W2", "b2")
D, C = 3072, 10                       # CIFAR-10: students may rely on these defaults
FORWARD_CASES = [(5, 20), (8, 50), (3, 7)]   # (batch, hidden)
BACKWARD_CASES = [(5, 12), (8, 25)]   # hidden != C, so a transposed W2 gradient shows
SGD_CONFIGS = [(0.1, 0.0), (0.05, 0.5), (0.01, 0.9), (0.3, 0.9)]   # (alpha, beta)
HYPERPARAMS = ("hidden_dim", "alpha", "beta", "batch_size", "num_iters")


# ---------------------------------------------------------------- shared helpers

def _params(rng, hidden):
    return {"W1": rng.standard_normal((D, hidden)) / np.sqrt(D / 2),
            "b1": 0.1 * rng.standard_normal(hidden),
            "W2": rng.standard_normal((hidden, C)) / np.sqrt(hidden / 2),
            "b2": 0.1 * rng.standard_normal(C)}


def _ref_net(ctx, params):
    net = ctx.reference.FullyConnectedNet(hidden_dim=params["W1"].shape[1], input_dim=D, num_classes=C)
    net.params.update({k: params[k].copy() for k in PARAMS})
    return net


# ---------------------------------------------------------------- forward

def inputs_forward(ctx) -> dict:
    rng = np.random.default_rng(ctx.seed)
    flat = {}
    for k, (n, hidden) in enumerate(FORWARD_CASES):
        flat[f"c{k}.x"] = rng.standard_normal((n, D))
        flat.update({f"c{k}.{name}": v for name, v in _params(rng, hidden).items()})
    return flat


def _units(ctx) -> float:
    return float(ctx.rubric.get("roundoff_units", UNITS))


def _with_note(message: str, notes: list[str]) -> str:
    notes = [n for n in notes if n]
    return message + (f" ({'; '.join(notes)})" if notes else "")


def _forward_scale(ctx, case) -> np.ndarray:
    """Magnitude of the terms behind each score: the forward pass on absolute values. A per-row
    constant (z - z.max()) may come from any entry of the row, so the row's largest is added."""
    scale = _ref_net(ctx, {k: np.abs(case[k]) for k in PARAMS}).forward(np.abs(case["x"]))[0]
    return scale + scale.max(axis=1, keepdims=True)


def _unshifted(got: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """got without its per-row constant shift from expected (softmax ignores one), and the shift."""
    shift = (got - expected).mean(axis=1, keepdims=True)
    return got - shift, shift


def compare_forward(ctx, inputs, outcome) -> Verdict:
    if outcome.error:
        return probe_failed("forward could not be run", outcome)
    cases, outs = by_case(inputs), by_case(outcome.outputs)
    failed = raised("forward", outs)
    if failed:
        return failed
    units = _units(ctx)
    shifted, comparisons = False, []
    for k, case in cases.items():
        o = outs[k]
        expected = _ref_net(ctx, case).forward(case["x"].copy())[0]
        precision, got = precision_of(o["scores"]), o["scores"].astype(np.float64)
        if not o["pair"]:
            return Verdict(FAIL, "forward must return a pair (scores, cache); it returned one value")
        if not np.array_equal(o["x_after"], case["x"]):
            return Verdict(FAIL, "forward changed its input x in place (e.g. `x -= ...`); "
                                 "compute on a new array instead")
        if got.shape != expected.shape:
            return Verdict(FAIL, f"scores has shape {got.shape}; expected {expected.shape} "
                                 "(batch_size, num_classes)")
        scale = _forward_scale(ctx, case)
        unshifted, shift = _unshifted(got, expected)
        c = compare(unshifted, expected, precision, scale, units, ctx.expected_error * scale)
        if not c.ok:
            return Verdict(FAIL, _forward_diagnosis(case, got, expected, scale, precision, units, c),
                           details={"case": k, "max_rel_error": c.error, "where": c.where,
                                    "precision": c.precision.name,
                                    "expected_slice": expected[:2, :4].round(4).tolist(),
                                    "got_slice": got[:2, :4].round(4).tolist()})
        comparisons.append(c)
        shifted |= bool(np.any(np.abs(shift) > units * eps(c.precision) * scale.max(axis=1, keepdims=True)))
    note, coarse = summary(comparisons)
    shift_note = ("your scores differ from the expected ones by a constant per row, which softmax ignores: fine"
                  if shifted else "")
    return Verdict(WARN if coarse else PASS, _with_note("scores match the reference", [shift_note, note]),
                   details={"max_rel_error": max(c.error for c in comparisons),
                            "precision": max(comparisons, key=lambda c: eps(c.precision)).precision.name})


def _forward_diagnosis(case, got, expected, scale, precision, units, c) -> str:
    x, p = case["x"], case
    z1 = x @ p["W1"] + p["b1"]
    candidates = {   # each within the magnitude of the right answer's terms: `scale` bounds them all
        "the ReLU is missing: apply np.maximum(0, ·) to the hidden layer": z1 @ p["W2"] + p["b2"],
        "the biases b1 and b2 are not added": np.maximum(x @ p["W1"], 0) @ p["W2"],
        "b1 is not added": np.maximum(x @ p["W1"], 0) @ p["W2"] + p["b2"],
        "b2 is not added": np.maximum(z1, 0) @ p["W2"],
        "the ReLU is applied to the output scores too": np.maximum(np.maximum(z1, 0) @ p["W2"] + p["b2"], 0),
    }
    for message, alt in candidates.items():
        if compare(_unshifted(got, alt)[0], alt, precision, scale, units).ok:
            return f"scores are wrong: {message}"
    exp = np.exp(expected - expected.max(axis=1, keepdims=True))
    probs = exp / exp.sum(axis=1, keepdims=True)   # values up to 1: judged at that scale
    if compare(_unshifted(got, probs)[0], probs, precision, 1.0, units).ok:
        return "scores are wrong: forward returns softmax probabilities; return the raw scores (the loss applies softmax)"
    return _with_note(f"scores differ from the expected linear → ReLU → linear output (max error {c.error:.2g} "
                      "of the magnitude of the terms)", [precision_note(c)])


# ---------------------------------------------------------------- backward

def inputs_backward(ctx) -> dict:
    rng = np.random.default_rng(ctx.seed + 1)
    flat = {}
    for k, (n, hidden) in enumerate(BACKWARD_CASES):
        while True:  # keep every hidden pre-activation away from the ReLU kink
            x, params = rng.standard_normal((n, D)), _params(rng, hidden)
            if np.min(np.abs(x @ params["W1"] + params["b1"])) > 1e-4:
                break
        flat[f"c{k}.x"] = x
        flat[f"c{k}.dscores"] = rng.standard_normal((n, C)) / n
        flat.update({f"c{k}.{name}": v for name, v in params.items()})
    return flat


def _reference_grads(ctx, case, rng, numeric_limit):
    net = _ref_net(ctx, case)
    scores, cache = net.forward(case["x"])
    net.backward(case["dscores"], cache)
    analytic = {k: np.asarray(net.grads[k], np.float64) for k in PARAMS}
    numeric = {}
    for name in PARAMS:   # d/dθ sum(scores(θ) * dscores): what backward is asked to compute
        theta = net.params[name]
        idx = sample_indices(theta.shape, numeric_limit, rng)
        numeric[name] = numerical_gradient(
            lambda: float(np.sum(net.forward(case["x"])[0] * case["dscores"])), theta, idx)
    return analytic, numeric


def _grad_scales(ctx, case) -> dict[str, np.ndarray]:
    """Magnitude of the terms behind each gradient entry: forward and backward on absolute values."""
    net = _ref_net(ctx, {k: np.abs(case[k]) for k in PARAMS})
    net.backward(np.abs(case["dscores"]), net.forward(np.abs(case["x"]))[1])
    return {k: np.asarray(net.grads[k], np.float64) for k in PARAMS}


def _kink_allowance(case, precision, units) -> dict[str, np.ndarray]:
    """A hidden unit whose pre-activation is within rounding (at `precision`, float32 at least) of
    the ReLU's kink may be on or off: its share of W1's and b1's gradient may go either way. The
    rounding of a long sum adds up like a random walk: units roundoffs of the terms' root sum of
    squares (the worst case, |x| @ |W1|, would call a third of the units ambiguous in float16)."""
    x, dscores, p = case["x"], case["dscores"], case
    z1 = x @ p["W1"] + p["b1"]
    spread = np.sqrt(x ** 2 @ p["W1"] ** 2 + p["b1"] ** 2)
    ambiguous = np.abs(z1) <= units * max(eps(precision), eps(FLOAT32)) * spread
    share = np.abs(dscores @ p["W2"].T) * ambiguous
    zero = {k: np.zeros_like(p[k]) for k in ("W2", "b2")}
    return {"W1": np.abs(x).T @ share, "b1": share.sum(axis=0), **zero}


def compare_backward(ctx, inputs, outcome) -> Verdict:
    if outcome.error:
        return probe_failed("backward could not be run", outcome)
    cases, outs = by_case(inputs), by_case(outcome.outputs)
    failed = raised("forward then backward", outs)
    if failed:
        return failed
    units, numeric_rtol = _units(ctx), ctx.rubric.get("numeric_rtol", 1e-6)
    rng = np.random.default_rng(ctx.seed + 2)
    verdicts: dict[str, tuple[str, str]] = {}   # param -> (status, message); first problem wins
    figures: dict[str, dict] = {}
    comparisons = []
    for k, case in cases.items():
        o = outs[k]
        analytic, numeric = _reference_grads(ctx, case, rng, ctx.rubric.get("numeric_entries", 40))
        scales = _grad_scales(ctx, case)
        for j, name in enumerate(PARAMS):
            if name in verdicts and verdicts[name][0] == FAIL:
                continue
            status_code = int(o["status"][j])
            if status_code:
                verdicts[name] = (FAIL, f"self.grads['{name}'] is "
                                        + ("not set" if status_code == 1 else "not an array of numbers"))
                continue
            got, expected = o[name], analytic[name]
            precision = precision_of(got, o.get("precision"))
            judge = _GradJudge(name, case, expected, scales[name], precision, units,
                               _kink_allowance(case, precision, units)[name] + ctx.expected_error * scales[name])
            status, message, c = judge.verdict(got.astype(np.float64))
            num_err = judge.numeric_error(got, numeric[name], numeric_rtol)
            figures.setdefault(name, {"rel_error_vs_reference": 0.0, "rel_error_vs_numerical": 0.0})
            figures[name]["rel_error_vs_reference"] = max(figures[name]["rel_error_vs_reference"], c.error)
            figures[name]["rel_error_vs_numerical"] = max(figures[name]["rel_error_vs_numerical"], num_err.error)
            figures[name]["precision"] = c.precision.name
            if status != FAIL and not num_err.ok:
                status, message = FAIL, (f"grads['{name}'] disagrees with the numerical gradient "
                                         f"(error {num_err.error:.2g} of the magnitude of the terms)")
            if status != FAIL and f"{name}.again" in o and not judge.matches(o[f"{name}.again"].reshape(expected.shape)):
                status, message = FAIL, (f"grads['{name}'] changes when backward is called twice with the same "
                                         "input: it accumulates (+=) across calls; assign it with = instead")
            if status != FAIL:
                comparisons.append(c)
            if name not in verdicts or status == FAIL or (status == WARN and verdicts[name][0] == PASS):
                verdicts[name] = (status, message)
    bad = [n for n in PARAMS if verdicts[n][0] == FAIL]
    warn = [n for n in PARAMS if verdicts[n][0] == WARN]
    details = {"per_parameter": {n: {"status": verdicts[n][0], **figures.get(n, {})} for n in PARAMS}}
    if bad:
        message = "; ".join(verdicts[n][1] for n in bad)
        if set(bad) == {"W1", "b1"} and "ReLU" not in message:
            message += " (W2 and b2 are right, so the error is in the step back through the ReLU)"
        return Verdict(FAIL, message, fraction=(len(PARAMS) - len(bad)) / len(PARAMS), details=details)
    note, coarse = summary(comparisons)
    if warn:
        return Verdict(WARN, _with_note("; ".join(verdicts[n][1] for n in warn), [note]), details=details)
    return Verdict(WARN if coarse else PASS,
                   _with_note("all four gradients match the reference and the numerical gradient", [note]),
                   details=details)


@dataclass
class _GradJudge:
    """One gradient of one case, judged at the precision the student's code computed it in."""
    name: str
    case: dict
    expected: np.ndarray
    scale: np.ndarray          # magnitude of the terms behind each entry
    precision: np.dtype
    units: float
    kink: np.ndarray           # what may go either way at the ReLU's kink, and the error of `expected`

    def compare(self, got, alt=None, scale=None) -> Comparison:
        return compare(got, self.expected if alt is None else alt, self.precision,
                       self.scale if scale is None else scale, self.units, self.kink)

    def matches(self, got) -> bool:
        return self.compare(got).ok

    def numeric_error(self, got, numeric: dict, numeric_rtol: float) -> Comparison:
        """On the sampled entries; the centered differences carry their own error (numeric_rtol
        of the terms' magnitude) on top of the student's rounding."""
        if got.size != self.expected.size:
            return Comparison(False, math.inf, (), self.precision)
        got = got.reshape(self.expected.shape)
        idx = list(numeric)
        at = tuple(np.array(i) for i in zip(*idx))
        scale = self.scale[at]
        return compare(got[at], np.array([numeric[ix] for ix in idx]), self.precision, scale, self.units,
                       self.kink[at] + numeric_rtol * scale)

    def verdict(self, got) -> tuple[str, str, Comparison]:
        name, expected = self.name, self.expected
        if got.shape != expected.shape:
            if got.size == expected.size and self.matches(got.reshape(expected.shape)):
                c = self.compare(got.reshape(expected.shape))
                if got.shape == (1,) + expected.shape:
                    return (WARN, f"grads['{name}'] has shape {got.shape}, the values are right; it should have "
                                  f"the shape of params['{name}'] {expected.shape}: sum with .sum(axis=0) "
                                  "(no keepdims) or index [0]", c)
                return (WARN, f"grads['{name}'] has shape {got.shape} instead of {expected.shape}, "
                              "the values are right", c)
            if got.ndim == 2 and got.T.shape == expected.shape and self.matches(got.T):
                return (FAIL, f"grads['{name}'] is transposed: shape {got.shape}, expected {expected.shape}",
                        self.compare(got.T))
            return (FAIL, f"grads['{name}'] has shape {got.shape}; expected {expected.shape}",
                    Comparison(False, math.inf, (), self.precision))
        c = self.compare(got)
        if c.ok:
            return PASS, "", c
        if got.ndim == 2 and got.shape[0] == got.shape[1] and self.compare(got.T, scale=self.scale.T).ok:
            return FAIL, f"grads['{name}'] is transposed", c
        return FAIL, self.diagnosis(got, c), c

    def diagnosis(self, got, c: Comparison) -> str:
        name, expected, scale, case = self.name, self.expected, self.scale, self.case
        n = case["x"].shape[0]
        if not np.any(got):
            return f"grads['{name}'] is all zeros: backward does not compute it"
        denom = float(np.sum(expected * expected))
        if denom > 0:
            k = float(np.sum(got * expected)) / denom
            if self.compare(got, k * expected, abs(k) * scale).ok:
                for factor, why in ((n, f"multiplied by the batch size N={n}: dscores is already averaged"),
                                    (1 / n, f"divided by the batch size N={n} again: dscores is already averaged"),
                                    (-1, "has the wrong sign"), (2, "is twice the expected value")):
                    if self.compare(got, factor * expected, abs(factor) * scale).ok:
                        return f"grads['{name}'] {why}"
                return f"grads['{name}'] is {k:.3g} times the expected value"
        param = case[name]
        lam = float(np.sum((got - expected) * param)) / max(1e-300, float(np.sum(param * param)))
        if abs(lam) > 1e-12 and self.compare(got, expected + lam * param, scale + abs(lam) * np.abs(param)).ok:
            return (f"grads['{name}'] includes an extra {lam:.3g}·{name} term (regularization?); "
                    "the loss here has none")
        if name in ("W1", "b1"):
            upstream = case["dscores"] @ case["W2"].T
            no_mask = case["x"].T @ upstream if name == "W1" else upstream.sum(axis=0)
            if self.compare(got, no_mask).ok:   # the scale has no mask: it bounds these terms too
                return (f"grads['{name}'] ignores the ReLU: multiply the gradient flowing into the hidden layer "
                        "by (z1 > 0), where z1 = x @ W1 + b1")
        ix = c.where
        return _with_note(f"grads['{name}'] is wrong (max error {c.error:.2g} of the magnitude of the terms, "
                          f"at index {ix}: got {got[ix]:.6g}, expected {expected[ix]:.6g})", [precision_note(c)])


# ---------------------------------------------------------------- SGD with momentum

def inputs_sgd_step(ctx) -> dict:
    rng = np.random.default_rng(ctx.seed + 3)
    steps = int(ctx.rubric.get("steps", 6))
    shapes = {"W1": (5, 4), "b1": (4,), "W2": (4, 3), "b2": (3,)}
    flat = {}
    for k, (alpha, beta) in enumerate(SGD_CONFIGS):
        flat[f"c{k}.alpha"], flat[f"c{k}.beta"], flat[f"c{k}.steps"] = alpha, beta, steps
        for name, shape in shapes.items():
            flat[f"c{k}.p_{name}"] = rng.standard_normal(shape)
            for t in range(steps):
                flat[f"c{k}.g{t}_{name}"] = rng.standard_normal(shape)
    return flat


def _trajectory(case, rule) -> list[dict]:
    alpha, beta, steps = float(case["alpha"]), float(case["beta"]), int(case["steps"])
    theta = {n: case[f"p_{n}"].copy() for n in PARAMS}
    m = {n: np.zeros_like(theta[n]) for n in PARAMS}
    out = []
    for t in range(steps):
        for n in PARAMS:
            theta[n], m[n] = rule(theta[n], m[n], case[f"g{t}_{n}"], alpha, beta)
        out.append({n: theta[n].copy() for n in PARAMS})
    return out


def _spec_rule(th, m, g, a, b):
    m = b * m + g
    return th - a * m, m


_WRONG_RULES = {
    "uses m = beta*m + (1-beta)*grad (a moving average); the assignment's update is m = beta*m + grad":
        lambda th, m, g, a, b: (th - a * (b * m + (1 - b) * g), b * m + (1 - b) * g),
    "ignores the momentum (beta has no effect): keep m in self.momentum across steps and use it":
        lambda th, m, g, a, b: (th - a * g, m),
    "updates theta with the momentum from before this step: update m first, then theta":
        lambda th, m, g, a, b: (th - a * m, b * m + g),
    "moves the parameters up the gradient: subtract alpha*m":
        lambda th, m, g, a, b: (th + a * (b * m + g), b * m + g),
    "scales the gradient by alpha twice (m = beta*m + alpha*grad and theta -= alpha*m)":
        lambda th, m, g, a, b: (th - a * (b * m + a * g), b * m + a * g),
    "uses Nesterov momentum; the assignment's update is theta -= alpha*m with m = beta*m + grad":
        lambda th, m, g, a, b: (th - a * (g + b * (b * m + g)), b * m + g),
}


@dataclass
class _Steps:
    """One setting's parameters after every step, judged at the precision the student's code used;
    every trajectory is held to the magnitude of the right one's terms."""
    got: list[dict]
    scale: list[dict]
    precision: np.dtype
    units: float

    def compare(self, want: list[dict], got: list[dict] | None = None) -> list[Comparison]:
        """Step by step, parameter by parameter (in PARAMS order)."""
        got = self.got if got is None else got
        return [compare(got[t][n], step[n], self.precision, self.scale[t][n], self.units)
                for t, step in enumerate(want) for n in PARAMS]

    def matches(self, want: list[dict], got: list[dict] | None = None) -> bool:
        return all(c.ok for c in self.compare(want, got))


def compare_sgd_step(ctx, inputs, outcome) -> Verdict:
    if outcome.error:
        return probe_failed("SGD could not be run", outcome)
    units = _units(ctx)
    cases, outs = by_case(inputs), by_case(outcome.outputs)
    passed, problems, errors, details, comparisons = 0, [], {}, {}, []
    for k, case in cases.items():
        o = outs.get(k, {})
        label = f"alpha={float(case['alpha']):g}, beta={float(case['beta']):g}"
        if "error" in o:
            errors[label] = o["error"].item()
            continue
        expected = _trajectory(case, _spec_rule)
        got = [{n: o[f"t{t}_{n}"] for n in PARAMS} for t in range(len(expected))]
        scale = momentum_steps_scale({n: case[f"p_{n}"] for n in PARAMS},
                                     [{n: case[f"g{t}_{n}"] for n in PARAMS} for t in range(len(expected))],
                                     [float(case["alpha"])] * len(expected), float(case["beta"]), expected)
        steps = _Steps(got, scale, precision_of(*(g for s in got for g in s.values()),
                                                                            o.get("precision")), units)
        judged = steps.compare(expected)
        details[label] = {"max_rel_error": max(c.error for c in judged), "precision": steps.precision.name}
        if all(c.ok for c in judged):
            passed += 1
            comparisons.extend(judged)
            continue
        problems.append((label, _sgd_diagnosis(case, o, expected, steps)))
    fraction = passed / len(cases)
    if errors:
        label, first = next(iter(errors.items()))
        return Verdict(FAIL, f"SGD.step raised {first_line(first)} ({label})", fraction=fraction,
                       details={"traceback": first.split("\n", 1)[-1], "configs": details})
    if problems:
        label, message = problems[0]
        return Verdict(FAIL, f"SGD.step {message} (first seen with {label}; "
                             f"{passed} of {len(cases)} settings right)", fraction=fraction,
                       details={"configs": details})
    note, coarse = summary(comparisons)
    return Verdict(WARN if coarse else PASS,
                   _with_note(f"matches m = beta*m + grad; theta -= alpha*m over {int(cases['c0']['steps'])} "
                              f"steps for {len(cases)} settings of alpha and beta", [note]),
                   details={"configs": details})


def _sgd_diagnosis(case, o, expected, steps: _Steps) -> str:
    start = {n: case[f"p_{n}"] for n in PARAMS}
    if all(np.array_equal(step[n], start[n]) for step in steps.got for n in PARAMS):
        own = [{n: o.get(f"own{t}_{n}") for n in PARAMS} for t in range(len(expected))]
        if all(v is not None for step in own for v in step.values()) and steps.matches(expected, own):
            return ("updates a new dict, not the params dict passed to SGD(...): the model never sees the "
                    "update; assign into self.params[name] (the same dict) or update the arrays in place")
        return "does not change the parameters"
    for message, rule in _WRONG_RULES.items():
        if steps.matches(_trajectory(case, rule)):
            return message
    t_bad = next(i // len(PARAMS) for i, c in enumerate(steps.compare(expected)) if not c.ok)
    return f"gives different parameters from step {t_bad + 1} on"


# ---------------------------------------------------------------- hyperparameters (kind "training")

_DATA: dict[str, tuple] = {}


def _training_data(ctx):
    """The data set as the reference trains on it: preprocessed once per data set and
    reference, memory-mapped and shared by every worker (the notebook standardises each
    image on its own, so preprocessing by blocks of rows gives the same bits)."""
    ds = ctx.dataset
    if ds.fingerprint not in _DATA:
        x_train, y_train, x_test = ds.load_public()
        prep, version = ctx.reference.preprocess, ctx.reference.__fingerprint__[:16]
        _DATA[ds.fingerprint] = (ds.derived(f"x_train-{version}", x_train, prep), y_train.astype(np.int64),
                                 ds.derived(f"x_test-{version}", x_test, prep), ds.load_test_labels().astype(np.int64))
    return _DATA[ds.fingerprint]


def _train_seed(ctx, data, hp: dict, seed: int) -> dict:
    """One seed of the notebook's loop, with the reference (in the kind's bounded child process)."""
    x_train, y_train, x_test, y_test = data
    outcome = ctx.reference.train_and_evaluate(x_train, y_train, x_test, y_test, seed=seed, **hp)
    return {"accuracy": outcome.accuracy, "diverged_at": outcome.diverged_at, "losses": outcome.losses[::5]}


def _validate(ctx) -> tuple[dict | None, str]:
    """The five settings as plain numbers of the right kind, or what is wrong with the first that
    is not (any value a notebook can produce gets a message naming it, never an exception)."""
    values = ctx.hyperparams.values
    missing = [n for n in HYPERPARAMS if n not in values]
    if missing:
        return None, f"hyperparameters: {', '.join(missing)} not set ({ctx.hyperparams.note})"
    hp = {}
    for name in HYPERPARAMS:
        number, problem = bounded.plain_number(values[name])
        if problem:
            return None, f"hyperparameters: {name} = {problem}"
        if name in ("hidden_dim", "batch_size", "num_iters"):
            if number != int(number) or number < 1:
                return None, f"hyperparameters: {name} = {bounded.shown(values[name])} must be a positive whole number"
            hp[name] = int(number)
        else:
            hp[name] = number
    if hp["alpha"] <= 0:
        return None, f"hyperparameters: alpha = {hp['alpha']:g} must be positive"
    return hp, ""


def memo_key(hp: dict, seed: int, dataset: str, reference: str) -> dict:
    """What one training run of the reference depends on. "with": runs memoized before each run
    recorded its arithmetic are trained again, once."""
    return {"assignment": "cifar10_fcnet", "hp": hp, "seed": seed, "dataset": dataset, "reference": reference,
            "with": "arithmetic"}


def train_macs(hp: dict) -> float:
    """Multiply-adds of the notebook's training loop: forward plus backward, per iteration."""
    return float(hp["num_iters"]) * float(hp["batch_size"]) * float(hp["hidden_dim"]) * (2 * D + 3 * C)


def train_cost(hp: dict, rubric: dict) -> float:
    """What a training run costs, in multiply-adds that take as long as it does: the products
    (train_macs) plus, per iteration, what does not scale with them and dominates small batches
    (updating every parameter, gathering the batch, Python's own steps). The factors were
    measured on the grader's machine (CALIBRATION.md); floats, so no setting overflows."""
    h, b = float(hp["hidden_dim"]), float(hp["batch_size"])
    per_iteration = (float(rubric.get("cost_per_parameter", 140)) * h * (D + C)
                     + float(rubric.get("cost_per_input", 30)) * b * D
                     + float(rubric.get("cost_per_iteration", 3e6)))
    return train_macs(hp) + float(hp["num_iters"]) * per_iteration


def train_memory_mb(hp: dict, n_test: int) -> float:
    """Memory a training run maps beyond the worker's own: W1, its gradient, its momentum and two
    temporaries of that size, the batch, the hidden activations, and the test set's forward pass
    (by chunks of 2,000 to 4,000 rows), plus BLAS buffers. Within 10% of what was measured."""
    h, b, rows = float(hp["hidden_dim"]), float(hp["batch_size"]), float(min(n_test, 4000))
    return 8 * (5 * h * (D + C) + 3 * b * D + 6 * b * h + 3 * rows * h) / 2**20 + 64


def _memory_mb(hp: dict, dataset) -> float:
    return train_memory_mb(hp, dataset.n_test)


def _largest_hidden(hp: dict, limit_mb: float, dataset) -> str:
    """The hidden_dim that fits the memory limit at this batch size (memory grows linearly with it)."""
    per_unit = _memory_mb({**hp, "hidden_dim": 2}, dataset) - _memory_mb({**hp, "hidden_dim": 1}, dataset)
    most = max(0, int((limit_mb - _memory_mb({**hp, "hidden_dim": 0}, dataset)) / per_unit))
    return f" (at this batch size, hidden_dim up to about {most:,})"


def _hints(ctx, hp: dict, runs: list[dict]) -> list[str]:
    """Why these settings fall short: momentum that grows, divergence, an unstable step; and for
    the TA, the subset's known disagreement with full data (CALIBRATION.md)."""
    diverged = [r["diverged_at"] for r in runs if r["diverged_at"] is not None]
    hints = []
    if hp["beta"] >= 1:
        hints.append(f"beta={hp['beta']:g} ≥ 1 makes the momentum grow without bound; use 0 ≤ beta < 1 (e.g. 0.9)")
    if diverged:
        hints.append(f"training diverged (the loss stopped being finite at iteration {min(diverged)})")
    elif hp["alpha"] / max(1e-9, 1 - min(hp["beta"], 0.999)) > 0.05:
        hints.append("the effective step alpha/(1-beta) is large: training is unstable; try a smaller alpha")
    elif not hints:
        hints.append("try more iterations, a larger hidden layer or a different learning rate")
    if ctx.dataset.name == "cifar10-subset" and hp["alpha"] / max(1e-9, 1 - min(hp["beta"], 0.999)) >= 0.05 \
            and hp["beta"] < 1:
        hints.append("note for the TA: on the small embedded subset, settings with alpha/(1-beta) >= 0.05 often "
                     "collapse although they reach 0.40 on full CIFAR-10 (assignments/cifar10_fcnet/CALIBRATION.md): "
                     "regrade this one with full data")
    return hints


HYPERPARAMS_TRAINING = training.Hooks(
    settings=_validate, hints=_hints, cost=train_cost, reduce="num_iters, batch_size or hidden_dim",
    memory_mb=_memory_mb, memory_settings=("hidden_dim", "batch_size"), memory_advice=_largest_hidden,
    reduce_memory="hidden_dim or batch_size", data=_training_data, train=_train_seed, memo_key=memo_key)


# ---------------------------------------------------------------- the student's own training

def compare_end_to_end(ctx, inputs, outcome) -> Verdict:
    """The model the notebook itself trained in its hyperparameter cell, scored here on the real
    test set (kernel_probe.py sent back its predictions; the labels never left the grader)."""
    found = ctx.kernel
    if found is None:
        return Verdict(FAIL, "not run: the notebook did not get through its hyperparameter cell")
    if "error" in found:
        return Verdict(FAIL, f"your notebook's model could not be scored: {str(found['error']).strip().splitlines()[-1]}",
                       details={"traceback": str(found["error"])})
    y_test = ctx.dataset.load_test_labels().astype(np.int64)
    text = str(found.get("predictions", ""))
    if len(text) != len(y_test) or not text.isdigit():
        return Verdict(FAIL, f"your model's predictions could not be read ({len(text)} for {len(y_test)} test images)")
    accuracy = float(np.mean(np.frombuffer(text.encode(), np.uint8) - ord("0") == y_test))
    thr = training.threshold(ctx, ctx.rubric["threshold"])
    losses = [float(v) for v in found.get("losses", []) if isinstance(v, (int, float))]
    return Verdict(PASS if accuracy >= thr else FAIL,
                   f"the model your notebook trained with your hyperparameters reaches test accuracy {accuracy:.3f} "
                   f"(threshold {thr:.2f}, {ctx.dataset.name})", details={"accuracy": accuracy, "losses": losses})


# ---------------------------------------------------------------- what grader/pipeline.py runs

CHECKS = {   # check id (assignment.toml) -> how it is implemented
    "forward": Check(compare_forward, inputs_forward),
    "backward": Check(compare_backward, inputs_backward),
    "sgd_step": Check(compare_sgd_step, inputs_sgd_step),
    "end_to_end": Check(compare_end_to_end),
}
TRAINING = {"hyperparams": HYPERPARAMS_TRAINING}   # the kind's hooks, by check id
