"""The TA's loop on a real Canvas download: intake with a roster, late policy, exports, the
dashboard in a real browser, then re-scoring, re-judging, overrides and regrading, each
redoing no more than it must."""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader import cli

from conftest import REPO, SAMPLE, quick_reference

pytestmark = pytest.mark.slow
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("course")
    with zipfile.ZipFile(tmp / "submissions.zip", "w") as z:
        for name, source, when in (("leeann_101_5001_hw2.ipynb", nbformat.writes(quick_reference()).encode(), (2026, 11, 20, 18, 0, 0)),
                                   ("parkkim_LATE_102_5002_hw2.ipynb", SAMPLE.read_bytes(), (2026, 11, 22, 20, 0, 0))):
            z.writestr(zipfile.ZipInfo(name, when), source)
    (tmp / "roster.csv").write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section\n"
        '"Lee, Ann",101,S-101,alee,A\n"Park, Kim",102,S-102,kpark,B\n"Ng, Amy",103,S-103,amyng,A\n')
    rubric = (REPO / "rubrics" / "cifar10_fcnet.toml").read_text().replace("cell_timeout_s = 600", "cell_timeout_s = 60")
    rubric += ('\n[late]\ndue = "2026-11-20T23:59:00"\ngrace_hours = 1\nper_day_percent = 10\nmax_percent = 30\n'
               '\n[export]\ntitle = "HW2 two-layer net"\ncanvas_assignment_id = 5566\n')
    (tmp / "rubric.toml").write_text(rubric)
    out = tmp / "out"
    argv = ["grade", str(tmp / "submissions.zip"), "--roster", str(tmp / "roster.csv"), "--rubric",
            str(tmp / "rubric.toml"), "--out", str(out), "-j", "2", "--feedback"]
    assert cli.main(argv) == 0
    return tmp, out, argv


def results(out: Path) -> dict:
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/result.json")}


def mtimes(out: Path, name: str) -> dict:
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob(f"*/{name}")}


def test_intake_roster_and_late_policy(course):
    _, out, _ = course
    r = results(out)
    assert set(r) == {"101", "102"}
    assert r["101"]["student_info"]["name"] == "Lee, Ann" and r["101"]["total"] == 90
    late = r["102"]["late"]
    assert late["days"] == 2 and late["deduction"] == 18.0     # 2 days after due + grace, 10% of 90 a day
    assert r["102"]["auto_total"] == r["102"]["total"] == 48 - 18
    assert "Ng, Amy" in (out / "index.html").read_text()         # on the roster, no submission


def test_exports_for_each_lms(course):
    _, out, _ = course
    canvas = list(csv.reader(io.StringIO((out / "canvas.csv").read_text(), newline="")))
    assert canvas[0][-1] == "HW2 two-layer net (5566)" and canvas[1][-1] == "90.0"
    assert {row[0]: row[-1] for row in canvas[2:]} == {"Lee, Ann": "90.0", "Park, Kim": "30.0", "Ng, Amy": ""}
    moodle = list(csv.DictReader(io.StringIO((out / "moodle.csv").read_text(), newline="")))
    assert {row["Full name"]: row["Grade"] for row in moodle} == {"Lee, Ann": "90.0", "Park, Kim": "30.0", "Ng, Amy": ""}
    blackboard = (out / "blackboard.csv").read_text().splitlines()
    assert blackboard[0] == '"Last Name","First Name","Username","HW2 two-layer net"'
    assert '"Park","Kim","kpark","30.0"' in blackboard


