"""A grade does not depend on the precision a correct answer was computed in: float32 answers
pass at full points, float32 answers with a real mistake fail with the same diagnosis as in
float64, float16 answers pass with a warning (compared at float16 accuracy). Graded without a
kernel, as tests/test_checks.py and tests/test_nnfs.py do."""
from __future__ import annotations

import numpy as np
import pytest

from grader import assignment
from grader.check import Context, Hyperparams, by_case
from grader.numeric import FLOAT32, compare, magnitude, precision_of
from grader.probe import ProbeOutcome

from helpers import grade_cells, with_net
from test_nnfs import grade, status

FLOAT32_NOTE = "computed in float32: compared at float32 accuracy"
FLOAT16_NOTE = "computed in float16: compared at float16 accuracy, which cannot rule out a small mistake"


# ------------------------------------------------------------------ the comparison itself
def test_a_float32_sum_with_cancellation_is_right_at_float32_accuracy_and_a_mistake_is_not():
    """The issue's example: a float32 W1 gradient (x.T @ dz1, over a batch) has entries whose
    terms nearly cancel; entry by entry their relative error is large, against the magnitude
    of the terms it is a fraction of a roundoff."""
    rng = np.random.default_rng(11)
    x, dz1 = rng.standard_normal((8, 3072)), rng.standard_normal((8, 25)) / 8
    expected = x.T @ dz1
    got = x.astype(np.float32).T @ dz1.astype(np.float32)
    entrywise = np.max(np.abs(got - expected) / (np.abs(got) + np.abs(expected)))
    assert entrywise > 1e-5                               # what failed before: 15 of 30 points
    scale = magnitude(lambda a, b: a.T @ b, x, dz1)
    c = compare(got, expected, precision_of(got), scale)
    assert c.ok and c.precision == FLOAT32 and not c.inferred
    assert not compare(got + 1e-4 * scale, expected, precision_of(got), scale).ok
    assert not compare(1.01 * got, expected, precision_of(got), scale).ok


def test_a_float64_answer_is_held_at_float64_unless_its_values_have_float32_accuracy():
    rng = np.random.default_rng(12)
    a, b = rng.standard_normal((6, 40)), rng.standard_normal((40, 5))
    scale = magnitude(lambda p, q: p @ q, a, b)
    float32_values = (a.astype(np.float32) @ b.astype(np.float32)).astype(np.float64)
    assert not compare(float32_values, a @ b, None, scale, infer_float32=False).ok
    c = compare(float32_values, a @ b, None, scale)
    assert c.ok and c.inferred and c.precision == FLOAT32
    assert not compare(a @ b + 1e-5 * scale, a @ b, None, scale).ok   # beyond float32 too: a mistake


def test_an_answer_is_reported_at_the_finest_precision_it_holds_down_to_the_one_used():
    """A float16 array next to a float64-accurate answer (say, a float16 mask) costs nothing;
    float16 values are judged at float16 accuracy, and nothing coarser."""
    rng = np.random.default_rng(13)
    a, b = rng.standard_normal((6, 40)), rng.standard_normal((40, 5))
    scale = magnitude(lambda p, q: p @ q, a, b)
    c = compare(a @ b, a @ b, np.float16, scale)
    assert c.ok and c.precision == np.float64 and not c.inferred
    half = a.astype(np.float16) @ b.astype(np.float16)
    c = compare(half, a @ b, None, scale)
    assert c.ok and c.precision == np.float16 and not c.inferred
    assert not compare(half + 0.1 * scale, a @ b, None, scale).ok


def test_nan_and_shape_mismatch_never_pass():
    assert not compare(np.array([1.0, np.nan]), np.array([1.0, 2.0])).ok
    assert not compare(np.ones((2, 3)), np.ones((3, 2))).ok
    assert compare(np.zeros(3), np.zeros(3)).ok


