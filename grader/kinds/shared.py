"""What the kinds share: generated inputs, cases, and the messages of a wrong array."""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..check import FAIL, Verdict, by_case
from ..numeric import UNITS, Comparison, precision_note
from . import calls


def rng(ctx, spec: dict) -> np.random.Generator:
    """Inputs of a check: the same for every student, different between checks."""
    return np.random.default_rng([ctx.seed, zlib.crc32(spec["id"].encode())])


def arrays(gen: np.random.Generator, shapes: dict, away_from_zero: float = 0.0) -> dict[str, np.ndarray]:
    """Standard normal arrays of the given shapes; entries within `away_from_zero` of 0 moved
    away from it (a kink such as ReLU's, where conventions differ)."""
    out = {}
    for name, shape in shapes.items():
        a = gen.standard_normal(tuple(shape))
        if away_from_zero:
            a = np.where(np.abs(a) < away_from_zero, np.copysign(away_from_zero, a) * 2, a)
        out[name] = a
    return out


def spec_inputs(**text: str) -> dict[str, np.ndarray]:
    """Names the probe needs (functions, argument names), as "spec.<name>" text."""
    return {f"spec.{k}": np.array(v) for k, v in text.items()}


@dataclass(frozen=True)
class Hooks:
    """What an assignment's checks.py may add to an outputs or gradients check besides its known
    mistakes: its own inputs, `CASES[check id](ctx)`, one dict of arrays per case (the layer's
    parameters drawn at their usual scale, kept off a kink ...) instead of standard normal arrays
    of the spec's shapes; and, for gradients, `ALLOWANCES[check id](case, precision, units)`, per
    case entry what may go either way (a unit within rounding of ReLU's kink); and `SCALES[check
    id](ctx, case)`, the magnitude of the terms behind a loss layer's "loss" and its "grads" (a
    list, in order) where f(|inputs|) does not bound the rounding (exp and log)."""
    cases: Callable[..., list[dict[str, np.ndarray]]] | None = None
    allowance: Callable[..., dict[str, np.ndarray]] | None = None
    scales: Callable[..., dict] | None = None


def case_arrays(ctx, spec: dict, hooks: Hooks) -> list[dict[str, np.ndarray]]:
    """Each case's arrays: the assignment's own, or standard normal ones of the spec's shapes."""
    if hooks.cases is not None:
        return hooks.cases(ctx)
    gen = rng(ctx, spec)
    return [arrays(gen, shapes, float(spec.get("away_from_zero", 0))) for shapes in spec["cases"]]


def call_inputs(spec: dict, case: dict, *names: str) -> dict[str, np.ndarray]:
    """What the probe needs to call the code: the spec's names (a function, or a class, its
    constructor arguments, attributes and methods), the arguments' case entries and the attributes
    to read, as "spec.<name>" text (lists comma-separated)."""
    text = {n: ",".join(spec[n]) if isinstance(spec[n], list) else spec[n]
            for n in ("function", "class", "init", "attributes", *names) if n in spec}
    return spec_inputs(args=",".join(calls.args(spec, case)), **text)


def cases(inputs: dict) -> dict[str, dict]:
    return {k: v for k, v in by_case(inputs).items() if k != "spec"}


def units(ctx) -> float:
    return float(ctx.rubric.get("roundoff_units", UNITS))


def first(result):
    """A layer's output: the first value of an (out, cache) pair."""
    return result[0] if isinstance(result, (tuple, list)) else result


def wrong(label: str, got: np.ndarray, expected: np.ndarray, c: Comparison, says: str = "is wrong") -> str:
    ix = c.where
    note = precision_note(c)
    return (f"{label} {says} (max error {c.error:.2g} of the magnitude of the terms, at index {ix}: got "
            f"{float(got[ix]):.6g}, expected {float(expected[ix]):.6g})" + (f" ({note})" if note else ""))


def with_note(message: str, note: str) -> str:
    return message + (f" ({note})" if note else "")


def no_output(name: str, outs: dict[str, dict]) -> Verdict | None:
    """A FAIL for a method that ran but did not set the attribute its check reads, or None."""
    missing = [o["no_output"].item() for o in outs.values() if "no_output" in o]
    return Verdict(FAIL, f"{name} does not set self.{calls.label(missing[0])}: the layer after reads it there") \
        if missing else None


def returned(name: str, outs: dict[str, dict]) -> Verdict | None:
    """A FAIL for a function that returned something its check cannot read (not numbers, a
    tuple of another length, ...), or None."""
    bad = [o["returned"].item() for o in outs.values() if "returned" in o]
    return Verdict(FAIL, f"{name} returned {bad[0]}") if bad else None
