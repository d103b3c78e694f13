"""Where submissions are graded: executors behind one method, `grade(subs, job, record,
overrides)`, which grades each submission with `pipeline.grade_one` somewhere and hands every
result to `record` as it arrives. A submission that cannot be graded becomes an error result;
the batch always goes on.

* LocalPool: worker processes on this machine (the default);
* cluster.DaskCluster: workers of a Dask distributed cluster (`--scheduler ADDRESS`).
"""
from __future__ import annotations

import os
import threading
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Protocol

from .discover import Submission
from .pipeline import Job, grade_one, load
from .results import error_result

Record = Callable[[dict], None]


class Executor(Protocol):
    def grade(self, subs: list[Submission], job: Job, record: Record, overrides: dict[str, list[dict]]) -> None:
        """Grade every submission of `subs`, passing each result to `record`."""


def executor(jobs: int, scheduler: str | None = None) -> Executor:
    """The executor a run asks for: a Dask cluster's when a scheduler is given, else a local pool."""
    if scheduler:
        from .cluster import DaskCluster   # distributed is imported only when a cluster is used
        return DaskCluster(scheduler)
    return LocalPool(jobs)


class LocalPool:
    """`jobs` worker processes (spawned: nothing of the grader's state is shared). A worker that
    dies costs only the submission it was grading, which is tried once more alone before it is
    reported."""

    def __init__(self, jobs: int):
        self.jobs = jobs

    def grade(self, subs: list[Submission], job: Job, record: Record, overrides: dict[str, list[dict]]) -> None:
        for sub in self._run(subs, job, self.jobs, record, overrides):
            if self._run([sub], job, 1, record, overrides):
                record(error_result(sub, job.out, "the grading worker died twice on this submission",
                                    "the grading worker died while grading this submission (out of memory, or "
                                    "its code killed the grader's process): grade it by hand"))

    @staticmethod
    def _run(subs: list[Submission], job: Job, jobs: int, record: Record,
             overrides: dict[str, list[dict]]) -> list[Submission]:
        """Grade `subs` with `jobs` workers; return those whose worker died under them."""
        broken: list[Submission] = []
        if not subs:
            return broken
        with ProcessPoolExecutor(min(jobs, len(subs)), mp_context=get_context("spawn"), initializer=worker_init,
                                 initargs=(job.threads, job)) as pool:
            futures = {pool.submit(_safe_grade, sub, job, overrides.get(sub.student, [])): sub for sub in subs}
            for future in as_completed(futures):
                try:
                    record(future.result())
                except Exception:  # noqa: BLE001 - the pool broke (a worker died): these are tried again
                    broken.append(futures[future])
        return broken


def worker_init(threads: int, job: Job | None = None) -> None:
    """A grading worker: BLAS threads as the batch says, the job's assignment and data set loaded
    once for all it grades, and gone when the grader is, even when stuck in C code holding the
    interpreter lock (a prctl death signal; it follows the thread that started the worker, here
    the batch's, which outlives the pool)."""
    import multiprocessing

    from threadpoolctl import threadpool_limits

    from .bounded import die_with_parent
    threadpool_limits(threads)
    if job is not None:
        load(job, keep=True)
    known = multiprocessing.parent_process()   # the grader's pid, even if it is already gone
    parent = known.pid if known is not None and known.pid else os.getppid()
    if die_with_parent(parent):
        return

    def leave_with_parent() -> None:  # elsewhere: the grader was killed: stop, and the sandboxes go with us
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=leave_with_parent, daemon=True).start()


def _safe_grade(sub: Submission, job: Job, overrides: list[dict]) -> dict:
    """A grader failure on one submission becomes an error result, never the end of the batch."""
    try:
        return grade_one(sub, job, overrides)
    except Exception:  # noqa: BLE001
        return error_result(sub, job.out, traceback.format_exc(), "the grader failed")


# ---------------------------------------------------------------- sizing a local pool

def cores() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def available_memory_mb() -> int | None:
    """MemAvailable of /proc/meminfo (Linux), or None."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def default_jobs(limits: dict) -> tuple[int, str]:
    """Submissions graded at once: one per core, as far as memory allows a kernel (at its
    rubric limit) and a worker (about 1 GB with the reference's training data) for each."""
    per_job = int(limits.get("kernel_memory_mb", 8192)) + 1024
    available = available_memory_mb()
    if available is None:
        return cores(), f"{cores()} core(s)"
    jobs = max(1, min(cores(), available // per_job))
    why = f"{cores()} core(s), {available:,} MB available, {per_job:,} MB a job"
    return jobs, why