# ------------------------------------------------------------------ CIFAR-10: forward and backward
def _forward(dtype: str) -> str:
    """The reference forward, computed in `dtype`, keeping its cache in `dtype`."""
    return (f"    p = {{k: v.astype(np.{dtype}) for k, v in self.params.items()}}\n"
            f"    x = x.astype(np.{dtype})\n    z1 = x.dot(p['W1']) + p['b1']\n    h1 = np.maximum(0, z1)\n"
            "    scores = h1.dot(p['W2']) + p['b2']\n    cache = (x, z1, h1)")


BACKWARD = ("    x, z1, h1 = cache\n    dscores = dscores.astype(x.dtype)\n    W2 = self.params['W2'].astype(x.dtype)\n"
            "    self.grads['W2'] = h1.T.dot(dscores)\n    self.grads['b2'] = dscores.sum(axis=0)\n"
            "    dz1 = dscores.dot(W2.T) * (z1 > 0)\n    self.grads['W1'] = x.T.dot(dz1)\n"
            "    self.grads['b1'] = dz1.sum(axis=0)")


def test_cifar_float32_forward_and_backward_pass_at_full_points():
    r = grade_cells(with_net(forward=_forward("float32"), backward=BACKWARD))
    assert [(r[c].status, r[c].points) for c in ("forward", "backward")] == [("pass", 20), ("pass", 30)]
    assert FLOAT32_NOTE in r["forward"].message and FLOAT32_NOTE in r["backward"].message
    assert r["backward"].details["per_parameter"]["W1"]["precision"] == "float32"


def test_cifar_float64_backward_on_a_float32_cache_is_judged_at_float32():
    """The issue's case: forward keeps a float32 cache; the reference's backward on it gives
    float64 arrays that carry float32 rounding (the probe finds the float32 cache)."""
    r = grade_cells(with_net(forward=_forward("float32")))
    assert (r["backward"].status, r["backward"].points) == ("pass", 30)
    assert FLOAT32_NOTE in r["backward"].message


def test_cifar_float32_values_returned_as_float64_are_recognised():
    forward = _forward("float32").replace("cache = (x, z1, h1)", "scores = scores.astype(np.float64); cache = None")
    r = grade_cells(with_net(forward=forward))
    assert (r["forward"].status, r["forward"].points) == ("pass", 20)
    assert "its values have float32 accuracy, not float64: compared at float32 accuracy" in r["forward"].message


@pytest.mark.parametrize("change, says, points", [
    (("dz1 = dscores.dot(W2.T) * (z1 > 0)", "dz1 = dscores.dot(W2.T)"), "grads['W1'] ignores the ReLU", 15),
    (("self.grads['W2'] = h1.T.dot(dscores)", "self.grads['W2'] = dscores.T.dot(h1)"),
     "grads['W2'] is transposed", 22.5),
    (("self.grads['b2'] = dscores.sum(axis=0)", "self.grads['b2'] = dscores.sum(axis=0) / x.shape[0]"),
     "grads['b2'] divided by the batch size N=5 again", 22.5),
    (("self.grads['b2'] = dscores.sum(axis=0)", "self.grads['b2'] = dscores.sum(axis=1)"),
     "grads['b2'] has shape (5,); expected (10,)", 22.5),
    (("self.grads['b1'] = dz1.sum(axis=0)", "self.grads['b1'] = 2 * dz1.sum(axis=0)"),
     "grads['b1'] is twice the expected value", 22.5),
    (("self.grads['W2'] = h1.T.dot(dscores)", "self.grads['W2'] = self.grads['W2'] + h1.T.dot(dscores)"),
     "accumulates (+=) across calls", 22.5),
    (("self.grads['W1'] = x.T.dot(dz1)", "self.grads['W1'] = x.T.dot(dz1) + 0.1 * self.params['W1']"),
     "extra 0.1·W1 term", 22.5),
])
def test_cifar_float32_backward_bugs_fail_as_in_float64(change, says, points):
    assert change[0] in BACKWARD
    r = grade_cells(with_net(forward=_forward("float32"), backward=BACKWARD.replace(*change)))
    assert r["backward"].status == "fail" and says in r["backward"].message
    assert r["backward"].points == points


