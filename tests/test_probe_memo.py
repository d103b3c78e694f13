"""Probe runs kept for identical code (grader/probe_memo.py): reused only when the code, the probes
and the inputs are the same, and never when the run was cut short."""
from __future__ import annotations

import numpy as np

from grader import probe_memo, sandbox

PROBES = '''
import os
import numpy as np

def draw(student, inputs):
    """An unseeded draw: two runs never give the same number, a reused run does."""
    return {"x": np.frombuffer(os.urandom(8), np.uint64).astype(np.float64), "y": student.f(inputs["a"])}

def flood(student, inputs):
    return {"x": np.zeros(3 << 20)}   # 24 MB: within what a probe may send, over what is kept

def hang(student, inputs):
    while True:
        pass
'''
STUDENT = "def f(a):\n    return a * 2\n"


def run(tmp_path, student=STUDENT, probe="draw", a=(1.0, 2.0), timeout=20.0, reuse=True):
    probes = tmp_path / "probes.py"
    probes.write_text(PROBES)
    call = probe_memo.probe.ProbeCall("c", probe, {"a": np.asarray(a)}, timeout)
    return probe_memo.run(tmp_path / "memo", student, [(1, student)], [probes], [call],
                          box=sandbox.choose("auto")[0], limits=sandbox.Limits(memory_mb=1024, cpu_seconds=60),
                          threads=1, max_output_mb=64, reuse=reuse)


def test_identical_code_on_identical_inputs_is_reused_and_anything_else_runs(tmp_path):
    first = run(tmp_path)
    assert not first.reused and first.outcomes["c"].error is None
    again = run(tmp_path)
    assert again.reused
    assert again.outcomes["c"].outputs["x"] == first.outcomes["c"].outputs["x"]   # the same run's draw
    assert np.array_equal(again.outcomes["c"].outputs["y"], [2.0, 4.0])
    for changed in (dict(student=STUDENT + "# a comment\n"), dict(a=(1.0, 3.0)), dict(timeout=30.0)):
        other = run(tmp_path, **changed)
        assert not other.reused, changed
        assert other.outcomes["c"].outputs["x"] != first.outcomes["c"].outputs["x"]


def test_a_run_cut_short_is_never_kept(tmp_path):
    for _ in range(2):
        cut = run(tmp_path, probe="hang", timeout=1.0)
        assert not cut.reused and "stopped after 1 s" in cut.outcomes["c"].error
    assert not run(tmp_path, probe="flood").reused and not run(tmp_path, probe="flood").reused
    raised = run(tmp_path, student="raise ValueError('no')\n")
    assert raised.import_error is not None or raised.load_errors
    assert not run(tmp_path, student="raise ValueError('no')\n").reused


def test_a_damaged_entry_is_run_again(tmp_path):
    first = run(tmp_path)
    (kept,) = (tmp_path / "memo").rglob("*.npz")
    whole = kept.read_bytes()
    for damaged in (b"not an archive", b"", whole[:len(whole) // 2]):
        kept.write_bytes(damaged)
        assert not run(tmp_path).reused
        assert run(tmp_path).reused
    assert run(tmp_path).outcomes["c"].outputs["x"] != first.outcomes["c"].outputs["x"]


def test_forced_runs_again_and_replaces_what_was_kept(tmp_path):
    first = run(tmp_path)
    forced = run(tmp_path, reuse=False)
    assert not forced.reused and forced.outcomes["c"].outputs["x"] != first.outcomes["c"].outputs["x"]
    assert run(tmp_path).outcomes["c"].outputs["x"] == forced.outcomes["c"].outputs["x"]
