"""The NNFS-style SGD exercise: each check proven both ways on variants of the reference,
graded without a kernel. Without the training cell, the training checks do not run (they
need the Optimizer_SGD(...) call), which keeps these fast; the training tests add it back."""
from __future__ import annotations

import re

import nbformat
import pytest

from grader import assignment

from conftest import REPO
from helpers import grade_cells

NNFS_NB = REPO / "reference" / "nnfs_sgd_momentum.ipynb"
BEGIN, END = "        # ---- write your code here ----\n", "        # ---- end of your code ----\n"
TRAINING_CELL = 13
CODE_CHECKS = ("dense_forward", "dense_backward", "relu_backward", "softmax_ce_backward", "optimizer")


def cells(answers: dict[str, str] | None = None, settings: str | None = None, rename: dict | None = None) -> list[str]:
    """The reference's code cells with answer blocks replaced ("Layer_Dense.backward": code, indented
    8 spaces), the training cell added with `settings` for Optimizer_SGD(...), classes renamed."""
    nb = nbformat.read(NNFS_NB, as_version=4)
    sources = [c.source for i, c in enumerate(nb.cells)
               if c.cell_type == "code" and (settings is not None or i != TRAINING_CELL) and i != 15]
    for where, code in (answers or {}).items():
        cls, method = where.split(".")
        i = next(k for k, s in enumerate(sources) if f"class {cls}" in s)
        s = sources[i]
        start = s.index(BEGIN, s.index(f"def {method}(", s.index(f"class {cls}"))) + len(BEGIN)
        sources[i] = s[:start] + code + s[s.index(END, start):]
    if settings is not None:
        sources = [re.sub(r"Optimizer_SGD\(learning_rate=1\., decay=1e-3, momentum=0\.9\)",
                          f"Optimizer_SGD({settings})", s) for s in sources]
    for old, new in (rename or {}).items():
        sources = [re.sub(rf"\b{old}\b", new, s) for s in sources]
    return sources


def grade(**kwargs) -> dict:
    return grade_cells(cells(**kwargs), assignment_id="nnfs_sgd_momentum")


def status(r: dict, check: str) -> tuple[str, float]:
    return r[check].status, r[check].points


def test_the_rubric_adds_up_to_100():
    a = assignment.load("nnfs_sgd_momentum")
    assert sum(a.check_rubric(c.id)["points"] for c in a.checks) == 100


def test_reference_code_passes_every_code_check():
    r = grade()
    assert [status(r, c) for c in CODE_CHECKS] == [("pass", 10), ("pass", 20), ("pass", 10), ("pass", 15), ("pass", 25)]
    assert status(r, "training") == ("fail", 0) and "never calls Optimizer_SGD(...)" in r["training"].message


# ------------------------------------------------------------------ Layer_Dense
@pytest.mark.parametrize("forward", [
    "        self.inputs = inputs\n        self.output = inputs @ self.weights + self.biases\n",
    "        self.inputs = inputs.copy()\n        self.output = np.einsum('ni,io->no', inputs, self.weights) + self.biases[0]\n",
])
def test_dense_forward_equivalent_formulations_pass(forward):
    assert status(grade(answers={"Layer_Dense.forward": forward}), "dense_forward") == ("pass", 10)


@pytest.mark.parametrize("forward, says", [
    ("        self.inputs = inputs\n        self.output = np.dot(inputs, self.weights)\n", "the biases are not added"),
    ("        self.inputs = inputs\n        self.output = np.maximum(0, np.dot(inputs, self.weights) + self.biases)\n",
     "a ReLU is applied inside the layer"),
    ("        inputs *= 2\n        self.inputs = inputs / 2\n        self.output = np.dot(inputs / 2, self.weights) + self.biases\n",
     "forward changed its inputs in place"),
])
def test_dense_forward_bugs_fail_with_a_reason(forward, says):
    r = grade(answers={"Layer_Dense.forward": forward})
    assert status(r, "dense_forward") == ("fail", 0) and says in r["dense_forward"].message


def test_dense_backward_without_keepdims_passes_and_a_broken_backward_leaves_forward_alone():
    assert status(grade(answers={"Layer_Dense.backward": (
        "        self.dweights = self.inputs.T @ dvalues\n        self.dbiases = dvalues.sum(axis=0)\n"
        "        self.dinputs = dvalues @ self.weights.T\n")}), "dense_backward") == ("pass", 20)
    r = grade(answers={"Layer_Dense.backward": "        raise NotImplementedError('later')\n"})
    assert status(r, "dense_forward") == ("pass", 10)
    assert status(r, "dense_backward") == ("fail", 0)
    assert r["dense_backward"].message.startswith("Layer_Dense backward raised NotImplementedError: later")


