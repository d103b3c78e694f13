"""Reading a submitted notebook costs about its size, whatever it holds: saved outputs are dropped
while parsing, and what cannot be read gets a clear message (never a grader error)."""
from __future__ import annotations

import json
import subprocess
import sys

from grader import notebook

from conftest import REFERENCE_NB, REPO
from test_hostile_kernel import saved_outputs


def test_a_notebook_of_1_5_million_saved_outputs_is_read_cheaply(tmp_path):
    """70 s and 1.9 GB before; measured in a fresh process (2.7 s and 190 MB on the lead's machine).
    Its peak is VmHWM, of its own address space: ru_maxrss survives exec on Linux, so a child of a
    large pytest process would report the parent's peak."""
    path = tmp_path / "outputs.ipynb"
    path.write_text(json.dumps(saved_outputs(1_500_000), separators=(",", ":")))
    assert path.stat().st_size < 100 << 20   # within the rubric's notebook_mb: it is read
    script = ("import resource, sys, time\nfrom pathlib import Path\nfrom grader import notebook\n"
              "t = time.monotonic()\nloaded = notebook.load_file(Path(sys.argv[1]), 100)\n"
              "outputs = sum(len(c.get('outputs', [])) for c in loaded.notebook.cells)\n"
              "hwm = next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM:'))\n"
              "print(time.monotonic() - t, hwm // 1024, outputs, "
              "len(loaded.notebook.cells), repr(loaded.problem))")
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, cwd=REPO,
                          timeout=300, check=True)
    seconds, peak_mb, outputs, cells, problem = done.stdout.split()
    assert (outputs, cells, problem) == ("0", "16", "''")
    assert float(seconds) < 30 and int(peak_mb) < 600, done.stdout


def test_a_cell_whose_source_is_not_text_is_left_out():
    raw = json.loads(REFERENCE_NB.read_text())
    raw["cells"][3]["source"] = 5
    raw["cells"][6]["source"] = ["x = 1\n", 2]
    loaded = notebook.load(json.dumps(raw).encode())
    assert loaded.problem == ""
    assert loaded.note == ("cell 3's source is not text (a int): it was left out; cell 6's source is not text (a list "
                           "of non-text items): it was left out")
    assert loaded.notebook.cells[3].source == "" and loaded.notebook.cells[1].source.startswith("# load libraries")


def test_saved_execution_counts_are_dropped():
    raw = json.loads(REFERENCE_NB.read_text())
    raw["cells"][1]["execution_count"] = 7
    assert notebook.load(json.dumps(raw).encode()).notebook.cells[1].execution_count is None


def test_what_cannot_be_read_says_why():
    cases = {b'{"cells": 5}': "not a notebook: its cells are not a list of cells",
             b"[" * 100_000 + b"]" * 100_000: "not a readable notebook: its JSON is nested too deeply",
             b'{"cells": [], "n": ' + b"9" * 5000 + b"}": "not a readable notebook: ValueError: Exceeds the limit",
             json.dumps({"cells": [{"cell_type": "code", "source": ""}] * 5001}).encode():
                 "the notebook has 5,001 cells, over the limit of 5,000"}
    for data, said in cases.items():
        assert notebook.load(data).problem.startswith(said)
