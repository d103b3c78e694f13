"""Outputs a student cannot turn against the TA or the run: student folders that cannot be the
grader's files, links that cannot run script, pages whose Content-Security-Policy blocks what
escaping might miss, and CSVs whose cells a spreadsheet cannot take for formulas. No kernel."""
from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import unicodedata
from html import unescape
from pathlib import Path
from urllib.parse import unquote, urljoin

import pytest

from grader import export, report
from grader.discover import discover, folder_name

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OUTPUT_FILES = ["index.html", "grades.csv", "canvas.csv", "moodle.csv", "blackboard.csv", "run.json",
                "overrides.toml", ".unpacked", "similarity.csv"]
HOSTILE_IDS = [*OUTPUT_FILES, "INDEX.HTML", "Index.Html", "RUN.JSON", "..", ".", "", "/", "a/b", "../../etc",
               "a\\b", "a\x00b", ".hidden", "x" * 300, "Ж" * 150, "con", "CON", "nul.txt", "Ann", "ann", "ann~2",
               "ann_2", "ann-2", "javascript:alert(1);1", "-rf", "~", "é", "e\u0301", "Ｉｎｄｅｘ.html",
               "\u202eevil", "\x1b]0;pwned\x07"]


def test_every_id_gets_a_safe_folder_of_its_own(tmp_path):
    names = {student: folder_name(student) for student in HOSTILE_IDS}
    for student, name in names.items():
        assert name not in ("", ".", "..") and not name.startswith((".", "-", "~")), (student, name)
        assert not set(name) & set("/\\\x00:") and name.isprintable() and name.isascii(), (student, name)
        assert len(name.encode()) <= 255, student
        assert "." not in name                   # every file the grader writes at the top of OUT has a dot
        assert not re.fullmatch(r"(con|prn|aux|nul|com\d|lpt\d)", name, re.IGNORECASE)
    # distinct for distinct ids, also where a file system ignores case or normalises Unicode
    folded = {unicodedata.normalize("NFC", n).casefold() for n in names.values()}
    assert len(folded) == len(HOSTILE_IDS) == len(set(HOSTILE_IDS))
    assert not folded & {f.casefold() for f in OUTPUT_FILES}
    for name in names.values():
        (tmp_path / name).mkdir()                # every one can be made, none inside another
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names.values())
    assert [folder_name(s) for s in ("101", "student_004", "kills_the_grader")] == ["101", "student_004",
                                                                                   "kills_the_grader"]


def result(student: str, total: float, info: dict | None = None) -> dict:
    return {"student": student, "student_info": info or {}, "total": total, "max_total": 90, "auto_total": total,
            "checks": [{"id": "forward", "title": "Forward", "status": "pass" if total else "fail", "points": total,
                        "max_points": 90, "message": "ok" if total else "wrong", "details": {}}],
            "execution": {"status": "ok"}, "dataset": {"name": "spiral"}, "late": {"days": 0, "deduction": 0}}


def test_dashboard_links_cannot_carry_a_scheme(tmp_path):
    ids = ["javascript:alert(1);1", "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>",
           "//evil.example/x", "\tjavascript:alert(1)", "index.html", "a b#c?d"]
    report.write_index(tmp_path, [result(s, 10) for s in ids], {"assignment": "x", "isolation": "bwrap"})
    page = (tmp_path / "index.html").read_text()
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert len(hrefs) == len(ids)
    base = (tmp_path / "index.html").as_uri()
    for student, href in zip(sorted(ids), hrefs):
        assert href.startswith("./") and re.fullmatch(r"\./[A-Za-z0-9%._~-]+/report\.html", href), href
        assert urljoin(base, href) == (tmp_path / folder_name(student) / "report.html").as_uri()
        assert unquote(href.split("/")[1]) == folder_name(student)


def test_every_page_has_a_policy_that_allows_only_its_own_code(tmp_path):
    report.write_student(tmp_path, {**result("bob", 0), "assignment": "x"}, feedback=True)
    report.write_index(tmp_path, [result("bob", 0)], {"assignment": "x", "isolation": "bwrap"})
    for page in ("report.html", "feedback.html", "index.html"):
        html = (tmp_path / page).read_text()
        policy = unescape(re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)[1])
        assert "default-src 'none'" in policy and "unsafe" not in policy
        assert html.index("Content-Security-Policy") < html.index("<style>")   # in force before anything else
        scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
        if page == "index.html":
            assert len(scripts) == 1 and report._hash_source(scripts[0]) in policy
        else:
            assert not scripts and "script-src 'none'" in policy


INJECTED = ('<script>document.body.setAttribute("data-pwned", "script")</script>'
            '<img src="x" onerror="document.body.setAttribute(\'data-pwned\', \'onerror\')">'
            '<svg onload="document.body.setAttribute(\'data-pwned\', \'svg\')"></svg>')


