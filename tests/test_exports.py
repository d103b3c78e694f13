"""Exports against each importer's documented rules, the late policy, overrides, and what the
student-facing report leaves out. Results are made by hand here: no kernel."""
from __future__ import annotations

import csv
import io

import pytest

from grader import assignment, export, overrides, report, rubric
from grader.results import Result
from grader.rubric import Late, late_deduction


def result(student: str, info: dict, total: float, checks: dict, **extra) -> dict:
    r = {"student": student, "student_info": info, "total": total, "max_total": 90, "auto_total": total,
         "checks": [{"id": cid, "title": cid.title(), "status": status, "points": points, "max_points": 20,
                     "message": f"{cid} says {status}", "details": {}} for cid, (status, points) in checks.items()],
         "execution": {"status": "ok"}, "dataset": {"name": "cifar10-subset"}, "late": {"days": 0, "deduction": 0}}
    r.update(extra)
    return r


JANE = result("123", {"name": "Doe, Jane", "lms": "canvas", "lms_id": "123", "sis_id": "S-1", "sis_login": "jdoe",
                      "section": "Section A", "email": "jane@uni.edu"}, 48.0,
              {"forward": ("pass", 20), "sgd_step": ("fail", 0)})
JURGEN = result("789", {"name": "Müller, Jürgen", "lms": "canvas", "lms_id": "789"}, 90.0,
                {"forward": ("pass", 20), "sgd_step": ("pass", 20)},
                late={"days": 2, "deduction": 9.0, "note": "2 day(s) late"})
PLAIN = result("bob", {}, 0.0, {"forward": ("fail", 0), "sgd_step": ("fail", 0)})
MISSING = [{"name": "Ng, Amy", "lms_id": "999", "sis_id": "S-3", "sis_login": "amyng", "section": "Section A"}]


def parse(text: str) -> list[list[str]]:
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")   # RFC 4180 line ends
    return list(csv.reader(io.StringIO(text, newline="")))


def test_canvas_gradebook_import():
    rows = parse(export.canvas([JANE, JURGEN, PLAIN], MISSING, "Homework 2", 90, {"canvas_assignment_id": 55}))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Homework 2 (55)"]
    assert rows[1] == ["Points Possible", "", "", "", "", "90"]
    body = {row[0]: row for row in rows[2:]}
    assert body["Doe, Jane"] == ["Doe, Jane", "123", "S-1", "jdoe", "Section A", "48.0"]   # quoted, comma kept
    assert body["Müller, Jürgen"][1:] == ["789", "", "", "", "90.0"]                      # non-ASCII, as is
    assert body["Ng, Amy"] == ["Ng, Amy", "999", "S-3", "amyng", "Section A", ""]         # no submission: blank
    assert body["bob"] == ["bob", "", "", "", "", "0.0"]
    for row in rows[2:]:     # Canvas needs one of name, ID or SIS User ID on every row
        assert any(row[:3])


def test_canvas_zero_for_missing_when_the_rubric_says_so():
    rows = parse(export.canvas([JANE], MISSING, "Homework 2", 90, {"missing_grade": 0}))
    assert rows[0][-1] == "Homework 2" and {r[0]: r[-1] for r in rows[2:]}["Ng, Amy"] == "0"


def test_moodle_grading_worksheet():
    moodle_jane = {**JANE, "student_info": {"name": "Jane Doe", "lms": "moodle", "lms_id": "1001", "email": "j@u.edu"}}
    rows = parse(export.moodle([moodle_jane, JURGEN], MISSING, 90, {}))
    assert rows[0] == ["Identifier", "Full name", "Email address", "Grade", "Maximum Grade", "Feedback comments"]
    body = {row[1]: row for row in rows[1:]}
    assert body["Jane Doe"][:5] == ["Participant 1001", "Jane Doe", "j@u.edu", "48.0", "90"]
    assert body["Jane Doe"][5] == "48/90. Forward: 20/20; Sgd_Step: 0/20"
    assert body["Müller, Jürgen"][5].endswith("late: -9")
    assert body["Ng, Amy"][3:] == ["", "90", "no submission"]


