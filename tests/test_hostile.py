"""Hostile submissions, graded under bwrap in one batch with the reference and the real sample.

Each notebook is the reference solution plus one hostile behaviour, in the kernel (an extra
code cell) and, where it applies, where the grader runs the student's code (`SGD.step` or
`forward`, guarded so that it misbehaves only outside the kernel). So every test can assert
the exact outcome: the hostile part costs what it should, and nothing else changes. The cell
that never ends, `os._exit` and a huge allocation are in test_batch.py.
"""
from __future__ import annotations

import json
import shutil
import socket
import threading
from textwrap import indent

import nbformat
import pytest

from grader import cli, datasets

from conftest import REPO, SAMPLE, quick_reference
from test_sandbox import needs_bwrap

pytestmark = [pytest.mark.slow, needs_bwrap]

NET, SGD_CELL, HP_CELL = 3, 6, 15     # cells of the reference notebook
KILL_EVERYONE = ("import os, signal\nfor target in (-1, os.getppid(), 1):\n    try:\n"
                 "        os.kill(target, signal.SIGKILL)\n    except OSError as e:\n        pass")
FULL = {"forward": ("pass", 20), "backward": ("pass", 30), "sgd_step": ("pass", 20),
        "hyperparams": ("pass", 20), "end_to_end": ("pass", 0)}


def in_probe_only(code: str) -> str:
    """Code that misbehaves where the grader runs the student's methods, not in the kernel."""
    return "    import sys as _sys\n    if 'ipykernel' not in _sys.modules:\n" + indent(code, " " * 8) + "\n"


def variant(cell: str | None = None, step: str | None = None, forward: str | None = None,
            backward: str | None = None, prelude: str | None = None, class_body: str | None = None,
            hp_cell: str | None = None, last_cell: str | None = None):
    """The reference notebook (its demonstration training shortened) with a hostile cell inserted after the data cell (or added at the
    end), hostile code at the start of SGD.step or at the end of forward or backward, module
    code before the net, code in its class body, or another hyperparameter cell."""
    nb = quick_reference()
    net, sgd = nb.cells[NET].source, nb.cells[SGD_CELL].source
    if forward:
        end = net.index("    #################################End of your code")
        net = net[:end] + in_probe_only(forward) + net[end:]
    if backward:
        end = net.index("    ##################################End of your code")
        net = net[:end] + in_probe_only(backward) + net[end:]
    if class_body:
        net = net.replace("class FullyConnectedNet():\n", "class FullyConnectedNet():\n" + indent(class_body, "  ") + "\n")
    if prelude:
        net = prelude + "\n" + net
    if step:
        start = sgd.index("    for name in self.params:")
        sgd = sgd[:start] + in_probe_only(step) + sgd[start:]
    nb.cells[NET].source, nb.cells[SGD_CELL].source = net, sgd
    if hp_cell:
        nb.cells[HP_CELL].source = hp_cell + nb.cells[HP_CELL].source[nb.cells[HP_CELL].source.index("model ="):]
    if cell:
        nb.cells.insert(2, nbformat.v4.new_code_cell(cell))
    if last_cell:
        nb.cells.append(nbformat.v4.new_code_cell(last_cell))
    return nb


