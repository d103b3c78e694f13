"""Data sets: resolve what `--data` names with the assignment's data-set provider
(datasets/<name>/provider.py: where the arrays come from, what they are called, how a kernel
gets them), and materialise it once into a content-keyed cache.

The cache splits every data set into a *public* folder (training images and labels, test
images) that student code may see, and a *hidden* folder (test labels) that only the grader
reads. Arrays are plain .npy files so kernels and probes memory-map them instead of
re-parsing pickles or archives.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np
from filelock import FileLock

from .errors import SetupError
from .write import write_atomic

REPO = Path(__file__).resolve().parent.parent
PROVIDERS = REPO / "datasets"


@dataclass(frozen=True)
class Dataset:
    name: str          # key of the rubric's thresholds, as the provider names it
    source: str        # where it came from, for reports
    fingerprint: str   # sha256 of the arrays: part of every cache key
    n_train: int
    n_test: int
    public_dir: Path | None   # x_train.npy, y_train.npy, x_test.npy
    hidden_dir: Path | None   # y_test.npy
    kernel: dict[str, str] = field(default_factory=dict)   # the provider's kernel environment
    hook: Path | None = None  # the provider's kernel hook, run at every kernel's start

    def load_public(self):
        d = self.public_dir
        return (np.load(d / "x_train.npy", mmap_mode="r"), np.load(d / "y_train.npy"),
                np.load(d / "x_test.npy", mmap_mode="r"))

    def load_test_labels(self) -> np.ndarray:
        return np.load(self.hidden_dir / "y_test.npy")

    def kernel_env(self) -> dict[str, str]:
        """What a student's kernel needs to be served this data set (its hook reads it)."""
        return {**self.kernel, "NNGRADER_KERNEL_HOOKS": str(self.hook)} if self.hook else {}

    def hook_digest(self) -> str:
        """The hook's code: part of the execution's key, as the grader's own kernel code is."""
        return hashlib.sha256(self.hook.read_bytes()).hexdigest() if self.hook else ""

    def derived(self, name: str, source: np.ndarray, transform: Callable[[np.ndarray], np.ndarray],
                rows: int = 2048) -> np.ndarray:
        """`transform` (which must treat rows independently) applied to `source`, computed once
        block by block into a file next to the data set and memory-mapped read-only: every
        worker shares its pages instead of holding its own copy, and no worker ever holds the
        whole array plus its temporaries."""
        path = self.hidden_dir.parent / "derived" / f"{name}.npy"
        if not path.is_file():
            path.parent.mkdir(exist_ok=True)
            with FileLock(str(path) + ".lock"):     # two workers at once: one computes
                if not path.is_file():
                    _write_rows(path, source, transform, rows)
        return np.load(path, mmap_mode="r")

    @property
    def readable(self) -> tuple[Path, ...]:
        """The folders student code may read: the public part, and the hook's folder."""
        return tuple(p for p in (self.public_dir, self.hook.parent if self.hook else None) if p is not None)

    def describe(self) -> dict:
        return {"name": self.name, "source": self.source, "fingerprint": self.fingerprint[:16],
                "n_train": self.n_train, "n_test": self.n_test}


# an assignment whose data the checks make themselves (e.g. spiral data): nothing to serve
NONE = Dataset(name="none", source="made by the checks", fingerprint="none", n_train=0, n_test=0,
               public_dir=None, hidden_dir=None)


def for_assignment(kind: str | None, spec: str | None) -> Dataset:
    """The data set an assignment grades on: `kind` from its assignment.toml (a provider under
    datasets/), `spec` from --data (None: the provider's default)."""
    if kind is None:
        if spec is not None:
            raise SetupError("--data: this assignment uses no data set")
        return NONE
    p = provider(kind)
    return _materialise(p, *p.resolve(spec))


def cache_root() -> Path:
    return Path(os.environ.get("NNGRADER_CACHE", Path.home() / ".cache" / "nngrader"))


def provider(kind: str) -> ModuleType:
    """datasets/<kind>/provider.py (datasets/README.md says what it holds)."""
    path = PROVIDERS / kind / "provider.py"
    if not path.is_file():
        raise SetupError(f"no provider for the data set {kind!r}: expected {path} (datasets/README.md)")
    name = f"nngrader_dataset_{kind}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


def _source_key(reader, path: Path | None) -> str:
    """Cheap key of the source (path, sizes, mtimes) to find an existing materialisation."""
    if path is None:
        return "keras"
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    stat = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file()]
    return hashlib.sha256(json.dumps([reader.__name__, stat]).encode()).hexdigest()


def _materialise(provider: ModuleType, reader, path: Path | None, default_name: str) -> Dataset:
    index = cache_root() / "datasets" / "by-source" / f"{_source_key(reader, path)}.json"
    if index.is_file():
        meta = json.loads(index.read_text())
        root = Path(meta["root"])
        if (root / "meta.json").is_file():
            return _dataset(provider, root, meta["source"])
    xtr, ytr, xte, yte = reader(path)
    xtr, xte = np.ascontiguousarray(xtr, np.uint8), np.ascontiguousarray(xte, np.uint8)
    ytr, yte = np.asarray(ytr, np.uint8).reshape(-1), np.asarray(yte, np.uint8).reshape(-1)
    digest = hashlib.sha256()
    for a in (xtr, ytr, xte, yte):
        digest.update(a.tobytes())
    fingerprint = digest.hexdigest()
    name = provider.name(len(xtr), len(xte), fingerprint, path, default_name,
                         lambda: _materialise(provider, *provider.resolve(None)).fingerprint)
    root = cache_root() / "datasets" / fingerprint[:24]
    if not (root / "meta.json").is_file():
        tmp = Path(tempfile.mkdtemp(dir=_mkdir(root.parent), prefix=".tmp-"))
        for sub, arrays in (("public", {"x_train": xtr, "y_train": ytr, "x_test": xte}),
                            ("hidden", {"y_test": yte})):
            (tmp / sub).mkdir()
            for key, arr in arrays.items():
                np.save(tmp / sub / f"{key}.npy", arr)
        (tmp / "meta.json").write_text(json.dumps({"name": name, "fingerprint": fingerprint,
                                                   "n_train": len(xtr), "n_test": len(xte)}))
        for array in (tmp / "public").iterdir():  # read by the sandbox's own uid; the hidden part is not
            array.chmod(0o644)
        (tmp / "public").chmod(0o755)
        (tmp / "hidden").chmod(0o700)
        try:
            tmp.rename(root)
        except OSError:  # another worker finished first: theirs is identical
            shutil.rmtree(tmp, ignore_errors=True)
    source = provider.source(path)
    write_atomic(index, json.dumps({"root": str(root), "source": source}))
    return _dataset(provider, root, source)


def _dataset(provider: ModuleType, root: Path, source: str) -> Dataset:
    meta = json.loads((root / "meta.json").read_text())
    return Dataset(name=meta["name"], source=source, fingerprint=meta["fingerprint"],
                   n_train=meta["n_train"], n_test=meta["n_test"],
                   public_dir=root / "public", hidden_dir=root / "hidden",
                   kernel=provider.kernel_env(root / "public", meta["n_train"], meta["n_test"]),
                   hook=provider.KERNEL_HOOK)


def _write_rows(path: Path, source: np.ndarray, transform, rows: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        first = transform(np.asarray(source[:1]))
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=first.dtype, shape=(len(source), *first.shape[1:]))
        for start in range(0, len(source), rows):
            out[start:start + rows] = transform(np.asarray(source[start:start + rows]))
        out.flush()
        del out
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p

