"""Numerical helpers shared by the checks of every assignment."""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np


def rel_error(a: np.ndarray, b: np.ndarray, floor: float = 1e-8) -> float:
    """max |a-b| / max(floor, |a|+|b|), elementwise: the usual gradient-check measure.
    A larger floor compares entries far below the array's scale at that scale instead."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size == 0:
        return 0.0
    with np.errstate(invalid="ignore"):
        err = np.abs(a - b) / np.maximum(floor, np.abs(a) + np.abs(b))
    return float(np.nanmax(np.where(np.isfinite(err), err, np.inf)))


def scaled_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a-b| relative to the arrays' scale: tolerant of tiny entries (float32 arithmetic)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size == 0:
        return 0.0
    scale = max(1e-8, float(np.max(np.abs(b))), float(np.max(np.abs(a))) if np.all(np.isfinite(a)) else 0.0)
    diff = np.abs(a - b)
    return float(np.max(diff) / scale) if np.all(np.isfinite(diff)) else float("inf")


def worst_index(a: np.ndarray, b: np.ndarray) -> tuple[int, ...]:
    """Where a and b differ most (relative), for messages that point at an entry."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    with np.errstate(invalid="ignore"):
        err = np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))
    err = np.where(np.isfinite(err), err, np.inf)
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(err)), err.shape))


def numerical_gradient(f: Callable[[], float], x: np.ndarray, indices: Iterable[tuple[int, ...]],
                       h: float = 1e-5) -> dict[tuple[int, ...], float]:
    """Centered differences of f() with respect to the given entries of x (changed in place)."""
    grads = {}
    for ix in indices:
        old = x[ix]
        x[ix] = old + h
        plus = f()
        x[ix] = old - h
        minus = f()
        x[ix] = old
        grads[ix] = (plus - minus) / (2 * h)
    return grads


def sample_indices(shape: tuple[int, ...], limit: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """Every entry of a small array, or `limit` distinct random entries of a large one."""
    size = int(np.prod(shape))
    flat = np.arange(size) if size <= limit else rng.choice(size, limit, replace=False)
    return [tuple(int(i) for i in np.unravel_index(k, shape)) for k in flat]
