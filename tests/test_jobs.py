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