def test_blackboard_grade_center_upload():
    text = export.blackboard([JANE, PLAIN], MISSING, "Homework 2", {"blackboard_column_id": "_55_1"})
    assert text.splitlines()[0] == '"Last Name","First Name","Username","Homework 2 |_55_1"'
    assert all(line.startswith('"') and line.endswith('"') for line in text.splitlines())   # every field quoted
    rows = parse(text)
    assert ["Doe", "Jane", "jdoe", "48.0"] in rows and ["Ng", "Amy", "amyng", ""] in rows and ["", "", "bob", "0.0"] in rows


def test_generic_csv_has_every_check_and_the_adjustments():
    overridden = {**JANE, "total": 60.0, "override": {"points": 60, "comment": "regraded by hand"}}
    rows = list(csv.DictReader(io.StringIO(export.generic([overridden, JURGEN], MISSING), newline="")))
    by = {r["student"]: r for r in rows}
    assert by["123"]["total"] == "60.0" and by["123"]["overridden"] == "yes" and by["123"]["sgd_step"] == "0"
    assert by["789"]["late_days"] == "2" and by["789"]["late_deduction"] == "9.0"
    assert by["amyng"]["status"] == "missing" and by["amyng"]["total"] == ""


POLICY = {"due": "2026-11-20T23:59:00+00:00", "grace_hours": 1, "per_day_percent": 10, "max_percent": 30}


@pytest.mark.parametrize("late, days, deduction", [
    (Late(False, "2026-11-20T23:30:00+00:00"), 0, 0.0),
    (Late(False, "2026-11-21T00:45:00+00:00"), 0, 0.0),          # within the grace hour
    (Late(False, "2026-11-21T01:30:00+00:00"), 1, 9.0),           # a day started: 10% of 90
    (Late(True, "2026-11-23T12:00:00+00:00"), 3, 27.0),
    (Late(True, "2026-11-30T12:00:00+00:00"), 10, 27.0),          # capped at 30%
    (Late(True, None), 1, 9.0),                                   # the LMS's marker, no time: one day
])
def test_late_policy(late, days, deduction):
    got = late_deduction(POLICY, late, 90)
    assert (got["days"], got["deduction"]) == (days, deduction)


def test_rescoring_applies_points_late_policy_and_overrides_from_stored_verdicts():
    a = assignment.load("cifar10_fcnet")
    a.rubric["late"] = POLICY
    r = Result("ann", {}, "ann.ipynb", execution={}, late_input={"marked": False,
                                                             "submitted_at": "2026-11-21T05:00:00+00:00"},
               checks=[{"id": "forward", "status": "pass", "fraction": None},
                       {"id": "backward", "status": "fail", "fraction": 0.75},
                       {"id": "sgd_step", "status": "pass_with_warning", "fraction": None},
                       {"id": "hyperparams", "status": "error", "fraction": None},
                       {"id": "end_to_end", "status": "pass", "fraction": None}])
    rubric.rescore(r, a, [])
    assert [c["points"] for c in r.checks] == [20.0, 22.5, 20.0, 0.0, 0.0]   # sgd_step has no deduction set
    assert (r.max_total, r.late["deduction"], r.total, r.auto_total) == (90.0, 9.0, 53.5, 53.5)
    rubric.rescore(r, a, [{"check": "hyperparams", "points": 20, "comment": "grader bug, checked by hand"}])
    assert r.checks[3]["points"] == 20 and r.checks[3]["auto_points"] == 0
    assert r.checks[3]["override"] == {"points": 20.0, "comment": "grader bug, checked by hand"}
    assert (r.total, r.auto_total) == (73.5, 53.5)
    rubric.rescore(r, a, [{"check": "total", "points": 88, "comment": "extension granted"}])
    assert r.total == 88 and r.override["comment"] == "extension granted" and "override" not in r.checks[3]
    assert "override" not in Result.from_json(rubric.rescore(r, a, []).to_json()).to_json()   # none left stored


