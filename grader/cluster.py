"""Grading on a Dask distributed cluster (`--scheduler ADDRESS`): the same per-submission work,
run by workers on other machines.

A task carries everything of its submission (the notebook, its folder's files, the client's
rubric) and the stage keys the client expects. The worker keeps the assignment it loaded for
its later tasks (loaded again when a file of it changes), grades the submission in a temporary
folder with its own grader, data cache and sandbox, and sends back
the result and the execution's files; the client writes them into OUT, atomically, as they
arrive, and renders the reports. A worker lost mid-task is Dask's to handle: the scheduler
gives the task to another worker. A worker whose grader, data set or isolation differs from
the client's is caught by the keys, and its result is reported, not used.
"""
from __future__ import annotations

import hashlib
import tempfile
import traceback
from pathlib import Path
from typing import Callable

from . import assignment as assignments, datasets, pipeline, sandbox
from .discover import Submission, folder_name
from .errors import SetupError
from .results import Result, error_result, student_dir
from .write import write_atomic

STAGE_FILES = ("executed.ipynb", "execution.json")


def _payload(sub: Submission, job: pipeline.Job, rubric: str, keys: dict, overrides: list[dict]) -> dict:
    folder_files = {}
    if sub.folder is not None:
        folder_files = {str(p.relative_to(sub.folder)): p.read_bytes() for p in sorted(sub.folder.rglob("*"))
                        if p.is_file() and not p.is_symlink()}
    return {"student": sub.student, "notebook": sub.path.read_bytes(), "name": sub.path.name,
            "in_folder": str(sub.path.relative_to(sub.folder)) if sub.folder else None, "folder": folder_files,
            "note": sub.note, "info": sub.info, "late": sub.late, "submitted_at": sub.submitted_at,
            "assignment": job.assignment_id, "rubric": rubric,
            "data": job.data_spec, "isolation": job.box.mode, "seed": job.seed, "reuse_probes": job.reuse_probes,
            "keys": keys, "overrides": overrides}


def grade_remote(payload: dict) -> dict:
    """On a worker: grade one submission in a temporary folder; return its result and files."""
    with tempfile.TemporaryDirectory(prefix="nngrader-task-") as tmp:
        root = Path(tmp)
        if payload["in_folder"]:
            folder = root / "submission" / folder_name(payload["student"])
            for name, data in payload["folder"].items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(data)
            path = folder / payload["in_folder"]
        else:
            folder, path = None, root / "submission" / payload["name"]
            path.parent.mkdir(parents=True)
            path.write_bytes(payload["notebook"])
        # the client's rubric, always (a worker's copy of the repository may be older), named by its content
        text = payload["rubric"]
        rubric = datasets.cache_root() / "rubrics" / f"{hashlib.sha256(text.encode()).hexdigest()}.toml"
        if not rubric.is_file():
            write_atomic(rubric, text)
        try:
            box, _ = sandbox.choose("bwrap" if payload["isolation"] == sandbox.BWRAP else "none")
        except SetupError as exc:   # never end the worker: the client reports it
            raise RuntimeError(f"this worker cannot sandbox as the client asks: {exc}") from None
        job = pipeline.Job(payload["assignment"], rubric, payload["data"], root / "out", datasets.cache_root(),
                           threads=1, box=box, seed=payload["seed"], reuse_probes=payload["reuse_probes"])
        sub = Submission(payload["student"], path, folder, payload["note"], payload["info"], payload["late"],
                         payload["submitted_at"])
        pipeline.load(job, keep=True)   # once per worker process, again when its files change
        result = pipeline.grade_one(sub, job, payload["overrides"])
        folder = student_dir(job.out, sub.student)
        files = {name: (folder / name).read_bytes() for name in STAGE_FILES if (folder / name).is_file()}
        return {"result": result, "files": files}


class DaskCluster:
    """The executor of a Dask distributed cluster whose scheduler is at `address`."""

    def __init__(self, address: str):
        self.address = address

    def grade(self, subs: list[Submission], job: pipeline.Job, record: Callable[[dict], None],
              overrides: dict[str, list[dict]]) -> None:
        """Grade `subs` on the cluster, writing each result here as it comes."""
        from distributed import Client, as_completed

        a = assignments.load(job.assignment_id, job.rubric_path)
        ds = datasets.for_assignment(a.dataset_kind, job.data_spec)
        rubric = a.rubric_path.read_text()
        with Client(self.address, timeout="30s") as client:
            futures = {}
            for sub in subs:
                keys = pipeline.stage_keys(sub.sha256(), job, a, ds)
                future = client.submit(grade_remote, _payload(sub, job, rubric, keys, overrides.get(sub.student, [])),
                                       key=f"nngrader-{sub.student}-{keys['checks'][:12]}", pure=False, retries=1)
                futures[future] = (sub, keys)
            for future in as_completed(futures):
                sub, keys = futures[future]
                try:
                    record(_keep(future.result(), sub, keys, job, a, overrides.get(sub.student, [])))
                except Exception:  # noqa: BLE001 - lost on every try, or failed on the worker: reported, batch goes on
                    record(error_result(sub, job.out, traceback.format_exc(),
                                        "the cluster could not grade this submission"))


def _keep(done: dict, sub: Submission, keys: dict, job: pipeline.Job, a, overrides: list[dict]) -> dict:
    """Write a worker's output here, or report why it cannot be used."""
    result = done["result"]
    if result.get("grader_error"):
        return error_result(sub, job.out, result["grader_error"], result["execution"]["message"])
    if result.get("keys") != keys:
        return error_result(
            sub, job.out, f"the worker's keys {result.get('keys')} differ from this machine's {keys}",
            "a worker graded this with another grader version, data set or isolation: install the same "
            "version everywhere, with the same data cache and bubblewrap")
    folder = student_dir(job.out, sub.student)
    for name, data in done["files"].items():
        write_atomic(folder / name, data)
    return pipeline.finish(Result.from_json({**result, "graded_on": "cluster"}), a, job, overrides)
