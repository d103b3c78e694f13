"""The PrairieLearn external grader, run as PrairieLearn runs it: a fake /grade tree (student/,
the example question's tests/, results/), the grader started as root from a copy of the
repository (as the image holds it at /nngrader), and results.json held to PrairieLearn's format."""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, SAMPLE

QUESTION = REPO / "platforms" / "prairielearn" / "question"
# what the Dockerfile copies into the image's /nngrader: the test's copy follows it
DOCKERFILE = REPO / "platforms" / "prairielearn" / "Dockerfile"
IMAGE_PARTS = tuple(line.split()[1] for line in DOCKERFILE.read_text().splitlines()
                    if line.startswith("COPY ") and line.split()[2].startswith("/nngrader/"))
pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="PrairieLearn runs its grader as root")


@pytest.fixture
def grade_tree():
    """(the image's /nngrader, /grade): the grader locks its own source down, so it gets a copy."""
    image, grade = Path(tempfile.mkdtemp(prefix="nngrader-image-")), Path(tempfile.mkdtemp(prefix="grade-"))
    for folder in (image, grade):
        folder.chmod(0o755)
    for name in IMAGE_PARTS:
        source = REPO / name
        (image / name).parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, image / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, image / name)
    shutil.copytree(QUESTION / "tests", grade / "tests")
    for name in ("student", "results", "data"):
        (grade / name).mkdir()
    (grade / "data" / "data.json").write_text(json.dumps({"params": {}, "correct_answers": {}}))
    yield image, grade
    shutil.rmtree(image)
    shutil.rmtree(grade)


def run_grader(image: Path, grade: Path) -> dict:
    env = {"PATH": os.environ["PATH"], "NNGRADER_CACHE": str(image / "cache")}
    done = subprocess.run([sys.executable, "-m", "grader", "prairielearn", "--root", str(grade)], cwd=image,
                          env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((grade / "results" / "results.json").read_text())


def assert_format(results: dict) -> None:
    assert isinstance(results["gradable"], bool) and isinstance(results["message"], str)
    assert isinstance(results["score"], (int, float)) and 0 <= results["score"] <= 1
    for test in results["tests"]:
        assert isinstance(test["name"], str) and isinstance(test["message"], str) and isinstance(test["output"], str)
        assert isinstance(test["points"], (int, float)) and 0 <= test["points"] <= test["max_points"]
        for image in test.get("images", []):
            assert isinstance(image["label"], str) and image["url"].startswith("data:image/png;base64,")


def test_the_example_question_is_external_graded_by_this_image():
    info = json.loads((QUESTION / "info.json").read_text())
    options = info["externalGradingOptions"]
    assert info["gradingMethod"] == "External" and options["enabled"] is True
    assert options["entrypoint"] == "/nngrader/platforms/prairielearn/run.sh"
    assert (REPO / "platforms" / "prairielearn" / "run.sh").stat().st_mode & 0o111
    assert "<pl-file-upload" in (QUESTION / "question.html").read_text()


@pytest.mark.slow
def test_the_real_sample(grade_tree):
    image, grade = grade_tree
    shutil.copy(SAMPLE, grade / "student" / "hw.ipynb")
    results = run_grader(image, grade)
    assert_format(results)
    assert results["gradable"] is True and abs(results["score"] - 48 / 90) < 1e-3   # examples/README.md
    tests = {t["description"]: t for t in results["tests"]}
    assert [tests[k]["points"] for k in ("forward", "backward", "sgd_step", "hyperparams")] == [20, 28, 0, 0]
    assert "KeyError" in tests["sgd_step"]["message"] + tests["sgd_step"]["output"]
    curve = tests["hyperparams"]["images"][0]
    assert base64.b64decode(curve["url"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "code cell 11: KeyError" in results["output"]


def test_a_file_that_is_not_a_notebook_is_not_gradable(grade_tree):
    image, grade = grade_tree
    (grade / "student" / "hw.ipynb").write_text("print('I wrote a script, not a notebook')\n")
    results = run_grader(image, grade)
    assert_format(results)
    assert results["gradable"] is False and results["format_errors"]
    assert "not a notebook" in results["message"] and results["tests"] == []
    (grade / "student" / "hw.ipynb").unlink()
    (grade / "student" / "hw.py").write_text("x = 1\n")
    results = run_grader(image, grade)
    assert results["gradable"] is False and "hw.py" in results["format_errors"][0]