def test_overrides_file_problems_are_reported_not_dropped(tmp_path):
    (tmp_path / "overrides.toml").write_text(
        '[[override]]\nstudent = "ann"\ncheck = "backward"\npoints = 25\ncomment = "ok"\n'
        '[[override]]\nstudent = "zed"\ncheck = "backward"\npoints = 1\n'
        '[[override]]\nstudent = "ann"\ncheck = "nope"\npoints = 1\n'
        '[[override]]\nstudent = "ann"\npoints = "lots"\n')
    got, problems = overrides.load(tmp_path / "overrides.toml", {"ann"}, {"backward"})
    assert got == {"ann": [{"check": "backward", "points": 25.0, "comment": "ok"}]}
    assert [p.split(": ", 1)[1] for p in problems] == [
        "no student 'zed' in this batch; ignored", "no check 'nope' (checks: backward, or total); ignored",
        "points must be a number; ignored"]


def test_the_student_report_leaves_out_the_reference_and_grader_internals(tmp_path):
    r = result("ann", {"name": "Ann"}, 0.0, {"forward": ("fail", 0), "hyperparams": ("error", 0)})
    r["checks"][0]["details"] = {"expected_slice": [[1.2345, 9.8765]], "got_slice": [[5.5555, 6.6666]],
                                 "max_rel_error": 0.5, "where": [0, 1], "traceback": "student traceback here"}
    r["checks"][1]["details"] = {"traceback": 'File "/repo/reference/cifar10_fcnet.py", line 3 SECRET'}
    r["grader_error"] = None
    folder = tmp_path / "ann"
    folder.mkdir()
    report.write_student(folder, r, feedback=True)
    ta, student = (folder / "report.html").read_text(), (folder / "feedback.html").read_text()
    for text in ("1.2345", "SECRET"):
        assert text in ta and text not in student
    for text in ("5.5555", "student traceback here", "max relative error 0.5 at [0, 1]"):
        assert text in ta and text in student


def test_a_diverging_loss_curve_is_drawn_on_a_log_scale():
    chart = str(report.line_chart([2.3, 2.1, 1.9, 1e250], "training loss"))
    assert 'aria-label="training loss, log10: from 0.362 to 250"' in chart
    assert "log10" not in str(report.line_chart([2.3, 2.1, 1.9], "training loss"))
    assert str(report.line_chart([float("nan")], "training loss")) == ""


@pytest.mark.parametrize("cell, written", [("=1+1", "'=1+1"), ("+1", "'+1"), ("-x", "'-x"), ("@x", "'@x"),
                                           ("\tx", "'\tx"), ("\rx", "'\rx"), ("x=1", "x=1"), (-2.5, -2.5),
                                           (0, 0), ("", "")])
def test_a_cell_that_could_start_a_formula_is_made_text(cell, written):
    assert export.inert(cell) == written


def test_every_lms_file_is_inert_and_keeps_negative_numbers():
    hostile = result("=1+1", {"name": "-Doe, @Jane", "lms": "canvas", "lms_id": "+5", "sis_id": "\t=x",
                              "sis_login": "@login", "section": "=A", "email": "-a@b.c"}, -2.5,
                     {"forward": ("fail", -2.5)})
    for text in (export.generic([hostile], MISSING), export.canvas([hostile], MISSING, "=T", 90, {}),
                 export.moodle([hostile], MISSING, 90, {}), export.blackboard([hostile], MISSING, "=T", {})):
        cells = [c for row in parse(text) for c in row]
        assert {c for c in cells if c[:1] in "=+-@\t\r" and c} == {"-2.5"}
        assert "-2.5" in cells and any(c.startswith("'") for c in cells)


