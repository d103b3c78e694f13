"""How many submissions are graded at once, by default: cores, as far as memory allows."""
from grader import executors


def test_jobs_follow_memory_as_well_as_cores(monkeypatch):
    monkeypatch.setattr(executors, "cores", lambda: 16)
    monkeypatch.setattr(executors, "available_memory_mb", lambda: 24_000)
    assert executors.default_jobs({"kernel_memory_mb": 8192})[0] == 2          # 24 GB / (8 + 1 GB)
    assert executors.default_jobs({"kernel_memory_mb": 2048})[0] == 7
    monkeypatch.setattr(executors, "available_memory_mb", lambda: 500_000)
    assert executors.default_jobs({"kernel_memory_mb": 2048}) == (16, "16 core(s), 500,000 MB available, 3,072 MB a job")
    monkeypatch.setattr(executors, "available_memory_mb", lambda: 3_000)
    assert executors.default_jobs({"kernel_memory_mb": 8192})[0] == 1          # never none


def test_a_worker_loads_the_assignment_once_and_other_callers_each_time(monkeypatch, tmp_path):
    from grader import assignment, pipeline, sandbox
    loads = []
    real = assignment.load
    monkeypatch.setattr(assignment, "load", lambda *args: loads.append(args) or real(*args))
    monkeypatch.setattr(pipeline, "_LOADED", {})
    job = pipeline.Job("cs231n_layers", None, None, tmp_path, tmp_path, threads=1, box=sandbox.Sandbox(sandbox.RLIMITS))
    first = pipeline.load(job, keep=True)   # what a batch's worker does when it starts
    assert pipeline.load(job) is first and len(loads) == 1
    other = pipeline.Job("nnfs_sgd_momentum", None, None, tmp_path, tmp_path, threads=1, box=job.box)
    pipeline.load(other)
    pipeline.load(other)
    assert len(loads) == 3
    monkeypatch.setattr(assignment.Assignment, "stamp", lambda self: ("a file changed",))   # what its files say now
    again = pipeline.load(job)
    assert again is not first and len(loads) == 4 and pipeline.load(job) is again   # loaded again, then kept


def test_a_dask_worker_loads_the_assignment_once_for_its_tasks(monkeypatch, tmp_path):
    """grade_remote, as a Dask worker runs it, task after task with the client's rubric text."""
    import nbformat

    from grader import assignment, cluster, pipeline
    loads = []
    real = assignment.load
    monkeypatch.setattr(assignment, "load", lambda *args: loads.append(args) or real(*args))
    monkeypatch.setattr(pipeline, "_LOADED", {})
    rubric = (assignment.REPO / "rubrics" / "nnfs_sgd_momentum.toml").read_text()
    nb = nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])).encode()
    for student in ("s1", "s2"):
        payload = {"student": student, "notebook": nb, "name": f"{student}.ipynb", "in_folder": None, "folder": {},
                   "note": "", "info": {}, "late": False, "submitted_at": None, "assignment": "nnfs_sgd_momentum",
                   "rubric": rubric, "data": None, "isolation": "rlimits", "seed": 0, "reuse_probes": True,
                   "keys": {}, "overrides": []}
        done = cluster.grade_remote(payload)
        assert done["result"]["student"] == student and done["result"]["total"] == 0
    assert len(loads) == 1
    # the client's rubric changed: the worker grades with it, not with the one it kept
    done = cluster.grade_remote({**payload, "rubric": rubric.replace("points = 10", "points = 11", 1)})
    assert len(loads) == 2 and done["result"]["max_total"] == 101