class Listener:
    """A TCP server on the host's loopback: any connection from a sandbox would be a leak."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    subs, out = tmp / "subs", tmp / "out"
    subs.mkdir()
    ds = datasets.for_assignment("cifar10", None)
    listener = Listener()
    shutil.copy(SAMPLE, subs / "student_004.ipynb")
    nbformat.write(quick_reference(), subs / "reference.ipynb")
    secrets = [str(p) for p in (REPO / "reference" / "cifar10_fcnet.py", REPO / "rubrics" / "cifar10_fcnet.toml",
                                ds.hidden_dir / "y_test.npy", out, subs / "reference.ipynb", tmp / "rubric.toml")]
    looks = f"import os\nleaked = [p for p in {secrets!r} if os.path.exists(p)]\n"
    notebooks = {
        "sys_exit": variant(cell="import sys\nsys.exit(3)", step="import sys\nsys.exit(3)"),
        "kills_itself": variant(cell="import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
                                step="import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
        "kills_everyone": variant(cell=KILL_EVERYONE.replace("    pass", "    print(target, type(e).__name__)"),
                                  step=KILL_EVERYONE),
        "ignores_interrupts": variant(cell="import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
                                      step="while True:\n    pass"),
        # the cell lets go of what it took, so that the later cells' (and the grader's) needs are the same each run
        "memory_bomb": variant(cell="blocks = []\ntry:\n    while True:\n        blocks.append(b'x' * (100 << 20))\n"
                                    "finally:\n    del blocks",
                               step="blocks = []\nwhile True:\n    blocks.append(b'x' * (100 << 20))"),
        # last: its stuck copies of the kernel spin until the kernel is stopped, right after
        "fork_bomb": variant(last_cell="import os\nwhile True:\n    os.fork()", step="import os\nwhile True:\n    os.fork()"),
        "prints_100mb": variant(cell="for i in range(1_000_000):\n    print('x' * 99)",
                                step="import os\nif not getattr(SGD, 'flooded', False):\n    SGD.flooded = True\n"
                                     "    for fd in (1, 2):\n        for i in range(100):\n"
                                     "            os.write(fd, b'y' * (1 << 20))"),
        "writes_big_files": variant(cell="with open('big.bin', 'wb') as f:\n    for i in range(100):\n"
                                         "        f.write(b'0' * (1 << 20))"),
        "fills_its_disk": variant(cell="for n in range(5):\n    with open(f'part{n}.bin', 'wb') as f:\n"
                                       "        for i in range(60):\n            f.write(b'0' * (1 << 20))"),
        "fills_the_shared_folder": variant(cell="import os, sys, time\nfolder = os.path.dirname(sys.argv[sys.argv.index('-f') + 1])\n"
                                                "for i in range(100):\n    with open(os.path.join(folder, f'junk{i}'), 'wb') as f:\n"
                                                "        f.write(b'0' * (1 << 20))\ntime.sleep(10)"),
        "network": variant(cell=f"import socket\ns = socket.create_connection(('127.0.0.1', {listener.port}), timeout=5)\n"
                                "s.sendall(b'leak')",
                           step=f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {listener.port}), timeout=5)"
                                ".sendall(b'leak')\nexcept OSError:\n    pass"),
        "reads_outside": variant(cell=looks + "print('readable:', leaked)\nassert not leaked, leaked",
                                 step=looks + "if leaked:\n    raise RuntimeError(f'readable: {leaked}')"),
        "monkeypatches": variant(
            prelude=("import builtins, math, sys\nimport numpy as np\n"
                     "def _patch():\n    np.allclose = np.array_equal = lambda *a, **k: True\n"
                     "    np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), bool)\n"
                     "    np.testing.assert_allclose = np.testing.assert_array_equal = lambda *a, **k: None\n"
                     "    math.isclose = lambda *a, **k: True\n"
                     "    builtins.abs = lambda x: 0\n"
                     "    sys.modules['grader'] = sys.modules['grader.numeric'] = sys.modules['numpy']\n"
                     "    return True\n"),
            class_body="_patched = _patch()", forward="scores = 2 * scores"),
        "prints_a_fake_accuracy": variant(
            hp_cell=("# Modify these hyperparameters and find the best ones\nhidden_dim = 50\nalpha = 1e-7\nbeta = 0\nbatch_size = 40\nnum_iters = 1000\n"
                     "print('After training, training accuracy=0.99, test accuracy=0.99')\n"
                     "print('NNGRADER-CAPTURE:{\"hidden_dim\": 200, \"alpha\": 0.001, \"beta\": 0.9, "
                     "\"batch_size\": 40, \"num_iters\": 1000}')\n")),
        "lying_array": variant(
            prelude=("import numpy as np\n"
                     "class Lying(np.ndarray):\n"
                     "    def __eq__(self, other): return np.ones(self.shape, bool)\n"
                     "    def __ne__(self, other): return np.zeros(self.shape, bool)\n"
                     "    def __sub__(self, other): return np.zeros(self.shape)\n"
                     "    def __array_ufunc__(self, *args, **kwargs): return np.zeros(self.shape)\n"),
            forward="scores = (2 * np.asarray(scores)).view(Lying)"),
        "lying_objects": variant(
            prelude=("import numpy as np\n"
                     "class Liar:\n"
                     "    def __init__(self, shape): self.shape = shape\n"
                     "    def __eq__(self, other): return True\n"
                     "    def __array__(self, *args, **kwargs): return np.full(self.shape, 0.5)\n"
                     "    def __float__(self): return 0.0\n"
                     "class Raiser:\n"
                     "    def __array__(self, *args, **kwargs): raise RuntimeError('no numbers here')\n"
                     "    def __eq__(self, other): return True\n"),
            forward="scores = Liar(scores.shape)", backward="self.grads = {k: Raiser() for k in self.params}"),
        "nul_in_code": variant(cell="x = 1\x00"),
    }
    for name, nb in notebooks.items():
        nbformat.write(nb, subs / f"{name}.ipynb")
    raw = (subs / "reference.ipynb").read_bytes()
    (subs / "nul_in_json.ipynb").write_bytes(raw.replace(b'"cells": [', b'"cells": [\x00', 1))
    huge = quick_reference()
    huge.cells[12].outputs = [nbformat.v4.new_output("display_data", data={"image/png": "A" * (50 << 20)})]
    nbformat.write(huge, subs / "huge_50mb.ipynb")
    rubric = (REPO / "rubrics" / "cifar10_fcnet.toml").read_text()
    for old, new in (("cell_timeout_s = 600", "cell_timeout_s = 20"), ("notebook_timeout_s = 1800", "notebook_timeout_s = 300"),
                     ("kernel_memory_mb = 8192", "kernel_memory_mb = 3000"),
                     ("probe_memory_mb = 6144", "probe_memory_mb = 2000"), ("probe_timeout_s = 60", "probe_timeout_s = 10"),
                     ("processes = 128", "processes = 32"), ("file_size_mb = 512", "file_size_mb = 64"),
                     ("disk_mb = 1024", "disk_mb = 256")):
        assert old in rubric, old
        rubric = rubric.replace(old, new)
    (tmp / "rubric.toml").write_text(rubric)
    assert cli.main(["grade", str(subs), "--out", str(out), "--rubric", str(tmp / "rubric.toml"),
                     "-j", "2", "--sandbox", "bwrap"]) == 0
    results = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/result.json")}
    return out, results, listener


def checks(result: dict) -> dict:
    return {c["id"]: (c["status"], c["points"]) for c in result["checks"]}


def message(result: dict, check: str) -> str:
    return next(c["message"] for c in result["checks"] if c["id"] == check)


def cell_errors(result: dict) -> list[tuple[int, str]]:
    return [(e["cell"], e["ename"]) for e in result["execution"]["errors"]]


def outputs(out, student: str, cell: int) -> str:
    nb = nbformat.read(out / student / "executed.ipynb", as_version=4)
    return "".join(o.get("text", "") for o in nb.cells[cell].outputs)


def sgd_fails(result: dict, notebook_trained: bool = True) -> None:
    """The hostile SGD.step costs sgd_step, nothing else; end_to_end (0 points) scores the model the
    notebook trained, when the kernel got that far."""
    assert checks(result) == {**FULL, "sgd_step": ("fail", 0),
                              "end_to_end": ("pass", 0) if notebook_trained else ("fail", 0)}
    assert result["total"] == 70


def test_the_others_in_the_batch_are_graded_right(hostile):
    _, results, _ = hostile
    assert len(results) == 21
    assert all(r["isolation"] == "bwrap" for r in results.values())
    assert checks(results["reference"]) == FULL and results["reference"]["total"] == 90
    assert checks(results["student_004"]) == {"forward": ("pass", 20), "backward": ("pass_with_warning", 28),
                                              "sgd_step": ("fail", 0), "hyperparams": ("fail", 0),
                                              "end_to_end": ("fail", 0)}


def test_memory_stays_bounded_whatever_the_notebooks_do(hostile):
    """Memory bombs, floods and a 50 MB notebook: kernels stay under the rubric's limit (3,000 MB
    here), and the grader's workers stay within the 1 GB that the default -j allows each."""
    _, results, _ = hostile
    kernels = {s: r["execution"].get("kernel_peak_rss_mb") for s, r in results.items()}
    assert all(mb is None or mb <= 3000 for mb in kernels.values()), kernels
    assert 1000 < kernels["memory_bomb"] <= 3000     # it did try: the limit stopped it
    workers = {s: r["timing"]["worker_peak_rss_mb"] for s, r in results.items()}
    assert max(workers.values()) <= 1024, workers


