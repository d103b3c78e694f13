"""How every process that runs student code is started: the notebook's kernel and the probe runs.

Two isolations, chosen once per run (`--sandbox auto|bwrap|none`) and recorded in each result:

* ``bwrap`` (bubblewrap): new mount, pid, network, ipc and uts namespaces. The process sees
  a read-only system (/usr and a few files of /etc), the Python installation the grader runs
  on, the folders its caller names (read-only, at their own paths), the folders it shares
  with the grader (the kernel's sockets), and a private, size-limited tmpfs at /tmp for its
  home, work and temporary files. Nothing else exists there: not the repository (reference,
  rubrics), not the results, not other students' files, not the test labels; no network.
  Started as root, it switches to an unprivileged uid of its own; otherwise it runs in a
  user namespace.
* ``rlimits``: the fallback where bwrap is missing or cannot create namespaces: the same
  limits, a private temporary home and work folder and a clean environment, but the file
  system stays readable. Started as root, it switches to an unprivileged uid of its own too,
  where that uid can read the Python environment and the folders it is given (an autograder's
  container, laid out by grader/autograder.py); elsewhere it stays root, and then the process
  limit is not enforced either.

Either way the rubric's limits (address space, CPU time, processes and threads, file size)
are set by `sandbox_launch.py`, inside the sandbox, just before the command starts.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import SetupError

BWRAP, RLIMITS = "bwrap", "rlimits"
# The interpreter by a path the sandbox can see: only the real folders of the Python
# installation are mounted, so a venv reached through a symlink (a checkout under a linked
# home, a worktree sharing a venv) must be started by its real folder. The file name stays,
# so Python still finds the venv's pyvenv.cfg beside it.
PYTHON = os.path.join(os.path.realpath(os.path.dirname(sys.executable)), os.path.basename(sys.executable))
LAUNCHER = Path(__file__).with_name("sandbox_launch.py")
PRIVATE = Path("/tmp")                  # inside bwrap: a private tmpfs, mounted before anything under it
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "hosts",
             "alternatives", "ssl", "ca-certificates", "fonts")
UID_BASE = 1_900_000_000                # as root: one unused uid per worker process
SHM_MB = 64


@dataclass(frozen=True)
class Limits:
    memory_mb: int                       # address space of each process
    cpu_seconds: int
    file_size_mb: int = 512              # the largest file it may write
    processes: int = 128                 # processes and threads at once
    disk_mb: int = 1024                  # its private home/work/tmp (a tmpfs under bwrap)


@dataclass(frozen=True)
class View:
    """What one student process may see besides the system and Python."""
    read_only: tuple[Path, ...] = ()     # bound read-only at their own paths
    shared: tuple[Path, ...] = ()        # read-write folders it shares with the grader
    copy_in: Path | None = None          # a folder copied into its work folder before it starts
    copy_ignore: tuple[str, ...] = ()    # name patterns not copied


@dataclass(frozen=True)
class Sandbox:
    mode: str                            # BWRAP or RLIMITS

    def folders(self, scratch: Path) -> tuple[Path, Path, Path]:
        """(home, work, tmp) as the process sees them."""
        if self.mode == BWRAP:
            return PRIVATE / "home", PRIVATE / "work", PRIVATE
        return scratch / "home", scratch / "work", scratch / "tmp"

    def command(self, argv: list[str], limits: Limits, view: View, scratch: Path) -> list[str]:
        """The command that runs `argv` in this sandbox. `scratch` is a private host folder
        of the caller's; small files the sandbox needs are written there."""
        home, work, tmp = self.folders(scratch)
        uid = self._uid(view, scratch)
        # under bwrap, tmp is the private tmpfs's root (mode 1777): only home and work are handed over
        own = [home, work] if self.mode == BWRAP else [home, work, tmp]
        config = {"home": str(home), "work": str(work), "tmp": str(tmp),
                  "copy_from": str(view.copy_in) if view.copy_in else None,
                  "copy_ignore": list(view.copy_ignore), "uid": uid, "gid": uid, "own": [str(f) for f in own],
                  "limits": {"memory": limits.memory_mb << 20, "cpu": limits.cpu_seconds,
                             "file_size": limits.file_size_mb << 20, "processes": limits.processes}}
        argv = [PYTHON if arg == sys.executable else arg for arg in argv[:1]] + argv[1:]
        launch = [PYTHON, "-I", str(LAUNCHER), json.dumps(config), *argv]
        for folder in view.shared:
            _hand_over(folder, uid)
        if self.mode == RLIMITS:
            return launch
        return [*_bwrap_args(limits, view, scratch, uid), "--", *launch]

    def _uid(self, view: View, scratch: Path) -> int | None:
        """The unprivileged uid a process started as root switches to, or None to stay as started.
        Under bwrap, always. Under rlimits, only where that uid can reach everything the process
        must read (the Python environment, `view.read_only`): otherwise it would start broken, so it
        stays root, as before (SECURITY.md). The folders it writes in are the caller's private
        temporary folders: they become enterable (0711: not listable) so the uid reaches its own."""
        if os.getuid() != 0:
            return None
        if self.mode == RLIMITS:
            if rlimits_uid_blockers(view.read_only):
                return None
            for folder in {scratch, scratch.parent, *(f.parent for f in view.shared)}:
                folder.chmod(0o711)
        return _sandbox_uid()

    def env(self, scratch: Path, threads: int, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The whole environment of a student process: nothing of the grader's."""
        home, _, tmp = self.folders(scratch)
        env = {
            "PATH": os.path.dirname(PYTHON) + ":/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home), "TMPDIR": str(tmp), "USER": "student", "LOGNAME": "student",
            "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(home / ".mpl"), "IPYTHONDIR": str(home / ".ipython"),
            "JUPYTER_PLATFORM_DIRS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
            "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads), "TF_NUM_INTRAOP_THREADS": str(threads),
            "TF_NUM_INTEROP_THREADS": str(threads),
            "NNGRADER_GRADING": "1",   # a notebook's optional self-check cell skips itself (README)
        }
        env.update(extra or {})
        return env

    def exit_reason(self, returncode: int | None) -> str:
        """Why a student process ended, in words; bwrap reports a signal N as 128 + N."""
        if returncode is None:
            return ""
        sig = -returncode if returncode < 0 else returncode - 128 if self.mode == BWRAP and returncode > 128 else 0
        if sig:
            try:
                name = signal.Signals(sig)
            except ValueError:
                return f"killed by signal {sig}"
            return {signal.SIGKILL: "killed by SIGKILL: out of memory, over a limit, or its own code",
                    signal.SIGXCPU: "stopped by SIGXCPU: CPU time limit exceeded",
                    signal.SIGXFSZ: "stopped by SIGXFSZ: file size limit exceeded"}.get(name, f"killed by {name.name}")
        return f"exited with code {returncode}"


def _sandbox_uid() -> int:
    return UID_BASE + os.getpid() % 1_000_000


def end_leftovers() -> None:
    """As root, after this process's student runs: end every process still running as their uid.
    Under rlimits there is no pid namespace to end with the run, so a child that left its process
    group (a new session) would live on, able to wait for the results file."""
    if os.getuid() != 0:
        return
    uid = _sandbox_uid()
    pid = os.fork()
    if pid == 0:   # as that uid, kill(-1) reaches exactly its processes (and never this one)
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _hand_over(folder: Path, uid: int | None) -> None:
    """Let the sandbox's own uid write in a folder it shares with the grader."""
    if uid is None:
        return
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, uid, uid, follow_symlinks=False)


