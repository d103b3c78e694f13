"""Grade code without a kernel: extraction, probes and checks only (fast)."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat

from grader import assignment, datasets, extract, notebook, pipeline, rubric, sandbox
from grader.check import Hyperparams

from conftest import reference_cell

NET_CELL, LOSS_CELL, SGD_CELL = 3, 4, 6


def grade_cells(cells: list[str], hp: dict | None = None, tmp: Path | None = None,
                assignment_id: str = "cifar10_fcnet", kernel: dict | None = None) -> dict:
    """id -> CheckResult for a notebook made of these code cells, graded without executing it.
    Hyperparameters are `hp` as if read from the kernel, or, for an assignment that reads its
    settings from a call, what the cells' code says; `kernel` is what a kernel probe found."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    a = assignment.load(assignment_id)
    ds = datasets.for_assignment(a.dataset_kind, None)
    cache = Path(os.environ["NNGRADER_CACHE"])
    job = pipeline.Job(assignment_id, None, None, tmp or cache / "out", cache, threads=1,
                       box=sandbox.choose("auto")[0])
    if a.settings_call:
        hparams = pipeline._hyperparams(nb, a, None, None)
    else:
        hparams = Hyperparams(hp or {}, "kernel" if hp else "none", "given by the test")
    timing = {"execute": 0.0, "checks": 0.0, "train": 0.0}
    extraction = extract.extract(nb, a.names, a.aliases)
    verdicts = pipeline.run_checks(a, ds, job, notebook.Loaded(nb), extraction, hparams, timing, kernel)
    return {c.id: rubric.score(c.id, c.title, verdicts[c.id], a.check_rubric(c.id)) for c in a.checks}


def with_net(forward: str | None = None, backward: str | None = None, sgd: str | None = None) -> list[str]:
    """The reference's cells, with the forward/backward answer blocks or the SGD cell replaced."""
    net = reference_cell(NET_CELL)
    if forward is not None:
        start = net.index("    W1, b1 = self.params['W1']")
        end = net.index("    #################################End of your code")
        net = net[:start] + forward + "\n" + net[end:]
    if backward is not None:
        start = net.index("    x, z1, h1 = cache")
        end = net.index("    ##################################End of your code")
        net = net[:start] + backward + "\n" + net[end:]
    sgd_cell = reference_cell(SGD_CELL)
    if sgd is not None:
        start = sgd_cell.index("    for name in self.params:")
        end = sgd_cell.index("    ###################################End of your code")
        sgd_cell = sgd_cell[:start] + sgd + "\n" + sgd_cell[end:]
    return ["import numpy as np", net, reference_cell(LOSS_CELL), sgd_cell]
