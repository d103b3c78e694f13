"""CIFAR-10: where its arrays come from, what each source is called, and how a kernel gets them.

Sources: the embedded real subset (the default, data/cifar10_subset.npz), keras' own download
(`--data keras`), a `cifar-10-batches-py` folder or an `.npz` with x_train, y_train, x_test,
y_test. The rubric's thresholds are per name: "cifar10" (full size), "cifar10-subset" (the
embedded subset, wherever it was read from) and "cifar10-custom" (anything else).
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from grader.errors import SetupError

REPO = Path(__file__).resolve().parents[2]
EMBEDDED_SUBSET = REPO / "data" / "cifar10_subset.npz"
EMBEDDED = (EMBEDDED_SUBSET, REPO / "data" / "cifar10-subset-README.md")   # what an offline package carries
DOWNLOADS = ("keras",)        # specs that download at grading time
FULL_SIZES = (50000, 10000)
KERNEL_HOOK = Path(__file__).with_name("kernel_hook.py")


def resolve(spec: str | None):
    """`None` = the embedded real subset; `keras` = keras' own download; else a batches folder or an .npz."""
    if spec is None:
        return _read_npz, EMBEDDED_SUBSET, "cifar10-subset"
    if spec == "keras":
        return _read_keras, None, "cifar10"
    path = Path(spec)
    if path.is_dir() and (path / "cifar-10-batches-py").is_dir():
        path = path / "cifar-10-batches-py"
    if path.suffix == ".npz" and path.is_file():
        return _read_npz, path, "cifar10-custom"
    if not (path / "test_batch").is_file():
        raise SetupError(f"--data {spec}: expected a cifar-10-batches-py folder "
                         "(data_batch_1..5, test_batch), an .npz, or 'keras'")
    return _read_batches, path, "cifar10-custom"


def name(n_train: int, n_test: int, fingerprint: str, path: Path | None, default: str,
         default_fingerprint) -> str:
    """Full size is "cifar10" wherever it came from; the embedded subset's arrays (whose fingerprint
    `default_fingerprint()` gives) are "cifar10-subset" under any path."""
    if (n_train, n_test) == FULL_SIZES:
        return "cifar10"
    if path != EMBEDDED_SUBSET and fingerprint == default_fingerprint():
        return "cifar10-subset"
    return default


def source(path: Path | None) -> str:
    return "tf.keras.datasets.cifar10.load_data()" if path is None else str(path)


def kernel_env(public_dir: Path, n_train: int, n_test: int) -> dict[str, str]:
    """What kernel_hook.py needs to serve this data set to load_data(): the public part, and how
    many training images it holds out as the notebook's "test" set."""
    return {"NNGRADER_CIFAR10_DIR": str(public_dir), "NNGRADER_CIFAR10_HELD_OUT": str(min(n_test, n_train // 5))}


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
        raise SetupError(f"{folder}: no data_batch_N files")
    xte, yte = _read_batch(folder / "test_batch")
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), xte, yte)