def rlimits_uid_blockers(read_only: tuple[Path, ...] | list[Path]) -> list[Path]:
    """What keeps an rlimits process started as root from switching to its unprivileged uid:
    the folders it must read (the Python environment, `read_only`) that other users cannot."""
    return unreadable_by_others([*_python_dirs(), *read_only])


def unreadable_by_others(paths: list[Path]) -> list[Path]:
    """Those of `paths` a user other than their owner could not read: a folder above one of them
    does not let others enter it, or it does not let others read it (and enter it, for a folder)."""
    bad = []
    for path in paths:
        path = Path(os.path.realpath(path))
        try:
            enter = all(os.stat(p).st_mode & 0o001 for p in path.parents)
            mode = os.stat(path).st_mode
        except OSError:
            bad.append(path)
            continue
        need = 0o005 if path.is_dir() else 0o004
        if not enter or mode & need != need:
            bad.append(path)
    return bad


def _python_dirs() -> list[Path]:
    """The Python installation and environment the grader runs on: student code uses the same."""
    dirs = []
    for p in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
              os.path.dirname(os.path.realpath(sys.executable))):
        path = Path(os.path.realpath(p))
        if not any(path == d or d in path.parents for d in dirs):
            dirs = [d for d in dirs if path not in d.parents] + [path]
    return dirs