def test_sys_exit(hostile):
    _, results, _ = hostile
    r = results["sys_exit"]
    assert r["execution"]["status"] == "errors" and cell_errors(r) == [(2, "SystemExit")]
    sgd_fails(r)
    assert message(r, "sgd_step") == "SGD could not be run: SystemExit: 3"


def test_killing_its_own_kernel_and_probe_process(hostile):
    _, results, _ = hostile
    r = results["kills_itself"]
    assert r["execution"]["status"] == "kernel_died"
    assert r["execution"]["message"] == ("the kernel died (killed by SIGKILL: out of memory, over a limit, or its "
                                         "own code) while running code cell 2; later cells did not run")
    assert r["hyperparams"]["source"] == "source"   # the marked cell never ran: read from its source
    sgd_fails(r, notebook_trained=False)
    assert message(r, "sgd_step") == ("SGD could not be run: your code's process was killed by SIGKILL: "
                                      "out of memory, over a limit, or its own code")


def test_killing_everything_it_can_reaches_nothing_outside(hostile):
    out, results, _ = hostile
    r = results["kills_everyone"]
    assert r["execution"]["status"] == "ok" and checks(r) == FULL and r["total"] == 90
    # alone in its pid namespace: nobody to kill but the sandbox's init, which it may not signal
    assert outputs(out, "kills_everyone", 2) == "-1 ProcessLookupError\n1 PermissionError\n1 PermissionError\n"


