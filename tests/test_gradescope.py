"""The Gradescope autograder, run as Gradescope runs it: `make gradescope`'s zip unpacked into a
fake /autograder (a folder of /tmp that other users may enter, as /autograder is), a submission,
and run_autograder started as a subprocess, as root. results.json is held to Gradescope's
specification; student code, in the fallback without namespaces, must run as an unprivileged uid
that can read neither the grader's source, the hidden labels nor the platform's files, and cannot
write the results."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader import datasets, gradescope

from conftest import SAMPLE, reference_cell

# https://gradescope-autograders.readthedocs.io/en/latest/specs/
OUTPUT_FORMATS = ("text", "html", "simple_format", "md", "ansi")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="Gradescope runs its autograder as root")


@pytest.fixture(scope="module")
def zipped(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("zip") / "autograder.zip"
    gradescope.build_zip("cifar10_fcnet", None, out)
    return out


@pytest.fixture
def root(zipped):
    """/autograder as Gradescope lays it out before run_autograder: the zip in source/, an empty
    submission/ and results/, and the submission's metadata."""
    where = Path(tempfile.mkdtemp(prefix="autograder-"))
    where.chmod(0o755)
    with zipfile.ZipFile(zipped) as z:
        z.extractall(where / "source")
        for info in z.infolist():   # zipfile does not restore modes; Gradescope's unzip does
            if info.external_attr >> 16:
                (where / "source" / info.filename).chmod(info.external_attr >> 16)
    for name in ("submission", "results"):
        (where / name).mkdir(mode=0o755)
    (where / "submission_metadata.json").write_text(json.dumps({"previous_submissions": []}))
    (where / "submission_metadata.json").chmod(0o644)
    yield where
    shutil.rmtree(where)


def run_autograder(root: Path, python: str = sys.executable, sandbox: str = "auto") -> dict:
    env = {"PATH": os.environ["PATH"], "AUTOGRADER_ROOT": str(root), "NNGRADER_PYTHON": python,
           "NNGRADER_SANDBOX": sandbox}
    done = subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=env, capture_output=True,
                          text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text())


