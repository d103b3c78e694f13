"""Data sets: resolve what `--data` names, materialise it once into a content-keyed cache.

The cache splits every data set into a *public* folder (training images and labels, test
images) that student code may see, and a *hidden* folder (test labels) that only the grader
reads. Arrays are plain .npy files so kernels and probes memory-map them instead of
re-parsing pickles or archives.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from filelock import FileLock

from .write import write_atomic

REPO = Path(__file__).resolve().parent.parent
EMBEDDED_SUBSET = REPO / "data" / "cifar10_subset.npz"
FULL_SIZES = (50000, 10000)


@dataclass(frozen=True)
class Dataset:
    name: str          # key of the rubric's thresholds: "cifar10", "cifar10-subset" or "cifar10-custom"
    source: str        # where it came from, for reports
    fingerprint: str   # sha256 of the arrays: part of every cache key
    n_train: int
    n_test: int
    public_dir: Path | None   # x_train.npy, y_train.npy, x_test.npy
    hidden_dir: Path | None   # y_test.npy

    def load_public(self):
        d = self.public_dir
        return (np.load(d / "x_train.npy", mmap_mode="r"), np.load(d / "y_train.npy"),
                np.load(d / "x_test.npy", mmap_mode="r"))

    def load_test_labels(self) -> np.ndarray:
        return np.load(self.hidden_dir / "y_test.npy")

    def kernel_env(self) -> dict[str, str]:
        """What the kernel's start-up hook needs to serve this data set to load_data()."""
        if self.public_dir is None:
            return {}
        return {"NNGRADER_CIFAR10_DIR": str(self.public_dir),
                "NNGRADER_CIFAR10_HELD_OUT": str(min(self.n_test, self.n_train // 5))}

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
        """The folders student code may read."""
        return (self.public_dir,) if self.public_dir is not None else ()

    def describe(self) -> dict:
        return {"name": self.name, "source": self.source, "fingerprint": self.fingerprint[:16],
                "n_train": self.n_train, "n_test": self.n_test}


# an assignment whose data the checks make themselves (e.g. spiral data): nothing to serve
NONE = Dataset(name="none", source="made by the checks", fingerprint="none", n_train=0, n_test=0,
               public_dir=None, hidden_dir=None)


def for_assignment(kind: str | None, spec: str | None) -> Dataset:
    """The data set an assignment grades on: `kind` from its assignment.toml, `spec` from --data."""
    if kind is None:
        if spec is not None:
            raise SystemExit("--data: this assignment uses no data set")
        return NONE
    return resolve(spec)


def cache_root() -> Path:
    return Path(os.environ.get("NNGRADER_CACHE", Path.home() / ".cache" / "nngrader"))


def resolve(spec: str | None) -> Dataset:
    """`None` = the embedded real subset; `keras` = keras' own download; else a batches folder."""
    if spec is None:
        return _materialise(_read_npz, EMBEDDED_SUBSET, default_name="cifar10-subset")
    if spec == "keras":
        return _materialise(_read_keras, None, default_name="cifar10")
    path = Path(spec)
    if path.is_dir() and (path / "cifar-10-batches-py").is_dir():
        path = path / "cifar-10-batches-py"
    if path.suffix == ".npz" and path.is_file():
        return _materialise(_read_npz, path, default_name="cifar10-custom")
    if not (path / "test_batch").is_file():
        raise SystemExit(f"--data {spec}: expected a cifar-10-batches-py folder "
                         "(data_batch_1..5, test_batch), an .npz, or 'keras'")
    return _materialise(_read_batches, path, default_name="cifar10-custom")


def _read_npz(path: Path):
    with np.load(path) as z:
        return z["x_train"], z["y_train"], z["x_test"], z["y_test"]


def _read_keras(_):
    import tensorflow as tf  # only here: downloading needs the network once, then keras caches it
    (xtr, ytr), (xte, yte) = tf.keras.datasets.cifar10.load_data()
    return xtr, ytr, xte, yte


def _read_batch(path: Path):
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="bytes")
    x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return x, np.asarray(d[b"labels"], dtype=np.uint8)


def _read_batches(folder: Path):
    parts = [_read_batch(folder / f"data_batch_{i}") for i in range(1, 6)
             if (folder / f"data_batch_{i}").is_file()]
    if not parts:
        raise SystemExit(f"{folder}: no data_batch_N files")
    xte, yte = _read_batch(folder / "test_batch")
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), xte, yte)


def _source_key(reader, path: Path | None) -> str:
    """Cheap key of the source (path, sizes, mtimes) to find an existing materialisation."""
    if path is None:
        return "keras"
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    stat = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file()]
    return hashlib.sha256(json.dumps([reader.__name__, stat]).encode()).hexdigest()


def _materialise(reader, path: Path | None, default_name: str) -> Dataset:
    index = cache_root() / "datasets" / "by-source" / f"{_source_key(reader, path)}.json"
    if index.is_file():
        meta = json.loads(index.read_text())
        root = Path(meta["root"])
        if (root / "meta.json").is_file():
            return _dataset(root, meta["source"])
    xtr, ytr, xte, yte = reader(path)
    xtr, xte = np.ascontiguousarray(xtr, np.uint8), np.ascontiguousarray(xte, np.uint8)
    ytr, yte = np.asarray(ytr, np.uint8).reshape(-1), np.asarray(yte, np.uint8).reshape(-1)
    digest = hashlib.sha256()
    for a in (xtr, ytr, xte, yte):
        digest.update(a.tobytes())
    fingerprint = digest.hexdigest()
    name = default_name
    if (len(xtr), len(xte)) == FULL_SIZES:
        name = "cifar10"
    elif path != EMBEDDED_SUBSET and fingerprint == _embedded_fingerprint():
        name = "cifar10-subset"
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
    source = "tf.keras.datasets.cifar10.load_data()" if path is None else str(path)
    write_atomic(index, json.dumps({"root": str(root), "source": source}))
    return _dataset(root, source)


def _dataset(root: Path, source: str) -> Dataset:
    meta = json.loads((root / "meta.json").read_text())
    return Dataset(name=meta["name"], source=source, fingerprint=meta["fingerprint"],
                   n_train=meta["n_train"], n_test=meta["n_test"],
                   public_dir=root / "public", hidden_dir=root / "hidden")


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


def _embedded_fingerprint() -> str:
    return resolve(None).fingerprint


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p

