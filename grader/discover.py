"""Find the submissions: a folder of notebooks, a folder of per-student folders, or an LMS's bulk
download (Canvas, Moodle), as the zip or unpacked, with an optional roster.

Every file is either taken as a student's notebook or listed as skipped, with why; every
submission off the roster, and every roster student without a submission, is listed too.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import roster as roster_mod
from .errors import SetupError
from .write import read_json

# <sortablename>[_LATE]_<userid>_<fileid>_<filename>; a resubmitted file gets -1, -2 before its extension
CANVAS = re.compile(r"^(?P<name>[^_]+?)(?P<late>_late)?_(?P<uid>\d+)_(?P<fid>\d+)_(?P<file>.+)$", re.IGNORECASE)
RESUBMISSION = re.compile(r"-(\d+)$")
# <Full Name>_<participantid>_assignsubmission_file[/<file> | _<file>]
MOODLE = re.compile(r"^(?P<name>.+)_(?P<pid>\d+)_assignsubmission_(?P<kind>[a-z]+)(?:_(?P<file>.+))?$")
MAX_UNPACKED = 8 << 30          # a bulk download larger than this when unpacked is refused
NAME_BYTES = 255                # the longest file name (one path component) Linux and macOS file systems take
# a student id used as its folder's name as it is: lower-case ASCII, no dot, no '~' (see folder_name)
PLAIN_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# names Windows cannot create (a results folder is often copied there), with or without an extension
DEVICE_NAMES = re.compile(r"(con|prn|aux|nul|com\d|lpt\d|conin\$|conout\$)", re.IGNORECASE)
STAMP = ".nngrader-unpacked"    # in an unpacked zip's folder: the zip's digest, and the entries not taken


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


def folder_name(student: str) -> str:
    """The name of a student's folder under OUT: the only place it is made from the id.

    Any id gets a folder of its own that cannot be anything else the grader writes (every file
    the grader writes at the top of OUT has a dot in its name: index.html, *.csv, run.json,
    overrides.toml, .unpacked, .*.tmp), cannot climb out of OUT, and stays apart from every
    other id on file systems that ignore case or normalise Unicode. An id of lower-case ASCII
    letters, digits, '_' and '-' (Canvas and Moodle ids, most file stems) is its own folder;
    any other id becomes a readable part and 16 hex digits of its SHA-256, joined by '~', which
    no id kept as it is contains. The student id itself (in results and CSVs) is unchanged."""
    if PLAIN_ID.fullmatch(student) and not DEVICE_NAMES.fullmatch(student):
        return student
    ascii_text = unicodedata.normalize("NFKD", student).encode("ascii", "ignore").decode().lower()
    readable = re.sub(r"[^a-z0-9_-]+", "_", ascii_text).strip("_-")[:40] or "student"
    return f"{readable}~{hashlib.sha256(student.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"


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
    refused: list[tuple[Path, str]] = []
    if root.is_file() and zipfile.is_zipfile(root):
        root, refused = unpack(root, Path(unpack_to or root.with_suffix("")).absolute())
    if not root.is_dir():
        raise SetupError(f"{root}: not a folder of submissions or a zip of them")
    intake = Intake([], skipped=list(refused))
    groups: dict[str, dict] = {}   # student -> {"files": [(path, rank)], "info", "late", "folder", "kind", "stem"}
    for entry in sorted(root.iterdir()):
        if entry.name == STAMP:
            continue
        if not _visible(entry):
            intake.skipped.append((entry, "hidden (its name starts with '.'), or macOS metadata"))
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
        elif entry.is_file():   # loose files of one stem (ann.ipynb, ann.txt) are one student's
            group = groups.get(entry.stem)
            if group is None or group.get("stem") != entry.stem:
                group = groups[_free(groups, entry.stem)] = {"files": [], "kind": "folder", "late": False,
                                                              "folder": None, "info": {}, "stem": entry.stem}
            group["files"].append((entry, (entry.stat().st_mtime,)))
        elif entry.is_dir():   # a per-student folder: its other files are the notebook's neighbours
            files = [(p, (p.stat().st_mtime, p.stat().st_size)) for p in sorted(entry.rglob("*"))
                     if p.is_file() and _visible(p.relative_to(root))]
            groups[_free(groups, entry.name)] = {"files": files, "kind": "folder", "late": False, "folder": entry,
                                                 "info": {}}
        else:
            intake.skipped.append((entry, "not a file or a folder (a broken link, a device or a pipe)"))
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


def unpack(archive: Path, into: Path) -> tuple[Path, list[tuple[Path, str]]]:
    """Unpack an LMS's zip once (again only when the zip changed), keeping each file's time (when
    it was submitted); return the folder and the entries not taken, each with why. Archives that
    unpack to more than MAX_UNPACKED are refused as a whole; one bad entry costs only itself."""
    digest = hashlib.sha256()
    _hash_file(digest, archive)
    stamp = into / STAMP
    kept = read_json(stamp)
    if kept is not None and kept.get("zip_sha256") == digest.hexdigest():
        return into, [(Path(e["entry"]), e["why"]) for e in kept.get("not_taken", [])]
    try:
        z = zipfile.ZipFile(archive)
    except Exception as exc:  # noqa: BLE001 - a damaged directory, names that are not UTF-8, ...
        raise SetupError(f"{archive}: the zip cannot be read ({type(exc).__name__}: {exc}); unpack it yourself "
                         "and grade the folder") from None
    not_taken: list[tuple[str, str]] = []
    with z:
        entries = z.infolist()
        if sum(e.file_size for e in entries) > MAX_UNPACKED:
            raise SetupError(f"{archive}: unpacks to more than {MAX_UNPACKED >> 30} GB; unpack it yourself")
        into.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=into.parent, prefix=".unpacking-"))
        taken: dict[str, str] = {}   # every file and folder made ("a/b" or "a/") -> the entry that made it
        for entry in entries:
            if entry.is_dir():
                continue
            parts, why = _entry_parts(entry)
            why = why or _clash(parts, taken) or _extract(z, entry, tmp / Path(*parts))
            if why is None:
                _claim(parts, taken, entry.filename)
            else:
                not_taken.append((entry.filename, why))
    shutil.rmtree(into, ignore_errors=True)
    tmp.rename(into)
    stamp.write_text(json.dumps({"zip_sha256": digest.hexdigest(),
                                 "not_taken": [{"entry": e, "why": why} for e, why in not_taken]}))
    return into, [(Path(e), why) for e, why in not_taken]


def _entry_parts(entry: zipfile.ZipInfo) -> tuple[list[str], str | None]:
    """The path an entry is unpacked to, as its parts (each shortened to NAME_BYTES), or why it is refused."""
    name = entry.filename
    if (entry.external_attr >> 16) & 0o170000 == 0o120000:
        return [], f"refused: the zip entry {name!r} is a link"
    if "\\" in name:
        return [], f"refused: the zip entry {name!r} has a backslash in its path (unpack the zip yourself)"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return [], f"refused: the zip entry {name!r} is an absolute path"
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        return [], f"refused: the zip entry {name!r} points outside its folder ('..')"
    if not parts:
        return [], f"refused: the zip entry {name!r} has no name"
    return [_shorten(part) for part in parts], None


def _clash(parts: list[str], taken: dict[str, str]) -> str | None:
    """Why an entry would overwrite, or be in the way of, an entry unpacked before it; the first is kept."""
    for depth in range(1, len(parts)):   # a folder on its way that is a file already
        first = taken.get("/".join(parts[:depth]))
        if first is not None and not first.endswith("/"):
            return f"not unpacked: its folder {parts[depth - 1]!r} has the name of the file {first!r} " \
                   "(the file was kept)"
    first = taken.get("/".join(parts))
    if first is None:
        return None
    what = "a folder" if first.endswith("/") else f"the entry {first!r}"
    return f"not unpacked: the same name as {what}, unpacked before it (that one was kept)"


def _claim(parts: list[str], taken: dict[str, str], name: str) -> None:
    for depth in range(1, len(parts)):
        taken.setdefault("/".join(parts[:depth]), "/".join(parts[:depth]) + "/")
    taken["/".join(parts)] = name


def _extract(z: zipfile.ZipFile, entry: zipfile.ZipInfo, target: Path) -> str | None:
    """Unpack one entry with its time, or say why it could not be (a bad CRC, an unknown method, ...)."""
    made = False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with z.open(entry) as src, open(target, "xb") as dst:   # never over a file of the same name
            made = True
            shutil.copyfileobj(src, dst)
    except Exception as exc:  # noqa: BLE001 - zipfile raises many kinds; this entry only is lost
        if made:
            target.unlink()
        if isinstance(exc, FileExistsError):   # a file system that ignores case or Unicode form
            return "not unpacked: this file system takes it for an entry unpacked before it (that one was kept)"
        if isinstance(exc, OSError):   # the file system's refusal, e.g. a path over PATH_MAX
            return f"not unpacked: {exc.strerror or exc}"
        why = "bad CRC: the file is damaged" if "CRC" in str(exc) else f"{type(exc).__name__}: {str(exc)[:200]}"
        return f"unreadable in the zip ({why}); download it again or ask for it"
    try:
        when = datetime(*entry.date_time).timestamp()
        os.utime(target, (when, when))
    except (ValueError, OverflowError, OSError):
        pass   # an impossible date in the zip: the file keeps the time it was unpacked
    return None


def _shorten(name: str) -> str:
    """A file name cut to NAME_BYTES of UTF-8, keeping an LMS's id parts and the extension, and
    made distinct from other cut names by 8 hex digits of its SHA-256."""
    if len(name.encode()) <= NAME_BYTES:
        return name
    tag = "~" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    lms = CANVAS.match(name) or MOODLE.match(name)
    if lms:
        file = lms["file"] or ""
        ids = name[lms.end("name"): lms.start("file") if lms["file"] is not None else len(name)]
        short = _cut(lms["name"], 60) + tag + ids + _cut_stem(file, 120)
        if len(short.encode()) <= NAME_BYTES:
            return short
    stem, suffix = _split(name)
    return _cut(stem, NAME_BYTES - len(tag) - len(suffix.encode())) + tag + suffix


def _split(name: str) -> tuple[str, str]:
    suffix = Path(name).suffix
    return (name[: -len(suffix)], suffix) if suffix and len(suffix.encode()) <= 16 else (name, "")


def _cut_stem(name: str, limit: int) -> str:
    """`name` in at most `limit` bytes plus its extension, keeping the end of its stem (a Canvas
    resubmission's '-2')."""
    stem, suffix = _split(name)
    if len(stem.encode()) <= limit:
        return name
    tail = stem[-8:]
    return _cut(stem, limit - len(tail.encode())) + tail + suffix


def _cut(text: str, limit: int) -> str:
    """The start of `text` in at most `limit` bytes of UTF-8, never half a character."""
    return text.encode()[: max(0, limit)].decode("utf-8", "ignore")
