"""iteration.stats against values worked out by hand or published tables, not by the same formulas."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iteration.stats import (
    kaplan_meier_curve,
    kaplan_meier_median,
    percentile_cont,
    sample_size_for_difference,
    two_proportion_p_value,
    wilson_interval,
)


def rounded(interval):
    return [round(x, 4) for x in interval]


@pytest.mark.parametrize(
    ("successes", "n", "expected"),
    [
        (8, 10, [0.4902, 0.9433]),
        (1, 3, [0.0615, 0.7923]),
        (2, 4, [0.1500, 0.8500]),
        (0, 10, [0.0, 0.2775]),
        (10, 10, [0.7225, 1.0]),
        (1, 1, [0.2065, 1.0]),
    ],
)
def test_wilson_interval_matches_published_values(successes, n, expected):
    assert rounded(wilson_interval(successes, n)) == expected


def test_wilson_interval_is_none_without_observations():
    assert wilson_interval(0, 0) is None


def test_wilson_interval_narrows_at_lower_confidence():
    lo95, hi95 = wilson_interval(8, 10)
    lo80, hi80 = wilson_interval(8, 10, confidence=0.80)
    assert lo95 < lo80 < 0.8 < hi80 < hi95


def test_wilson_interval_refuses_more_successes_than_trials():
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


@given(st.integers(min_value=1, max_value=500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_holds_the_observed_rate_inside_0_1(pair):
    successes, n = pair
    lo, hi = wilson_interval(successes, n)
    assert 0 <= lo <= successes / n <= hi <= 1


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [(0.0, 1.0), (0.25, 1.75), (0.5, 2.5), (0.75, 3.25), (0.9, 3.7), (1.0, 4.0)],
)
def test_percentile_cont_interpolates_like_postgres(fraction, expected):
    # PostgreSQL: SELECT percentile_cont(f) WITHIN GROUP (ORDER BY x) FROM unnest('{4,1,3,2}'::float8[]) x
    assert percentile_cont([4, 1, 3, 2], fraction) == pytest.approx(expected)


def test_percentile_cont_ignores_nulls_and_handles_tiny_samples():
    assert percentile_cont([None, 7, None], 0.9) == 7.0
    assert percentile_cont([], 0.5) is None
    assert percentile_cont([None], 0.5) is None


def test_percentile_cont_refuses_fractions_outside_0_1():
    with pytest.raises(ValueError):
        percentile_cont([1, 2], 1.5)


@given(st.lists(st.integers(-(10**9), 10**9), min_size=1, max_size=50), st.floats(0, 1), st.floats(0, 1))
def test_percentile_cont_is_monotone_and_within_the_range(values, f1, f2):
    low, high = sorted((f1, f2))
    assert min(values) <= percentile_cont(values, low) <= percentile_cont(values, high) <= max(values)


# Kaplan–Meier by hand: durations 1, 2+, 3, 4, 5+, 6 (+ = censored), six at risk at the start.
#   t=1: 6 at risk, 1 event → S = 5/6
#   t=2: censored, leaves 4 at risk
#   t=3: 4 at risk, 1 event → S = 5/6 × 3/4 = 0.625
#   t=4: 3 at risk, 1 event → S = 0.625 × 2/3 = 0.41667  ← first ≤ 0.5: the median is 4
#   t=6: 1 at risk, 1 event → S = 0
KM_EXAMPLE = [(1, True), (2, False), (3, True), (4, True), (5, False), (6, True)]


def test_kaplan_meier_curve_by_hand():
    curve = kaplan_meier_curve(KM_EXAMPLE)
    assert [t for t, _ in curve] == [1, 3, 4, 6]
    assert [round(s, 5) for _, s in curve] == [0.83333, 0.625, 0.41667, 0.0]


def test_kaplan_meier_median_by_hand():
    assert kaplan_meier_median(KM_EXAMPLE) == 4


def test_kaplan_meier_median_counts_an_exact_half_as_reached():
    # 3/4 × 2/3 is 0.5 exactly; in floats it may land a hair above.
    assert kaplan_meier_median([(3, True), (6, True), (10, True), (84, False)]) == 6


def test_kaplan_meier_median_without_censoring_is_the_lower_median():
    assert kaplan_meier_median([(d, True) for d in (5, 1, 3, 2)]) == 2


def test_kaplan_meier_median_is_none_when_survival_stays_above_half():
    # 1 event among 4: S(1) = 3/4, the rest censored.
    assert kaplan_meier_median([(1, True), (2, False), (3, False), (4, False)]) is None
    assert kaplan_meier_median([(2, False)]) is None
    assert kaplan_meier_median([]) is None


def test_kaplan_meier_counts_ties_of_event_and_censoring_as_at_risk():
    # t=1: 5 at risk, 1 event → 0.8. t=2: one event and two censorings; the censored still count as at
    # risk, so 4 at risk → 0.8 × 3/4 = 0.6. t=9: 1 at risk, 1 event → 0: the median is 9. (Had the
    # censorings at t=2 left first, 2 at risk → 0.4 and the median would be 2.)
    assert kaplan_meier_median([(1, True), (2, True), (2, False), (2, False), (9, True)]) == 9


def test_two_proportion_p_value_by_hand():
    # 45/100 vs 30/100: pooled 0.375, se = sqrt(0.375 × 0.625 × 0.02) = 0.068465, z = 2.19089,
    # two-sided p = 2 × (1 − Φ(2.19089)) = 0.02846.
    assert two_proportion_p_value(45, 100, 30, 100) == pytest.approx(0.02846, abs=1e-5)
    assert two_proportion_p_value(30, 100, 45, 100) == pytest.approx(0.02846, abs=1e-5)


def test_two_proportion_p_value_of_equal_rates_is_one():
    assert two_proportion_p_value(20, 40, 10, 20) == pytest.approx(1.0)


def test_two_proportion_p_value_is_none_when_undefined():
    assert two_proportion_p_value(0, 0, 3, 10) is None
    assert two_proportion_p_value(0, 10, 0, 20) is None
    assert two_proportion_p_value(10, 10, 20, 20) is None


@pytest.mark.parametrize(
    ("rate_a", "rate_b", "expected"),
    # Fleiss without continuity correction, alpha 0.05 two-sided, power 0.8: the textbook figures.
    [(0.5, 0.6, 388), (0.1, 0.2, 199), (0.2, 0.1, 199)],
)
def test_sample_size_for_difference_matches_textbook(rate_a, rate_b, expected):
    assert sample_size_for_difference(rate_a, rate_b) == expected


def test_sample_size_grows_with_power_and_is_none_for_no_difference():
    assert sample_size_for_difference(0.5, 0.6, power=0.9) > 388
    assert sample_size_for_difference(0.4, 0.4) is None
    with pytest.raises(ValueError):
        sample_size_for_difference(1.2, 0.4)


def test_sample_size_answers_an_integer():
    n = sample_size_for_difference(0.33, 0.41)
    assert isinstance(n, int) and n > 0 and not math.isnan(n)
