"""The statistics behind the iteration pages: plain functions over counts and numbers, no database.

Written here rather than taken from scipy or statsmodels: each is a few lines of textbook formula, the
engine needs PostgreSQL's exact percentile interpolation (which neither library offers under that name),
and the standard library's `statistics.NormalDist` supplies the normal quantiles. Pulling numpy and
scipy into every web and worker image for five formulas is not worth it.

Conventions: proportions are fractions in [0, 1]; a function answers None where its result is undefined
(an empty sample, a zero denominator) rather than raising or returning NaN.
"""

import math
from collections.abc import Iterable, Sequence
from statistics import NormalDist

_NORMAL = NormalDist()

# Kaplan–Meier survival is a running product of floats; a step that lands on 0.5 exactly in exact
# arithmetic (say 3/4 × 2/3) may come out a hair above it. Up to KM_HALF it counts as having reached
# the median. KM_LOG_HALF is the same bound for the SQL version in iteration.metrics, which sums logs.
KM_HALF = 0.5 * (1 + 1e-9)
KM_LOG_HALF = math.log(KM_HALF)


def z_for_confidence(confidence: float) -> float:
    """The two-sided standard normal quantile: 1.959964 for 0.95."""
    return _NORMAL.inv_cdf(1 - (1 - confidence) / 2)


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion of `successes` out of `n`; None when n is 0.

    Unlike the normal approximation it stays inside [0, 1] and behaves at 0/n and n/n, which is where
    small stages of a process live."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n, got {successes} of {n}")
    z = z_for_confidence(confidence)
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At 0/n and n/n the bound is exactly 0 or 1; the formula gets there only up to rounding.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def percentile_cont(values: Iterable[float], fraction: float) -> float | None:
    """The `fraction` percentile with linear interpolation between the two nearest ranks, exactly as
    PostgreSQL's `percentile_cont` computes it (same operations in the same order, so the same float):
    position = fraction × (n − 1); result = lo + (position − floor(position)) × (hi − lo).
    None values are ignored, as SQL ignores NULLs; None for no values."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    ordered = sorted(float(v) for v in values if v is not None)
    return percentile_cont_sorted(ordered, fraction)


def percentile_cont_sorted(ordered: Sequence[float], fraction: float) -> float | None:
    """`percentile_cont` over values already sorted ascending (floats)."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    first = math.floor(position)
    second = math.ceil(position)
    if first == second:
        return ordered[first]
    low, high = ordered[first], ordered[second]
    return low + (position - first) * (high - low)


def kaplan_meier_curve(observations: Iterable[tuple[float, bool]]) -> list[tuple[float, float]]:
    """The Kaplan–Meier survival estimate as (time, survival just after time) at each event time.

    `observations` are (duration, event): event True when the thing happened (the deal left the stage)
    at `duration`, False when it was still going when last seen (censored). At a time with both, the
    censored ones count as at risk, the usual convention."""
    counts: dict[float, list[int]] = {}
    total = 0
    for duration, event in observations:
        slot = counts.setdefault(duration, [0, 0])
        slot[0 if event else 1] += 1
        total += 1
    curve: list[tuple[float, float]] = []
    at_risk = total
    survival = 1.0
    for duration in sorted(counts):
        events, censored = counts[duration]
        if events:
            survival *= 1 - events / at_risk
            curve.append((duration, survival))
        at_risk -= events + censored
    return curve


def kaplan_meier_median(observations: Iterable[tuple[float, bool]]) -> float | None:
    """The smallest event time at which the Kaplan–Meier survival falls to 0.5 or below (up to float
    rounding: KM_HALF); None when it never does (too much censoring) or there are no events."""
    for duration, survival in kaplan_meier_curve(observations):
        if survival <= KM_HALF:
            return duration
    return None


def two_proportion_p_value(successes_a: int, n_a: int, successes_b: int, n_b: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test that a and b share one rate.

    None when a group is empty or the pooled rate is 0 or 1 (no variation: nothing to test)."""
    if n_a <= 0 or n_b <= 0:
        return None
    pooled = (successes_a + successes_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if variance <= 0:
        return None
    z = (successes_a / n_a - successes_b / n_b) / math.sqrt(variance)
    return 2 * (1 - _NORMAL.cdf(abs(z)))


def sample_size_for_difference(
    rate_a: float, rate_b: float, *, alpha: float = 0.05, power: float = 0.8
) -> int | None:
    """Deals needed in each group for a two-sided two-proportion z-test at `alpha` to detect the
    difference between `rate_a` and `rate_b` with probability `power` (Fleiss' formula, no continuity
    correction). None when the rates are equal: no sample is large enough."""
    for name, value in (("rate_a", rate_a), ("rate_b", rate_b)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
    if rate_a == rate_b:
        return None
    z_alpha = z_for_confidence(1 - alpha)
    z_beta = _NORMAL.inv_cdf(power)
    mean = (rate_a + rate_b) / 2
    spread = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_beta * math.sqrt(
        rate_a * (1 - rate_a) + rate_b * (1 - rate_b)
    )
    return math.ceil(spread * spread / (rate_a - rate_b) ** 2)
