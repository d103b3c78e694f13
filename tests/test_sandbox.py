"""The sandbox on its own: what a student process can see, reach and use (one short process each)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import datasets, sandbox
from grader.errors import SetupError

from conftest import REPO

BWRAP = sandbox.choose("auto")[0].mode == sandbox.BWRAP
needs_bwrap = pytest.mark.skipif(not BWRAP, reason="bwrap cannot run here (.ci/run installs it)")


def run_in(box: sandbox.Sandbox, code: str, tmp: Path, view: sandbox.View = sandbox.View(),
           limits: sandbox.Limits = sandbox.Limits(1024, 30)) -> subprocess.CompletedProcess:
    scratch = tmp / f"scratch-{time.monotonic_ns()}"
    scratch.mkdir()
    argv = box.command([sys.executable, "-c", code], limits, view, scratch)
    return subprocess.run(argv, env=box.env(scratch, 1), capture_output=True, text=True, timeout=60)


def report(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


TRY_READ = """
import json, os, sys
seen = {}
for p in sys.argv[1:]:
    try:
        seen[p] = "listed" if os.path.isdir(p) and os.listdir(p) is not None else open(p, "rb").read(1) and "read"
    except OSError as e:
        seen[p] = type(e).__name__
print(json.dumps(seen))
"""


@needs_bwrap
def test_reference_rubric_labels_results_and_other_students_are_not_there(tmp_path):
    ds = datasets.for_assignment("cifar10", None)
    results, others = tmp_path / "grades", tmp_path / "submissions"
    (results / "ann").mkdir(parents=True)
    (results / "ann" / "result.json").write_text("{}")
    others.mkdir()
    (others / "bob.ipynb").write_text("{}")
    secret = [REPO / "reference" / "cifar10_fcnet.py", REPO / "rubrics" / "cifar10_fcnet.toml",
              REPO / "assignments" / "cifar10_fcnet" / "checks.py", ds.hidden_dir / "y_test.npy",
              results / "ann" / "result.json", others / "bob.ipynb", Path("/etc/shadow"),
              ds.hidden_dir.parent / "meta.json"]
    allowed = ds.public_dir / "x_test.npy"
    box = sandbox.Sandbox(sandbox.BWRAP)
    done = run_in(box, TRY_READ.replace("sys.argv[1:]", repr([str(p) for p in [*secret, allowed]])), tmp_path,
                  sandbox.View(read_only=(ds.public_dir,)))
    seen = report(done)
    assert {p: seen[str(p)] for p in secret} == {p: "FileNotFoundError" for p in secret}
    assert seen[str(allowed)] == "read"


@needs_bwrap
def test_no_network_not_even_the_hosts_loopback(tmp_path):
    import socket
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    code = (f"import json, socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
            "    print(json.dumps('connected'))\nexcept OSError as e:\n    print(json.dumps(type(e).__name__))")
    assert report(run_in(sandbox.Sandbox(sandbox.BWRAP), code, tmp_path)) == "ConnectionRefusedError"
    server.settimeout(0.5)
    with pytest.raises(socket.timeout):
        server.accept()
    server.close()


@needs_bwrap
def test_only_its_private_tmp_is_writable_and_it_is_not_root(tmp_path):
    code = """
import json, os
out = {"uid": os.getuid(), "cwd": os.getcwd(), "home": os.environ["HOME"]}
for p in ("/usr/x", "/x", "/etc/x", os.path.join(os.environ["HOME"], "x"), "/tmp/x", "x"):
    try:
        open(p, "w").write("x"); out[p] = "written"
    except OSError as e:
        out[p] = type(e).__name__
