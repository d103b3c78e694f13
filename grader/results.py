"""A submission's result as it is stored: where it lives under OUT, how it is read back, and
the result of a submission the grader could not grade. The one module that knows the layout;
pipeline.py fills a result in, batch.py and the executors hand them on.
"""
from __future__ import annotations

import json
from pathlib import Path

from .discover import Submission, folder_name
from .write import write_atomic

SCHEMA = 2


def student_dir(out: Path, student: str) -> Path:
    """A student's folder under OUT (see discover.folder_name: safe and distinct for any id)."""
    return out / folder_name(student)


def result_path(out: Path, student: str) -> Path:
    return student_dir(out, student) / "result.json"


def error_result(sub: Submission, out: Path, error: str, message: str) -> dict:
    """The result of a submission the grader failed on (its traceback in `grader_error`), written
    at once: a TA sees it on the dashboard, and the next run grades it again."""
    result = {"schema": SCHEMA, "student": sub.student, "student_info": sub.info, "submission": sub.path.name,
              "total": 0, "max_total": None, "keys": None, "grader_error": error, "checks": [],
              "execution": {"status": "grader_error", "message": message}}
    write_atomic(result_path(out, sub.student), json.dumps(result, indent=1))
    return result