def test_a_cell_that_ignores_interrupts_and_a_step_that_never_returns(hostile):
    _, results, _ = hostile
    r = results["ignores_interrupts"]
    assert r["execution"]["status"] == "timeout"
    assert r["execution"]["message"] == ("code cell 2 was stopped at its time limit (20 s); code cell 2 ran past "
                                         "its time limit and the kernel did not stop when interrupted; later cells "
                                         "did not run")
    assert r["hyperparams"]["source"] == "source"
    sgd_fails(r, notebook_trained=False)
    assert message(r, "sgd_step") == "SGD could not be run: stopped after 10 s: too slow or never ends"


def test_memory_bomb(hostile):
    _, results, _ = hostile
    r = results["memory_bomb"]
    assert r["execution"]["status"] == "errors" and cell_errors(r) == [(2, "MemoryError")]
    sgd_fails(r)
    # the probe hits its memory limit, or, when the machine is busy, filling 2 GB outlasts its 10 s
    assert message(r, "sgd_step").startswith(("SGD.step raised MemoryError", "SGD could not be run: stopped after 10 s"))


def test_fork_bomb(hostile):
    _, results, _ = hostile
    r = results["fork_bomb"]
    # the parent gets EAGAIN, or, when the machine is busy, its stuck copies outlast the cell's limit
    assert (r["execution"]["status"], cell_errors(r)) in (
        ("errors", [(16, "BlockingIOError")]), ("timeout", [(16, "CellTimeoutError")]))
    assert r["hyperparams"]["source"] == "kernel"     # read after cell 15, before the bomb
    sgd_fails(r)
    assert message(r, "sgd_step").startswith("SGD.step raised BlockingIOError: [Errno 11] Resource temporarily "
                                             "unavailable")


def test_100mb_of_printed_output_is_cut_and_costs_nothing(hostile):
    out, results, _ = hostile
    r = results["prints_100mb"]
    assert r["execution"]["status"] == "ok" and checks(r) == FULL and r["total"] == 90
    printed = outputs(out, "prints_100mb", 2)
    assert printed.startswith("x" * 99 + "\n") and len(printed) < 101_000
    assert "[grader] output truncated: 99,900,000 more characters not kept" in printed
    assert (out / "prints_100mb" / "executed.ipynb").stat().st_size < 2_000_000