print(json.dumps(out))
"""
    seen = report(run_in(sandbox.Sandbox(sandbox.BWRAP), code, tmp_path))
    assert seen["uid"] != 0
    assert (seen["cwd"], seen["home"]) == ("/tmp/work", "/tmp/home")
    assert [seen[p] for p in ("/usr/x", "/x", "/etc/x")] == ["OSError"] * 3
    assert [seen[p] for p in ("/tmp/home/x", "/tmp/x", "x")] == ["written"] * 3


@needs_bwrap
@pytest.mark.parametrize("code, limits, expected", [
    ("import os\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n            import time; time.sleep(5)\n"
     "        n += 1\nexcept OSError as e:\n    print(n, e.errno)", sandbox.Limits(1024, 30, processes=40), "39 11"),
    ("f = open('big', 'wb')\ntry:\n    f.write(b'0' * (3 << 20))\nexcept OSError as e:\n    print(e.errno)",
     sandbox.Limits(1024, 30, file_size_mb=2), "27"),
    ("n = 0\ntry:\n    for i in range(100):\n        open(f'f{i}', 'wb').write(b'0' * (2 << 20)); n += 1\n"
     "except OSError as e:\n    print(n <= 4, e.errno)", sandbox.Limits(1024, 30, disk_mb=8), "True 28"),
    ("try:\n    b = bytearray(600 << 20)\nexcept MemoryError:\n    print('MemoryError')",
     sandbox.Limits(300, 30), "MemoryError"),
])
def test_limits_hold_inside(tmp_path, code, limits, expected):
    done = run_in(sandbox.Sandbox(sandbox.BWRAP), code, tmp_path, limits=limits)
    assert done.stdout.strip() == expected, done.stderr


@needs_bwrap
def test_a_student_folder_is_copied_in_and_its_links_are_not_followed_on_the_host(tmp_path):
    folder = tmp_path / "ann"
    folder.mkdir()
    (folder / "data.csv").write_text("1,2\n")
    (folder / "hw.ipynb").write_text("{}")
    (folder / "ref.py").symlink_to(REPO / "reference" / "cifar10_fcnet.py")
    code = ("import json, os\nout = sorted(os.listdir('.'))\ntry:\n    open('ref.py').read()\n    out.append('ref read')\n"
            "except OSError as e:\n    out.append(type(e).__name__)\nprint(json.dumps(out))")
    view = sandbox.View(copy_in=folder, copy_ignore=("*.ipynb",))
    assert report(run_in(sandbox.Sandbox(sandbox.BWRAP), code, tmp_path, view)) == \
        ["data.csv", "ref.py", "FileNotFoundError"]


def test_rlimits_mode_keeps_the_limits_and_a_private_home(tmp_path):
    box = sandbox.Sandbox(sandbox.RLIMITS)
    code = ("import json, os, resource\nprint(json.dumps([resource.getrlimit(resource.RLIMIT_AS)[0] >> 20, "
            "os.environ['HOME'], os.getcwd(), sorted(k for k in os.environ if 'NNGRADER' in k)]))")
    memory, home, cwd, leaked = report(run_in(box, code, tmp_path, limits=sandbox.Limits(700, 30)))
    # none of the grader's variables: only the marker set on purpose, so a notebook's self-check cell skips itself
    assert memory == 700 and home.startswith(str(tmp_path)) and cwd.endswith("work") and leaked == ["NNGRADER_GRADING"]


def test_auto_falls_back_with_one_warning_and_bwrap_refuses(monkeypatch):
    sandbox._bwrap_problem.cache_clear()
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    try:
        box, warning = sandbox.choose("auto")
        assert box.mode == sandbox.RLIMITS and "bwrap is not installed" in warning and "SECURITY.md" in warning
        assert "sudo apt-get install bubblewrap" in warning and "run the same command again" in warning
        with pytest.raises(SetupError, match="--sandbox bwrap: bwrap is not installed"):
            sandbox.choose("bwrap")
        assert sandbox.choose("none")[0].mode == sandbox.RLIMITS
    finally:
        sandbox._bwrap_problem.cache_clear()


@pytest.mark.parametrize("mode, code, says", [
    (sandbox.BWRAP, 137, "killed by SIGKILL: out of memory, over a limit, or its own code"),
    (sandbox.BWRAP, 152, "stopped by SIGXCPU: CPU time limit exceeded"),
    (sandbox.BWRAP, 139, "killed by SIGSEGV"),
    (sandbox.BWRAP, 3, "exited with code 3"),
    (sandbox.RLIMITS, -9, "killed by SIGKILL"),
    (sandbox.RLIMITS, 137, "exited with code 137"),
])
def test_exit_reasons(mode, code, says):
    assert says in sandbox.Sandbox(mode).exit_reason(code)


def test_a_folder_that_grows_past_its_limit_stops_the_process_group(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    with sandbox.FolderWatch(tmp_path, 1 << 20, lambda: proc.pid, every_s=0.05) as watch:
        (tmp_path / "a").write_bytes(b"0" * (2 << 20))
        assert proc.wait(timeout=10) == -signal.SIGKILL
    assert "more than 1 MB" in watch.tripped
    os.unlink(tmp_path / "a")


@needs_bwrap
def test_a_python_reached_through_a_symlink_still_runs_sandboxed(tmp_path):
    """A checkout under a linked home, or a venv shared by a symlink: bwrap mounts only real
    folders, so the interpreter must be started by its real path, not fall back to rlimits."""
    venv = Path(sys.prefix)
    (tmp_path / "linked").symlink_to(venv, target_is_directory=True)
    python = tmp_path / "linked" / "bin" / Path(sys.executable).name
    code = "from grader import sandbox; box, warning = sandbox.choose('auto'); print(box.mode, warning)"
    done = subprocess.run([str(python), "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["bwrap", "None"]
