"""Did the tweak work? Two cohorts of one process — two process versions, or before and after a date —
side by side, stage by stage.

Per stage: each side's conversion (advanced / resolved, where resolved = advanced + dropped) and median
days in stage; the difference in conversion (B − A) with its 95% interval (Newcombe's hybrid score
method, built from the two Wilson intervals); the two-sided p-value of the pooled two-proportion z-test;
and a verdict:

- "better" / "worse": both sides have at least MIN_RESOLVED resolved deals and the interval excludes 0;
- "not enough data yet" otherwise, with `more_needed`: how many more resolved deals each side needs to
  detect the observed difference at 80% power and 5% significance (Fleiss), or null when the observed
  difference is 0 (no sample size detects it)."""

import math
from dataclasses import replace
from datetime import datetime

from iteration.metrics import MetricFilters, process_metrics
from iteration.stats import sample_size_for_difference, two_proportion_p_value, wilson_interval
from salesproc.lib.errors import InvalidInput
from salesproc.models import Process

MIN_RESOLVED = 30
BETTER, WORSE, NOT_ENOUGH = "better", "worse", "not enough data yet"


def newcombe_interval(a_success: int, a_n: int, b_success: int, b_n: int) -> tuple[float, float] | None:
    """95% interval of p_b − p_a by Newcombe's method 10 (hybrid score); None when a side is empty."""
    wa, wb = wilson_interval(a_success, a_n), wilson_interval(b_success, b_n)
    if wa is None or wb is None:
        return None
    pa, pb = a_success / a_n, b_success / b_n
    d = pb - pa
    low = d - math.sqrt((pb - wb[0]) ** 2 + (wa[1] - pa) ** 2)
    high = d + math.sqrt((wb[1] - pb) ** 2 + (pa - wa[0]) ** 2)
    return low, high


def _round(value: float | None, places: int = 4) -> float | None:
    return None if value is None else round(value, places)


def _stage_comparison(a: dict, b: dict) -> dict:
    na, nb = a["advanced"] + a["dropped"], b["advanced"] + b["dropped"]
    interval = newcombe_interval(a["advanced"], na, b["advanced"], nb)
    pa = a["advanced"] / na if na else None
    pb = b["advanced"] / nb if nb else None
    difference = None if pa is None or pb is None else pb - pa
    more_needed = None
    if interval is not None and min(na, nb) >= MIN_RESOLVED and (interval[0] > 0 or interval[1] < 0):
        verdict = BETTER if interval[0] > 0 else WORSE
    else:
        verdict = NOT_ENOUGH
        if pa is not None and pb is not None:
            needed = sample_size_for_difference(pa, pb)
            if needed is not None:
                needed = max(needed, MIN_RESOLVED)
                more_needed = max(0, needed - na) + max(0, needed - nb)
        else:
            more_needed = None
    return {
        "stage": a["stage"],
        "stage_id": a["stage_id"],
        "a": {
            "resolved": na,
            "conversion_rate": a["conversion_rate"],
            "conversion_ci": a["conversion_ci"],
            "median_days": a["days_in_stage"]["median"],
        },
        "b": {
            "resolved": nb,
            "conversion_rate": b["conversion_rate"],
            "conversion_ci": b["conversion_ci"],
            "median_days": b["days_in_stage"]["median"],
        },
        "difference": _round(difference),
        "difference_ci": None if interval is None else [_round(interval[0]), _round(interval[1])],
        "p_value": _round(two_proportion_p_value(a["advanced"], na, b["advanced"], nb)),
        "median_days_difference": (
            None
            if a["days_in_stage"]["median"] is None or b["days_in_stage"]["median"] is None
            else round(b["days_in_stage"]["median"] - a["days_in_stage"]["median"], 2)
        ),
        "verdict": verdict,
        "more_needed": more_needed,
    }


def compare_cohorts(
    *,
    process: Process,
    a: MetricFilters,
    b: MetricFilters,
    labels: tuple[str, str],
    now: datetime | None = None,
) -> dict:
    """Cohort B against cohort A of one process (see the module docstring)."""
    ma = process_metrics(process=process, filters=a, now=now)
    mb = process_metrics(process=process, filters=b, now=now)
    return {
        "process": process.name,
        "process_id": process.id,
        "a": {"label": labels[0], "filters": ma["filters"]},
        "b": {"label": labels[1], "filters": mb["filters"]},
        "min_resolved": MIN_RESOLVED,
        "stages": [_stage_comparison(sa, sb) for sa, sb in zip(ma["stages"], mb["stages"], strict=True)],
    }


def compare_versions(
    *, process: Process, version_a: int, version_b: int, base: MetricFilters | None = None, now=None
) -> dict:
    """Entries made under process version number `version_b` against those under `version_a`."""
    numbers = set(process.versions.values_list("number", flat=True))
    errors = {
        name: [f"Process {process.name} has no version {number}."]
        for name, number in (("a", version_a), ("b", version_b))
        if number not in numbers
    }
    if not errors and version_a == version_b:
        errors["b"] = ["Pick two different versions."]
    if errors:
        raise InvalidInput(errors)
    base = base or MetricFilters()
    return compare_cohorts(
        process=process,
        a=replace(base, process_version=version_a),
        b=replace(base, process_version=version_b),
        labels=(f"Version {version_a}", f"Version {version_b}"),
        now=now,
    )


def compare_split(*, process: Process, split: datetime, base: MetricFilters | None = None, now=None) -> dict:
    """Deals that entered each stage after `split` against those that entered before it."""
    base = base or MetricFilters()
    return compare_cohorts(
        process=process,
        a=replace(base, entered_from=None, entered_to=split),
        b=replace(base, entered_from=split, entered_to=None),
        labels=(f"Before {split:%Y-%m-%d}", f"From {split:%Y-%m-%d}"),
        now=now,
    )