@pytest.mark.parametrize("change, says", [
    (("h1 = np.maximum(0, z1)", "h1 = z1"), "ReLU is missing"),
    (("scores = h1.dot(p['W2']) + p['b2']", "scores = h1.dot(p['W2'])"), "b2 is not added"),
])
def test_cifar_float32_forward_bugs_fail_as_in_float64(change, says):
    r = grade_cells(with_net(forward=_forward("float32").replace(*change)))
    assert (r["forward"].status, r["forward"].points) == ("fail", 0) and says in r["forward"].message


def test_cifar_float16_passes_with_a_warning_and_a_float16_mistake_still_fails():
    r = grade_cells(with_net(forward=_forward("float16"), backward=BACKWARD))
    assert [(r[c].status, r[c].points) for c in ("forward", "backward")] == [
        ("pass_with_warning", 20), ("pass_with_warning", 28)]          # the rubric's warning_deduction
    assert FLOAT16_NOTE in r["forward"].message and FLOAT16_NOTE in r["backward"].message
    r = grade_cells(with_net(forward=_forward("float16"), backward=BACKWARD.replace(
        "dz1 = dscores.dot(W2.T) * (z1 > 0)", "dz1 = dscores.dot(W2.T)")))
    assert (r["backward"].status, r["backward"].points) == ("fail", 15)
    assert "grads['W1'] ignores the ReLU" in r["backward"].message


# ------------------------------------------------------------------ CIFAR-10: SGD
SGD32 = ("    for k in self.params:\n"
         "      self.momentum[k] = (self.beta * self.momentum[k] + grads[k]).astype(np.float32)\n"
         "      self.params[k] = (self.params[k] - self.alpha * self.momentum[k]).astype(np.float32)")


def test_cifar_float32_sgd_passes_and_its_mistakes_fail_as_in_float64():
    r = grade_cells(with_net(sgd=SGD32))
    assert (r["sgd_step"].status, r["sgd_step"].points) == ("pass", 20) and FLOAT32_NOTE in r["sgd_step"].message
    r = grade_cells(with_net(sgd=SGD32.replace("+ grads[k]", "+ (1 - self.beta) * grads[k]")))
    assert (r["sgd_step"].status, r["sgd_step"].points) == ("fail", 5) and "moving average" in r["sgd_step"].message
    r = grade_cells(with_net(sgd=SGD32.replace("self.alpha * self.momentum[k]", "self.alpha * grads[k]")))
    assert (r["sgd_step"].status, r["sgd_step"].points) == ("fail", 5)
    assert "ignores the momentum" in r["sgd_step"].message


# ------------------------------------------------------------------ NNFS
def _dense(dtype: str) -> dict[str, str]:
    return {"Layer_Dense.forward": (
                f"        self.inputs = inputs.astype(np.{dtype})\n"
                f"        self.output = self.inputs @ self.weights.astype(np.{dtype}) + self.biases.astype(np.{dtype})\n"),
            "Layer_Dense.backward": (
                f"        dvalues = dvalues.astype(np.{dtype})\n        self.dweights = self.inputs.T @ dvalues\n"
                "        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)\n"
                f"        self.dinputs = dvalues @ self.weights.astype(np.{dtype}).T\n")}


def _relu(dtype: str) -> dict[str, str]:
    return {"Activation_ReLU.forward": f"        self.inputs = inputs\n        self.output = np.maximum(0, inputs).astype(np.{dtype})\n",
            "Activation_ReLU.backward": (f"        self.dinputs = dvalues.astype(np.{dtype})\n"
                                         "        self.dinputs[self.inputs <= 0] = 0\n")}


