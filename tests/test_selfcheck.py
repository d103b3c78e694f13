"""A student's self-check (`nngrader check`): the public checks judged against the assignment's
definition instead of the reference must give the grader's verdicts and points, on every
variant the checks' own tests grade (equivalent forms, known bugs, float32 and float16)."""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

import test_checks
import test_nnfs
import test_precision
from grader import assignment, selfcheck
from helpers import grade_cells, with_net

from conftest import REPO, SAMPLE


def _values(test) -> list:
    """The cases a parametrized test of another module grades."""
    return next(m.args[1] for m in test.pytestmark if m.name == "parametrize")


def _cifar_variants() -> dict[str, list[str]]:
    f32, backward = test_precision._forward("float32"), test_precision.BACKWARD
    variants = {"reference": with_net(), "float32": with_net(forward=f32, backward=backward),
                "float16": with_net(forward=test_precision._forward("float16"), backward=backward),
                "float32 sgd": with_net(sgd=test_precision.SGD32)}
    for k, forward in enumerate(_values(test_checks.test_forward_equivalent_formulations_pass)):
        variants[f"forward equivalent {k}"] = with_net(forward=forward)
    for forward, says in _values(test_checks.test_forward_bugs_fail_with_a_reason):
        variants[f"forward: {says}"] = with_net(forward=forward)
    for change, says, _ in _values(test_precision.test_cifar_float32_backward_bugs_fail_as_in_float64):
        variants[f"backward: {says}"] = with_net(backward=backward.replace(*change))
    for k, sgd in enumerate(_values(test_checks.test_sgd_equivalent_formulations_pass)):
        variants[f"sgd equivalent {k}"] = with_net(sgd=sgd)
    for sgd, says, _ in _values(test_checks.test_sgd_bugs_fail_with_a_reason):
        variants[f"sgd: {says}"] = with_net(sgd=sgd)
    return variants


def _nnfs_variants() -> dict[str, list[str]]:
    variants = {"reference": test_nnfs.cells()}
    for forward, says in _values(test_nnfs.test_dense_forward_bugs_fail_with_a_reason):
        variants[f"dense forward: {says}"] = test_nnfs.cells({"Layer_Dense.forward": forward})
    for backward, says, _ in _values(test_nnfs.test_dense_backward_bugs_fail_with_a_reason_and_partial_credit):
        variants[f"dense backward: {says}"] = test_nnfs.cells({"Layer_Dense.backward": backward})
    for backward, says in _values(test_nnfs.test_relu_bugs_fail_with_a_reason):
        variants[f"relu: {says}"] = test_nnfs.cells({"Activation_ReLU.backward": backward})
    for where, code, says, _ in _values(test_nnfs.test_softmax_ce_bugs_fail_with_a_reason_and_half_credit):
        variants[f"softmax: {says}"] = test_nnfs.cells({f"Activation_Softmax_Loss_CategoricalCrossentropy.{where}": code})
    for answers, says, _ in _values(test_nnfs.test_optimizer_bugs_fail_with_a_reason_and_partial_credit):
        variants[f"optimizer: {says}"] = test_nnfs.cells(answers)
    return variants


def _write(cells: list[str], folder: Path) -> Path:
    path = folder / "hw.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)
    return path


@pytest.mark.parametrize("assignment_id, variants", [("cifar10_fcnet", _cifar_variants),
                                                     ("nnfs_sgd_momentum", _nnfs_variants)])
def test_public_checks_give_the_graders_verdicts_and_points(assignment_id, variants, tmp_path):
    a = assignment.load(assignment_id)
    public = [c.id for c in a.public_checks()]
    assert len(public) >= 3
    disagreements, seen = [], set()
    for name, cells in variants().items():
        graded = grade_cells(cells, assignment_id=assignment_id)
        checked = selfcheck.check(_write(cells, tmp_path), assignment_id).results
        for check in public:
            g, s = graded[check], checked[check]
            seen.add(g.status)
            if (g.status, g.points) != (s.status, s.points):
                disagreements.append(f"{name}, {check}: grader {g.status} {g.points} ({g.message}); "
                                     f"self-check {s.status} {s.points} ({s.message})")
        assert all(checked[c.id] is None for c in a.checks if c.id not in public)
    assert not disagreements, "\n".join(disagreements)
    assert {"pass", "fail"} <= seen    # the variants do reach both verdicts


def test_the_self_check_never_loads_the_reference(monkeypatch):
    def refuse(self):
        raise AssertionError("the reference was loaded")
    monkeypatch.setattr(assignment.Assignment, "reference", refuse)
    results = selfcheck.check(SAMPLE).results
    assert [(c, results[c].status) for c in ("forward", "backward", "sgd_step")] == [
        ("forward", "pass"), ("backward", "pass_with_warning"), ("sgd_step", "fail")]