def test_big_files_stop_at_the_file_size_and_disk_limits(hostile):
    _, results, _ = hostile
    for student, errno in (("writes_big_files", "[Errno 27] File too large"),
                           ("fills_its_disk", "[Errno 28] No space left on device")):
        r = results[student]
        assert r["execution"]["status"] == "errors" and cell_errors(r) == [(2, "OSError")]
        assert r["execution"]["errors"][0]["evalue"] == errno
        assert checks(r) == FULL and r["total"] == 90


def test_filling_the_folder_shared_with_the_grader_stops_the_kernel(hostile):
    _, results, _ = hostile
    r = results["fills_the_shared_folder"]
    assert r["execution"]["status"] == "kernel_died"
    assert r["execution"]["message"] == ("the kernel died (it wrote more than 16 MB into the folder it shares with "
                                         "the grader) while running code cell 2; later cells did not run")
    assert checks(r) == {**FULL, "end_to_end": ("fail", 0)} and r["total"] == 90   # nothing trained in the kernel


def test_no_network(hostile):
    _, results, listener = hostile
    r = results["network"]
    assert cell_errors(r) == [(2, "ConnectionRefusedError")]
    assert checks(r) == FULL and r["total"] == 90
    assert listener.connections == 0


def test_nothing_outside_the_sandbox_is_readable(hostile):
    out, results, _ = hostile
    r = results["reads_outside"]
    assert r["execution"]["status"] == "ok" and "readable: []" in outputs(out, "reads_outside", 2)
    assert checks(r) == FULL and r["total"] == 90


def test_monkeypatching_numpy_builtins_and_the_grader_at_import_changes_no_verdict(hostile):
    _, results, _ = hostile
    r = results["monkeypatches"]
    assert {k: v for k, v in checks(r).items() if k != "end_to_end"} == {
        "forward": ("fail", 0), "backward": ("pass", 30), "sgd_step": ("pass", 20), "hyperparams": ("pass", 20)}
    assert r["total"] == 70
    assert message(r, "forward").startswith("scores differ from the expected linear → ReLU → linear output")


def test_printing_a_fake_accuracy_or_fake_hyperparameters_changes_nothing(hostile):
    _, results, _ = hostile
    r = results["prints_a_fake_accuracy"]
    assert r["hyperparams"]["values"]["alpha"] == 1e-7 and r["hyperparams"]["source"] == "kernel"
    assert checks(r) == {**FULL, "hyperparams": ("fail", 0), "end_to_end": ("fail", 0)} and r["total"] == 70
    assert next(c for c in r["checks"] if c["id"] == "end_to_end")["details"]["accuracy"] < 0.2   # barely trained
    hyper = next(c for c in r["checks"] if c["id"] == "hyperparams")
    assert hyper["details"]["mean"] < 0.3 and "0.99" not in hyper["message"]


def test_an_ndarray_subclass_with_lying_comparisons(hostile):
    _, results, _ = hostile
    r = results["lying_array"]
    assert checks(r) == {**FULL, "forward": ("fail", 0)} and r["total"] == 70    # the kernel's forward is honest
    assert message(r, "forward").startswith("scores differ from the expected")


def test_objects_whose_eq_and_array_lie(hostile):
    _, results, _ = hostile
    r = results["lying_objects"]
    assert checks(r) == {**FULL, "forward": ("fail", 0), "backward": ("fail", 0)}
    assert r["total"] == 40
    assert message(r, "forward").startswith("scores differ from the expected")
    assert message(r, "backward") == "forward then backward raised RuntimeError: no numbers here"


def test_nul_bytes(hostile):
    _, results, _ = hostile
    r = results["nul_in_json"]
    assert r["execution"]["status"] == "not_run" and r["total"] == 0
    assert r["notebook"]["problem"].startswith("not a notebook: the file is not valid JSON and contains NUL bytes")
    r = results["nul_in_code"]
    assert cell_errors(r) == [(2, "SyntaxError")]
    assert [p["cell"] for p in r["extraction"]["parse_problems"]] == [2]
    assert checks(r) == FULL and r["total"] == 90


def test_a_50mb_notebook_is_graded(hostile):
    out, results, _ = hostile
    r = results["huge_50mb"]
    assert r["execution"]["status"] == "ok" and checks(r) == FULL and r["total"] == 90
    assert (out / "huge_50mb" / "executed.ipynb").stat().st_size < 2_000_000