def test_student_reports_for_the_ta_and_for_the_student(course):
    _, out, _ = course
    ta, student = (out / "102" / "report.html").read_text(), (out / "102" / "feedback.html").read_text()
    for page in (ta, student):
        assert "Park, Kim" in page and "Late policy: 2 day(s) late" in page and "KeyError" in page
        assert "<svg" in page                                          # the training curve
    assert "isolation bwrap" in ta or "isolation rlimits" in ta
    assert "isolation" not in student


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_the_dashboard_in_a_real_browser(course, tmp_path):
    _, out, _ = course
    ARTIFACTS.mkdir(exist_ok=True)
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    url = (out / "index.html").resolve().as_uri()
    dom = subprocess.run([*flags, "--dump-dom", url + "#sort=total"], capture_output=True, text=True, timeout=120).stdout
    assert 'data-sorted="total"' in dom                                   # the script ran and sorted
    assert re.findall(r'<tr data-student="(\d+)"', dom) == ["102", "101"]  # 30 before 90
    dom = subprocess.run([*flags, "--dump-dom", url + "#sort=total-desc"], capture_output=True, text=True,
                         timeout=120).stdout
    assert re.findall(r'<tr data-student="(\d+)"', dom) == ["101", "102"]
    assert 'id="histogram"' in dom and "sgd_step" in dom.split('id="failures"')[1]
    shot = ARTIFACTS / "dashboard.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1280,1100", url], capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_a_change_of_points_only_rescores(course):
    tmp, out, argv = course
    before = results(out)
    executions = mtimes(out, "execution.json")
    rubric = tmp / "rubric.toml"
    rubric.write_text(rubric.read_text().replace("[checks.forward]\npoints = 20", "[checks.forward]\npoints = 10"))
    assert cli.main(argv) == 0
    after = results(out)
    assert after["101"]["total"] == 80 and after["101"]["max_total"] == 80
    assert all(after[s]["graded_at"] == before[s]["graded_at"] for s in after)   # verdicts kept
    assert mtimes(out, "execution.json") == executions


def test_a_change_of_tolerance_judges_again_without_executing(course):
    tmp, out, argv = course
    before, executions = results(out), mtimes(out, "execution.json")
    rubric = tmp / "rubric.toml"
    text = rubric.read_text()
    assert "roundoff_units = 16" in text          # a tolerance to change, or this test proves nothing
    rubric.write_text(text.replace("roundoff_units = 16", "roundoff_units = 8", 1))
    assert cli.main(argv) == 0
    after = results(out)
    assert all(after[s]["graded_at"] >= before[s]["graded_at"] and after[s]["keys"] != before[s]["keys"] for s in after)
    assert all(after[s]["execution"]["kept"] for s in after)
    assert mtimes(out, "execution.json") == executions


def test_overrides_apply_without_running_anything(course, capsys):
    _, out, argv = course
    (out / "overrides.toml").write_text(
        '[[override]]\nstudent = "102"\ncheck = "sgd_step"\npoints = 15\ncomment = "fixed the KeyError in office hours"\n'
        '[[override]]\nstudent = "999"\npoints = 1\n')
    capsys.readouterr()
    assert cli.main(argv) == 0
    printed = capsys.readouterr()
    assert printed.out.count("(cached)") == 2 and "no student '999' in this batch" in printed.err
    r = results(out)["102"]
    sgd = next(c for c in r["checks"] if c["id"] == "sgd_step")
    assert (sgd["auto_points"], sgd["points"]) == (0, 15) and r["total"] == r["auto_total"] + 15
    page = (out / "102" / "report.html").read_text()
    assert "<s>0.0</s> <span class=\"override\">15.0</span>" in page and "fixed the KeyError in office hours" in page


def test_regrade_one_student_from_scratch_and_rescore_everyone(course):
    _, out, _ = course
    executions = mtimes(out, "execution.json")
    assert cli.main(["regrade", str(out), "--student", "102"]) == 0
    again = mtimes(out, "execution.json")
    assert again["101"] == executions["101"] and again["102"] != executions["102"]
    written = mtimes(out, "result.json")
    assert cli.main(["regrade", str(out), "--rescore"]) == 0
    after = results(out)
    assert all(mtimes(out, "result.json")[s] != written[s] and after[s]["execution"]["kept"] for s in after)
    assert mtimes(out, "execution.json") == again
    assert after["102"]["checks"][2]["points"] == 15       # the override still applies
