"""The interface between the grader and an assignment: checks.py's CHECKS table, held to
assignment.toml."""
from __future__ import annotations

import dataclasses
import shutil

import pytest

from grader import assignment
from grader.check import Check


@pytest.mark.parametrize("assignment_id", assignment.known())
def test_every_check_of_assignment_toml_is_implemented(assignment_id):
    a = assignment.load(assignment_id)
    table = a.implementations()
    assert {c.id for c in a.checks} <= set(table)
    assert all(table[c.id].inputs is not None for c in a.checks if c.probe)


def test_a_check_without_an_implementation_or_inputs_is_refused(tmp_path):
    a = assignment.load("nnfs_sgd_momentum")
    folder = tmp_path / "copy"
    shutil.copytree(a.folder, folder)
    checks = folder / "checks.py"
    checks.write_text(checks.read_text().replace('    "relu_backward": Check(compare_relu_backward, inputs_relu_backward),\n',
                                                 ""))
    broken = dataclasses.replace(a, id="nnfs_missing", folder=folder)
    with pytest.raises(ValueError, match="no Check for 'relu_backward'"):
        broken.implementations()
    own = next(c for c in a.checks if c.probe and not c.kind)   # one of checks.py's own, with a probe
    checks.write_text(a.folder.joinpath("checks.py").read_text() +
                      f"\nCHECKS[{own.id!r}] = Check(CHECKS[{own.id!r}].judge)\n")
    with pytest.raises(ValueError, match=f"'{own.id}' runs the probe '{own.probe}' but has no inputs"):
        dataclasses.replace(a, id="nnfs_no_inputs", folder=folder).implementations()
    assert isinstance(a.implementations()[own.id], Check)