def assert_specification(results: dict) -> None:
    assert isinstance(results["score"], (int, float)) and isinstance(results["execution_time"], int)
    assert isinstance(results["output"], str) and results["output_format"] in OUTPUT_FORMATS
    for test in results["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in ("passed", "failed")
        assert isinstance(test["output"], str) and test["output_format"] in OUTPUT_FORMATS
        assert test["visibility"] in VISIBILITIES


@pytest.mark.slow
def test_the_real_sample_as_gradescope_runs_it(root):
    rubric = root / "source" / "rubrics" / "cifar10_fcnet.toml"
    text = rubric.read_text()
    rubric.write_text(text.replace('[checks.sgd_step]\npoints = 20\nvisibility = "visible"',
                                   '[checks.sgd_step]\npoints = 20\nvisibility = "after_due_date"'))
    shutil.copy(SAMPLE, root / "submission" / "HW 2 (final).ipynb")
    results = run_autograder(root)
    assert_specification(results)
    by_name = {t["name"].split()[0]: t for t in results["tests"]}
    assert results["score"] == 48 == sum(t["score"] for t in results["tests"])   # examples/README.md
    assert [t["status"] for t in results["tests"]] == ["passed", "passed", "failed", "failed", "failed"]
    assert by_name["SGD.step"]["visibility"] == "after_due_date" and by_name["FullyConnectedNet.forward"]["visibility"] == "visible"
    assert "KeyError" in by_name["SGD.step"]["output"] and "shown later" in results["output"]
    # the student's feedback: their own code and output, never the reference's
    assert "your <code>FullyConnectedNet</code>" in by_name["FullyConnectedNet.forward"]["output"]
    assert not any("<th>expected</th>" in t["output"] for t in results["tests"])
    assert "code cell 11: KeyError" in results["output"]


def test_no_notebook_or_several_is_a_clear_message(root):
    (root / "submission" / "notes.txt").write_text("my answers are in the pdf")
    results = run_autograder(root)
    assert_specification(results)
    assert results["score"] == 0 and results["tests"] == []
    assert "No notebook (.ipynb file)" in results["output"] and "notes.txt" in results["output"]
    for name in ("a.ipynb", "b.ipynb"):
        shutil.copy(SAMPLE, root / "submission" / name)
    results = run_autograder(root)
    assert "holds 2 notebooks (a.ipynb, b.ipynb)" in results["output"] and results["score"] == 0


@pytest.fixture(scope="module")
def world_readable_python(tmp_path_factory):
    """A venv of the system's Python 3.11 sharing this run's packages, outside /root: where
    setup.sh puts it on Gradescope (this machine's own Python lives under /root, which no other
    user may enter, so an unprivileged uid could not start it)."""
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.is_file():
        pytest.skip(f"no {system} to build a venv other users can read")
    where = Path(tempfile.mkdtemp(prefix="nngrader-venv-"))
    where.chmod(0o755)
    subprocess.run([str(system), "-m", "venv", "--without-pip", str(where / "venv")], check=True)
    site = where / "venv" / "lib" / system.name / "site-packages"
    site.rmdir()
    site.symlink_to(next(p for p in map(Path, sys.path) if p.name == "site-packages" and p.is_dir()))
    yield str(where / "venv" / "bin" / "python")
    shutil.rmtree(where)


def hostile_notebook(root: Path) -> nbformat.NotebookNode:
    """The reference's classes (so that probes run, as the uid), then attempts at everything the
    uid must not do: each cell raises LEAKED if its attempt works. The last cell always raises,
    telling the uid the notebook ran as."""
    hidden = datasets.for_assignment("cifar10", None).hidden_dir.relative_to(datasets.cache_root())
    attempts = {
        "read the reference": f"open('{root}/source/reference/cifar10_fcnet.py').read()",
        "read the rubric": f"open('{root}/source/rubrics/cifar10_fcnet.toml').read()",
        "list the source": f"os.listdir('{root}/source')",
        "read the checks": f"open('{root}/source/assignments/cifar10_fcnet/checks.py').read()",
        "read the hidden labels": f"open('{root}/nngrader-cache/{hidden}/y_test.npy', 'rb').read()",
        "write the results": f"open('{root}/results/results.json', 'w').write('{{\"score\": 100}}')",
        "add a result file": f"open('{root}/results/evil.json', 'w').write('{{}}')",
        "read the submission metadata": f"open('{root}/submission_metadata.json').read()",
        "plant code in the kernel hook": f"open('{root}/source/grader/kernel_site/evil.py', 'w').write('')",
        "signal the grader": "os.kill(os.getppid(), 0)",
    }
    cells = ["import numpy as np", reference_cell(3), reference_cell(4), reference_cell(6),
             "import os\n(x_train, y_train), (x_test, y_test) = __import__('tensorflow').keras.datasets.cifar10.load_data()\n"
             "assert len(x_train) > 0   # the public data set stays readable"]
    for what, code in attempts.items():
        cells.append(f"import os\ntry:\n    {code}\nexcept OSError:\n    pass\nelse:\n    raise RuntimeError('LEAKED: {what}')")
    # a process that leaves its session: no pid namespace ends it with the kernel
    cells.append("import subprocess\nsubprocess.Popen(['sleep', '3141'], start_new_session=True)")
    cells.append("import os\nraise RuntimeError(f'RAN AS UID {os.getuid()}')")
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])


def leftovers(cmdline: str) -> list[int]:
    """Processes of this machine running exactly `cmdline` (NUL-separated, as /proc has it)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_text() == cmdline:
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_without_namespaces_student_code_runs_as_a_uid_that_reaches_nothing_of_the_grader(root, world_readable_python):
    nbformat.write(hostile_notebook(root), root / "submission" / "hw.ipynb")
    results = run_autograder(root, python=world_readable_python, sandbox="none")
    assert_specification(results)
    errors = re.findall(r"<p>code cell \d+: (\w+): (.*?)</p>", results["output"])
    assert len(errors) == 1, errors   # every attempt failed, the data loaded: only the last cell raised
    assert errors[0][0] == "RuntimeError" and errors[0][1].startswith("RAN AS UID ")
    assert errors[0][1] != "RAN AS UID 0" and "LEAKED" not in results["output"]
    assert not (root / "results" / "evil.json").exists() and not (root / "source" / "grader" / "kernel_site" / "evil.py").exists()
    assert leftovers("sleep\x003141\x00") == [], "a student process outlived the grading"
    assert (root / "results" / "results.json").stat().st_mode & 0o777 == 0o644   # the platform may read as anyone
    statuses = {t["name"].split()[0]: t["status"] for t in results["tests"]}
    assert statuses["FullyConnectedNet.forward"] == statuses["FullyConnectedNet.backward"] == "passed"
    assert statuses["SGD.step"] == "passed"   # the probes ran as the uid, on the reference's classes
