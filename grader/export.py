"""The CSV the LMS takes: one row per student, the total and each check's points."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from .write import write_atomic


def write_csv(out: Path, results: list[dict]) -> Path:
    check_ids: list[str] = []
    for r in results:
        for c in r.get("checks", []):
            if c["id"] not in check_ids:
                check_ids.append(c["id"])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student", "total", "max_total", *check_ids, "dataset", "status"])
    for r in sorted(results, key=lambda r: r.get("student", "")):
        points = {c["id"]: c["points"] for c in r.get("checks", [])}
        status = "grader_error" if r.get("grader_error") else r.get("execution", {}).get("status", "")
        w.writerow([r["student"], r.get("total", 0), r.get("max_total", ""),
                    *[points.get(i, "") for i in check_ids], r.get("dataset", {}).get("name", ""), status])
    path = out / "grades.csv"
    write_atomic(path, buf.getvalue())
    return path
