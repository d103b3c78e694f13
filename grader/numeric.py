"""Numerical helpers shared by the checks of every assignment.

An answer is judged at the precision it was computed in: `compare` accepts a difference of a
few units of roundoff of that precision, measured against the magnitude of the terms that make
up each entry (for A @ B, |A| @ |B|: the classic bound of rounding error), never entry by entry.
Rounding in a sum with cancellation can change an entry's leading digits; it cannot exceed a
few roundoffs of the terms' magnitude. A real mistake changes entries by a sizeable share of it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Iterable

import numpy as np

FLOAT64 = np.dtype(np.float64)
FLOAT32 = np.dtype(np.float32)
UNITS = 16.0   # units of roundoff accepted; a correct float32 answer measures about 1 on these checks


@dataclass(frozen=True)
class Comparison:
    ok: bool
    error: float              # |got - expected| relative to the terms' magnitude, at `where`
    where: tuple[int, ...]    # the entry furthest beyond what rounding explains
    precision: np.dtype       # the precision the answer was judged at
    inferred: bool = False    # judged at another precision than its arrays showed (from their values)


def precision_of(*arrays) -> np.dtype:
    """The least precise floating dtype among the arrays; float64 when none is floating (integers
    are exact). The reference computes in float64, so nothing is judged finer than that."""
    found = [np.asarray(a).dtype for a in arrays if a is not None]
    floats = [d for d in found if d.kind == "f"] or [FLOAT64]
    return max(floats, key=lambda d: np.finfo(d).eps)


def eps(precision) -> float:
    """The unit of roundoff an answer at this precision is judged with (never below float64's)."""
    return max(float(np.finfo(precision).eps), float(np.finfo(FLOAT64).eps))


def magnitude(f: Callable[..., np.ndarray], *arrays: np.ndarray) -> np.ndarray:
    """The magnitude of the terms `f` sums, entry by entry: f on the absolute values of its inputs.
    For sums and products (matrix products, ReLU, masks) this is |A| @ |B| and its kin; a ReLU
    then passes everything, so the bound also covers a unit that rounding moved across the kink."""
    return np.abs(np.asarray(f(*(np.abs(np.asarray(a, np.float64)) for a in arrays)), np.float64))


def compare(got, expected, precision=None, term_scale=None, units: float = UNITS, allowance=0.0,
            infer_float32: bool = True) -> Comparison:
    """`got` against the float64 `expected`, at the precision the student's code used (by default
    the dtype of `got`). An entry may differ by `units` roundoffs of its terms' magnitude
    `term_scale` (by default the array's scale, max |expected|) plus `allowance` (absolute: the
    error of `expected` itself, or what may go either way).
    The finest precision that holds is the one reported: a float16 array found next to a float64
    answer does not make a float64-accurate answer a float16 one. A float64 answer that holds at
    float32 accuracy only was computed in float32 somewhere (a cast on the way): judged so, and
    `inferred` says it. A failure is reported at the precision used."""
    used = precision_of(got) if precision is None else np.dtype(precision)
    ladder = {used, FLOAT64} | ({FLOAT32} if infer_float32 or eps(used) >= eps(FLOAT32) else set())
    failed = None
    for precision in sorted(ladder, key=eps):
        result = _compare(got, expected, precision, term_scale, units, allowance)
        if result.ok:
            return replace(result, inferred=precision != used and eps(precision) > eps(FLOAT64))
        failed = result if precision == used else failed
    return failed


def _compare(got, expected, precision, term_scale, units, allowance) -> Comparison:
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    if got.shape != expected.shape:
        return Comparison(False, float("inf"), (), precision)
    if got.size == 0:
        return Comparison(True, 0.0, (), precision)
    scale = np.max(np.abs(expected)) if term_scale is None else np.asarray(term_scale, np.float64)
    scale = np.broadcast_to(scale, got.shape)
    bound = units * eps(precision) * scale + np.broadcast_to(np.asarray(allowance, np.float64), got.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.abs(got - expected)
        diff = np.where(np.isnan(diff), np.inf, diff)
        excess = np.where(diff == 0, 0.0, diff / bound)     # bound 0: only an exact answer holds
        relative = np.where(diff == 0, 0.0, diff / scale)
    where = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), got.shape))
    return Comparison(bool(np.max(excess) <= 1.0), float(relative[where]), where, precision)


def precision_note(c: Comparison) -> str:
    """What a message says about the precision an answer was judged at ("" for float64)."""
    if eps(c.precision) <= eps(FLOAT64):
        return ""
    name = c.precision.name
    if c.inferred:
        return f"its values have {name} accuracy, not float64: compared at {name} accuracy"
    if is_coarse(c.precision):
        return (f"computed in {name}: compared at {name} accuracy, which cannot rule out a small mistake; "
                "compute in float32 or float64")
    return f"computed in {name}: compared at {name} accuracy"


def is_coarse(precision) -> bool:
    """Coarser than float32 (float16): judged at its own accuracy, passed with a warning only."""
    return eps(precision) > eps(FLOAT32)


def summary(comparisons: Iterable[Comparison]) -> tuple[str, bool]:
    """For a passing verdict: the note on the least precision its comparisons were judged at,
    and whether that precision is coarse (float16: a warning, not a plain pass)."""
    least = max(comparisons, key=lambda c: (eps(c.precision), c.inferred), default=None)
    if least is None:
        return "", False
    return precision_note(least), is_coarse(least.precision)


def momentum_steps_scale(start: dict[str, np.ndarray], grads: list[dict[str, np.ndarray]], rates: list[float],
                         momentum: float, after: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """Magnitude of the terms behind each step's parameters of SGD with momentum (update =
    momentum * update + rate * grad; theta -= update, in any equivalent form): every step rounds
    the parameters and the update, and a rounding error of an update carries on into every later
    one, decayed by the momentum. `after` holds the right parameters after each step."""
    before = {n: np.abs(v) for n, v in start.items()}
    total = dict(before)
    update = {n: 0.0 for n in start}
    carried = {n: 0.0 for n in start}
    out = []
    for t, step in enumerate(after):
        for n in start:
            update[n] = momentum * update[n] + rates[t] * np.abs(grads[t][n])
            carried[n] = momentum * carried[n] + update[n]
            total[n] = total[n] + before[n] + update[n] + carried[n]
            before[n] = np.abs(step[n])
        out.append(dict(total))
    return out


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


def full_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centered differences of f() with respect to every entry of x (a self-check's definitions)."""
    grad = np.zeros(x.shape)
    for ix, value in numerical_gradient(f, x, list(np.ndindex(x.shape)), h).items():
        grad[ix] = value
    return grad


def sample_indices(shape: tuple[int, ...], limit: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """Every entry of a small array, or `limit` distinct random entries of a large one."""
    size = int(np.prod(shape))
    flat = np.arange(size) if size <= limit else rng.choice(size, limit, replace=False)
    return [tuple(int(i) for i in np.unravel_index(k, shape)) for k in flat]