def _bwrap_args(limits: Limits, view: View, scratch: Path, uid: int | None) -> list[str]:
    args = ["bwrap", "--die-with-parent", "--unshare-ipc", "--unshare-pid", "--unshare-net",
            "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox",
            # a pid from outside means nothing in here (ipykernel would take it for a dead parent)
            "--unsetenv", "JPY_PARENT_PID"]
    if uid is None:   # not root: a user namespace of its own, and no nested ones
        args += ["--unshare-user", "--uid", "1000", "--gid", "1000", "--disable-userns"]
        uid = 1000
    else:             # root: the launcher needs these to hand over its home and drop to `uid`
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_CHOWN"]
    made: set[Path] = {Path("/")}
    bound: list[Path] = []

    def parents(path: Path | str) -> None:
        """Make the folders above a mount point, 0755: bwrap would copy the host's modes
        (e.g. /root 0700), which the unprivileged uid could not enter."""
        for parent in reversed(Path(path).parents):
            if parent not in made and not any(b == parent or b in parent.parents for b in bound):
                made.add(parent)
                args.extend(["--perms", "0755", "--dir", str(parent)])

    def bind(flag: str, path: Path | str) -> None:
        parents(path)
        bound.append(Path(path))
        args.extend([flag, str(path), str(path)])

    for top in SYSTEM_DIRS:
        if os.path.islink(top):
            args.extend(["--symlink", os.readlink(top), top])
        elif os.path.isdir(top):
            bind("--ro-bind", top)
    for name in ETC_FILES:
        if os.path.exists(f"/etc/{name}"):
            bind("--ro-bind", f"/etc/{name}")
    (scratch / "passwd").write_text(f"student:x:{uid}:{uid}:student:{PRIVATE / 'home'}:/usr/sbin/nologin\n")
    (scratch / "group").write_text(f"student:x:{uid}:\n")
    for name in ("passwd", "group"):
        parents(f"/etc/{name}")
        args.extend(["--ro-bind", str(scratch / name), f"/etc/{name}"])
    # the private tmpfs first: the host folders bound below may lie under /tmp too
    args += ["--perms", "01777", "--size", str(limits.disk_mb << 20), "--tmpfs", str(PRIVATE)]
    made.add(PRIVATE)
    for path in [*_python_dirs(), LAUNCHER, *view.read_only]:
        bind("--ro-bind", path)
    for path in view.shared:
        bind("--bind", path)
    if view.copy_in is not None:
        bind("--ro-bind", view.copy_in)
    args += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "01777", "--size", str(SHM_MB << 20), "--tmpfs", "/dev/shm",
             "--remount-ro", "/", "--chdir", "/"]
    return args