def test_the_rubric_decides_what_is_public(tmp_path):
    a = assignment.load("cifar10_fcnet")
    text = a.rubric_path.read_text()
    assert text.count("public = true") == 3
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(text.replace("[checks.backward]\npoints = 30\nvisibility = \"visible\"\npublic = true",
                                   "[checks.backward]\npoints = 30\nvisibility = \"visible\"\npublic = false"))
    sc = selfcheck.check(SAMPLE, rubric_path=rubric)
    assert sc.results["backward"] is None and sc.results["forward"] is not None
    assert "backward     not checked here" in selfcheck.render(sc, "hw.ipynb")


def test_a_check_needing_the_reference_cannot_be_public_without_a_definition(tmp_path):
    a = assignment.load("cifar10_fcnet")
    bare = dataclasses.replace(a, folder=tmp_path)
    with pytest.raises(ValueError, match="no definition.py"):
        bare.definition()


def test_the_command_prints_the_feedback_and_says_what_it_does_not_check(tmp_path):
    done = subprocess.run([sys.executable, "-m", "grader", "check", str(SAMPLE)], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert done.returncode == 1, done.stderr        # a public check fails
    out = done.stdout
    assert "sgd_step     FAIL, 0/20: SGD.step raised KeyError" in out
    assert "hyperparams  not checked here" in out and "end_to_end   not checked here" in out
    assert "Public checks: 48 of 70 points." in out
    done = subprocess.run([sys.executable, "-m", "grader", "check", str(tmp_path / "missing.ipynb")],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 2 and "nngrader check:" in done.stderr


def test_the_release_notebooks_last_cell_runs_the_self_check_unless_graded(tmp_path):
    """The optional cell, as a student runs it beside their saved notebook, and as the grader's
    kernel runs it (NNGRADER_GRADING is set in every sandbox): skipped there."""
    cell = nbformat.read(REPO / "assignments" / "cifar10_fcnet" / "release.ipynb", as_version=4).cells[-1].source
    assert 'NOTEBOOK = "cifar10_fcnet.ipynb"' in cell
    (tmp_path / "cifar10_fcnet.ipynb").write_bytes(SAMPLE.read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "NNGRADER_GRADING"}
    ran = subprocess.run([sys.executable, "-c", cell], cwd=tmp_path, capture_output=True, text=True, env=env,
                         timeout=300)
    assert "Self-check of cifar10_fcnet.ipynb" in ran.stdout and "Public checks: 48 of 70 points." in ran.stdout
    graded = subprocess.run([sys.executable, "-c", cell], cwd=tmp_path, capture_output=True, text=True,
                            env={**env, "NNGRADER_GRADING": "1"}, timeout=300)
    assert graded.stdout.strip() == "self-check skipped: this notebook is being graded"


def test_the_student_kit_holds_no_reference_or_data_and_checks_on_its_own(tmp_path):
    """The zip students install: the grader, the assignment's checks and definition, its rubric;
    run from the unpacked kit (not this repository), the self-check gives the same feedback."""
    kit = tmp_path / "kit.zip"
    done = subprocess.run([sys.executable, "-m", "grader", "student-kit", "--assignment", "cifar10_fcnet",
                           "--out", str(kit)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(kit) as z:
        names = z.namelist()
        z.extractall(tmp_path)
    root = "nngrader-check-cifar10_fcnet/"
    assert f"{root}assignments/cifar10_fcnet/definition.py" in names and f"{root}pyproject.toml" in names
    assert not [n for n in names if n.startswith((f"{root}reference/", f"{root}data/", f"{root}tests/"))]
    assert not [n for n in names if n.endswith(("calibration.json", "calibrate.py", "CALIBRATION.md"))]
    nnfs = tmp_path / "nnfs.zip"   # the hidden test set's seed stays with the reference
    subprocess.run([sys.executable, "-m", "grader", "student-kit", "--assignment", "nnfs_sgd_momentum", "--out",
                    str(nnfs)], check=True, capture_output=True, cwd=REPO, timeout=300)
    with zipfile.ZipFile(nnfs) as z:
        assert not any(b"TEST_SEED =" in z.read(n) for n in z.namelist() if n.endswith(".py"))
    shutil.copy(SAMPLE, tmp_path / "hw.ipynb")
    code = (f"import sys; sys.path.insert(0, {str(tmp_path / root)!r}); import grader; "
            f"assert grader.__file__.startswith({str(tmp_path)!r}), grader.__file__; "
            "from grader.cli import main; sys.exit(main(['check', 'hw.ipynb']))")
    ran = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 1, ran.stderr
    assert "Public checks: 48 of 70 points." in ran.stdout