def _softmax(dtype: str) -> dict[str, str]:
    return {"Activation_Softmax_Loss_CategoricalCrossentropy.forward": (
                f"        self.activation.forward(inputs.astype(np.{dtype}))\n        self.output = self.activation.output\n"
                "        return self.loss.calculate(self.output, y_true)\n"),
            "Activation_Softmax_Loss_CategoricalCrossentropy.backward": (
                f"        samples = len(dvalues)\n        self.dinputs = dvalues.astype(np.{dtype})\n"
                "        self.dinputs[range(samples), y_true] -= 1\n        self.dinputs = self.dinputs / samples\n")}


def _optimizer(dtype: str) -> dict[str, str]:
    dt = f"np.{dtype}"
    return {"Optimizer_SGD.update_params": (
        "        if not hasattr(layer, 'weight_momentums'):\n"
        f"            layer.weight_momentums = np.zeros(layer.weights.shape, {dt})\n"
        f"            layer.bias_momentums = np.zeros(layer.biases.shape, {dt})\n"
        f"        lr, mom = {dt}(self.current_learning_rate), {dt}(self.momentum)\n"
        f"        layer.weight_momentums = mom * layer.weight_momentums - lr * layer.dweights.astype({dt})\n"
        f"        layer.bias_momentums = mom * layer.bias_momentums - lr * layer.dbiases.astype({dt})\n"
        f"        layer.weights = layer.weights.astype({dt}) + layer.weight_momentums\n"
        f"        layer.biases = layer.biases.astype({dt}) + layer.bias_momentums\n")}


CODE_CHECKS = ("dense_forward", "dense_backward", "relu_backward", "softmax_ce_backward", "optimizer")


def test_nnfs_float32_layers_and_optimizer_pass_at_full_points():
    r = grade(answers={**_dense("float32"), **_relu("float32"), **_softmax("float32"), **_optimizer("float32")})
    assert [status(r, c) for c in CODE_CHECKS] == [("pass", 10), ("pass", 20), ("pass", 10), ("pass", 15), ("pass", 25)]
    assert all(FLOAT32_NOTE in r[c].message for c in CODE_CHECKS)


def test_nnfs_float16_passes_with_a_warning():
    r = grade(answers={**_dense("float16"), **_relu("float16"), **_softmax("float16"), **_optimizer("float16")})
    assert [r[c].status for c in CODE_CHECKS] == ["pass_with_warning"] * 5
    assert all(FLOAT16_NOTE in r[c].message for c in CODE_CHECKS)


