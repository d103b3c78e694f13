"""Finding the submissions: plain folders, Canvas and Moodle bulk downloads (zip or unpacked), a roster."""
import os
import stat
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from grader.discover import discover
from grader.errors import SetupError


def test_a_relative_path_gives_absolute_submissions(tmp_path, monkeypatch):
    """A student's folder is mounted into the sandbox by its path, and the sandbox's working
    folder is not the TA's: `make grade SUBMISSIONS=examples/moodle` must give absolute paths."""
    (tmp_path / "subs" / "bob").mkdir(parents=True)
    (tmp_path / "subs" / "bob" / "hw.ipynb").write_text("{}")
    with zipfile.ZipFile(tmp_path / "subs.zip", "w") as z:
        z.writestr("Amy Ng_7_assignsubmission_file/hw.ipynb", "{}")
    monkeypatch.chdir(tmp_path)
    folder = discover(Path("subs")).submissions[0]
    zipped = discover(Path("subs.zip"), unpack_to=Path("out/.unpacked")).submissions[0]
    for sub in (folder, zipped):
        assert sub.path.is_absolute() and sub.folder.is_absolute() and sub.folder.is_dir()

def test_files_and_per_student_folders(tmp_path):
    (tmp_path / "ann.ipynb").write_text("{}")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "old.ipynb").write_text("{}")
    (tmp_path / "bob" / "hw.ipynb").write_text("{}")
    os.utime(tmp_path / "bob" / "old.ipynb", (1, 1))
    (tmp_path / "bob" / "utils.py").write_text("")
    (tmp_path / "ann").mkdir()                      # same id as ann.ipynb: both kept, apart
    (tmp_path / "ann" / "a.ipynb").write_text("{}")
    (tmp_path / "readme.pdf").write_text("")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    intake = discover(tmp_path)
    assert [(s.student, s.path.name) for s in intake.submissions] == [("ann", "a.ipynb"), ("ann~2", "ann.ipynb"),
                                                                      ("bob", "hw.ipynb")]
    bob = intake.submissions[2]
    assert bob.folder == tmp_path / "bob" and "2 notebooks" in bob.note
    assert {(p.name, why.split(";")[0]) for p, why in intake.skipped} == {
        ("old.ipynb", "another notebook of the same student"), ("readme.pdf", "not a notebook"),
        (".ipynb_checkpoints", "hidden (its name starts with '.'), or macOS metadata")}


CANVAS_FILES = {   # name: (content, submitted)
    "doejane_123_9001_hw2.ipynb": ("{}", "2026-11-20 10:00"),
    "doejane_123_9002_hw2-1.ipynb": ('{"a": 1}', "2026-11-20 22:00"),     # resubmitted: the latest counts
    "doejane_123_9003_notes.pdf": ("", "2026-11-20 22:00"),
    "smithjohn_LATE_456_9004_HW 2 final.ipynb": ("{}", "2026-11-22 09:30"),
    "müllerjürgen_789_9005_lab.ipynb": ("{}", "2026-11-19 12:00"),
}


def _zip(path, files):
    with zipfile.ZipFile(path, "w") as z:
        for name, (content, when) in files.items():
            info = zipfile.ZipInfo(name, datetime.strptime(when, "%Y-%m-%d %H:%M").timetuple()[:6])
            z.writestr(info, content)


