"""A real batch: notebooks executed in kernels, bad inputs among them, graded in parallel."""
import csv
import json
import shutil

import nbformat
import pytest

from grader import cli

from conftest import RELEASE_NB, REPO, SAMPLE, notebook_with, quick_reference

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("batch")
    subs = tmp / "subs"
    subs.mkdir()
    shutil.copy(SAMPLE, subs / "student_004.ipynb")
    nbformat.write(quick_reference(), subs / "reference.ipynb")
    shutil.copy(RELEASE_NB, subs / "release.ipynb")
    (subs / "not_json.ipynb").write_text("this is a Word document, honest")
    (subs / "empty.ipynb").write_bytes(b"")
    (subs / "notes.txt").write_text("not a notebook at all")
    (subs / "v3.ipynb").write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [
        {"cells": [{"cell_type": "code", "input": "print('hi')", "outputs": [], "language": "python"}]}]}))
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# only words")]),
                   subs / "no_code.ipynb")
    ref = quick_reference()
    forever = notebook_with({})
    forever.cells.insert(2, nbformat.v4.new_code_cell("while True:\n    pass"))
    nbformat.write(forever, subs / "forever.ipynb")
    exits = notebook_with({15: "import os\nos._exit(3)\n" + ref.cells[15].source})
    nbformat.write(exits, subs / "exits.ipynb")
    hog = notebook_with({})
    hog.cells.insert(2, nbformat.v4.new_code_cell("import numpy as np\nbig = np.ones(10**12)"))
    nbformat.write(hog, subs / "hog.ipynb")
    rubric = (REPO / "rubrics" / "cifar10_fcnet.toml").read_text()
    rubric = rubric.replace("cell_timeout_s = 600", "cell_timeout_s = 20")
    (tmp / "rubric.toml").write_text(rubric)
    out = tmp / "out"
    argv = ["grade", str(subs), "--out", str(out), "--rubric", str(tmp / "rubric.toml"), "-j", "2"]
    assert cli.main(argv) == 0
    results = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/result.json")}
    return out, results, argv


def checks(result):
    return {c["id"]: (c["status"], c["points"]) for c in result["checks"]}


def test_every_notebook_gets_a_result_and_the_rest_is_listed(batch):
    out, results, _ = batch
    assert set(results) == {"student_004", "reference", "release", "not_json", "empty", "v3", "no_code",
                            "forever", "exits", "hog"}
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert [r["student"] for r in rows] == sorted(results)
    assert "notes.txt" in (out / "index.html").read_text()
    for student in results:
        assert (out / student / "report.html").is_file()


def test_result_schema(batch):
    _, results, _ = batch
    r = results["reference"]
    for key in ("student", "submission", "dataset", "total", "max_total", "checks", "execution", "hyperparams"):
        assert key in r
    assert r["dataset"]["name"] == "cifar10-subset"
    assert r["dataset"]["source"] == str(REPO / "data" / "cifar10_subset.npz")
    assert set(r["checks"][0]) >= {"id", "status", "points", "max_points", "message"}


def test_the_real_sample(batch):
    _, results, _ = batch
    r = results["student_004"]
    assert checks(r) == {"forward": ("pass", 20), "backward": ("pass_with_warning", 28),
                         "sgd_step": ("fail", 0), "hyperparams": ("fail", 0), "end_to_end": ("fail", 0)}
    assert "KeyError: '1'" in [c for c in r["checks"] if c["id"] == "sgd_step"][0]["message"]
    assert r["hyperparams"]["values"]["beta"] == 10 and r["hyperparams"]["source"] == "kernel"
    assert r["total"] == 48


def test_reference_full_marks_and_release_nothing(batch):
    out, results, _ = batch
    executed = nbformat.read(out / "reference" / "executed.ipynb", as_version=4)
    assert [c.source for c in executed.cells] == [c.source for c in quick_reference().cells]
    assert "NNGRADER-CAPTURE" not in json.dumps(executed)   # the grader's own cells leave no trace
    assert results["reference"]["total"] == results["reference"]["max_total"] == 90
    assert results["reference"]["execution"]["status"] == "ok"
    assert results["release"]["total"] == 0


def test_files_that_are_not_notebooks(batch):
    _, results, _ = batch
    assert "not valid JSON" in results["not_json"]["execution"]["message"]
    assert "empty" in results["empty"]["execution"]["message"]
    for student in ("not_json", "empty"):
        assert results[student]["total"] == 0
        assert all(c["status"] == "fail" and "not graded" in c["message"] for c in results[student]["checks"])
    assert "nbformat 3" in results["v3"]["notebook"]["note"]
    assert results["v3"]["total"] == 0 and "not defined" in results["v3"]["checks"][0]["message"]
    assert "no code" in results["no_code"]["notebook"]["note"]


def test_a_cell_that_never_ends_is_stopped_and_later_cells_run(batch):
    _, results, _ = batch
    r = results["forever"]
    assert r["execution"]["status"] == "timeout"
    assert "code cell 2 was stopped at its time limit (20 s)" in r["execution"]["message"]
    assert r["hyperparams"]["source"] == "kernel"      # the cells after it ran
    assert r["total"] == 90


def test_a_kernel_that_exits_is_explained_and_the_source_still_graded(batch):
    _, results, _ = batch
    r = results["exits"]
    assert r["execution"]["status"] == "kernel_died"
    assert "exited with code 3" in r["execution"]["message"]
    assert "while running code cell 15;" in r["execution"]["message"]
    assert r["hyperparams"]["source"] == "source"
    assert checks(r)["hyperparams"] == ("pass", 20) and r["total"] == 90


def test_a_huge_allocation_fails_in_its_cell_only(batch):
    _, results, _ = batch
    r = results["hog"]
    assert [e["ename"] for e in r["execution"]["errors"]] == ["MemoryError"]
    assert r["total"] == 90


def test_rerun_with_nothing_changed_regrades_nothing(batch, capsys):
    out, results, argv = batch
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("(cached)") == len(results)
    again = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/result.json")}
    assert again == results


def test_without_bwrap_it_still_grades_says_so_and_survives_a_killed_worker(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(quick_reference(), subs / "reference.ipynb")
    # without a pid namespace the kernel's parent is the grading worker, and it can kill it
    killer = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")])
    nbformat.write(killer, subs / "kills_the_grader.ipynb")
    out = tmp_path / "out"
    assert cli.main(["grade", str(subs), "--out", str(out), "--sandbox", "none", "-j", "2"]) == 1
    assert "rlimits only (--sandbox none)" in capsys.readouterr().err
    r = json.loads((out / "reference" / "result.json").read_text())
    assert (r["isolation"], r["execution"]["status"], r["total"]) == ("rlimits", "ok", 90)
    k = json.loads((out / "kills_the_grader" / "result.json").read_text())
    assert k["grader_error"] == "the grading worker died twice on this submission" and k["total"] == 0
    assert k["execution"]["message"].startswith("the grading worker died while grading this submission")
    assert "not in a bubblewrap sandbox" in (out / "index.html").read_text()