@pytest.mark.parametrize("check, answers, change, says, points", [
    ("dense_backward", _dense("float32"), ("self.inputs.T @ dvalues", "dvalues.T @ self.inputs"),
     "dweights is transposed", 13.33),
    ("dense_backward", _dense("float32"), ("np.sum(dvalues, axis=0", "np.mean(dvalues, axis=0"),
     "dbiases takes the mean", 13.33),
    ("dense_backward", _dense("float32"), ("self.inputs.T @ dvalues", "self.inputs.T @ dvalues / len(dvalues)"),
     "dweights is divided by the batch size", 13.33),
    ("dense_backward", _dense("float32"), ("self.dweights = self.inputs.T @ dvalues",
                                           "self.dweights = getattr(self, 'dweights', 0) + self.inputs.T @ dvalues"),
     "dweights changes when backward is called twice", 13.33),
    ("dense_forward", _dense("float32"), (" + self.biases.astype(np.float32)", ""), "the biases are not added", 0),
    ("relu_backward", _relu("float32"), ("        self.dinputs[self.inputs <= 0] = 0\n", ""),
     "zero it where the inputs were <= 0", 0),
    ("relu_backward", _relu("float32"), ("self.dinputs[self.inputs <= 0]", "self.dinputs[dvalues <= 0]"),
     "the mask looks at dvalues", 0),
    ("softmax_ce_backward", _softmax("float32"), ("self.dinputs = self.dinputs / samples", "pass"),
     "not divided by the number of samples", 7.5),
    ("softmax_ce_backward", _softmax("float32"), ("        self.dinputs[range(samples), y_true] -= 1\n", ""),
     "the 1 at each sample's true class is not subtracted", 7.5),
    ("softmax_ce_backward", _softmax("float32"), ("return self.loss.calculate(self.output, y_true)",
                                                  "return self.loss.calculate(self.output, y_true) * len(inputs)"),
     "forward does not return the mean cross-entropy loss", 7.5),
    ("optimizer", {**_optimizer("float32"), "Optimizer_SGD.post_update_params": "        pass\n"},
     ("", ""), "iterations does not", 12.5),
    ("optimizer", {**_optimizer("float32"), "Optimizer_SGD.pre_update_params": "        pass\n"},
     ("", ""), "the decayed rate is never used", 12.5),
    ("optimizer", _optimizer("float32"), ("mom * layer.weight_momentums - lr", "mom * layer.weight_momentums + lr"),
     "the parameters differ from the expected ones from step 1 on", 0),
])
def test_nnfs_float32_bugs_fail_as_in_float64(check, answers, change, says, points):
    assert not change[0] or any(change[0] in code for code in answers.values())
    answers = {where: code.replace(*change) if change[0] else code for where, code in answers.items()}
    r = grade(answers=answers)
    assert status(r, check) == ("fail", points) and says in r[check].message


# ------------------------------------------------------------------ CIFAR-10: the ReLU's kink
def _backward_outcome(inputs: dict, dtype, flip) -> ProbeOutcome:
    """What the backward probe would send for a student computing in `dtype` whose ReLU mask is
    flipped at the unit flip(|z1|) picks, if any (the probe's protocol, without a sandbox)."""
    out = {}
    for case, c in by_case(inputs).items():
        if case == "spec":   # what the probe calls, as text
            continue
        x, ds = c["x"].astype(dtype), c["dscores"].astype(dtype)
        w1, b1, w2 = (c[k].astype(dtype) for k in ("W1", "b1", "W2"))
        z1 = x @ w1 + b1
        mask = z1 > 0
        if flip is not None:
            mask.flat[flip(np.abs(c["x"] @ c["W1"] + c["b1"]))] ^= True
        dz1 = (ds @ w2.T) * mask
        grads = [x.T @ dz1, dz1.sum(axis=0), (np.maximum(z1, 0)).T @ ds, ds.sum(axis=0)]   # W1, b1, W2, b2
        out[f"{case}.precision"] = np.zeros((), dtype)
        out.update({f"{case}.g{i}": v for i, v in enumerate(grads)})
        out.update({f"{case}.again_g{i}": v for i, v in enumerate(grads)})
    return ProbeOutcome(outputs=out)


@pytest.mark.parametrize("dtype, flip, verdict", [
    (np.float16, np.argmin, "pass_with_warning"),  # the unit nearest the kink: within float16 rounding of it
    (np.float16, np.argmax, "fail"),               # the unit furthest from it: a wrong mask
    (np.float32, np.argmin, "fail"),               # float32 rounding never reaches these inputs' 1e-4 margin
])
def test_cifar_a_unit_within_rounding_of_the_relu_kink_may_go_either_way(dtype, flip, verdict):
    a = assignment.load("cifar10_fcnet")
    ctx = Context("backward", a.check_rubric("backward"), a.reference(), None, Hyperparams({}, "none", ""), 0,
                  lambda key, fn: fn())
    check = a.implementations()["backward"]
    inputs = check.inputs(ctx)
    assert check.judge(ctx, inputs, _backward_outcome(inputs, dtype, None)).status in (
        "pass", "pass_with_warning")   # no flip: right at either precision
    assert check.judge(ctx, inputs, _backward_outcome(inputs, dtype, flip)).status == verdict
