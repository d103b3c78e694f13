"""Kind "update_rule": a function-style update rule, `next_w, config = rule(w, dw, config)`,
over several steps with the config it returns carried on, against the reference's rule.

    [[checks]]
    id = "adam"
    kind = "update_rule"
    function = "adam"
    shape = [4, 5]
    steps = 6
    configs = [{}, {learning_rate = 0.01, beta1 = 0.8}]   # {}: config None, the rule's defaults
    gradient_scales = [1.0, 1e-3]   # optional, per setting: the gradients' size (default 1)
    nonfinite = "..."               # optional: what non-finite values most likely mean

A rule passes when it matches, step by step within rounding, the reference's or one of the
published variants the assignment accepts (`EQUIVALENTS[check id]` in its checks.py, e.g.
RMSProp with epsilon inside the square root). A setting with a large epsilon and small
gradients shows whether the rule uses config['epsilon'] at all.
"""
from __future__ import annotations

import copy

import numpy as np

from ..check import FAIL, PASS, WARN, Verdict, by_case, first_line, probe_failed
from ..numeric import compare, precision_of, summary
from . import shared

PROBE = "kind_update_rule"


def inputs(ctx, spec: dict) -> dict:
    gen = shared.rng(ctx, spec)
    flat = shared.spec_inputs(function=spec["function"])
    steps, shape = int(spec.get("steps", 6)), tuple(spec["shape"])
    scales = spec.get("gradient_scales", [1.0] * len(spec["configs"]))
    for k, (config, scale) in enumerate(zip(spec["configs"], scales)):
        flat[f"c{k}.w"], flat[f"c{k}.steps"] = gen.standard_normal(shape), np.asarray(steps)
        flat.update({f"c{k}.dw{t}": float(scale) * gen.standard_normal(shape) for t in range(steps)})
        flat.update({f"c{k}.cfg_{name}": np.asarray(float(v)) for name, v in config.items()})
    return flat


def trajectory(rule, case: dict) -> list[np.ndarray]:
    """w after each step of `rule`, from the case's w, gradients and first config."""
    config = {k[4:]: float(v) for k, v in case.items() if k.startswith("cfg_")} or None
    w, out = case["w"].copy(), []
    with np.errstate(all="ignore"):
        for t in range(int(case["steps"])):
            w, config = rule(w, case[f"dw{t}"].copy(), copy.deepcopy(config))
            out.append(np.asarray(w, np.float64).copy())
    return out


def _scale(case: dict, expected: list[np.ndarray]) -> list[np.ndarray]:
    """Per step, the magnitude of what was rounded so far: each w and each step taken."""
    before, total, scales = np.abs(case["w"]), 0.0, []
    for t, w in enumerate(expected):
        total = total + before + np.abs(w - (case["w"] if t == 0 else expected[t - 1]))
        before = np.abs(w)
        scales.append(total)
    return scales


def judge(ctx, spec: dict, inputs: dict, outcome, mistakes: dict, equivalents: dict) -> Verdict:
    name = spec["function"]
    if outcome.error:
        return probe_failed(f"{name} could not be run", outcome)
    outs, units = by_case(outcome.outputs), shared.units(ctx)
    reference = getattr(ctx.reference, name)
    cases = shared.cases(inputs)
    passed, problems, comparisons = 0, [], []
    for k, case in cases.items():
        o = outs.get(k, {})
        label = _label(case)
        if "error" in o or "returned" in o:
            problems.append(f"{name} " + (f"raised {first_line(o['error'].item())}" if "error" in o
                                          else f"returned {o['returned'].item()}") + f" ({label})")
            continue
        expected = trajectory(reference, case)
        got = [o.get(f"w{t}") for t in range(len(expected))]
        if any(g is None or g.shape != e.shape for g, e in zip(got, expected)):
            problems.append(f"{name} returns next_w of another shape than w ({label})")
            continue
        scales, precision = _scale(case, expected), precision_of(*got)

        def matches(want: list[np.ndarray]) -> list:
            return [compare(g, w, precision, s, units, ctx.expected_error * s) for g, w, s in zip(got, want, scales)]

        judged = matches(expected)
        for rule in equivalents.values():   # a published variant the assignment accepts
            if not all(c.ok for c in judged):
                judged = matches(trajectory(rule, case))
        if all(c.ok for c in judged):
            passed += 1
            comparisons.extend(judged)
            continue
        problems.append(f"{_diagnosis(name, spec, case, got, matches(expected), matches, mistakes)} ({label})")
    if problems:
        return Verdict(FAIL, f"{problems[0]}; {passed} of {len(cases)} settings right",
                       fraction=passed / len(cases))
    note, coarse = summary(comparisons)
    return Verdict(WARN if coarse else PASS,
                   shared.with_note(f"{name} matches the reference over {int(next(iter(cases.values()))['steps'])} "
                                    f"steps for {len(cases)} settings, its defaults included", note))


def _label(case: dict) -> str:
    settings = {k[4:]: float(v) for k, v in case.items() if k.startswith("cfg_")}
    return ", ".join(f"{k}={v:g}" for k, v in settings.items()) if settings else "config=None: your defaults"


def _diagnosis(name, spec, case, got, judged, matches, mistakes: dict) -> str:
    bad = next(t for t, c in enumerate(judged) if not c.ok)
    if not np.all(np.isfinite(got[bad])):
        return f"next_w has non-finite values from step {bad + 1}" + (f": {spec['nonfinite']}" if "nonfinite" in spec
                                                                      else "")
    for message, rule in mistakes.items():
        try:
            if all(c.ok for c in matches(trajectory(rule, case))):
                return f"{name} {message}"
        except (ValueError, TypeError, KeyError, ZeroDivisionError):
            continue
    c = judged[bad]
    return f"{name} gives a different w from step {bad + 1} on (error {c.error:.2g} of the magnitude of the terms)"
