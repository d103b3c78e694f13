"""Find the submissions in a folder: every notebook in it, and one level of per-student folders."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Submission:
    student: str          # the file stem, or the per-student folder's name
    path: Path            # the notebook (it may turn out not to be one)
    folder: Path | None   # a per-student folder: its other files are the notebook's neighbours
    note: str = ""        # e.g. which of several notebooks in a folder was taken

    def sha256(self) -> str:
        h = hashlib.sha256()
        _hash_file(h, self.path)
        if self.folder is not None:
            for p in sorted(self.folder.rglob("*")):
                if p.is_file() and not p.is_symlink() and p != self.path:
                    h.update(str(p.relative_to(self.folder)).encode())
                    _hash_file(h, p)
        return h.hexdigest()


def _hash_file(h, path: Path) -> None:
    """In chunks: a submitted file may be far larger than memory allows."""
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)


def _visible(p: Path) -> bool:
    return not p.name.startswith(".") and p.name != "__MACOSX" and ".ipynb_checkpoints" not in p.parts


def discover(root: Path) -> tuple[list[Submission], list[Path]]:
    """The submissions, and the files that were not taken (listed for the TA, never dropped silently)."""
    root = Path(root)
    if not root.is_dir():
        raise SystemExit(f"{root}: not a folder of submissions")
    found: list[Submission] = []
    skipped: list[Path] = []
    for entry in sorted(root.iterdir()):
        if not _visible(entry):
            continue
        if entry.is_file():
            if entry.suffix.lower() == ".ipynb":
                found.append(Submission(entry.stem, entry, None))
            else:
                skipped.append(entry)
        elif entry.is_dir():
            notebooks = sorted(p for p in entry.rglob("*.ipynb") if _visible(p.relative_to(root)))
            if not notebooks:
                skipped.append(entry)
                continue
            chosen = max(notebooks, key=lambda p: (p.stat().st_mtime, p.stat().st_size))
            note = (f"{len(notebooks)} notebooks in the folder; graded the most recent, {chosen.name}"
                    if len(notebooks) > 1 else "")
            skipped.extend(p for p in notebooks if p != chosen)
            found.append(Submission(entry.name, chosen, entry, note))
    ids: dict[str, int] = {}
    unique = []
    for sub in found:  # `ann.ipynb` and a folder `ann/`: keep both, apart
        n = ids.get(sub.student, 0)
        ids[sub.student] = n + 1
        unique.append(sub if n == 0 else Submission(f"{sub.student}~{n + 1}", sub.path, sub.folder, sub.note))
    return unique, skipped