def test_canvas_zip_latest_resubmission_late_marker_times_and_other_files(tmp_path):
    _zip(tmp_path / "submissions.zip", CANVAS_FILES)
    intake = discover(tmp_path / "submissions.zip", unpack_to=tmp_path / "unpacked")
    subs = {s.student: s for s in intake.submissions}
    assert set(subs) == {"123", "456", "789"} and intake.kinds == {"canvas"}
    assert subs["123"].path.name == "doejane_123_9002_hw2-1.ipynb" and "2 notebooks" in subs["123"].note
    assert subs["123"].info == {"name": "doejane", "lms": "canvas", "lms_id": "123"}
    assert (subs["456"].late, subs["123"].late) == (True, False)
    assert datetime.fromisoformat(subs["456"].submitted_at) == datetime(2026, 11, 22, 9, 30).astimezone()
    assert subs["789"].info["name"] == "müllerjürgen"
    assert {p.name: why.split(";")[0] for p, why in intake.skipped} == {
        "doejane_123_9001_hw2.ipynb": "an earlier submission", "doejane_123_9003_notes.pdf": "not a notebook"}
    again = discover(tmp_path / "submissions.zip", unpack_to=tmp_path / "unpacked")   # unpacked once
    assert [s.path for s in again.submissions] == [s.path for s in intake.submissions]


def test_a_zip_cannot_write_outside_its_folder(tmp_path):
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as z:
        z.writestr("../escaped.ipynb", "{}")
        z.writestr("/abs.ipynb", "{}")
        z.writestr("ok_1_2_hw.ipynb", "{}")
    intake = discover(tmp_path / "evil.zip", unpack_to=tmp_path / "x" / "unpacked")
    assert [s.student for s in intake.submissions] == ["1"]
    assert not (tmp_path / "x" / "escaped.ipynb").exists() and not (tmp_path / "escaped.ipynb").exists()


def test_moodle_folders_and_flat_files(tmp_path):
    folder = tmp_path / "Jane Doe_1001_assignsubmission_file"
    folder.mkdir()
    (folder / "hw2.ipynb").write_text("{}")
    (folder / "data.csv").write_text("1,2\n")
    (tmp_path / "John Smith_1002_assignsubmission_file_lab.ipynb").write_text("{}")
    (tmp_path / "Ann Lee_1003_assignsubmission_onlinetext_onlinetext.html").write_text("")
    intake = discover(tmp_path)
    subs = {s.student: s for s in intake.submissions}
    assert set(subs) == {"1001", "1002"} and intake.kinds == {"moodle"}
    assert subs["1001"].folder == folder and subs["1001"].info["name"] == "Jane Doe"
    assert subs["1002"].info == {"name": "John Smith", "lms": "moodle", "lms_id": "1002"}
    assert [why for _, why in intake.skipped] == ["a Moodle onlinetext submission, not a file"]


def test_a_roster_names_students_and_lists_who_is_missing_or_unknown(tmp_path):
    _zip(tmp_path / "submissions.zip", CANVAS_FILES)
    (tmp_path / "roster.csv").write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,Homework 2 (55)\n"
        "Points Possible,,,,,90\n"
        '"Doe, Jane",123,S-1,jdoe,Section A,\n'
        '"Smith, John",456,S-2,jsmith,Section B,\n'
        '"Ng, Amy",999,S-3,amyng,Section A,\n', encoding="utf-8")
    intake = discover(tmp_path / "submissions.zip", tmp_path / "roster.csv", tmp_path / "unpacked")
    subs = {s.student: s for s in intake.submissions}
    assert subs["123"].info == {"name": "Doe, Jane", "lms": "canvas", "lms_id": "123", "sis_id": "S-1",
                                "sis_login": "jdoe", "section": "Section A"}
    assert intake.unmatched == ["789"]
    assert intake.missing == [{"name": "Ng, Amy", "lms_id": "999", "sis_id": "S-3", "sis_login": "amyng",
                               "section": "Section A"}]


def test_a_plain_roster_matches_by_login_or_email(tmp_path):
    (tmp_path / "jdoe.ipynb").write_text("{}")
    (tmp_path / "amy.ng.ipynb").write_text("{}")
    (tmp_path / "roster.csv").write_text("username,name,email,section\njdoe,Jane Doe,jane@uni.edu,1\n"
                                         "x9,Amy Ng,amy.ng@uni.edu,2\n")
    intake = discover(tmp_path, tmp_path / "roster.csv")
    assert {s.student: s.info.get("name") for s in intake.submissions} == {"jdoe": "Jane Doe", "amy.ng": "Amy Ng"}
    assert intake.unmatched == [] and intake.missing == []


