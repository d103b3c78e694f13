"""Provenance without a kernel: the grader's fingerprints of the extracted source against those an
IPython shell reports for the same cells (the same start-up tool the kernel uses), the flags for
code that differs, is missing or never ran, the hyperparameter cross-check, and what the grader
takes of a captured value."""
from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

from grader import assignment, extract, provenance
from grader.execute import CAPTURE_TAG, plain_number

from conftest import REFERENCE_NB, REPO

NAMES = ["FullyConnectedNet", "SGD", "cross_entropy_loss"]
KERNEL_SITE = REPO / "grader" / "kernel_site"


def kernel_report(cells: list[str], tool: str = "nngrader_fingerprints", names=NAMES) -> dict:
    """What the start-up tool reports after running `cells` in a fresh IPython shell, in its own
    process (the cells are the test's, but an IPython shell is no place to keep running)."""
    script = (
        "import sys, json\nfrom IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        f"for cell in json.loads(sys.stdin.read()):\n    shell.run_cell(cell)\n"
        f"shell.run_cell(\"__import__('sitecustomize').{tool}({CAPTURE_TAG!r}, {names!r})\", silent=True)\n")
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps(cells), capture_output=True, text=True,
                          env={"PYTHONPATH": str(KERNEL_SITE), "PATH": "/usr/bin:/bin"}, timeout=120)
    line = next(x for x in done.stdout.splitlines() if x.startswith(CAPTURE_TAG))
    return json.loads(line[len(CAPTURE_TAG):])


def graded(cells: list[str]) -> extract.Extraction:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    a = assignment.load("cifar10_fcnet")
    return extract.extract(nb, a.names, a.aliases)


@pytest.fixture(scope="module")
def reference_cells() -> list[str]:
    nb = nbformat.read(REFERENCE_NB, as_version=4)
    return ["import numpy as np", nb.cells[3].source, nb.cells[4].source, nb.cells[6].source]


def flags(cells: list[str], ran: list[str] | None = None, graded_cells: list[str] | None = None) -> list[str]:
    """Flags when `cells` ran in the kernel and `graded_cells` (default: the same) are the source."""
    ex = graded(graded_cells or cells)
    found, _ = provenance.code_flags(ex.found, ex.spelled, ex.module_source, kernel_report(ran or cells), NAMES,
                                     None)
    return found


def test_the_same_code_has_the_same_fingerprints_in_the_kernel_and_the_grader(reference_cells):
    ex = graded(reference_cells)
    ours = provenance.source_fingerprints(ex.module_source, NAMES)
    theirs = kernel_report(reference_cells)
    assert {n: v.get("methods", v.get("code")) for n, v in ours.items()} == \
           {n: v.get("methods", v.get("code")) for n, v in theirs.items()}
    assert set(ours["FullyConnectedNet"]["methods"]) == {"__init__", "forward", "backward"}
    assert flags(reference_cells) == []


def test_a_method_replaced_by_exec_or_setattr_is_flagged(reference_cells):
    late = ("exec('def forward(self, x):\\n    return 2 * x, None')\nFullyConnectedNet.forward = forward\n"
            "setattr(SGD, 'step', lambda self, grads: None)")
    found = flags(reference_cells + [late], graded_cells=reference_cells)
    assert [f.split(" in the kernel")[0] for f in found] == [
        "the code graded differs from what ran: FullyConnectedNet.forward", "the code graded differs from what ran: SGD.step"]


def test_a_method_attached_at_run_time_and_a_class_made_by_exec_are_flagged(reference_cells):
    cells = [*reference_cells[:1], f"exec({reference_cells[1]!r})", *reference_cells[2:],
             "setattr(SGD, 'extra', lambda self: 1)"]
    assert flags(cells) == [
        "FullyConnectedNet exists in the kernel after the last cell, but no definition of it is in the source "
        "(made by exec, type() or an import): it was not graded",
        "the kernel's SGD has method(s) the source graded does not define: extra (attached at run time: exec or setattr)"]


def test_a_definition_that_never_ran_is_flagged(reference_cells):
    stopped = reference_cells[:3] + ["raise SystemExit\n" + reference_cells[3]]
    assert flags(stopped, ran=reference_cells[:3], graded_cells=stopped) == [
        "SGD is graded from code cell 3, but the kernel did not hold it after the last cell (the definition never "
        "ran, or was deleted)"]
    ex = graded(reference_cells)
    found, _ = provenance.code_flags(ex.found, ex.spelled, ex.module_source, None, NAMES, [0, 1, 2])
    assert found == ["SGD is graded from code cell 3, which never ran in the grader's kernel"]


def test_methods_attached_in_the_source_properties_and_static_methods_compare_equal():
    cells = ["import numpy as np",
             "class SGD:\n    @staticmethod\n    def helper(x):\n        return np.sum(x)\n"
             "    @property\n    def rate(self):\n        return 1\n    @rate.setter\n    def rate(self, v):\n        pass\n",
             "def step(self, grads):\n    return np.abs(grads)\nSGD.step = step"]
    assert flags(cells) == []
    assert flags(cells, ran=cells[:2] + ["def step(self, grads):\n    return grads\nSGD.step = step"],
                 graded_cells=cells)[0].startswith("the code graded differs from what ran: SGD.step")


def test_hyperparameters_that_disagree_with_the_trained_objects_are_flagged():
    observed = {"hidden_dim": [10, "model.params['W1'].shape[1]"], "alpha": [1e-3, "optimizer.alpha"],
                "beta": "junk", "num_iters": [True, "i"]}
    found = provenance.hyperparam_flags({"hidden_dim": 200, "alpha": 1e-3, "beta": 0.9, "num_iters": 1}, observed)
    assert found == ["hyperparams.hidden_dim: 200 was captured after the marked cell, but the notebook's objects "
                     "show 10 (model.params['W1'].shape[1]); the reference was trained with 200 (a search loop "
                     "that ended on other values, or a forged capture)"]
    assert provenance.hyperparam_flags({"hidden_dim": 10}, observed) == []
    assert provenance.hyperparam_flags({"hidden_dim": 10}, None) == []


def test_the_capture_reads_only_plain_numbers():
    cells = ["import numpy as np\nclass Lying(float):\n    def __float__(self):\n        return 200.0\n"
             "class Big(int):\n    pass\n"
             "hidden_dim, alpha, beta = np.int64(50), Lying(1e-7), np.float32(0.5)\n"
             "batch_size, num_iters, extra = 10 ** 5000, float('inf'), Big(3)\nflag = True"]
    found = kernel_report(cells, "nngrader_capture",
                          ["hidden_dim", "alpha", "beta", "batch_size", "num_iters", "extra", "flag", "missing"])
    assert found == {"hidden_dim": 50, "alpha": "not a plain number: a Lying, a subclass of float", "beta": 0.5,
                     "batch_size": "an integer of about 5000 digits: too large", "num_iters": "inf: not a finite number",
                     "extra": "not a plain number: a Big, a subclass of int", "flag": "not a plain number: a bool"}


def test_the_grader_takes_of_a_forged_line_only_plain_numbers():
    assert [plain_number(v) for v in (5, 1.5, 10 ** 18, float("nan"), True, [1], {"a": 1}, "x" * 500, None)] == [
        5, 1.5, "an integer of about 19 digits: too large", "nan: not a finite number", "not a plain number: a bool",
        "not a plain number: a list", "not a plain number: a dict", "x" * 120, "not a plain number: a NoneType"]
