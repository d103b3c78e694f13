"""Shared fixtures: a private cache for the session, and helpers that grade code or notebooks."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "cifar10_fcnet" / "student_004.ipynb"   # the real sample (examples/README.md)
REFERENCE_NB = REPO / "reference" / "cifar10_fcnet.ipynb"
RELEASE_NB = REPO / "assignments" / "cifar10_fcnet" / "release.ipynb"


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    os.environ["NNGRADER_CACHE"] = str(cache)
    return cache


DEMO_CELL = 11   # the reference's first training: a demonstration, its model replaced in cell 15


def reference_cell(index: int) -> str:
    return nbformat.read(REFERENCE_NB, as_version=4).cells[index].source


def quick_reference() -> nbformat.NotebookNode:
    """The reference notebook with its demonstration training (cell 11: hidden_dim 200, 1000
    iterations, about 8 of its 14 s in a kernel) cut to 20 iterations. Nothing graded reads that
    model: the hyperparameter cell makes and trains its own, so every verdict and point is the
    reference's. For the tests that execute a correct notebook to test something else."""
    nb = nbformat.read(REFERENCE_NB, as_version=4)
    demo = nb.cells[DEMO_CELL].source
    assert demo.startswith("num_iters = 1000\n") and "FullyConnectedNet(" not in demo, "the reference's cells moved"
    nb.cells[DEMO_CELL].source = demo.replace("num_iters = 1000", "num_iters = 20", 1)
    return nb


def notebook_with(replacements: dict[int, str]) -> nbformat.NotebookNode:
    """quick_reference() with some cells' code replaced."""
    nb = quick_reference()
    for index, source in replacements.items():
        nb.cells[index].source = source
    return nb


@pytest.fixture(autouse=True)
def record_verdicts(request, monkeypatch):
    """With NNGRADER_RECORD_VERDICTS=file.jsonl, every check this process scores is appended to
    the file with the test that scored it: a restructuring of the checks is compared before and
    after with benchmarks/verdicts.py (verdicts and points must not change)."""
    path = os.environ.get("NNGRADER_RECORD_VERDICTS")
    if not path:
        yield
        return
    import json

    from grader import rubric

    score = rubric.score

    def recorded(check_id, title, verdict, table):
        result = score(check_id, title, verdict, table)
        line = {"test": request.node.nodeid, "check": check_id, "status": result.status,
                "points": result.points, "message": result.message}
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        return result

    monkeypatch.setattr(rubric, "score", recorded)
    yield