def test_not_a_folder_or_zip_says_so(tmp_path):
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(SetupError, match="not a folder of submissions or a zip"):
        discover(tmp_path / "x.txt")


def test_every_zip_entry_not_taken_is_listed_with_why(tmp_path):
    """A real LMS zip with every kind of bad entry: intake goes on and lists each, the first of
    two of the same name is kept, a damaged one is unreadable, long names are cut, ids kept."""
    long_name = "Щ" * 140                                    # 280 bytes: ENAMETOOLONG as it is
    with zipfile.ZipFile(tmp_path / "lms.zip", "w") as z:
        z.writestr("../escaped.ipynb", "{}")
        z.writestr("/abs.ipynb", "{}")
        z.writestr("C:/drive.ipynb", "{}")
        z.writestr("folder\\win.ipynb", "{}")
        link = zipfile.ZipInfo("link_7_8_hw.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
        z.writestr("dup_1_2_hw.ipynb", "first")
        with pytest.warns(UserWarning):
            z.writestr("dup_1_2_hw.ipynb", "second")
        z.writestr("both", "a file")
        z.writestr("both/hw.ipynb", "{}")
        z.writestr("tree/hw.ipynb", "{}")
        z.writestr("tree", "a file where a folder is")
        z.writestr("bad_3_4_hw.ipynb", "damaged data " * 30)
        z.writestr(f"{long_name}_LATE_55_66_{long_name}-2.ipynb", "{}")   # Canvas, resubmitted
        z.writestr(f"{long_name}_77_assignsubmission_file/hw.ipynb", "{}")  # a Moodle folder
        z.writestr(f"{long_name}.ipynb", "{}")
        z.writestr("__MACOSX/._x", "")
        z.writestr(zipfile.ZipInfo("baddate_9_9_hw.ipynb", (2026, 0, 0, 0, 0, 0)), "{}")
    data = bytearray((tmp_path / "lms.zip").read_bytes())
    data[data.index(b"damaged data")] ^= 1
    (tmp_path / "lms.zip").write_bytes(bytes(data))

    intake = discover(tmp_path / "lms.zip", unpack_to=tmp_path / "unpacked")
    why = {str(p): reason for p, reason in intake.skipped}
    expected = {"../escaped.ipynb": "points outside its folder", "/abs.ipynb": "is an absolute path",
                "C:/drive.ipynb": "is an absolute path", "folder\\win.ipynb": "backslash",
                "link_7_8_hw.ipynb": "is a link", "dup_1_2_hw.ipynb": "the same name as the entry 'dup_1_2_hw.ipynb'",
                "both/hw.ipynb": "has the name of the file 'both'", "tree": "the same name as a folder",
                "bad_3_4_hw.ipynb": "bad CRC", "__MACOSX": "macOS metadata"}
    for entry, reason in expected.items():
        listed = [r for p, r in why.items() if p == entry or p.endswith("/" + entry)]
        assert listed and reason in listed[0], (entry, why)
    subs = {s.student: s for s in intake.submissions}
    assert subs["1"].path.read_text() == "first"
    assert subs["55"].late and subs["55"].path.name.endswith("ЩЩ-2.ipynb") and "77" in subs
    assert next(s for s in subs if s.startswith("Щ")).endswith(tuple("0123456789abcdef"))
    assert all(len(part.encode()) <= 255 for s in intake.submissions for part in s.path.parts)
    assert "9" in subs and subs["9"].submitted_at                 # an impossible date: the file is still taken
    again = discover(tmp_path / "lms.zip", unpack_to=tmp_path / "unpacked")   # kept: the same list, from the stamp
    assert [(str(p), r) for p, r in again.skipped] == [(str(p), r) for p, r in intake.skipped]
