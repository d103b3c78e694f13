"""The CSVs the LMSs import, and one with everything: written from the results at the end of
every run. Each follows its importer's documented format; students on the roster without a
submission are in every file, with the grade the rubric's [export] table says (blank by
default: the LMS then leaves their grade as it is).

* grades.csv: one row per student, the total, the late deduction, each check's points.
* canvas.csv: Canvas gradebook import: Student, ID, SIS User ID, SIS Login ID, Section,
  "<title> (<assignment id>)", and a "Points Possible" row.
* moodle.csv: Moodle's grading worksheet (Identifier "Participant <id>", Full name, Email
  address, Grade, Maximum Grade, Feedback comments); the gradebook's CSV import takes it too.
* blackboard.csv: Blackboard Grade Center upload: Last Name, First Name, Username,
  "<title> |<column id>", every field quoted.

Every file is inert: a text cell that a spreadsheet would read as a formula (it begins with
=, +, -, @, a tab or a carriage return: a student's file name, a roster's name or section)
gets a leading apostrophe, the usual defence; numbers stay numbers, negative ones too.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from .write import write_atomic


def _check_ids(results: list[dict]) -> list[str]:
    ids: list[str] = []
    for r in results:
        for c in r.get("checks", []):
            if c["id"] not in ids:
                ids.append(c["id"])
    return ids


def _status(r: dict) -> str:
    return "grader_error" if r.get("grader_error") else r.get("execution", {}).get("status", "")


def _rows(results: list[dict], missing: list[dict]) -> list[tuple[dict, dict | None]]:
    """(student details, result or None for a roster student without a submission), by name."""
    rows = [({"student": r["student"], **r.get("student_info", {})}, r) for r in results]
    rows += [({"student": p.get("sis_login") or p.get("lms_id") or p.get("email", ""), **p}, None) for p in missing]
    return sorted(rows, key=lambda row: (row[0].get("name", "") or row[0]["student"]).lower())


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(cell):
    """A cell as a spreadsheet may open it: text that could start a formula gets a leading "'"."""
    if isinstance(cell, str) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


def _csv(rows: list[list], quote_all: bool = False) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    writer.writerows([inert(cell) for cell in row] for row in rows)
    return buf.getvalue()


def _grade(r: dict | None, settings: dict):
    return settings.get("missing_grade", "") if r is None else r.get("total", 0)


def generic(results: list[dict], missing: list[dict]) -> str:
    checks = _check_ids(results)
    rows = [["student", "name", "email", "sis_id", "section", "total", "max_total", "automatic_total",
             "late_days", "late_deduction", "overridden", *checks, "dataset", "status"]]
    for who, r in _rows(results, missing):
        points = {c["id"]: c["points"] for c in (r or {}).get("checks", [])}
        late = (r or {}).get("late", {})
        overridden = bool(r and (r.get("override") or any(c.get("override") for c in r.get("checks", []))))
        rows.append([who["student"], who.get("name", ""), who.get("email", ""), who.get("sis_id", ""),
                     who.get("section", ""), "" if r is None else r.get("total", 0),
                     "" if r is None else r.get("max_total", ""), "" if r is None else r.get("auto_total", ""),
                     late.get("days", ""), late.get("deduction", ""), "yes" if overridden else "",
                     *[points.get(c, "") for c in checks], (r or {}).get("dataset", {}).get("name", ""),
                     "missing" if r is None else _status(r)])
    return _csv(rows)


def canvas(results: list[dict], missing: list[dict], title: str, max_total: float, settings: dict) -> str:
    column = f"{title} ({settings['canvas_assignment_id']})" if settings.get("canvas_assignment_id") else title
    rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column],
            ["Points Possible", "", "", "", "", max_total]]
    for who, r in _rows(results, missing):
        lms_id = who.get("lms_id", "") if who.get("lms", "canvas") == "canvas" else ""
        rows.append([who.get("name", who["student"]), lms_id, who.get("sis_id", ""), who.get("sis_login", ""),
                     who.get("section", ""), _grade(r, settings)])
    return _csv(rows)


def _feedback(r: dict | None) -> str:
    if r is None:
        return "no submission"
    if r.get("grader_error"):
        return "not graded yet: the grader could not grade this submission; a TA will"
    parts = [f"{c['title']}: {c['points']:g}/{c['max_points']:g}" for c in r.get("checks", [])]
    late = r.get("late", {})
    if late.get("deduction"):
        parts.append(f"late: -{late['deduction']:g}")
    if r.get("override"):
        parts.append(f"adjusted by a TA: {r['override'].get('comment', '')}".rstrip(": "))
    return f"{r.get('total', 0):g}/{r.get('max_total', 0):g}. " + "; ".join(parts)


def moodle(results: list[dict], missing: list[dict], max_total: float, settings: dict) -> str:
    rows = [["Identifier", "Full name", "Email address", "Grade", "Maximum Grade", "Feedback comments"]]
    for who, r in _rows(results, missing):
        identifier = f"Participant {who['lms_id']}" if who.get("lms_id") and who.get("lms") in ("moodle", None) \
            else who.get("email", who["student"])
        rows.append([identifier, who.get("name", who["student"]), who.get("email", ""), _grade(r, settings),
                     max_total, _feedback(r)])
    return _csv(rows)


def _last_first(name: str) -> tuple[str, str]:
    if "," in name:
        last, first = name.split(",", 1)
        return last.strip(), first.strip()
    parts = name.split()
    return (parts[-1], " ".join(parts[:-1])) if len(parts) > 1 else (name, "")


def blackboard(results: list[dict], missing: list[dict], title: str, settings: dict) -> str:
    column = f"{title} |{settings['blackboard_column_id']}" if settings.get("blackboard_column_id") else title
    rows = [["Last Name", "First Name", "Username", column]]
    for who, r in _rows(results, missing):
        last, first = _last_first(who.get("name", ""))
        username = who.get("sis_login") or (who.get("email", "").split("@")[0]) or who["student"]
        rows.append([last, first, username, _grade(r, settings)])
    return _csv(rows, quote_all=True)


FILES = ("grades.csv", "canvas.csv", "moodle.csv", "blackboard.csv")


def canvas_column(columns: list[tuple[str, str]], title: str, wanted: str | None) -> tuple[str | None, str]:
    """The Canvas assignment id that canvas.csv fills, from the gradebook export's columns: the one
    `wanted` names (its title, its id, or "title (id)"), else the one titled as the rubric's title.
    Without an id Canvas creates a new column on import instead of filling the assignment's, so
    every way of not finding one says so, and how to fix it."""
    def same(a: str, b: str) -> bool:
        return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()

    if wanted and wanted.strip().isdigit() and not columns:
        return wanted.strip(), f"canvas.csv fills the Canvas assignment {wanted.strip()}, as --canvas-column says"
    if wanted:
        found = [(t, i) for t, i in columns if wanted.strip() in (i, f"{t} ({i})") or same(t, wanted)]
    else:
        found = [(t, i) for t, i in columns if same(t, title)]
    if len(found) == 1:
        return found[0][1], f"canvas.csv fills the gradebook's column '{found[0][0]} ({found[0][1]})'"
    fix = ("set canvas_assignment_id in the rubric's [export], or pass --canvas-column with the column's "
           "title or id (the number in brackets in the gradebook export's header)")
    if len(found) > 1:
        names = ", ".join(f"'{t} ({i})'" for t, i in found)
        return None, f"WARNING: several gradebook columns match ({names}): {fix}"
    asked = f"'{wanted}'" if wanted else f"the title '{title}'"
    return None, (f"WARNING: canvas.csv has no Canvas assignment id: no gradebook column matches {asked}. Canvas "
                  f"will then create a new column '{title}' instead of filling the assignment's: {fix}")


def write_all(out: Path, results: list[dict], missing: list[dict], title: str, settings: dict) -> list[Path]:
    """Every export, from the results of a run; `settings` is the rubric's [export] table."""
    title = settings.get("title", title)
    max_total = max((r.get("max_total") or 0 for r in results), default=0)
    texts = (generic(results, missing), canvas(results, missing, title, max_total, settings),
             moodle(results, missing, max_total, settings), blackboard(results, missing, title, settings))
    files = dict(zip(FILES, texts))
    for name, text in files.items():
        write_atomic(out / name, text.encode("utf-8"))
    return [out / name for name in files]
