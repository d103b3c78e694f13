"""Training verdicts that do not flip: a rule over seeds, and the arithmetic each run used.

An accuracy reached by training depends on the initialisation (the seed) and, in its last
digits, on the BLAS kernel that computed it. A verdict on one seed, or on a fixed number of
seeds, flips for settings near the threshold. The rule here: a t-interval of the mean
accuracy over seeds 0, 1, ...; stop once it is clear of the threshold, add seeds while it
contains it, and call it borderline (a TA looks) when it still does at the most seeds the
rubric allows. Each run records its numeric environment, so a verdict can say when runs
from different machines or BLAS settings (a shared memo, Dask workers) were mixed.
"""
from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass
from typing import Callable

PASSED, FAILED, OPEN = "pass", "fail", "open"


# ---------------------------------------------------------------- Student's t quantile

def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
            last = d * c
        if abs(last - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: int) -> float:
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with df degrees of freedom (no scipy in the grader)."""
    if not 0.5 <= p < 1.0 or df < 1:
        raise ValueError(f"t_quantile needs 0.5 <= p < 1 and df >= 1, got p={p}, df={df}")
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2.0


# ---------------------------------------------------------------- the rule

@dataclass(frozen=True)
class Rule:
    """The rubric's rule: at least `min_seeds`, at most `max_seeds`, a two-sided t-interval of
    the mean at `level` (e.g. 0.95)."""
    threshold: float
    level: float = 0.95
    min_seeds: int = 3
    max_seeds: int = 7

    @classmethod
    def from_rubric(cls, table: dict, threshold: float) -> "Rule":
        min_seeds = max(2, int(table.get("seeds", 3)))   # one seed has no interval
        return cls(threshold=float(threshold), level=float(table.get("confidence", 0.95)), min_seeds=min_seeds,
                   max_seeds=max(min_seeds, int(table.get("max_seeds", min_seeds))))

    def t_values(self) -> list[float]:
        """t quantile for n seeds, indexed by n (0 and 1 have none): what a probe needs to apply the
        same rule where the grader's code is not."""
        return [math.inf, math.inf] + [t_quantile((1 + self.level) / 2, n - 1) for n in range(2, self.max_seeds + 1)]


@dataclass(frozen=True)
class Interval:
    n: int
    mean: float
    low: float
    high: float

    def text(self, level: float, digits: int = 3) -> str:
        return f"{level:.0%} interval of the mean {self.low:.{digits}f} to {self.high:.{digits}f}"