@pytest.mark.parametrize("backward, says, points", [
    ("        self.dweights = np.dot(dvalues.T, self.inputs)\n        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)\n"
     "        self.dinputs = np.dot(dvalues, self.weights.T)\n", "dweights is transposed", 13.33),
    ("        self.dweights = np.dot(self.inputs.T, dvalues)\n        self.dbiases = np.mean(dvalues, axis=0, keepdims=True)\n"
     "        self.dinputs = np.dot(dvalues, self.weights.T)\n", "dbiases takes the mean", 13.33),
    ("        self.dweights = np.dot(self.inputs.T, dvalues) / len(dvalues)\n"
     "        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)\n        self.dinputs = np.dot(dvalues, self.weights.T)\n",
     "dweights is divided by the batch size", 13.33),
    ("        if not hasattr(self, 'dweights'):\n            self.dweights = 0\n"
     "        self.dweights = self.dweights + np.dot(self.inputs.T, dvalues)\n"
     "        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)\n        self.dinputs = np.dot(dvalues, self.weights.T)\n",
     "dweights changes when backward is called twice with the same input", 13.33),
    ("        self.dweights = np.dot(self.inputs.T, dvalues)\n        self.dbiases = np.sum(dvalues, axis=1, keepdims=True)\n"
     "        self.dinputs = np.dot(dvalues, self.weights.T) * (self.inputs > 0)\n",
     "dbiases sums over the wrong axis", 6.67),
])
def test_dense_backward_bugs_fail_with_a_reason_and_partial_credit(backward, says, points):
    r = grade(answers={"Layer_Dense.backward": backward})
    assert status(r, "dense_backward") == ("fail", points) and says in r["dense_backward"].message


# ------------------------------------------------------------------ Activation_ReLU
def test_relu_alternatives_pass_and_changing_dvalues_is_said():
    assert status(grade(answers={"Activation_ReLU.backward": "        self.dinputs = dvalues * (self.inputs > 0)\n"}),
                  "relu_backward") == ("pass", 10)
    r = grade(answers={"Activation_ReLU.backward": "        dvalues[self.inputs <= 0] = 0\n        self.dinputs = dvalues\n"})
    assert status(r, "relu_backward") == ("pass", 10) and "changed dvalues in place" in r["relu_backward"].message


@pytest.mark.parametrize("backward, says", [
    ("        self.dinputs = dvalues.copy()\n", "zero it where the inputs were <= 0"),
    ("        self.dinputs = dvalues.copy()\n        self.dinputs[dvalues <= 0] = 0\n", "the mask looks at dvalues"),
    ("        self.dinputs = (self.inputs > 0).astype(float)\n", "dinputs is the mask alone"),
])
def test_relu_bugs_fail_with_a_reason(backward, says):
    r = grade(answers={"Activation_ReLU.backward": backward})
    assert status(r, "relu_backward") == ("fail", 0) and says in r["relu_backward"].message


def test_relu_backward_needs_the_forward_pass_right_and_a_missing_gradient_costs_its_share():
    r = grade(answers={"Activation_ReLU.forward": "        self.inputs = inputs\n        self.output = inputs\n"})
    assert status(r, "relu_backward") == ("fail", 0)
    assert r["relu_backward"].message.startswith("Activation_ReLU forward's self.output is wrong")
    r = grade(answers={"Layer_Dense.backward": "        self.dweights = self.inputs.T @ dvalues\n"
                                               "        self.dbiases = dvalues.sum(axis=0, keepdims=True)\n"})
    assert status(r, "dense_backward") == ("fail", 13.33)
    assert r["dense_backward"].message == "dinputs is not set (2 of 3 gradients right)"


# ------------------------------------------------------------------ softmax with cross-entropy
def test_softmax_ce_through_the_softmax_jacobian_passes():
    jacobian = ("        self.activation.output = dvalues\n        samples = len(dvalues)\n"
                "        onehot = np.eye(dvalues.shape[1])[y_true]\n        self.dinputs = np.empty_like(dvalues)\n"
                "        for i, (p, t) in enumerate(zip(dvalues, onehot)):\n"
                "            j = np.diagflat(p) - np.outer(p, p)\n            self.dinputs[i] = j @ (-t / p) / samples\n")
    assert status(grade(answers={"Activation_Softmax_Loss_CategoricalCrossentropy.backward": jacobian}),
                  "softmax_ce_backward") == ("pass", 15)


