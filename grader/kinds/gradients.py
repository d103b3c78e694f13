"""Kind "gradients": what a backward function returns, against the reference's backward on the
same inputs and against centered differences of the reference's forward, gradient by gradient
(a share of the points each).

    [[checks]]
    id = "affine_backward"
    kind = "gradients"
    forward = "affine_forward"                  # makes the cache backward(dout, cache) gets
    backward = "affine_backward"
    grads = ["dx", "dw", "db"]                  # what backward returns, in order ...
    wrt = ["x", "w", "b"]                       # ... and the argument of forward each is of
    cases = [{x = [2, 4, 5], w = [20, 3], b = [3]}, ...]
"""
from __future__ import annotations

import numpy as np

from ..check import FAIL, PASS, WARN, Verdict, by_case, probe_failed, raised
from ..numeric import compare, numerical_gradient, precision_of, sample_indices, summary
from . import shared

PROBE = "kind_gradients"


def inputs(ctx, spec: dict) -> dict:
    gen = shared.rng(ctx, spec)
    forward = getattr(ctx.reference, spec["forward"])
    flat = shared.spec_inputs(forward=spec["forward"], backward=spec["backward"], args=",".join(spec["cases"][0]))
    for k, shapes in enumerate(spec["cases"]):
        args = shared.arrays(gen, shapes, float(spec.get("away_from_zero", 0)))
        out = shared.first(forward(*(a.copy() for a in args.values())))
        flat.update({f"c{k}.{n}": a for n, a in args.items()})
        flat[f"c{k}.dout"] = gen.standard_normal(np.shape(out))
    return flat


def _reference(ctx, spec, args: list, dout: np.ndarray) -> list[np.ndarray]:
    forward, backward = getattr(ctx.reference, spec["forward"]), getattr(ctx.reference, spec["backward"])
    cache = forward(*(a.copy() for a in args))[1]
    grads = backward(dout.copy(), cache)
    return [np.asarray(g, np.float64) for g in (grads if isinstance(grads, (tuple, list)) else [grads])]


def judge(ctx, spec: dict, inputs: dict, outcome, mistakes: dict) -> Verdict:
    name, names, wrt = spec["backward"], list(spec["grads"]), list(spec["wrt"])
    if outcome.error:
        return probe_failed(f"{name} could not be run", outcome)
    outs = by_case(outcome.outputs)
    failed = raised(f"{spec['forward']} then {name}", outs) or shared.returned(name, outs)
    if failed:
        return failed
    units, forward = shared.units(ctx), getattr(ctx.reference, spec["forward"])
    gen = np.random.default_rng(ctx.seed)
    problems: dict[str, str] = {}
    warnings: dict[str, str] = {}
    comparisons = []
    for k, case in shared.cases(inputs).items():
        o, dout = outs[k], case["dout"]
        args = [v for n, v in case.items() if n != "dout"]
        if int(o["count"]) != len(names):
            return Verdict(FAIL, f"{name} returns {int(o['count'])} value(s); expected {len(names)}: "
                                 f"({', '.join(names)})")
        if int(o["again_count"]) != len(names):
            return Verdict(FAIL, f"{name} returns {int(o['again_count'])} value(s) when called a second time")
        expected = _reference(ctx, spec, args, dout)
        scales = [np.abs(s) for s in _reference(ctx, spec, [np.abs(a) for a in args], np.abs(dout))]
        for i, grad in enumerate(names):
            if grad in problems:
                continue
            got, want, scale = o[f"g{i}"], expected[i], scales[i]
            precision = precision_of(got)
            allowance = ctx.expected_error * scale
            if got.shape != want.shape:
                if got.size == want.size and compare(got.reshape(want.shape), want, precision, scale, units,
                                                     allowance).ok:
                    warnings[grad] = f"{grad} has shape {got.shape} instead of {want.shape}, the values are right"
                    got = got.reshape(want.shape)
                elif got.ndim == 2 and got.T.shape == want.shape and compare(got.T, want, precision, scale, units,
                                                                             allowance).ok:
                    problems[grad] = f"{grad} is transposed: shape {got.shape}, expected {want.shape}"
                    continue
                else:
                    problems[grad] = f"{grad} has shape {got.shape}; expected {want.shape}"
                    continue
            c = compare(got, want, precision, scale, units, allowance)
            if not c.ok:
                problems[grad] = _diagnosis(grad, i, got, want, args, dout, precision, units, c, mistakes)
                continue
            arg = args[list(case).index(wrt[i])].copy()
            call = [a if j != list(case).index(wrt[i]) else arg for j, a in enumerate(args)]
            idx = sample_indices(arg.shape, int(ctx.rubric.get("numeric_entries", 30)), gen)
            numeric = numerical_gradient(lambda: float(np.sum(shared.first(forward(*call)) * dout)), arg, idx)
            at = tuple(np.array(ix) for ix in zip(*idx))
            if not compare(got[at], np.array([numeric[ix] for ix in idx]), precision, scale[at], units,
                           float(ctx.rubric.get("numeric_rtol", 1e-6)) * scale[at] + allowance[at]).ok:
                problems[grad] = f"{grad} disagrees with the numerical gradient"
            elif o[f"again_g{i}"].size != want.size or \
                    not compare(o[f"again_g{i}"].reshape(want.shape), want, precision, scale, units, allowance).ok:
                problems[grad] = (f"{grad} changes when {name} is called twice with the same input: it "
                                  "accumulates; compute it afresh each call")
            else:
                comparisons.append(c)
    if problems:
        right = len(names) - len(problems)
        return Verdict(FAIL, "; ".join(problems.values()) + f" ({right} of {len(names)} gradients right)",
                       fraction=right / len(names))
    note, coarse = summary(comparisons)
    if warnings:
        return Verdict(WARN, shared.with_note("; ".join(warnings.values()), note))
    return Verdict(WARN if coarse else PASS,
                   shared.with_note(f"{', '.join(names)} {'matches' if len(names) == 1 else 'match'} the reference and "
                                    "the numerical gradient", note))


def _diagnosis(grad, i, got, want, args, dout, precision, units, c, mistakes: dict) -> str:
    """A known mistake of the assignment's (message -> the gradients it gives, from the forward's
    arguments and dout), else where the gradient is wrong."""
    for message, f in mistakes.items():
        try:
            alt = np.asarray(f(*args, dout)[i], np.float64)
        except (ValueError, TypeError, IndexError):
            continue
        scale = np.abs(np.asarray(f(*(np.abs(a) for a in args), np.abs(dout))[i], np.float64))
        if alt.shape == got.shape and np.any(alt != want) and compare(got, alt, precision, scale, units).ok:
            return f"{grad} is wrong: {message}"
    if not np.any(got):
        return f"{grad} is all zeros"
    return shared.wrong(grad, got, want, c)
