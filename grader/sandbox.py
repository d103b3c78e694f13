"""How a process that runs student code is started: resource limits and a clean environment.

Every student process (the notebook's kernel, the probe runs) is started through `wrap()`,
so a stronger isolation (namespaces, bwrap) replaces this one module. Today: rlimits on
address space, CPU time and file size, a private temporary HOME, an environment that holds
only what the run needs (no grader paths, no credentials).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

ISOLATION = "rlimits"  # recorded in every result

_SET_LIMITS = (
    "import os,resource,sys\n"
    "mem,cpu,fsize=(int(v) for v in sys.argv[1:4])\n"
    "resource.setrlimit(resource.RLIMIT_AS,(mem,mem))\n"
    "resource.setrlimit(resource.RLIMIT_CPU,(cpu,cpu+5))\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE,(fsize,fsize))\n"
    "resource.setrlimit(resource.RLIMIT_CORE,(0,0))\n"
    "os.execv(sys.argv[4],sys.argv[4:])\n"
)


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpu_seconds: int
    file_size_mb: int = 512


def wrap(argv: list[str], limits: Limits) -> list[str]:
    """The command that runs `argv` under `limits`."""
    return [sys.executable, "-c", _SET_LIMITS, str(limits.memory_mb << 20),
            str(limits.cpu_seconds), str(limits.file_size_mb << 20), *argv]


def clean_env(home: Path, threads: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a student process."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.path.dirname(sys.executable) + ":/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(home / ".mpl"),
        "IPYTHONDIR": str(home / ".ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "OPENBLAS_NUM_THREADS": str(threads),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    env.update(extra or {})
    return env
