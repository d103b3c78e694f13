"""Kind "outputs": what a function, or a method of an object, computes on generated inputs,
against the reference's.

    [[checks]]
    id = "affine_forward"
    kind = "outputs"
    function = "affine_forward"                 # in the student's code and in the reference
    cases = [{x = [2, 4, 5], w = [20, 3], b = [3]}, ...]   # arguments, in order: their shapes
    away_from_zero = 1e-3                       # optional: inputs kept off a kink at 0
    returns_cache = true                        # optional (default): the function returns (out, cache)

A method instead of a function: `class`, `init`, `attributes` and `args` (grader/kinds/calls.py),
`method`, and where the output is:

    output = "output"                # read self.output after the call, not the return value
    returns = "scores"               # or: how messages name the value returned (beside its cache)

Optional: `invariance = "row_shift"` accepts a constant added to each row (scores before a
softmax) and says so; `wrong = "differ from ..."` is what messages say of an output no known
mistake explains (default "is wrong"). Inputs are standard normal arrays of the `cases` shapes,
or the assignment's own (`CASES[check id]` in its checks.py).
"""
from __future__ import annotations

import numpy as np

from ..check import FAIL, PASS, WARN, Verdict, by_case, probe_failed, raised
from ..numeric import compare, eps, precision_of, summary
from . import calls, shared

PROBE = "kind_outputs"


def inputs(ctx, spec: dict, hooks: shared.Hooks = shared.Hooks()) -> dict:
    cases = shared.case_arrays(ctx, spec, hooks)
    flat = shared.call_inputs(spec, cases[0], "method", "output")
    for k, case in enumerate(cases):
        flat.update({f"c{k}.{n}": a for n, a in case.items()})
    return flat


def _output(module, spec: dict, case: dict) -> np.ndarray:
    obj = calls.make(module, spec, case)
    result = calls.call(module, spec, obj, spec.get("method", spec.get("function")),
                        [case[n].copy() for n in calls.args(spec, case)])
    return np.asarray(calls.read(obj, spec["output"]) if "output" in spec else shared.first(result), np.float64)


def _scale(module, spec: dict, case: dict) -> np.ndarray:
    """The magnitude of the terms behind each entry: the computation on absolute values. A
    constant per row may come from any entry of the row, so with row_shift the row's largest is added."""
    scale = np.abs(_output(module, spec, {n: np.abs(v) for n, v in case.items()}))
    return scale + scale.max(axis=1, keepdims=True) if spec.get("invariance") == "row_shift" else scale


def _unshifted(spec: dict, got: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """got without its per-row constant shift from expected, when the spec accepts one, and the shift."""
    if spec.get("invariance") != "row_shift":
        return got, np.zeros(1)
    shift = (got - expected).mean(axis=1, keepdims=True)
    return got - shift, shift


def judge(ctx, spec: dict, inputs: dict, outcome, mistakes: dict, hooks: shared.Hooks = shared.Hooks()) -> Verdict:
    name = spec.get("method", spec.get("function"))
    who = f"{spec['class']} {name}" if "class" in spec else name
    label = f"self.{spec['output']}" if "output" in spec else spec.get("returns", f"{name}'s output")
    if outcome.error:
        return probe_failed(f"{who} could not be run", outcome)
    outs = by_case(outcome.outputs)
    failed = shared.no_output(who, outs) or raised(who, outs) or shared.returned(who, outs)
    if failed:
        return failed
    units, comparisons, shifted = shared.units(ctx), [], False
    for k, case in shared.cases(inputs).items():
        o = outs[k]
        for arg in calls.args(spec, case):
            if not np.array_equal(o[f"after_{arg}"], case[arg]):
                return Verdict(FAIL, f"{name} changed {_its(arg, spec)} in place (e.g. `{arg} -= ...`); "
                                     "compute on a new array instead")
        if "output" not in spec and spec.get("returns_cache", True) and not o["pair"]:
            return Verdict(FAIL, f"{name} must return a pair ({spec.get('returns', 'out')}, cache); it returned "
                                 "one value")
        got, expected = o["out"], _output(ctx.reference, spec, case)
        if got.shape != expected.shape:
            return Verdict(FAIL, f"{label} has shape {got.shape}; expected {expected.shape}")
        precision, scale = precision_of(got), _scale(ctx.reference, spec, case)
        unshifted, shift = _unshifted(spec, got, expected)
        c = compare(unshifted, expected, precision, scale, units, ctx.expected_error * scale)
        if not c.ok:
            return Verdict(FAIL, _diagnosis(spec, label, got, expected, case, precision, units, c, mistakes),
                           details={"case": k, "max_rel_error": c.error, "precision": c.precision.name})
        comparisons.append(c)
        shifted |= bool(np.any(np.abs(shift) > units * eps(c.precision) * scale.max(axis=1, keepdims=True)))
    note, coarse = summary(comparisons)
    shift_note = "up to a constant per row, which softmax ignores: fine" if shifted else ""
    return Verdict(WARN if coarse else PASS,
                   shared.with_note(f"{who} matches the reference on {len(comparisons)} cases",
                                    "; ".join(n for n in (shift_note, note) if n)),
                   details={"max_rel_error": max(c.error for c in comparisons)})


def _its(arg: str, spec: dict) -> str:
    """How a message names an argument: a function's "argument x", a method's "input x" (its
    "inputs" when the name says so already)."""
    if "class" not in spec:
        return f"its argument {arg}"
    return f"its {arg}" if arg.startswith("input") else f"its input {arg}"


def _diagnosis(spec, label, got, expected, case, precision, units, c, mistakes: dict) -> str:
    """The assignment's known mistake that `got` matches (each within its own terms' magnitude;
    message -> what it computes from the arguments, then the attributes set), else where it is wrong."""
    args = calls.inputs(spec, case)
    for message, f in mistakes.items():
        try:
            alt = np.asarray(f(*args), np.float64)
            scale = np.abs(np.asarray(f(*(np.abs(a) for a in args)), np.float64))
        except (ValueError, TypeError, IndexError):   # shapes that do not fit: not this mistake
            continue
        if spec.get("invariance") == "row_shift" and alt.ndim == 2:
            scale = scale + scale.max(axis=1, keepdims=True)
        if alt.shape == got.shape and compare(_unshifted(spec, got, alt)[0], alt, precision, scale, units).ok:
            return f"{label} {message}"
    return shared.wrong(label, got, expected, c, spec.get("wrong", "is wrong"))
