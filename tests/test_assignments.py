"""The interface between the grader and an assignment: checks.py's CHECKS table, held to
assignment.toml."""
from __future__ import annotations

import copy
import dataclasses
import re
import shutil

import pytest

from grader import assignment
from grader.check import Check
from grader.errors import SetupError


@pytest.mark.parametrize("assignment_id", assignment.known())
def test_every_check_of_assignment_toml_is_implemented(assignment_id):
    a = assignment.load(assignment_id)
    table = a.implementations()
    assert {c.id for c in a.checks} <= set(table)
    assert all(table[c.id].inputs is not None for c in a.checks if c.probe)


def test_a_check_without_an_implementation_or_inputs_is_refused(tmp_path):
    """A check that is no kind is checks.py's own, in its CHECKS table, with inputs when it runs a probe."""
    a = assignment.load("nnfs_sgd_momentum")
    own = assignment.CheckSpec("own_check", "An assignment's own check", ("Layer_Dense",), "own_probe")
    folder = tmp_path / "copy"
    shutil.copytree(a.folder, folder)
    with_own = dataclasses.replace(a, id="nnfs_own", folder=folder, checks=[*a.checks, own])
    checks = folder / "checks.py"
    source = checks.read_text()
    with pytest.raises(ValueError, match="no Check for 'own_check'"):
        with_own.implementations()
    checks.write_text(source + "\nfrom grader.check import Check\nCHECKS = {'own_check': Check(lambda ctx, i, o: None)}\n")
    with pytest.raises(ValueError, match="'own_check' runs the probe 'own_probe' but has no inputs"):
        dataclasses.replace(with_own, id="nnfs_no_inputs").implementations()
    checks.write_text(source + "\nfrom grader.check import Check\n"
                               "CHECKS = {'own_check': Check(lambda ctx, i, o: None, lambda ctx: {})}\n")
    assert isinstance(dataclasses.replace(with_own, id="nnfs_with_inputs").implementations()["own_check"], Check)


def test_a_run_that_cannot_start_says_why_without_a_traceback(tmp_path, capsys):
    """Library modules raise SetupError (grader/errors.py); the command line prints it and exits 2."""
    from grader import cli
    folder = tmp_path / "subs"
    folder.mkdir()
    code = cli.main(["grade", str(folder), "--assignment", "no_such_homework", "--out", str(tmp_path / "out"),
                     "--sandbox", "none"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown assignment 'no_such_homework' (known: " in err and "Traceback" not in err
    with pytest.raises(SetupError, match="unknown assignment"):
        assignment.load("no_such_homework")


def test_each_assignment_installs_what_its_notebooks_import_and_no_more():
    """pyproject.toml's extras are named for assignments; a Gradescope zip installs only its own."""
    from grader import gradescope
    from grader.assignment import tomllib   # tomli on Python 3.10
    from conftest import REPO
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras) - {"test"} <= set(assignment.known())
    assert any(r.startswith("tensorflow") for r in gradescope.requirements("cifar10_fcnet"))
    assert any(r.startswith("nnfs") for r in gradescope.requirements("nnfs_sgd_momentum"))
    assert not any(r.startswith(("tensorflow", "nnfs")) for r in gradescope.requirements("cs231n_layers"))
    assert "numpy>=1.26" in gradescope.requirements("cs231n_layers")


@pytest.mark.parametrize("change, says", [
    (lambda spec: spec.pop("settings"), "its table needs settings"),
    (lambda spec: spec["settings"].update(momentum="postive"), "unknown setting kind(s) 'postive'"),
])
def test_a_training_check_without_readable_settings_is_refused_when_loading(change, says):
    a = assignment.load("nnfs_sgd_momentum")
    spec = next(c for c in a.checks if c.id == "training")
    table = copy.deepcopy(spec.table)
    change(table)
    broken = dataclasses.replace(a, id="nnfs_bad_settings", checks=[dataclasses.replace(spec, table=table)])
    with pytest.raises(ValueError, match=re.escape(says)):
        broken.implementations()


@pytest.mark.parametrize("change", [lambda t: t.pop("class"), lambda t: t.pop("output"), lambda t: t.update(cache=True)])
def test_a_loss_layer_it_cannot_run_is_refused_when_loading(change):
    a = assignment.load("nnfs_sgd_momentum")
    spec = next(c for c in a.checks if c.id == "softmax_ce_backward")
    table = copy.deepcopy(spec.table)
    change(table)
    broken = dataclasses.replace(a, id="nnfs_bad_loss", checks=[dataclasses.replace(spec, table=table)])
    with pytest.raises(ValueError, match="a loss layer"):
        broken.implementations()
