"""Find the submissions: a folder of notebooks, a folder of per-student folders, or an LMS's bulk
download (Canvas, Moodle), as the zip or unpacked, with an optional roster.

Every file is either taken as a student's notebook or listed as skipped, with why; every
submission off the roster, and every roster student without a submission, is listed too.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import roster as roster_mod

# <sortablename>[_LATE]_<userid>_<fileid>_<filename>; a resubmitted file gets -1, -2 before its extension
CANVAS = re.compile(r"^(?P<name>[^_]+?)(?P<late>_late)?_(?P<uid>\d+)_(?P<fid>\d+)_(?P<file>.+)$", re.IGNORECASE)
RESUBMISSION = re.compile(r"-(\d+)$")
# <Full Name>_<participantid>_assignsubmission_file[/<file> | _<file>]
MOODLE = re.compile(r"^(?P<name>.+)_(?P<pid>\d+)_assignsubmission_(?P<kind>[a-z]+)(?:_(?P<file>.+))?$")
MAX_UNPACKED = 8 << 30          # a bulk download larger than this when unpacked is refused


@dataclass(frozen=True)
class Submission:
    student: str          # the file stem, the per-student folder's name, or the LMS's id
    path: Path            # the notebook (it may turn out not to be one)
    folder: Path | None   # a per-student folder: its other files are the notebook's neighbours
    note: str = ""        # e.g. which of several notebooks in a folder was taken
    info: dict = field(default_factory=dict, hash=False, compare=False)  # name, email, SIS id, section
    late: bool = False    # the LMS marked it late
    submitted_at: str | None = None   # when it was submitted (ISO 8601): the file's time

    def sha256(self) -> str:
        h = hashlib.sha256()
        _hash_file(h, self.path)
        if self.folder is not None:
            for p in sorted(self.folder.rglob("*")):
                if p.is_file() and not p.is_symlink() and p != self.path:
                    h.update(str(p.relative_to(self.folder)).encode())
                    _hash_file(h, p)
        return h.hexdigest()


@dataclass
class Intake:
    submissions: list[Submission]
    skipped: list[tuple[Path, str]] = field(default_factory=list)   # (file, why it was not taken)
    unmatched: list[str] = field(default_factory=list)             # students with a submission, not on the roster
    missing: list[dict] = field(default_factory=list)              # roster students without a submission
    kinds: set[str] = field(default_factory=set)                   # canvas, moodle, folder


def _hash_file(h, path: Path) -> None:
    """In chunks: a submitted file may be far larger than memory allows."""
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)


def _visible(p: Path) -> bool:
    return not p.name.startswith(".") and p.name != "__MACOSX" and ".ipynb_checkpoints" not in p.parts


def _time(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")


def discover(root: Path, roster: Path | None = None, unpack_to: Path | None = None) -> Intake:
    """The submissions under `root` (a folder, or a zip unpacked into `unpack_to`)."""
    # absolute: a student's folder is mounted into the sandbox by its path, from another cwd
    root = Path(root).absolute()
    if root.is_file() and zipfile.is_zipfile(root):
        root = unpack(root, Path(unpack_to or root.with_suffix("")).absolute())
    if not root.is_dir():
        raise SystemExit(f"{root}: not a folder of submissions or a zip of them")
    intake = Intake([])
    groups: dict[str, dict] = {}   # student -> {"files": [(path, rank)], "info", "late", "folder", "kind"}
    for entry in sorted(root.iterdir()):
        if not _visible(entry):
            continue
        canvas, moodle = CANVAS.match(entry.name), MOODLE.match(entry.name)
        if moodle and moodle["kind"] != "file":
            intake.skipped.append((entry, f"a Moodle {moodle['kind']} submission, not a file"))
        elif moodle:
            group = groups.setdefault(moodle["pid"], {"files": [], "kind": "moodle", "late": False, "folder": None,
                                                      "info": {"name": moodle["name"], "lms": "moodle",
                                                               "lms_id": moodle["pid"]}})
            if entry.is_dir():
                group["folder"] = entry
                group["files"] += [(p, (p.stat().st_mtime,)) for p in sorted(entry.rglob("*")) if p.is_file()
                                   and _visible(p.relative_to(root))]
            else:
                group["files"].append((entry, (entry.stat().st_mtime,)))
        elif canvas and entry.is_file():
            stem = Path(canvas["file"]).stem
            again = RESUBMISSION.search(stem)
            group = groups.setdefault(canvas["uid"], {"files": [], "kind": "canvas", "late": False, "folder": None,
                                                      "info": {"name": canvas["name"], "lms": "canvas",
                                                               "lms_id": canvas["uid"]}})
            group["late"] |= bool(canvas["late"])
            group["files"].append((entry, (int(again[1]) if again else 0, int(canvas["fid"]))))
        elif entry.is_file():
            group = groups.get(entry.stem)
            if group is None or group["kind"] != "folder" or group["folder"] is not None:
                group = groups[_free(groups, entry.stem)] = {"files": [], "kind": "folder", "late": False,
                                                              "folder": None, "info": {}}
            group["files"].append((entry, (entry.stat().st_mtime,)))
        elif entry.is_dir():   # a per-student folder: its other files are the notebook's neighbours
            files = [(p, (p.stat().st_mtime, p.stat().st_size)) for p in sorted(entry.rglob("*"))
                     if p.is_file() and _visible(p.relative_to(root))]
            groups[_free(groups, entry.name)] = {"files": files, "kind": "folder", "late": False, "folder": entry,
                                                 "info": {}}
    for student, group in groups.items():
        notebooks = [(p, rank) for p, rank in group["files"] if p.suffix.lower() == ".ipynb"]
        others = [p for p, _ in group["files"] if p.suffix.lower() != ".ipynb"]
        if group["folder"] is None:   # loose files: the other files are not the notebook's neighbours
            intake.skipped.extend((p, "not a notebook") for p in others)
        if not notebooks:
            if group["folder"] is not None or not others:
                intake.skipped.append((group["folder"] or Path(student), "no notebook in it"))
            continue
        chosen = max(notebooks, key=lambda item: item[1])[0]
        older = [p for p, _ in notebooks if p != chosen]
        why = "an earlier submission" if group["kind"] == "canvas" else "another notebook of the same student"
        intake.skipped.extend((p, f"{why}; graded {chosen.name}") for p in older)
        note = f"{len(notebooks)} notebooks; graded {'the latest' if group['kind'] == 'canvas' else 'the most recent'}, " \
               f"{chosen.name}" if older else ""
        intake.kinds.add(group["kind"])
        intake.submissions.append(Submission(student, chosen, group["folder"], note, dict(group["info"]),
                                             group["late"], _time(chosen)))
    intake.submissions.sort(key=lambda s: s.student)
    if roster is not None:
        _match_roster(intake, roster_mod.read(roster))
    return intake


def _free(groups: dict, student: str) -> str:
    """`ann`, or `ann~2` when `ann.ipynb` and a folder `ann/` are both there: kept apart."""
    n, key = 1, student
    while key in groups:
        n += 1
        key = f"{student}~{n}"
    return key


def _match_roster(intake: Intake, people: list[dict]) -> None:
    """Names, emails, SIS ids and sections from the roster; who is off it, and who has no submission."""
    matched: set[int] = set()
    subs = []
    for sub in intake.submissions:
        index = roster_mod.find(people, sub.student, sub.info)
        if index is None:
            intake.unmatched.append(sub.student)
            subs.append(sub)
            continue
        matched.add(index)
        subs.append(Submission(sub.student, sub.path, sub.folder, sub.note, {**sub.info, **people[index]},
                               sub.late, sub.submitted_at))
    intake.submissions = subs
    intake.missing = [p for i, p in enumerate(people) if i not in matched]


def unpack(archive: Path, into: Path) -> Path:
    """Unpack an LMS's zip once (again only when the zip changed), keeping each file's time (when
    it was submitted). Entries that would land outside `into`, links, and archives that unpack
    to more than MAX_UNPACKED are refused."""
    digest = hashlib.sha256()
    _hash_file(digest, archive)
    stamp = into / ".nngrader-unpacked"
    if stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return into
    with zipfile.ZipFile(archive) as z:
        entries = z.infolist()
        if sum(e.file_size for e in entries) > MAX_UNPACKED:
            raise SystemExit(f"{archive}: unpacks to more than {MAX_UNPACKED >> 30} GB; unpack it yourself")
        into.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=into.parent, prefix=".unpacking-"))
        for entry in entries:
            name = Path(entry.filename)
            is_link = (entry.external_attr >> 16) & 0o170000 == 0o120000
            if entry.is_dir() or is_link or name.is_absolute() or ".." in name.parts:
                continue
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(entry) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            when = datetime(*entry.date_time).timestamp()
            os.utime(target, (when, when))
    shutil.rmtree(into, ignore_errors=True)
    tmp.rename(into)
    stamp.write_text(digest.hexdigest())
    return into