@functools.lru_cache(maxsize=None)
def _bwrap_problem() -> str | None:
    """None if bwrap can run a sandboxed Python here, else why not."""
    if shutil.which("bwrap") is None:
        return "bwrap is not installed"
    with tempfile.TemporaryDirectory(prefix="nngrader-check-") as tmp:
        box = Sandbox(BWRAP)
        argv = box.command([sys.executable, "-I", "-c", "import socket, sys; sys.exit(0)"],
                           Limits(memory_mb=1024, cpu_seconds=10), View(), Path(tmp))
        try:
            done = subprocess.run(argv, env=box.env(Path(tmp), 1), capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bwrap could not be started: {exc}"
        if done.returncode != 0:
            why = done.stderr.decode(errors="replace").strip().splitlines()
            return f"bwrap cannot create its namespaces here: {why[-1] if why else done.returncode}"
    return None


def choose(requested: str) -> tuple[Sandbox, str | None]:
    """The sandbox for this run, and a warning to print once when it is weaker than asked."""
    risks = "student code can read the file system and reach the network"
    if os.getuid() == 0:
        risks += (", and, run as root, it runs as an unprivileged uid only where that uid can read the Python "
                  "environment and the data set: elsewhere as root, able to signal any process on this machine "
                  "and start processes without limit")
    if requested == "none":
        return Sandbox(RLIMITS), f"sandbox: rlimits only (--sandbox none): {risks}. See SECURITY.md."
    problem = _bwrap_problem()
    if problem is None:
        return Sandbox(BWRAP), None
    if requested == "bwrap":
        raise SetupError(f"--sandbox bwrap: {problem}")
    return Sandbox(RLIMITS), (f"WARNING: {problem}, so student code cannot be sandboxed.\n{_remedy(problem)}\n"
                              f"  Grading now with resource limits only: {risks}. Every result records "
                              f"\"isolation\": \"rlimits\". See SECURITY.md.")


def _remedy(problem: str) -> str:
    """What to do about a bwrap problem, told before the run falls back to rlimits."""
    if problem == "bwrap is not installed":
        return ("  Install bubblewrap, then run the same command again:\n"
                "    sudo apt-get install bubblewrap    (Debian, Ubuntu)\n"
                "    sudo dnf install bubblewrap        (Fedora)")
    return ("  bwrap needs unprivileged user namespaces (or root): allow them on this machine (on Ubuntu 24.04,\n"
            "  an AppArmor profile for bwrap), or grade in a container or VM that has them.")


class FolderWatch:
    """Stops a process group that writes more than `max_bytes` into a folder it shares with
    the grader (its private folders are size-limited tmpfs; this one is on the host's disk)."""

    def __init__(self, folder: Path, max_bytes: int, pgid: Callable[[], int | None], every_s: float = 0.5):
        self.folder, self.max_bytes, self._pgid, self.every_s = folder, max_bytes, pgid, every_s
        self.tripped = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "FolderWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            used = folder_bytes(self.folder, self.max_bytes)
            if used > self.max_bytes:
                self.tripped = (f"it wrote more than {self.max_bytes >> 20} MB into the folder it shares "
                                "with the grader")
                pgid = self._pgid()
                if pgid:
                    try:
                        os.killpg(pgid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                return


def folder_bytes(folder: Path, stop_after: int) -> int:
    """Bytes in a folder tree (each entry counts 4 KB at least), counting up to `stop_after`."""
    total = 0
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            try:
                total += max(4096, os.lstat(os.path.join(root, name)).st_size)
            except OSError:
                continue
            if total > stop_after:
                return total
    return total


class Head:
    """The first bytes a process writes to its stderr (why bwrap or a kernel would not start,
    a fatal error); the rest is read and dropped, so the process never blocks on it and
    never fills a disk. Pass `write_end` as its stderr, then call `close_writer()`."""

    def __init__(self, keep: int = 4000):
        self.keep, self.data = keep, b""
        read_end, self.write_end = os.pipe()
        self._thread = threading.Thread(target=self._drain, args=(read_end,), daemon=True)
        self._thread.start()

    def _drain(self, fd: int) -> None:
        with open(fd, "rb", buffering=0) as f:
            while chunk := f.read(65536):
                if len(self.data) < self.keep:
                    self.data += chunk[: self.keep - len(self.data)]

    def close_writer(self) -> None:
        """Once the process has it: the pipe ends when the process and its children do."""
        if self.write_end >= 0:
            os.close(self.write_end)
            self.write_end = -1

    def text(self) -> str:
        self._thread.join(timeout=2)
        return self.data.decode(errors="replace").strip()

    def last_line(self) -> str:
        lines = self.text().splitlines()
        return lines[-1][:300] if lines else ""