def test_the_canvas_column_is_found_in_the_gradebook_export(tmp_path):
    from conftest import REPO
    from grader import roster
    title = assignment.load("cifar10_fcnet").title
    columns = roster.gradebook_columns(REPO / "examples" / "canvas" / "gradebook.csv")
    assert columns == [("Quiz 1", "5501"), (title, "5566")]
    (tmp_path / "plain.csv").write_text("id,name,email\n1,Ann,ann@uni.edu\n")
    assert roster.gradebook_columns(tmp_path / "plain.csv") == []
    assert export.canvas_column(columns, title, None)[0] == "5566"
    assert export.canvas_column(columns, "  cifar-10 two-layer NETWORK with SGD + momentum ", None)[0] == "5566"
    for wanted in ("Quiz 1", "5501", "Quiz 1 (5501)"):
        assert export.canvas_column(columns, title, wanted)[0] == "5501"
    assert export.canvas_column([], title, "5566")[0] == "5566"
    found, said = export.canvas_column(columns + [(title, "5599")], title, None)
    assert found is None and "several gradebook columns match" in said and "--canvas-column" in said
    found, said = export.canvas_column(columns, "HW 9", None)
    assert found is None and "create a new column 'HW 9'" in said and "canvas_assignment_id" in said


def test_a_canvas_batch_without_a_column_id_warns_once_and_the_roster_gives_it(tmp_path, capsys):
    import zipfile
    from grader import cli
    from conftest import REPO
    with zipfile.ZipFile(tmp_path / "subs.zip", "w") as z:
        z.writestr("leeann_101_5001_hw2.ipynb", "{ not JSON: graded at once, with no kernel")
    common = ["grade", str(tmp_path / "subs.zip"), "--assignment", "cifar10_fcnet", "-j", "1"]
    assert cli.main([*common, "--out", str(tmp_path / "a")]) == 0
    warned = capsys.readouterr().err
    assert warned.count("canvas.csv has no Canvas assignment id") == 1 and "create a new column" in warned
    header = next(csv.reader(io.StringIO((tmp_path / "a" / "canvas.csv").read_text())))
    assert header[-1] == assignment.load("cifar10_fcnet").title
    assert cli.main([*common, "--out", str(tmp_path / "b"), "--roster",
                     str(REPO / "examples" / "canvas" / "gradebook.csv")]) == 0
    printed = capsys.readouterr()
    assert "WARNING" not in printed.err and "fills the gradebook's column" in printed.out
    header = next(csv.reader(io.StringIO((tmp_path / "b" / "canvas.csv").read_text())))
    assert header[-1].endswith("(5566)")


def test_flags_of_what_ran_reach_the_ta_not_the_student(tmp_path):
    r = result("ann", {"name": "Ann"}, 90.0, {"forward": ("pass", 20)})
    r["hyperparams"] = {"values": {"hidden_dim": 50}, "note": "from the kernel",
                        "flags": ["hidden_dim is 50, but the trained model's W1 has 4000 columns"]}
    r["provenance"] = {"flags": ["FullyConnectedNet.forward was replaced at run time"], "note": "see README"}
    (tmp_path / "ann").mkdir()
    report.write_student(tmp_path / "ann", r, feedback=True)
    ta, student = (tmp_path / "ann" / "report.html").read_text(), (tmp_path / "ann" / "feedback.html").read_text()
    for flag in ("W1 has 4000 columns", "replaced at run time"):
        assert flag in ta and flag not in student
    report.write_index(tmp_path, [r], {"assignment": "cifar10_fcnet", "title": "t", "dataset": "d", "version": "0",
                                       "isolation": "bwrap", "generated": "now", "skipped": [], "unmatched": [],
                                       "missing": [], "override_problems": []})
    assert "2 flag(s)" in (tmp_path / "index.html").read_text()
