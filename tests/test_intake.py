"""One file cannot hurt the class: a zip of plain files, as a student out to break the grader
would name and shape them, graded with the assignment told from the notebooks (the default
`make grade`). Students named like the grader's own outputs, a 300-byte name, a script in a
name, a notebook nested 100,000 levels deep, and every kind of bad zip entry; one good notebook
among them, which is the only one executed. The run finishes, twice, and every entry not
taken is listed with why."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import stat
import zipfile
from pathlib import Path
from urllib.parse import unquote, urljoin

import pytest

from grader import cli
from grader.discover import folder_name

from conftest import REPO

pytestmark = pytest.mark.slow

LONG = "Ж" * 150                                  # 300 bytes of UTF-8: over every file system's 255
NESTED = b'{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": {"x": ' + b"[" * 100_000 \
         + b"]" * 100_000 + b"}}"
NAMED_LIKE_OUTPUTS = ["index.html", "INDEX.HTML", "grades.csv", "run.json", "overrides.toml", "javascript:alert(1);1"]
BAD_ENTRIES = {   # entry name -> what its reason says
    "../escaped.ipynb": "points outside its folder",
    "/abs.ipynb": "is an absolute path",
    "sub\\dir.ipynb": "backslash",
    "link.ipynb": "is a link",
    "twice.ipynb": "the same name as the entry 'twice.ipynb'",
    "clash/inner.ipynb": "has the name of the file 'clash'",
    "damaged.ipynb": "bad CRC",
}


def _hostile_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("good.ipynb", (REPO / "reference" / "nnfs_sgd_momentum.ipynb").read_bytes())
        z.writestr("nested.ipynb", NESTED)
        for name in NAMED_LIKE_OUTPUTS:
            z.writestr(f"{name}.ipynb", "{}")       # not notebooks: nothing of them runs
        z.writestr(f"{LONG}.ipynb", "{}")
        z.writestr("../escaped.ipynb", "{}")
        z.writestr("/abs.ipynb", "{}")
        z.writestr("sub\\dir.ipynb", "{}")
        link = zipfile.ZipInfo("link.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
        z.writestr("twice.ipynb", "{}")
        with pytest.warns(UserWarning, match="Duplicate name"):
            z.writestr("twice.ipynb", '{"the second": "overwrote the first"}')
        z.writestr("clash", "a file")
        z.writestr("clash/inner.ipynb", "{}")
        z.writestr("damaged.ipynb", "this text is damaged in the zip " * 20)
    data = bytearray(path.read_bytes())
    at = data.index(b"this text is damaged")      # stored uncompressed: flip a bit of the data, not the header
    data[at] ^= 1
    path.write_bytes(bytes(data))


def _grade(argv: list[str]) -> tuple[int, str]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = cli.main(argv)
    return code, printed.getvalue()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("intake")
    _hostile_zip(tmp / "class.zip")
    rubric = (REPO / "rubrics" / "nnfs_sgd_momentum.toml").read_text()
    (tmp / "rubric.toml").write_text(rubric.replace("cell_timeout_s = 600", "cell_timeout_s = 60"))
    out = tmp / "out"
    (out / "grades.csv").mkdir(parents=True)       # left by a grader before students had folders of their own
    argv = ["grade", str(tmp / "class.zip"), "--out", str(out), "--rubric", str(tmp / "rubric.toml"), "-j", "2"]
    code, printed = _grade(argv)
    return out, argv, code, printed


def results(out: Path) -> dict:
    return {json.loads(p.read_text())["student"]: json.loads(p.read_text()) for p in out.glob("*/result.json")}


def test_the_run_finishes_and_every_student_has_a_folder_of_its_own(hostile):
    out, _, code, printed = hostile
    assert code == 0 and "assignment nnfs_sgd_momentum" in printed
    r = results(out)
    assert set(r) == {"good", "nested", "twice", *NAMED_LIKE_OUTPUTS, next(s for s in r if s.startswith("Ж"))}
    for name in ("index.html", "grades.csv", "canvas.csv", "moodle.csv", "blackboard.csv", "run.json"):
        assert (out / name).is_file(), name
    assert list(out.glob(".grades.csv.moved-aside-*"))          # the old folder kept, out of the way
    for student in r:
        assert (out / folder_name(student) / "report.html").is_file()
    assert sorted(row["student"] for row in csv.DictReader((out / "grades.csv").open())) == sorted(r)


def test_the_good_notebook_is_graded_and_the_nested_one_is_told_why(hostile):
    r = results(hostile[0])
    assert r["good"]["total"] == r["good"]["max_total"] > 0
    assert r["nested"]["execution"]["status"] == "not_run" and not r["nested"].get("grader_error")
    assert "not a readable notebook" in r["nested"]["notebook"]["problem"]
    assert all(c["points"] == 0 for c in r["nested"]["checks"])


def test_a_300_byte_name_is_shortened_and_graded(hostile):
    r = results(hostile[0])
    long_one = next(s for s in r if s.startswith("Ж"))
    assert len(f"{long_one}.ipynb".encode()) <= 255 and re.search(r"~[0-9a-f]{8}$", long_one)


def test_every_entry_not_taken_is_listed_with_why(hostile):
    out, _, _, printed = hostile
    page = (out / "index.html").read_text()
    for entry, why in BAD_ENTRIES.items():
        line = next((ln for ln in printed.splitlines() if "skipped:" in ln and why in ln), None)
        assert line is not None, f"{entry}: not listed with '{why}'"
        assert why.replace("'", "&#39;") in page, entry
    kept = next(p for p in (out / ".unpacked").rglob("twice.ipynb"))
    assert kept.read_text() == "{}"                              # the first of two of the same name


def test_links_are_relative_and_lead_to_the_reports(hostile):
    out = hostile[0]
    hrefs = re.findall(r'<a href="([^"]*)"', (out / "index.html").read_text())
    assert len(hrefs) == len(results(out))
    base = (out / "index.html").as_uri()
    for href in hrefs:
        assert re.fullmatch(r"\./[A-Za-z0-9%._~-]+/report\.html", href), href
        target = urljoin(base, href)
        assert target.startswith(out.as_uri() + "/") and Path(unquote(target[len("file://"):])).is_file()


def test_a_rerun_finishes_with_everything_kept_and_regrade_takes_an_id(hostile):
    out, argv, _, _ = hostile
    code, printed = _grade(argv)
    assert code == 0 and printed.count("(cached)") == len(results(out))
    before = results(out)
    code, printed = _grade(["regrade", str(out), "--student", "index.html", "--student", "no-such-one"])
    assert code == 0 and printed.count("(cached)") == len(before) - 1
    after = results(out)
    assert after["index.html"]["graded_at"] >= before["index.html"]["graded_at"]
    assert after["good"] == before["good"]
