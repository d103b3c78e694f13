"""A submission's result: its typed form while it is made, where it lives under OUT, and the
result of a submission the grader could not grade. The one module that knows the stored form:
pipeline.py fills a Result in, rubric.rescore scores it, pipeline.finish writes it; what comes
after the write (reports, exports, the dashboard, regrade, the executors' hand-over) reads the
stored JSON.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .discover import Submission, folder_name
from .write import write_atomic

SCHEMA = 2
SHOWN_EMPTY = ("keys", "max_total")   # stored even when None: an error result has neither


@dataclass
class Result:
    """One submission's result. The verdicts (checks) and how they came about are the grading's;
    the points and totals are rubric.rescore's, computed from the verdicts on every run."""
    student: str
    student_info: dict
    submission: str
    checks: list[dict]        # per check: id, title, status, message, fraction, details, requires; then its points
    execution: dict           # how the notebook ran (status, message, seconds, errors, ...)
    keys: dict | None = None  # what the verdicts depend on (pipeline.stage_keys): a result is kept while they match
    submission_sha256: str | None = None
    assignment: str | None = None
    dataset: dict | None = None
    grader_version: str | None = None
    isolation: str | None = None
    graded_at: str | None = None
    late_input: dict = field(default_factory=dict)   # the LMS's late marker and submission time
    notebook: dict | None = None      # a file that is not a readable notebook: why
    extraction: dict | None = None    # what the grader found in the code
    hyperparams: dict | None = None
    provenance: dict | None = None    # where the code graded is not the code that ran
    timing: dict | None = None
    # scoring (rubric.rescore)
    total: float = 0
    max_total: float | None = None
    auto_total: float | None = None
    late: dict | None = None
    override: dict | None = None      # a TA's override of the total
    # what went wrong on the grader's side
    grader_error: str | None = None   # the grader failed on this submission: its traceback
    report_error: str | None = None   # the result is right, its report could not be written
    graded_on: str | None = None      # "cluster": a Dask worker graded it
    schema: int = SCHEMA

    def to_json(self) -> dict:
        """The stored form: fields left empty are not written (but SHOWN_EMPTY)."""
        return {k: v for k, v in asdict(self).items() if v is not None or k in SHOWN_EMPTY}

    @classmethod
    def from_json(cls, data: dict) -> Result:
        """A stored result (of this schema: an older one's keys never match, so it is graded again)."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"not a result of schema {SCHEMA}: unknown fields {sorted(unknown)}")
        return cls(**data)


def student_dir(out: Path, student: str) -> Path:
    """A student's folder under OUT (see discover.folder_name: safe and distinct for any id)."""
    return out / folder_name(student)


def result_path(out: Path, student: str) -> Path:
    return student_dir(out, student) / "result.json"


def error_result(sub: Submission, out: Path, error: str, message: str) -> dict:
    """The result of a submission the grader failed on (its traceback in `grader_error`), written
    at once: a TA sees it on the dashboard, and the next run grades it again."""
    result = Result(sub.student, sub.info, sub.path.name, [], {"status": "grader_error", "message": message},
                    grader_error=error).to_json()
    write_atomic(result_path(out, sub.student), json.dumps(result, indent=1))
    return result