def interval(values: list[float], level: float) -> Interval:
    """Two-sided t-interval of the mean; infinitely wide for fewer than two values."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return Interval(n, mean, -math.inf, math.inf)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile((1 + level) / 2, n - 1) * sd / math.sqrt(n)
    return Interval(n, mean, mean - half, mean + half)


def side(values: list[float], rule: Rule) -> str:
    """PASSED when the interval lies at or above the threshold, FAILED when below, else OPEN."""
    iv = interval(values, rule.level)
    if iv.low >= rule.threshold:
        return PASSED
    if iv.high < rule.threshold:
        return FAILED
    return OPEN


@dataclass
class Decision:
    values: list[float]        # one per seed, seeds 0..n-1
    outcome: str               # PASSED | FAILED | OPEN (still open at the last seed available)
    interval: Interval
    exhausted: bool            # the rubric's max_seeds were used


def first_clear(values: list[float], rule: Rule) -> Decision:
    """The rule applied to seeds as they came: the verdict at the first n >= min_seeds whose
    interval is clear, as if training had stopped there (later seeds, when a probe ran them
    for another check, do not change it)."""
    for n in range(rule.min_seeds, len(values) + 1):
        outcome = side(values[:n], rule)
        if outcome != OPEN:
            return Decision(values[:n], outcome, interval(values[:n], rule.level), n >= rule.max_seeds)
    return Decision(list(values), OPEN, interval(values, rule.level), len(values) >= rule.max_seeds)


def sequential(run_seed: Callable[[int], float], rule: Rule) -> Decision:
    """Train seed after seed (run_seed(k) -> accuracy) until the rule decides or max_seeds."""
    values = [run_seed(k) for k in range(rule.min_seeds)]
    while side(values, rule) == OPEN and len(values) < rule.max_seeds:
        values.append(run_seed(len(values)))
    return first_clear(values, rule)


# ---------------------------------------------------------------- numeric environment

def numeric_environment() -> dict:
    """What arithmetic this process uses: numpy, and each BLAS library's implementation, version,
    core type (OPENBLAS_CORETYPE overrides the detected one) and threads."""
    import numpy as np
    try:
        from threadpoolctl import threadpool_info
        blas = [{k: lib.get(k) for k in ("internal_api", "version", "architecture", "threading_layer", "num_threads")}
                for lib in threadpool_info() if lib.get("user_api") == "blas"]
    except Exception:  # noqa: BLE001 - informative only: never stop a verdict for it
        blas = []
    return {"numpy": np.__version__, "blas": blas, "machine": platform.machine(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "")}


def describe(env: dict | None) -> str:
    """One line for a TA: 'numpy 2.4.6, openblas 0.3.31 SkylakeX, 2 threads'."""
    if not env:
        return "not recorded"
    libs = "; ".join(f"{b.get('internal_api')} {b.get('version')} {b.get('architecture')}, "
                     f"{b.get('num_threads')} thread(s)" for b in env.get("blas", [])) or "BLAS unknown"
    forced = " (OPENBLAS_CORETYPE set)" if env.get("OPENBLAS_CORETYPE") else ""
    return f"numpy {env.get('numpy')}, {libs}{forced}, {env.get('machine')}"


def environments(envs: list[dict | None]) -> tuple[list[dict | None], bool]:
    """The distinct environments of the runs behind one verdict, and whether there are several."""
    distinct: list[dict | None] = []
    for env in envs:
        if env not in distinct:
            distinct.append(env)
    return distinct, len(distinct) > 1


def clean_environment(value) -> dict | None:
    """An environment another process reported (a probe, next to student code): only the expected
    fields, as short text or numbers, or None. It is shown to the TA, never trusted for a verdict."""
    if not isinstance(value, dict):
        return None

    def text(v):
        return v[:100] if isinstance(v, str) else v if type(v) in (int, float) or v is None else str(type(v).__name__)

    blas = value.get("blas") if isinstance(value.get("blas"), list) else []
    return {"numpy": text(value.get("numpy")), "machine": text(value.get("machine")),
            "OPENBLAS_CORETYPE": text(value.get("OPENBLAS_CORETYPE")),
            "blas": [{k: text(lib.get(k)) for k in ("internal_api", "version", "architecture", "threading_layer",
                                                    "num_threads")} for lib in blas[:4] if isinstance(lib, dict)]}


def training_details(decision: Decision, rule: Rule, runs: list[dict]) -> dict:
    """What a report shows of a verdict over seeds: every seed, the interval, and the arithmetic
    of the runs behind it (several environments are said: see mixed_note)."""
    envs, mixed = environments([r.get("environment") for r in runs])
    return {"accuracies": decision.values, "seeds": list(range(len(decision.values))), "mean": decision.interval.mean,
            "interval": [decision.interval.low, decision.interval.high], "level": rule.level,
            "threshold": rule.threshold, "max_seeds": rule.max_seeds, "borderline": decision.outcome == OPEN,
            "environments": [describe(e) for e in envs], "mixed_environments": mixed,
            **({"train_seconds": [r.get("seconds") for r in runs]} if any("seconds" in r for r in runs) else {})}


def mixed_note(details: dict) -> str:
    """For the message: runs computed with different arithmetic were mixed into this verdict."""
    if not details["mixed_environments"]:
        return ""
    return (f" (note for the TA: these seeds were trained under {len(details['environments'])} different numeric "
            "environments, e.g. a memo shared between machines or Dask workers: see the details)")
