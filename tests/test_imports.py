"""What a notebook may import in the grader's kernel, and what the report says when it imports
something else."""
from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest
from markupsafe import escape

from grader import assignment, cli, sandbox
from grader.imports import missing_modules


def test_a_missing_module_is_said_once_with_the_cells_it_took_down():
    errors = [{"cell": 2, "ename": "ModuleNotFoundError", "evalue": "No module named 'torchvision.models'"},
              {"cell": 3, "ename": "NameError", "evalue": "name 'models' is not defined"},
              {"cell": 4, "ename": "ModuleNotFoundError", "evalue": "No module named 'torchvision'"},
              {"cell": 5, "ename": "NameError", "evalue": "name 'net' is not defined"},
              {"cell": 7, "ename": "KeyError", "evalue": "'W1'"}]
    found = missing_modules(errors, ["numpy", "tqdm"])
    assert [(m["module"], m["cell"], m["later_failed"]) for m in found] == [("torchvision", 2, [3, 4, 5, 7])]
    assert found[0]["note"].startswith("your notebook imports torchvision (code cell 2), which the grader's "
                                       "kernel does not provide; code cells 3, 4, 5, 7 failed after it")
    assert "The kernel offers numpy, tqdm" in found[0]["note"]
    assert missing_modules([{"cell": 1, "ename": "KeyError", "evalue": "No module named 'x'"}], []) == []


@pytest.mark.parametrize("assignment_id", assignment.known())
def test_every_package_an_assignment_offers_imports_in_the_sandbox(assignment_id, tmp_path):
    offered = assignment.load(assignment_id).kernel_packages
    assert "numpy" in offered and "tqdm" in offered
    box = sandbox.choose("auto")[0]
    code = "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]; print('ok')"
    argv = box.command([sys.executable, "-c", code, *offered], sandbox.Limits(4096, 120), sandbox.View(), tmp_path)
    done = subprocess.run(argv, env=box.env(tmp_path, 1), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


@pytest.mark.slow
def test_a_notebook_with_tqdm_runs_and_an_unknown_import_is_named_in_the_report(tmp_path):
    cells = ["from tqdm.auto import tqdm\nimport pandas as pd\ntotal = sum(i for i in tqdm(range(1000)))",
             "import nosuchmodule_for_the_test as nm", "nm.train()", "class Layer_Dense: pass"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    (tmp_path / "subs").mkdir()
    nbformat.write(nb, tmp_path / "subs" / "ann.ipynb")
    assert cli.main(["grade", str(tmp_path / "subs"), "--assignment", "nnfs_sgd_momentum",
                     "--out", str(tmp_path / "out"), "-j", "1"]) == 0
    result = json.loads((tmp_path / "out" / "ann" / "result.json").read_text())
    assert [e["cell"] for e in result["execution"]["errors"]] == [1, 2]    # tqdm and pandas imported fine
    [missing] = result["execution"]["missing_modules"]
    assert missing["module"] == "nosuchmodule_for_the_test" and missing["later_failed"] == [2]
    assert str(escape(missing["note"])) in (tmp_path / "out" / "ann" / "report.html").read_text()
