"""Version comparison: conversion and time side by side, the difference with its interval, the p-value
and the verdict, by process version or by a date split."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deals.services import deal_create, deal_lose, deal_move
from iteration.compare import MIN_RESOLVED, compare_split, compare_versions, newcombe_interval
from salesproc.lib.errors import InvalidInput
from salesproc.services import stage_update
from tests.api.conftest import api_client  # noqa: F401 (a fixture)


def _cohort(rep, process, stages, account, *, advanced: int, lost: int, at):
    """Deals entering the first stage at `at`: `advanced` move on to the second stage, `lost` are lost."""
    for i in range(advanced + lost):
        deal = deal_create(by=rep, process=process, name=f"D{i}", account=account, amount="1000", at=at)
        later = at + timedelta(days=4 if i < advanced else 6)
        if i < advanced:
            deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version, at=later)
        else:
            deal_lose(deal=deal, by=rep, expected_version=deal.version, reason="No budget", at=later)


def _two_versions(rep, ops, process, stages, account, *, a, b, split_at=None):
    start = timezone.now() - timedelta(days=90)
    _cohort(rep, process, stages, account, advanced=a[0], lost=a[1], at=start)
    before = process.versions.order_by("-number").first().number
    stage_update(stage=stages[0], by=ops, expected_days=7, note="Tighter qualification")
    after = process.versions.order_by("-number").first().number
    _cohort(
        rep, process, stages, account, advanced=b[0], lost=b[1], at=split_at or start + timedelta(days=30)
    )
    return before, after


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), method 10: 56/70 against 48/80 gives 0.0524 to 0.3339.
    low, high = newcombe_interval(48, 80, 56, 70)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    assert newcombe_interval(0, 0, 5, 10) is None


def test_a_clearly_higher_conversion_is_better(rep, ops, process, stages, account):
    va, vb = _two_versions(rep, ops, process, stages, account, a=(10, 30), b=(30, 10))

    result = compare_versions(process=process, version_a=va, version_b=vb)

    first = result["stages"][0]
    assert first["a"]["resolved"] == 40 and first["b"]["resolved"] == 40
    assert (first["a"]["conversion_rate"], first["b"]["conversion_rate"]) == (0.25, 0.75)
    assert first["difference"] == 0.5
    assert 0 < first["difference_ci"][0] < 0.5 < first["difference_ci"][1]
    assert first["p_value"] < 0.001
    assert first["verdict"] == "better" and first["more_needed"] is None
    # A: 10 stays of 4 days and 30 of 6 → median 6; B: 30 of 4 and 10 of 6 → median 4.
    assert (first["a"]["median_days"], first["b"]["median_days"]) == (6.0, 4.0)
    assert first["median_days_difference"] == -2.0


def test_a_clearly_lower_conversion_is_worse(rep, ops, process, stages, account):
    va, vb = _two_versions(rep, ops, process, stages, account, a=(30, 10), b=(10, 30))

    first = compare_versions(process=process, version_a=va, version_b=vb)["stages"][0]

    assert first["difference"] == -0.5 and first["difference_ci"][1] < 0
    assert first["verdict"] == "worse"


def test_small_samples_are_not_enough_data_and_say_how_many_more(rep, ops, process, stages, account):
    va, vb = _two_versions(rep, ops, process, stages, account, a=(1, 4), b=(4, 1))

    first = compare_versions(process=process, version_a=va, version_b=vb)["stages"][0]

    assert first["verdict"] == "not enough data yet"
    # Detecting 0.2 → 0.8 needs 10 per side (Fleiss), raised to the minimum of 30: 25 more on each side.
    assert first["more_needed"] == 2 * (MIN_RESOLVED - 5)


def test_stages_without_resolved_deals_have_no_difference(rep, ops, process, stages, account):
    va, vb = _two_versions(rep, ops, process, stages, account, a=(3, 0), b=(3, 0))

    last = compare_versions(process=process, version_a=va, version_b=vb)["stages"][-1]

    assert last["difference"] is None and last["difference_ci"] is None and last["p_value"] is None
    assert last["verdict"] == "not enough data yet" and last["more_needed"] is None


def test_a_date_split_compares_before_and_after(rep, ops, process, stages, account):
    start = timezone.now() - timedelta(days=90)
    _cohort(rep, process, stages, account, advanced=2, lost=8, at=start)
    _cohort(rep, process, stages, account, advanced=8, lost=2, at=start + timedelta(days=40))

    result = compare_split(process=process, split=start + timedelta(days=20))

    first = result["stages"][0]
    assert (first["a"]["resolved"], first["b"]["resolved"]) == (10, 10)
    assert (first["a"]["conversion_rate"], first["b"]["conversion_rate"]) == (0.2, 0.8)
    assert result["a"]["label"].startswith("Before") and result["b"]["label"].startswith("From")


def test_unknown_or_equal_versions_are_refused(process):
    with pytest.raises(InvalidInput) as unknown:
        compare_versions(process=process, version_a=1, version_b=99)
    with pytest.raises(InvalidInput) as same:
        compare_versions(process=process, version_a=1, version_b=1)

    assert "b" in unknown.value.errors and "no version 99" in unknown.value.errors["b"][0]
    assert same.value.errors == {"b": ["Pick two different versions."]}


def test_the_compare_api(api_client, rep, ops, manager, process, stages, account):
    va, vb = _two_versions(rep, ops, process, stages, account, a=(10, 30), b=(30, 10))
    url = reverse("api:process_compare", args=[process.id])
    client = api_client(manager)

    by_versions = client.get(url, {"a": va, "b": vb})
    by_split = client.get(url, {"split": timezone.now().isoformat()})
    missing = client.get(url, {"a": va})
    both = client.get(url, {"a": va, "b": vb, "split": "2026-01-01T00:00:00Z"})
    unknown = client.get(url, {"a": va, "b": 99})

    assert by_versions.status_code == 200 and by_versions.json()["stages"][0]["verdict"] == "better"
    assert by_split.status_code == 200
    assert missing.status_code == 400 and "b" in missing.json()
    assert both.status_code == 400 and "split" in both.json()
    assert unknown.status_code == 400 and "b" in unknown.json()
    assert api_client(rep).get(url, {"a": va, "b": vb}).status_code == 403
