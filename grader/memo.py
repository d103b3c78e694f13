"""A disk cache of expensive grader-side results (reference training), shared across students,
workers and runs. Keys are JSON documents; values are JSON documents written atomically."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

from filelock import FileLock

from .write import write_atomic


def memo(root: Path, key: dict, compute: Callable[[], dict]) -> dict:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    path = root / digest[:2] / f"{digest}.json"
    if path.is_file():
        return json.loads(path.read_text())["value"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):  # two workers with the same key: one computes
        if path.is_file():
            return json.loads(path.read_text())["value"]
        value = compute()
        write_atomic(path, json.dumps({"key": key, "value": value}))
    return value
