"""Kind "outputs": a function's output on generated inputs, against the reference's function.

    [[checks]]
    id = "affine_forward"
    kind = "outputs"
    function = "affine_forward"                 # in the student's code and in the reference
    cases = [{x = [2, 4, 5], w = [20, 3], b = [3]}, ...]   # arguments, in order: their shapes
    away_from_zero = 1e-3                       # optional: inputs kept off a kink at 0
    returns_cache = true                        # optional (default): the function returns (out, cache)
"""
from __future__ import annotations

import numpy as np

from ..check import FAIL, PASS, WARN, Verdict, by_case, probe_failed, raised
from ..numeric import compare, magnitude, precision_of, summary
from . import shared

PROBE = "kind_outputs"


def inputs(ctx, spec: dict) -> dict:
    gen = shared.rng(ctx, spec)
    flat = shared.spec_inputs(function=spec["function"], args=",".join(spec["cases"][0]))
    for k, shapes in enumerate(spec["cases"]):
        flat.update({f"c{k}.{n}": a for n, a in
                     shared.arrays(gen, shapes, float(spec.get("away_from_zero", 0))).items()})
    return flat


def judge(ctx, spec: dict, inputs: dict, outcome, mistakes: dict) -> Verdict:
    name = spec["function"]
    if outcome.error:
        return probe_failed(f"{name} could not be run", outcome)
    outs = by_case(outcome.outputs)
    failed = raised(name, outs) or shared.returned(name, outs)
    if failed:
        return failed
    reference, units, comparisons = getattr(ctx.reference, name), shared.units(ctx), []

    def output(*args):
        return shared.first(reference(*(a.copy() for a in args)))

    for k, case in shared.cases(inputs).items():
        o, args = outs[k], list(case.values())
        for arg, value in case.items():
            if not np.array_equal(o[f"after_{arg}"], value):
                return Verdict(FAIL, f"{name} changed its argument {arg} in place (e.g. `{arg} -= ...`); "
                                     "compute on a new array instead")
        if spec.get("returns_cache", True) and not o["pair"]:
            return Verdict(FAIL, f"{name} must return a pair (out, cache); it returned one value")
        got, expected = o["out"], output(*args)
        if got.shape != expected.shape:
            return Verdict(FAIL, f"{name}'s output has shape {got.shape}; expected {expected.shape}")
        precision, scale = precision_of(got), magnitude(output, *args)
        c = compare(got, expected, precision, scale, units, ctx.expected_error * scale)
        if not c.ok:
            return Verdict(FAIL, _diagnosis(name, got, expected, args, precision, units, c, mistakes),
                           details={"case": k, "max_rel_error": c.error, "precision": c.precision.name})
        comparisons.append(c)
    note, coarse = summary(comparisons)
    return Verdict(WARN if coarse else PASS,
                   shared.with_note(f"{name} matches the reference on {len(comparisons)} cases", note),
                   details={"max_rel_error": max(c.error for c in comparisons)})


def _diagnosis(name, got, expected, args, precision, units, c, mistakes: dict) -> str:
    """The assignment's known mistake that `got` matches (each within its own terms' magnitude)."""
    for message, f in mistakes.items():
        try:
            alt = np.asarray(f(*args), np.float64)
        except (ValueError, TypeError, IndexError):   # shapes that do not fit: not this mistake
            continue
        if alt.shape == got.shape and compare(got, alt, precision, magnitude(f, *args), units).ok:
            return f"{name}'s output is wrong: {message}"
    return shared.wrong(f"{name}'s output", got, expected, c)
