"""Conversion by month and the days-in-stage distribution, against the hand-built histories of the
metrics tests: per-stage totals must agree with the engine, months are worked out by hand."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from iteration.metrics import MetricFilters, process_metrics
from iteration.stats import percentile_cont
from iteration.trends import (
    SMALL_SAMPLE,
    conversion_by_month,
    days_in_stage_distribution,
    distribution_from_metrics,
    first_entries,
)
from tests.iteration.test_metrics import NOW, day, histories, make_builder  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def build(org, process, account, rep):
    return make_builder(org=org, process=process, account=account, owner=rep)


def _stage(result, name):
    return next(s for s in result["stages"] if s["stage"] == name)


def test_monthly_counts_add_up_to_the_engines_totals(process, histories):  # noqa: F811
    trend = conversion_by_month(process=process)
    metrics = {row["stage"]: row for row in process_metrics(process=process, now=NOW)["stages"]}

    for stage in trend["stages"]:
        totals = {k: sum(p[k] for p in stage["points"]) for k in ("entered", "advanced", "dropped")}
        row = metrics[stage["stage"]]
        assert totals == {k: row[k] for k in ("entered", "advanced", "dropped")}, stage["stage"]


def test_months_are_those_of_the_first_entry_without_gaps(process, build):
    # Qualify entered in January (won later), none in February, one in March (lost in Qualify).
    build([("Qualify", 0), ("Discover", 40)], ("won", 70))
    build([("Qualify", 60)], ("lost", 65))
    # A re-entry into Qualify in March does not count again: the first entry was in January.
    build([("Qualify", 1), ("Discover", 5), ("Qualify", 62)], ("lost", 66))

    trend = conversion_by_month(process=process)

    assert trend["months"] == ["2025-01", "2025-02", "2025-03"]
    points = {p["month"]: p for p in _stage(trend, "Qualify")["points"]}
    assert (points["2025-01"]["entered"], points["2025-01"]["advanced"], points["2025-01"]["dropped"]) == (
        2,
        2,
        0,
    )
    assert points["2025-02"]["entered"] == 0 and points["2025-02"]["rate"] is None
    assert (points["2025-03"]["advanced"], points["2025-03"]["dropped"], points["2025-03"]["rate"]) == (
        0,
        1,
        0.0,
    )
    assert points["2025-01"]["rate"] == 1.0 and points["2025-01"]["ci"][1] == 1.0
    assert all(p["small_sample"] for p in points.values())


def test_a_month_with_enough_resolved_deals_is_not_a_small_sample(process, build):
    for i in range(SMALL_SAMPLE):
        build([("Qualify", 0), ("Discover", 3)] if i % 3 else [("Qualify", 0)], ("lost", 5))

    point = _stage(conversion_by_month(process=process), "Qualify")["points"][0]

    assert point["resolved"] == SMALL_SAMPLE and point["advanced"] == 20 and point["dropped"] == 10
    assert point["small_sample"] is False
    assert point["ci"][0] < 20 / 30 < point["ci"][1]


def test_only_the_latest_months_are_kept(process, build):
    build([("Qualify", 0)])
    build([("Qualify", 95)])

    trend = conversion_by_month(process=process, months=2)

    assert trend["months"] == ["2025-03", "2025-04"]


def test_months_follow_the_current_time_zone(process, build):
    from django.utils import timezone

    # 31 Jan 2025, 23:30 UTC is already February in Berlin.
    build([("Qualify", 30 + (14.5 / 24))])

    with timezone.override("Europe/Berlin"):
        berlin = conversion_by_month(process=process)["months"]
    utc = conversion_by_month(process=process)["months"]

    assert (utc, berlin) == (["2025-01"], ["2025-02"])


def test_filters_pick_the_same_cohort_as_the_engine(process, histories):  # noqa: F811
    filters = MetricFilters(entered_from=day(3), entered_to=day(20), amount_min="2000")
    trend = conversion_by_month(process=process, filters=filters)
    metrics = {
        row["stage"]: row for row in process_metrics(process=process, filters=filters, now=NOW)["stages"]
    }

    for stage in trend["stages"]:
        advanced = sum(p["advanced"] for p in stage["points"])
        dropped = sum(p["dropped"] for p in stage["points"])
        assert (advanced, dropped) == (
            metrics[stage["stage"]]["advanced"],
            metrics[stage["stage"]]["dropped"],
        )


def test_the_distribution_agrees_with_the_engine(process, histories):  # noqa: F811
    boxes = {b["stage"]: b for b in days_in_stage_distribution(process=process)}
    metrics = {row["stage"]: row for row in process_metrics(process=process, now=NOW)["stages"]}

    for name, box in boxes.items():
        days = metrics[name]["days_in_stage"]
        assert (box["n"], box["median"], box["q3"], box["p90"]) == (
            days["n"],
            days["median"],
            days["p75"],
            days["p90"],
        ), name


def test_the_distribution_by_hand(process, build):
    # Stays in Qualify of 1, 2, 3, 4 and 10 days; one deal still there (not counted).
    for stay in (1, 2, 3, 4, 10):
        build([("Qualify", 0), ("Discover", stay)])
    build([("Qualify", 0)])

    box = days_in_stage_distribution(process=process)[0]

    # percentile_cont: position = f × (n − 1) over [1, 2, 3, 4, 10].
    assert box["n"] == 5
    assert (box["min"], box["q1"], box["median"], box["q3"], box["max"]) == (1, 2, 3, 4, 10)
    assert box["p10"] == pytest.approx(1.4) and box["p90"] == pytest.approx(7.6)
    assert box["expected_days"] == 10 and box["small_sample"] is True
    empty = days_in_stage_distribution(process=process)[3]
    assert empty["n"] == 0 and empty["median"] is None


def test_one_query_each_whatever_the_number_of_deals(process, build):
    stages = list(process.stages.order_by("order"))
    for i in range(12):
        build([("Qualify", i), ("Discover", i + 2)], ("won", i + 5))

    with CaptureQueriesContext(connection) as queries:
        conversion_by_month(process=process, stages=stages)
        days_in_stage_distribution(process=process, stages=stages)

    # On PostgreSQL each statement comes with two more: the JIT compiler off for it, and back (inside
    # the test's transaction).
    assert len(queries.captured_queries) == (6 if connection.vendor == "postgresql" else 2)


def test_other_organizations_deals_are_not_counted(process, build, other_org):
    from orgs.models import Role
    from salesproc.services import process_import
    from tests.factories import AccountFactory, MembershipFactory
    from tests.fixtures import SIMPLE_PROCESS

    member = MembershipFactory(organization=other_org, role=Role.ADMIN)
    foreign, _ = process_import(org=other_org, data=SIMPLE_PROCESS, by=None)
    make_builder(
        org=other_org, process=foreign, account=AccountFactory(organization=other_org), owner=member
    )([("Qualify", 0), ("Discover", 3)])
    build([("Qualify", 0)])

    assert sum(p["entered"] for p in _stage(conversion_by_month(process=process), "Qualify")["points"]) == 1
    assert days_in_stage_distribution(process=process)[0]["n"] == 0


@pytest.mark.parametrize(
    "filters",
    [
        MetricFilters(),
        MetricFilters(entered_from=day(20), entered_to=day(80)),
        MetricFilters(amount_min="2000", industry="Retail"),
    ],
)
def test_months_and_stays_agree_with_the_first_entries_queryset(process, build, filters):
    # The trends run the engine's statement; first_entries finds the same first entries another way
    # (correlated subqueries), so the two check each other over back-moves, re-entries and months.
    paths = [
        ([("Qualify", 0), ("Discover", 31), ("Qualify", 45), ("Discover", 70)], ("won", 90)),
        ([("Qualify", 10), ("Propose", 40)], ("lost", 61)),
        ([("Qualify", 25), ("Discover", 28), ("Propose", 59), ("Discover", 62)], ("lost", 95)),
        ([("Qualify", 33), ("Discover", 65)], None),
        ([("Qualify", 50)], ("lost", 52)),
        ([("Qualify", 58), ("Discover", 59), ("Propose", 88), ("Negotiate", 93)], ("won", 99)),
        ([("Discover", 5), ("Qualify", 37)], None),
    ]
    for i, (path, outcome) in enumerate(paths):
        build(path, outcome, amount=str(1500 * (i + 1)), industry="Retail" if i % 2 else "Energy")

    rows = (
        first_entries(process=process, filters=filters)
        .annotate(month=TruncMonth("entered_at"))
        .values("to_stage_id", "month")
        .annotate(entered=Count("id"), advanced_n=Sum("advanced"), dropped_n=Sum("dropped"))
    )
    expected = {
        (r["to_stage_id"], f"{timezone.localtime(r['month']):%Y-%m}"): (
            r["entered"],
            r["advanced_n"],
            r["dropped_n"],
        )
        for r in rows
    }
    trend = conversion_by_month(process=process, filters=filters)
    got = {
        (stage["stage_id"], p["month"]): (p["entered"], p["advanced"], p["dropped"])
        for stage in trend["stages"]
        for p in stage["points"]
        if p["entered"]
    }
    assert got == expected and len(expected) >= 2

    stays: dict[int, list[float]] = {}
    for entry in first_entries(process=process, filters=filters).filter(left_at__isnull=False):
        stays.setdefault(entry.to_stage_id, []).append((entry.left_at - entry.entered_at) / timedelta(days=1))
    for box in days_in_stage_distribution(process=process, filters=filters):
        values = sorted(stays.get(box["stage_id"], []))
        assert box["n"] == len(values), box["stage"]
        if not values:
            assert box["median"] is None
            continue
        assert (box["min"], box["max"]) == (round(values[0], 2), round(values[-1], 2))
        for name, fraction in (("p10", 0.1), ("q1", 0.25), ("median", 0.5), ("q3", 0.75), ("p90", 0.9)):
            assert box[name] == round(percentile_cont(values, fraction), 2), (box["stage"], name)


@pytest.mark.parametrize(
    "filters", [MetricFilters(), MetricFilters(entered_from=day(3), entered_to=day(20), amount_min="2000")]
)
def test_the_box_plot_read_from_the_engines_numbers_is_the_distribution(process, histories, filters):  # noqa: F811
    stages = list(process.stages.order_by("order"))
    metrics = process_metrics(process=process, filters=filters, now=NOW)

    from_metrics = distribution_from_metrics(metrics["stages"], stages)

    assert from_metrics == days_in_stage_distribution(process=process, filters=filters, stages=stages)
    assert any(box["n"] for box in from_metrics)


def test_the_box_plot_needs_the_quantiles_and_every_stage(process, histories):  # noqa: F811
    stages = list(process.stages.order_by("order"))
    metrics = process_metrics(process=process, now=NOW)
    # A snapshot written before the engine gave the box plot's quantiles.
    old = [
        {**row, "days_in_stage": {k: v for k, v in row["days_in_stage"].items() if k not in ("p10", "p25")}}
        for row in metrics["stages"]
    ]
    assert distribution_from_metrics(old, stages) is None
    # A stage added after the snapshot.
    assert distribution_from_metrics(metrics["stages"][1:], stages) is None