@pytest.mark.parametrize("where, code, says, points", [
    ("backward", "        self.dinputs = dvalues.copy()\n        self.dinputs[range(len(dvalues)), y_true] -= 1\n",
     "not divided by the number of samples", 7.5),
    ("backward", "        self.dinputs = dvalues / len(dvalues)\n", "the 1 at each sample's true class is not subtracted", 7.5),
    ("forward", "        self.activation.forward(inputs)\n        self.output = self.activation.output\n"
                "        return self.loss.calculate(self.output, y_true) * len(inputs)\n",
     "forward does not return the mean cross-entropy loss", 7.5),
    ("backward", "        self.dinputs = dvalues.copy()\n        self.dinputs[range(len(dvalues)), y_true] -= 1\n"
                 "        self.dinputs = -self.dinputs / len(dvalues)\n", "dinputs has the wrong sign", 7.5),
    ("backward", "        grad = dvalues.copy()\n        grad[range(len(dvalues)), y_true] -= 1\n"
                 "        self.dinputs = getattr(self, 'dinputs', 0) + grad / len(dvalues)\n",
     "dinputs changes when backward is called twice", 7.5),
    ("forward", "        self.activation.forward(inputs)\n        self.output = self.activation.output\n"
                "        return -np.log(self.output[range(len(inputs)), y_true])\n",
     "forward returns an array of shape (6,), not a number: the mean cross-entropy loss of the softmax outputs "
     "is one number", 7.5),
])
def test_softmax_ce_bugs_fail_with_a_reason_and_half_credit(where, code, says, points):
    r = grade(answers={f"Activation_Softmax_Loss_CategoricalCrossentropy.{where}": code})
    assert status(r, "softmax_ce_backward") == ("fail", points) and says in r["softmax_ce_backward"].message


def test_softmax_ce_backward_changing_its_dvalues_passes_and_says_so():
    """The book copies dvalues first: changed in place, they are the layer's own self.output."""
    in_place = ("        dvalues[range(len(dvalues)), y_true] -= 1\n"
                "        self.dinputs = dvalues / len(dvalues)\n")
    r = grade(answers={"Activation_Softmax_Loss_CategoricalCrossentropy.backward": in_place})
    assert status(r, "softmax_ce_backward") == ("pass", 15)
    assert "backward changed dvalues in place: copy it first" in r["softmax_ce_backward"].message


# ------------------------------------------------------------------ Optimizer_SGD
@pytest.mark.parametrize("answers", [
    # the rate computed where it is used, the momentum kept in a dict keyed by layer, in place updates
    {"Optimizer_SGD.pre_update_params": "        pass\n",
     "Optimizer_SGD.update_params": (
         "        rate = self.learning_rate / (1 + self.decay * self.iterations)\n"
         "        self.current_learning_rate = rate\n"
         "        state = self.__dict__.setdefault('state', {})\n"
         "        mw, mb = state.get(id(layer), (0.0, 0.0))\n"
         "        mw = self.momentum * mw - rate * layer.dweights\n"
         "        mb = self.momentum * mb - rate * layer.dbiases\n"
         "        state[id(layer)] = (mw, mb)\n"
         "        layer.weights += mw\n        layer.biases += mb\n")},
])
def test_optimizer_equivalent_formulations_pass(answers):
    assert status(grade(answers=answers), "optimizer") == ("pass", 25)


@pytest.mark.parametrize("answers, says, points", [
    # the real sample student_003: plain SGD ignores the decayed rate
    ({"Optimizer_SGD.update_params": (
        "        if self.momentum:\n            if not hasattr(layer, 'weight_momentums'):\n"
        "                layer.weight_momentums = np.zeros_like(layer.weights)\n"
        "                layer.bias_momentums = np.zeros_like(layer.biases)\n"
        "            weight_updates = self.momentum * layer.weight_momentums - self.current_learning_rate * layer.dweights\n"
        "            layer.weight_momentums = weight_updates\n"
        "            bias_updates = self.momentum * layer.bias_momentums - self.current_learning_rate * layer.dbiases\n"
        "            layer.bias_momentums = bias_updates\n        else:\n"
        "            weight_updates = -self.learning_rate * layer.dweights\n"
        "            bias_updates = -self.learning_rate * layer.dbiases\n"
        "        layer.weights += weight_updates\n        layer.biases += bias_updates\n")},
     "without momentum, the update uses self.learning_rate", 18.75),
    ({"Optimizer_SGD.post_update_params": "        pass\n"}, "iterations does not", 12.5),
    ({"Optimizer_SGD.pre_update_params": "        pass\n"}, "the decayed rate is never used", 12.5),
    ({"Optimizer_SGD.update_params": "        pass\n"}, "update_params does not change the parameters", 0),
    ({"Optimizer_SGD.update_params": (
        "        if not hasattr(self, 'weight_momentums'):\n"
        "            self.weight_momentums = np.zeros_like(layer.weights)\n"
        "        self.weight_momentums = self.momentum * self.weight_momentums - self.current_learning_rate * layer.dweights\n"
        "        layer.weights += self.weight_momentums\n        layer.biases -= self.current_learning_rate * layer.dbiases\n")},
     "Optimizer_SGD raised ValueError", 0),
])
def test_optimizer_bugs_fail_with_a_reason_and_partial_credit(answers, says, points):
    r = grade(answers=answers)
    assert status(r, "optimizer") == ("fail", points) and says in r["optimizer"].message


