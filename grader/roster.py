"""A class roster, from the CSV an LMS exports (Canvas gradebook, Moodle grading worksheet or
participants list) or a plain one: who the students are, to name them in reports and exports
and to find who submitted nothing."""
from __future__ import annotations

import csv
import re
from pathlib import Path

from .errors import SetupError

# our field -> the column names it is known by (compared without case, spaces or punctuation)
COLUMNS = {
    "lms_id": ["id", "userid", "canvasid", "identifier", "participant", "participantid", "studentid"],
    "name": ["student", "name", "fullname", "studentname"],
    "email": ["email", "emailaddress", "mail"],
    "sis_id": ["sisuserid", "idnumber", "sisid", "studentnumber", "matriculationnumber"],
    "sis_login": ["sisloginid", "username", "login", "userlogin"],
    "section": ["section", "sections", "group", "groups"],
}


def _key(column: str) -> str:
    return re.sub(r"[^a-z0-9]", "", column.lower())


def read(path: Path) -> list[dict]:
    """One dict per student with the fields it has (lms_id, name, email, sis_id, sis_login,
    section). Rows that are not students (Canvas's "Points Possible", blank ids) are left out."""
    text = Path(path).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        return []
    where = {}
    for i, column in enumerate(rows[0]):
        for name, known in COLUMNS.items():
            if _key(column) in known and name not in where:
                where[name] = i
    if not where:
        raise SetupError(f"{path}: no roster columns (expected e.g. ID, Student, Email, SIS User ID, Section)")
    people = []
    for row in rows[1:]:
        person = {name: row[i].strip() for name, i in where.items() if i < len(row) and row[i].strip()}
        if "lms_id" in person:   # Moodle: "Participant 123456"
            person["lms_id"] = re.sub(r"^participant\s*", "", person["lms_id"], flags=re.IGNORECASE)
        if "points possible" in " ".join(row).lower() or not (person.get("lms_id") or person.get("sis_login")
                                                               or person.get("email")):
            continue
        people.append(person)
    return people


def find(people: list[dict], student: str, info: dict) -> int | None:
    """The roster index of a submission's student: by LMS id, login, SIS id or email (or its
    part before the @), compared without case."""
    wanted = {v.lower() for v in (student, info.get("lms_id", "")) if v}
    for i, person in enumerate(people):
        keys = {person.get(k, "").lower() for k in ("lms_id", "sis_login", "sis_id", "email")}
        keys |= {person["email"].split("@")[0].lower()} if person.get("email") else set()
        if wanted & (keys - {""}):
            return i
    return None


_COLUMN = re.compile(r"^(?P<title>.*\S)\s*\((?P<id>\d+)\)$")


def gradebook_columns(path: Path) -> list[tuple[str, str]]:
    """The assignment columns of a Canvas gradebook export, as (title, assignment id): Canvas heads
    each "<title> (<id>)". Empty for any other roster."""
    text = Path(path).read_text(encoding="utf-8-sig")
    header = next(csv.reader(text.splitlines()), [])
    if not {"student", "id"} <= {_key(c) for c in header}:
        return []
    return [(m["title"], m["id"]) for m in map(_COLUMN.match, header) if m]
