"""Rebuild the LMS-style examples from the notebooks in this folder and the repository.

    .venv/bin/python examples/build.py

The notebooks are real submissions (see README.md here) and the assignment's reference and
release notebooks; the students' names, ids and dates around them are made up. Every output is
byte-for-byte the same on every run (fixed zip times and order), so a rebuild changes nothing
unless an input changed.
"""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SAMPLE = HERE / "cifar10_fcnet" / "student_004.ipynb"
REFERENCE = REPO / "reference" / "cifar10_fcnet.ipynb"
RELEASE = REPO / "assignments" / "cifar10_fcnet" / "release.ipynb"

# (Canvas file name, notebook, submission time): "Park, Kim" submitted late and resubmitted once
CANVAS = [
    ("leeann_101_5001_hw2.ipynb", REFERENCE, (2026, 11, 20, 18, 0, 0)),
    ("parkkim_LATE_102_5002_hw2.ipynb", RELEASE, (2026, 11, 21, 9, 30, 0)),
    ("parkkim_LATE_102_5003_hw2-1.ipynb", SAMPLE, (2026, 11, 22, 20, 0, 0)),
    ("parkkim_LATE_102_5004_notes.txt", None, (2026, 11, 22, 20, 1, 0)),
]
# Canvas "Export" of the gradebook: the assignment's column is "<title> (<assignment id>)"
GRADEBOOK = """Student,ID,SIS User ID,SIS Login ID,Section,Quiz 1 (5501),CIFAR-10 two-layer network with SGD + momentum (5566)
    Points Possible,,,,,10,90
"Lee, Ann",101,S-101,alee,Section A,9,
"Park, Kim",102,S-102,kpark,Section B,7,
"Ng, Amy",103,S-103,amyng,Section A,8,
"""
# Moodle "Download all submissions", unpacked: <Full Name>_<participant id>_assignsubmission_file/
MOODLE = {"Ann Lee_301_assignsubmission_file/hw2.ipynb": REFERENCE,
          "Kim Park_302_assignsubmission_file/hw2.ipynb": SAMPLE}


def build() -> None:
    with zipfile.ZipFile(HERE / "canvas" / "submissions.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for name, source, when in CANVAS:
            data = source.read_bytes() if source else b"my notes on the assignment\n"
            z.writestr(zipfile.ZipInfo(name, when), data)
    (HERE / "canvas" / "gradebook.csv").write_text(GRADEBOOK)
    moodle = HERE / "moodle"
    shutil.rmtree(moodle, ignore_errors=True)
    for name, source in MOODLE.items():
        (moodle / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, moodle / name)


if __name__ == "__main__":
    (HERE / "canvas").mkdir(exist_ok=True)
    build()