def test_other_spellings_are_graded_and_named():
    r = grade(rename={"Optimizer_SGD": "Optimiser_SGD",
                      "Activation_Softmax_Loss_CategoricalCrossentropy": "Activation_Softmax_Loss_CategoricalCrossEntropy"})
    assert [status(r, c)[0] for c in CODE_CHECKS] == ["pass"] * 5


# ------------------------------------------------------------------ training on spiral data
def test_training_without_momentum_fails_and_says_what_to_try():
    """(The book's settings passing, over seeds, is test_nnfs_batch's student_000: one training
    of them per suite.)"""
    r = grade(settings="learning_rate=1.")
    assert status(r, "training") == ("fail", 0) and status(r, "test_accuracy") == ("fail", 0)
    assert "learning_rate=1, decay=0, momentum=0" in r["training"].message and "try momentum=0.9" in r["training"].message


def test_settings_that_cannot_be_read_are_said():
    r = grade(settings="learning_rate=np.float64(1.), momentum=0.9")
    assert r["training"].message.startswith("not run: learning_rate could not be read without running the code")
    assert r["test_accuracy"].message.startswith("not run: learning_rate could not be read")


def test_the_assignment_is_told_from_code_and_unclear_cases_are_refused():
    def code(path):
        return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    nnfs = [code(p) for p in (REPO / "examples" / "nnfs_sgd_momentum" / "student_000.ipynb",
                              REPO / "tests" / "data" / "nnfs" / "student_003.ipynb")]
    cifar = [code(REPO / "examples" / "cifar10_fcnet" / "student_004.ipynb")]
    assert assignment.detect(nnfs)[0] == "nnfs_sgd_momentum"
    assert assignment.detect(cifar)[0] == "cifar10_fcnet"
    assert assignment.detect(nnfs + cifar)[0] == "nnfs_sgd_momentum"      # the batch's majority
    assert assignment.detect(["print('hello')"])[0] is None
    assert assignment.detect(nnfs[:1] + cifar)[0] is None                 # a tie: ask


def test_cells_that_do_not_parse_are_skipped_and_the_last_definition_counts():
    wrong = cells(answers={"Optimizer_SGD.pre_update_params": "        pass\n"})
    right = cells()
    sgd = next(s for s in right if "class Optimizer_SGD" in s)
    pasted = "In [7]: model.fit(X)\nOut[7]: ‘done’ — 99% accuracy"     # exported from a PDF
    r = grade_cells([*wrong, pasted, sgd], assignment_id="nnfs_sgd_momentum")   # fixed further down
    assert [status(r, c)[0] for c in CODE_CHECKS] == ["pass"] * 5
    r = grade_cells([*right, pasted, next(s for s in wrong if "class Optimizer_SGD" in s)],
                    assignment_id="nnfs_sgd_momentum")                           # broken further down
    assert status(r, "optimizer") == ("fail", 12.5)


@pytest.mark.parametrize("answers, check", [
    ({"Layer_Dense.forward": "        return np.dot(inputs, self.weights) + self.biases\n"}, "dense_forward"),
    ({"Activation_Softmax_Loss_CategoricalCrossentropy.forward":
      "        self.activation.forward(inputs)\n        return self.loss.calculate(self.activation.output, y_true)\n"},
     "softmax_ce_backward"),
])
def test_a_forward_that_returns_its_output_instead_of_setting_it_is_told_so(answers, check):
    r = grade(answers=answers)
    assert status(r, check) == ("fail", 0)
    assert r[check].message.endswith("forward does not set self.output: the layer after reads it there")