def _browse(url: str, profile: Path) -> tuple[str, str]:
    """The page's DOM after its scripts ran, and the browser's console (CSP violations are logged there)."""
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--enable-logging=stderr", "--v=0"]
    run = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    return run.stdout, run.stderr


VIOLATION = "violates the following Content Security Policy"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_the_policy_blocks_injected_script_and_the_dashboard_still_sorts(tmp_path):
    """As if escaping had let a student's markup through: the policy is the second wall."""
    ann = {**result("ann", 90), "assignment": "x"}
    ann["checks"][0]["details"] = {"losses": [2.3, 1.1, 0.6, 0.4]}            # a chart: inline SVG
    report.write_student(tmp_path / "ann", ann, feedback=True)
    report.write_index(tmp_path, [ann, result("bob", 30)], {"assignment": "x", "isolation": "bwrap"})
    for page in ("ann/report.html", "ann/feedback.html"):                     # their own style and SVG only
        dom, console = _browse((tmp_path / page).as_uri(), tmp_path / "profile")
        assert "<svg" in dom and VIOLATION not in console, page
    html = (tmp_path / "index.html").read_text()
    dom, console = _browse((tmp_path / "index.html").as_uri() + "#sort=total", tmp_path / "profile")
    assert VIOLATION not in console
    (tmp_path / "index.html").write_text(html.replace("<h2>Students</h2>", "<h2>Students</h2>" + INJECTED))
    dom, console = _browse((tmp_path / "index.html").as_uri() + "#sort=total", tmp_path / "profile")
    assert 'data-sorted="total"' in dom                                  # the dashboard's own script ran
    assert re.findall(r'<tr data-student="(\w+)"', dom) == ["bob", "ann"]
    assert not re.search(r"<body[^>]*data-pwned", dom) and VIOLATION in console
    # the same page without its policy runs the injected code: the check above can fail
    bare = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", (tmp_path / "index.html").read_text())
    (tmp_path / "bare.html").write_text(bare)
    assert re.search(r"<body[^>]*data-pwned", _browse((tmp_path / "bare.html").as_uri(), tmp_path / "profile")[0])


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


def test_no_export_cell_can_start_a_formula_and_numbers_stay_numbers(tmp_path):
    """Hostile file names and roster fields (name, id, login, email, section), through intake."""
    subs = tmp_path / "subs"
    subs.mkdir()
    for stem in ("=1+1", "+1+1", "-2+3", "@SUM(A1)", "s1"):
        (subs / f"{stem}.ipynb").write_text("{}")
    people = [["ID", "Student", "SIS Login ID", "SIS User ID", "Email", "Section"],
              ["s1", "-Doe, +Jane", "@jdoe", "=1+2", "-jane@uni.edu", "@Section A"],
              ["999", "=cmd|' /C calc'!A0", "-login", "+sis", "@mail", "-B"]]   # on the roster, no submission
    with open(tmp_path / "roster.csv", "w", newline="") as f:
        csv.writer(f).writerows(people)
    intake = discover(subs, tmp_path / "roster.csv")
    assert {s.student for s in intake.submissions} == {"=1+1", "+1+1", "-2+3", "@SUM(A1)", "s1"}
    results = [result(s.student, -2.5 if s.student == "s1" else 10, s.info) for s in intake.submissions]
    files = export.write_all(tmp_path, results, intake.missing, "=HW2", {"missing_grade": ""})
    assert [p.name for p in files] == ["grades.csv", "canvas.csv", "moodle.csv", "blackboard.csv"]
    for path in files:
        cells = _cells(path.read_text(encoding="utf-8"))
        assert {c for c in cells if c.startswith(export.FORMULA_START)} == {"-2.5"}, path.name
    grades = list(csv.DictReader(io.StringIO((tmp_path / "grades.csv").read_text(), newline="")))
    s1 = next(r for r in grades if r["student"] == "s1")
    assert s1["total"] == "-2.5"                                         # a negative score stays a number
    assert (s1["name"], s1["email"], s1["section"]) == ("'-Doe, +Jane", "'-jane@uni.edu", "'@Section A")
    assert {r["student"] for r in grades} >= {"'=1+1", "'+1+1", "'-2+3", "'@SUM(A1)"}
    canvas = _cells((tmp_path / "canvas.csv").read_text())
    assert {"'=HW2", "'@jdoe", "'=1+2", "-2.5", "'=cmd|' /C calc'!A0", "'+sis", "'-B", "'=1+1"} <= set(canvas)
    blackboard = (tmp_path / "blackboard.csv").read_text().splitlines()
    assert blackboard[0].endswith('"\'=HW2"') and '"\'-Doe","\'+Jane","\'@jdoe","-2.5"' in blackboard
    moodle = list(csv.DictReader(io.StringIO((tmp_path / "moodle.csv").read_text(), newline="")))
    assert {"'-Doe, +Jane", "'=cmd|' /C calc'!A0", "'@SUM(A1)"} <= {r["Full name"] for r in moodle}
    assert "'-jane@uni.edu" in {r["Email address"] for r in moodle}
