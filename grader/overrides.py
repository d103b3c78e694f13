"""A TA's hand corrections, in `OUT/overrides.toml`, applied at scoring: nothing runs again.

    [[override]]
    student = "ann"          # the student's id, as in grades.csv
    check = "backward"       # a check id, or "total" for the final total
    points = 28
    comment = "the (1, C) bias shape was allowed in the lecture"
"""
from __future__ import annotations

from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def load(path: Path, students: set[str], checks: set[str]) -> tuple[dict[str, list[dict]], list[str]]:
    """Overrides by student, and the problems with the file (never dropped silently)."""
    if not path.is_file():
        return {}, []
    try:
        entries = tomllib.loads(path.read_text()).get("override", [])
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return {}, [f"{path}: not read: {exc}"]
    by_student: dict[str, list[dict]] = {}
    problems = []
    for n, entry in enumerate(entries, 1):
        where = f"{path.name}, override {n}"
        student, check = str(entry.get("student", "")), str(entry.get("check", "total"))
        if student not in students:
            problems.append(f"{where}: no student {student!r} in this batch; ignored")
        elif check != "total" and check not in checks:
            problems.append(f"{where}: no check {check!r} (checks: {', '.join(sorted(checks))}, or total); ignored")
        elif not isinstance(entry.get("points"), (int, float)) or isinstance(entry.get("points"), bool):
            problems.append(f"{where}: points must be a number; ignored")
        else:
            by_student.setdefault(student, []).append(
                {"check": check, "points": float(entry["points"]), "comment": str(entry.get("comment", ""))})
    return by_student, problems
