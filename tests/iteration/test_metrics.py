"""The metrics engine against small hand-built histories; every expected number is worked out by hand
in the comments, not by the engine's code. The same tests run on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deals.models import Deal, DealStatus, StageChange
from iteration.metrics import MetricFilters, process_metrics
from orgs.models import Role
from salesproc.models import ProcessVersion
from salesproc.services import process_import
from tests.factories import AccountFactory, MembershipFactory, UserFactory
from tests.fixtures import SIMPLE_PROCESS

T0 = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=100)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def make_builder(*, org, process, account, owner):
    """build(path, outcome=None, **deal fields): a deal with a stage history written directly.

    `path` is [(stage name, day entered), ...]; `outcome` is ("won" | "lost", day) or None. Each entry
    leaves at the next one, the last at the close; versions default to the process's current version,
    or `versions` gives one per entry."""
    stages = {s.name: s for s in process.stages.all()}

    def build(
        path, outcome=None, *, amount="1000", industry="", owner=owner, versions=None, last_activity=None
    ):
        status, closed = (outcome[0], day(outcome[1])) if outcome else (DealStatus.OPEN, None)
        last_stage, last_entered = stages[path[-1][0]], day(path[-1][1])
        deal = Deal.objects.create(
            organization=org,
            name=f"Deal {Deal.objects.count() + 1}",
            account=account,
            owner_id=owner.user_id,
            process=process,
            stage=last_stage,
            status=status,
            amount=Decimal(amount),
            industry=industry,
            closed_at=closed,
            created_at=day(path[0][1]),
            stage_entered_at=last_entered,
            last_activity_at=day(last_activity) if last_activity is not None else (closed or last_entered),
        )
        versions = versions or [process.current_version_id] * len(path)
        entries = []
        for i, (name, entered) in enumerate(path):
            left = day(path[i + 1][1]) if i + 1 < len(path) else closed
            entries.append(
                StageChange(
                    organization=org,
                    deal=deal,
                    from_stage=stages[path[i - 1][0]] if i else None,
                    to_stage=stages[name],
                    entered_at=day(entered),
                    left_at=left,
                    process_version_id=versions[i],
                )
            )
        StageChange.objects.bulk_create(entries)
        return deal

    return build


@pytest.fixture
def build(org, process, account, rep):
    return make_builder(org=org, process=process, account=account, owner=rep)


@pytest.fixture
def foreign(other_org):
    """Another organization with the same process, one member and one deal."""
    member = MembershipFactory(organization=other_org, role=Role.ADMIN)
    proc, _ = process_import(org=other_org, data=SIMPLE_PROCESS, by=None)
    account = AccountFactory(organization=other_org)
    make_builder(org=other_org, process=proc, account=account, owner=member)([("Qualify", 0)])
    return {"member": member, "process": proc}


@pytest.fixture
def histories(build):
    """Ten deals through Qualify(1) → Discover(2) → Propose(3) → Negotiate(4); days from T0."""
    return {
        # A straight win.
        "A": build([("Qualify", 0), ("Discover", 5), ("Propose", 15)], ("won", 25), amount="10000"),
        # Skips Discover, lost in Propose.
        "B": build([("Qualify", 0), ("Propose", 4)], ("lost", 10)),
        # Back-move Discover → Qualify, then lost (in Qualify, after having advanced from it).
        "C": build([("Qualify", 2), ("Discover", 6), ("Qualify", 9)], ("lost", 12)),
        # Won from a middle stage.
        "E": build([("Qualify", 1), ("Discover", 3)], ("won", 13), amount="5000"),
        # Open in Discover.
        "F": build([("Qualify", 10), ("Discover", 20)], amount="8000"),
        # Open in the first stage.
        "G": build([("Qualify", 30)], amount="3000"),
        # Re-enters Qualify and Discover, open in Propose.
        "H": build(
            [("Qualify", 5), ("Discover", 7), ("Qualify", 8), ("Discover", 11), ("Propose", 16)],
            amount="12345.65",
        ),
        # Closed in its first stage.
        "I": build([("Qualify", 4)], ("lost", 6)),
        # Propose → back to Discover → lost there.
        "K": build([("Qualify", 0), ("Discover", 2), ("Propose", 6), ("Discover", 9)], ("lost", 19)),
        # Through every stage, won from the last.
        "L": build(
            [("Qualify", 40), ("Discover", 42), ("Propose", 45), ("Negotiate", 50)],
            ("won", 60),
            amount="12000.50",
        ),
    }


def by_stage(result):
    return {row["stage"]: row for row in result["stages"]}


def counts(row):
    return {k: row[k] for k in ("entered", "advanced", "dropped", "open", "won", "lost")}


# The whole funnel, by hand --------------------------------------------------------------------------


def test_qualify_funnel_by_hand(process, histories):
    # Entered by all ten. Advanced (a later entry of higher order, or won): A B C E F H K L = 8.
    # Dropped: I (never left, lost). Open: G. Won A E L, lost B C I K.
    q = by_stage(process_metrics(process=process, now=NOW))["Qualify"]
    assert counts(q) == {"entered": 10, "advanced": 8, "dropped": 1, "open": 1, "won": 3, "lost": 4}
    assert q["conversion_rate"] == 0.8889  # 8/9
    assert q["conversion_ci"] == [0.5650, 0.9801]  # Wilson 8/9
    assert q["win_rate"] == 0.4286  # 3/7
    assert q["cumulative_conversion"] == 1.0
    # First stays (days): A5 B4 C4 E2 F10 H2 I2 K2 L2; G has not left.
    # Sorted 2 2 2 2 2 4 4 5 10: median = 2; p75 at 6 → 4; p90 at 7.2 → 5 + 0.2 × 5 = 6; p10 at 0.8
    # and p25 at 2 → 2. KM: 10 at risk, 5 leave at 2 days → S = 0.5 → median 2.
    assert q["days_in_stage"] == {
        **{"median": 2.0, "p75": 4.0, "p90": 6.0, "km_median": 2.0, "n": 9},
        **{"p10": 2.0, "p25": 2.0, "min": 2.0, "max": 10.0},
    }
    # G: open in Qualify for 70 days > expected 10.
    assert (q["stalled"], q["threshold_days"], q["threshold_source"]) == (1, 10.0, "expected_days")
    assert (q["order"], q["phase"]) == (1, "change")


def test_discover_funnel_by_hand(process, histories):
    # Entered: A C E F H K L (B skipped it). Advanced: A (Propose), E (won), H (Propose after the
    # first entry), K (Propose), L = 5. Dropped: C (went back to Qualify, lost). Open: F.
    d = by_stage(process_metrics(process=process, now=NOW))["Discover"]
    assert counts(d) == {"entered": 7, "advanced": 5, "dropped": 1, "open": 1, "won": 3, "lost": 2}
    assert d["conversion_rate"] == 0.8333
    assert d["conversion_ci"] == [0.4365, 0.9699]  # Wilson 5/6
    assert d["win_rate"] == 0.6
    # Reached Discover or beyond, of the ten in Qualify: all but G and I.
    assert d["cumulative_conversion"] == 0.8
    # First stays: A10 C3 E10 H1 (its first entry, 7 → 8) K4 L3; F censored at 80.
    # Sorted 1 3 3 4 10 10: median at 2.5 → 3.5; p75 at 3.75 → 4 + 0.75 × 6 = 8.5; p90 at 4.5 → 10;
    # p10 at 0.5 → 1 + 0.5 × 2 = 2; p25 at 1.25 → 3.
    # KM: t1 6/7; t3 (6 at risk, 2 leave) 4/7; t4 (4 at risk) 3/7 ≤ 0.5 → 4.
    assert d["days_in_stage"] == {
        **{"median": 3.5, "p75": 8.5, "p90": 10.0, "km_median": 4.0, "n": 6},
        **{"p10": 2.0, "p25": 3.0, "min": 1.0, "max": 10.0},
    }
    assert (d["stalled"], d["threshold_days"]) == (1, 14.0)  # F: 80 days


def test_propose_funnel_by_hand(process, histories):
    # Entered: A B H K L. Advanced: A (won), L (Negotiate). Dropped: B, K (went back, lost). Open: H.
    p = by_stage(process_metrics(process=process, now=NOW))["Propose"]
    assert counts(p) == {"entered": 5, "advanced": 2, "dropped": 2, "open": 1, "won": 2, "lost": 2}
    assert p["conversion_rate"] == 0.5
    assert p["conversion_ci"] == [0.15, 0.85]  # Wilson 2/4
    assert p["win_rate"] == 0.5
    assert p["cumulative_conversion"] == 0.6  # A B E(won) H K L of ten
    # Stays: A10 B6 K3 L5; H censored at 84. Sorted 3 5 6 10: median 5.5; p75 at 2.25 → 7;
    # p90 at 2.7 → 8.8; p10 at 0.3 → 3.6; p25 at 0.75 → 4.5. KM: t3 4/5; t5 3/5; t6 2/5 → 6.
    assert p["days_in_stage"] == {
        **{"median": 5.5, "p75": 7.0, "p90": 8.8, "km_median": 6.0, "n": 4},
        **{"p10": 3.6, "p25": 4.5, "min": 3.0, "max": 10.0},
    }
    assert p["stalled"] == 1  # H: 84 days > 21


def test_negotiate_funnel_by_hand(process, histories):
    n = by_stage(process_metrics(process=process, now=NOW))["Negotiate"]
    assert counts(n) == {"entered": 1, "advanced": 1, "dropped": 0, "open": 0, "won": 1, "lost": 0}
    assert n["conversion_rate"] == 1.0
    assert n["conversion_ci"] == [0.2065, 1.0]  # Wilson 1/1
    assert n["cumulative_conversion"] == 0.3  # A E L
    # One stay of 10 days, an event with one at risk: S drops to 0 there.
    assert n["days_in_stage"] == {
        **{"median": 10.0, "p75": 10.0, "p90": 10.0, "km_median": 10.0, "n": 1},
        **{"p10": 10.0, "p25": 10.0, "min": 10.0, "max": 10.0},
    }
    # No expected_days and fewer than 10 advanced: no threshold.
    assert (n["stalled"], n["threshold_days"], n["threshold_source"]) == (0, None, None)


def test_summary_by_hand(process, histories):
    s = process_metrics(process=process, now=NOW)["summary"]
    assert {k: s[k] for k in ("deals", "open", "won", "lost", "win_rate")} == {
        "deals": 10,
        "open": 3,
        "won": 3,
        "lost": 4,
        "win_rate": 0.4286,
    }
    # Won cycles: A 0→25, E 1→13, L 40→60 = 25, 12, 20 days.
    assert s["sales_cycle_days"] == {"median": 20.0, "mean": 19.0}
    # (10000 + 5000 + 12000.50) / 3 = 9000.1666…
    assert s["average_won_amount"] == 9000.17
    # 3 open × 9000.1666… × 3/7 / 19 days = 609.0338…
    assert s["sales_velocity"] == 609.03
    # F 8000 × 25% + G 3000 × 10% + H 12345.65 × 50% = 2000 + 300 + 6172.825 → 8472.83 (half up).
    assert s["weighted_pipeline"] == 8472.83


def test_result_shape_is_json_ready(process, histories):
    import json

    result = process_metrics(process=process, now=NOW)
    assert json.loads(json.dumps(result)) == result
    assert set(result) == {"process", "process_id", "computed_at", "filters", "stages", "summary"}
    assert (result["process"], result["process_id"]) == ("New business", process.id)
    assert result["computed_at"] == NOW.isoformat()
    assert [r["stage"] for r in result["stages"]] == ["Qualify", "Discover", "Propose", "Negotiate"]
    assert set(result["stages"][0]) == {
        "stage", "stage_id", "order", "phase", "entered", "advanced", "dropped", "open",
        "conversion_rate", "conversion_ci", "cumulative_conversion", "win_rate", "won", "lost",
        "days_in_stage", "stalled", "threshold_days", "threshold_source",
    }  # fmt: skip
    assert set(result["summary"]) == {
        "deals", "open", "won", "lost", "win_rate", "sales_cycle_days", "average_won_amount",
        "sales_velocity", "weighted_pipeline",
    }  # fmt: skip


def test_a_process_without_deals_has_nulls_not_zeros_for_rates(process):
    result = process_metrics(process=process, now=NOW)
    q = result["stages"][0]
    assert counts(q) == {"entered": 0, "advanced": 0, "dropped": 0, "open": 0, "won": 0, "lost": 0}
    assert (q["conversion_rate"], q["conversion_ci"], q["win_rate"], q["cumulative_conversion"]) == (
        None,
        None,
        None,
        None,
    )
    assert q["days_in_stage"] == {
        **{"median": None, "p75": None, "p90": None, "km_median": None, "n": 0},
        **{"p10": None, "p25": None, "min": None, "max": None},
    }
    assert result["summary"] == {
        "deals": 0,
        "open": 0,
        "won": 0,
        "lost": 0,
        "win_rate": None,
        "sales_cycle_days": {"median": None, "mean": None},
        "average_won_amount": None,
        "sales_velocity": None,
        "weighted_pipeline": 0.0,
    }


def test_kaplan_meier_median_is_null_while_most_deals_are_still_in_the_stage(process, build):
    # One deal left Negotiate after 3 days; three are still there. Survival never falls below 3/4.
    build([("Negotiate", 10)], ("won", 13))
    for entered in (20, 30, 40):
        build([("Negotiate", entered)], last_activity=99)
    days = by_stage(process_metrics(process=process, now=NOW))["Negotiate"]["days_in_stage"]
    assert days == {
        **{"median": 3.0, "p75": 3.0, "p90": 3.0, "km_median": None, "n": 1},
        **{"p10": 3.0, "p25": 3.0, "min": 3.0, "max": 3.0},
    }


def test_kaplan_meier_median_counts_slow_open_deals(process, build):
    # Left after 2, 4 and 6 days; two deals have been in the stage for 50+ days and have not left.
    # KM: 5 at risk; t2: 4/5; t4: 4/5 × 3/4 = 3/5; t6: 3/5 × 2/3 = 2/5 ≤ 0.5 → 6 (the median of the
    # three that left is 4).
    for stay in (2, 4, 6):
        build([("Negotiate", 0)], ("won", stay))
    build([("Negotiate", 40)], last_activity=99)
    build([("Negotiate", 50)], last_activity=99)
    days = by_stage(process_metrics(process=process, now=NOW))["Negotiate"]["days_in_stage"]
    assert (days["median"], days["km_median"], days["n"]) == (4.0, 6.0, 3)


def test_kaplan_meier_counts_deals_censored_when_another_left_as_at_risk(process, build):
    # Stays of 1, 2 and 9 days; two open deals have been in the stage for exactly 2 days. As in
    # test_stats: t1 0.8; t2 (4 at risk, not 2) 0.6; t9 0 → 9.
    for entered, left in ((0, 1), (10, 12), (20, 29)):
        build([("Negotiate", entered)], ("won", left))
    build([("Negotiate", 98)])
    build([("Negotiate", 98)])
    days = by_stage(process_metrics(process=process, now=NOW))["Negotiate"]["days_in_stage"]
    assert (days["median"], days["km_median"]) == (2.0, 9.0)


def test_days_keep_fractions_of_a_day(process, build):
    build([("Qualify", 0), ("Discover", 1.25)], ("lost", 3.5))
    result = by_stage(process_metrics(process=process, now=NOW))
    assert result["Qualify"]["days_in_stage"]["median"] == 1.25
    assert result["Discover"]["days_in_stage"]["median"] == 2.25


def test_other_processes_and_organizations_do_not_count(process, histories, org, foreign):
    other, _ = process_import(org=org, data={**SIMPLE_PROCESS, "name": "Renewals"}, by=None)
    assert process_metrics(process=other, now=NOW)["summary"]["deals"] == 0
    assert process_metrics(process=foreign["process"], now=NOW)["summary"]["deals"] == 1
    assert process_metrics(process=process, now=NOW)["summary"]["deals"] == 10


# Stalls -------------------------------------------------------------------------------------------


def test_stall_threshold_falls_back_to_p75_of_advanced_stays_from_ten_deals(process, build):
    # Negotiate has no expected_days. Ten deals won from it after 1..10 days: p75 at 6.75 → 7.75 days.
    for n in range(1, 11):
        build([("Negotiate", 0)], ("won", n))
    build([("Negotiate", 92)], last_activity=99)  # 8 days in stage, active: over 7.75 → stalled
    build([("Negotiate", 93)], last_activity=99)  # 7 days: not stalled
    row = by_stage(process_metrics(process=process, now=NOW))["Negotiate"]
    assert (row["threshold_days"], row["threshold_source"], row["stalled"]) == (7.75, "p75", 1)


def test_no_stall_threshold_below_ten_advanced_deals(process, build):
    for n in range(1, 10):
        build([("Negotiate", 0)], ("won", n))
    build([("Negotiate", 92)], last_activity=99)
    row = by_stage(process_metrics(process=process, now=NOW))["Negotiate"]
    assert (row["threshold_days"], row["threshold_source"], row["stalled"]) == (None, None, 0)


def test_idle_deals_are_stalled_after_the_orgs_idle_days(process, build, org):
    build([("Negotiate", 80)], last_activity=85)  # idle 15 days > 14: stalled
    build([("Negotiate", 80)], last_activity=97)  # active 3 days ago
    build([("Negotiate", 90)])  # in stage 10 days, nothing since: not yet idle
    assert by_stage(process_metrics(process=process, now=NOW))["Negotiate"]["stalled"] == 1
    org.idle_days = 30
    org.save()
    assert by_stage(process_metrics(process=process, now=NOW))["Negotiate"]["stalled"] == 0


def test_only_deals_currently_in_the_stage_stall_there(process, build):
    # Entered Qualify long ago, now open (and stalled) in Discover: counts in Discover only.
    build([("Qualify", 0), ("Discover", 10)])
    result = by_stage(process_metrics(process=process, now=NOW))
    assert (result["Qualify"]["stalled"], result["Discover"]["stalled"]) == (0, 1)


# Filters ------------------------------------------------------------------------------------------


def test_filter_by_industry(process, build):
    build([("Qualify", 0), ("Discover", 2)], ("won", 9), industry="Retail")
    build([("Qualify", 0)], ("lost", 3), industry="Retail")
    build([("Qualify", 0), ("Discover", 2)], ("lost", 4), industry="Banking")
    result = process_metrics(process=process, filters=MetricFilters(industry="Retail"), now=NOW)
    assert counts(result["stages"][0]) == {
        "entered": 2,
        "advanced": 1,
        "dropped": 1,
        "open": 0,
        "won": 1,
        "lost": 1,
    }
    assert result["summary"]["deals"] == 2
    assert result["filters"]["industry"] == "Retail"


def test_filter_by_amount_bounds_are_inclusive(process, histories):
    # A 10000, E 5000, F 8000 are in [5000, 10000]; L 12000.50, H 12345.65 and the 1000s are not.
    filters = MetricFilters(amount_min=Decimal("5000"), amount_max="10000")
    result = process_metrics(process=process, filters=filters, now=NOW)
    assert result["summary"]["deals"] == 3
    assert result["summary"]["won"] == 2
    assert result["stages"][0]["entered"] == 3
    assert (result["filters"]["amount_min"], result["filters"]["amount_max"]) == (5000.0, 10000.0)


def member_with_id_unlike_its_users(org):
    """A membership whose id is not its user's id, so a test cannot pass by mixing the two up."""
    while True:
        member = MembershipFactory(organization=org)
        if member.id != member.user_id:
            return member
        UserFactory()  # user ids now run ahead of membership ids


def test_filter_by_owner_takes_membership_ids(process, build, org):
    rep, other_rep = member_with_id_unlike_its_users(org), member_with_id_unlike_its_users(org)
    build([("Qualify", 0)], ("lost", 2), owner=rep)
    build([("Qualify", 0)], ("won", 3), owner=other_rep)
    build([("Qualify", 1)], owner=other_rep)
    assert rep.id != rep.user_id and other_rep.id != other_rep.user_id
    mine = process_metrics(process=process, filters=MetricFilters(owner_ids=[rep.id]), now=NOW)
    theirs = process_metrics(process=process, filters=MetricFilters(owner_ids=[other_rep.id]), now=NOW)
    both = process_metrics(process=process, filters=MetricFilters(owner_ids=[rep.id, other_rep.id]), now=NOW)
    nobody = process_metrics(process=process, filters=MetricFilters(owner_ids=[]), now=NOW)
    assert [r["summary"]["deals"] for r in (mine, theirs, both, nobody)] == [1, 2, 3, 0]
    assert theirs["summary"]["won"] == 1


def test_filter_by_owner_ignores_memberships_of_other_organizations(process, build, org, foreign):
    # One person, a member of both organizations, owns a deal here.
    here = MembershipFactory(organization=org, user=foreign["member"].user)
    build([("Qualify", 0)], owner=here)
    there = MetricFilters(owner_ids=[foreign["member"].id])
    assert process_metrics(process=process, filters=there, now=NOW)["summary"]["deals"] == 0
    mine = MetricFilters(owner_ids=[here.id])
    assert process_metrics(process=process, filters=mine, now=NOW)["summary"]["deals"] == 1


def test_filter_by_entry_time_is_a_cohort_per_stage(process, histories):
    # [day 0, day 5): first entries into Qualify at 0 (A B K), 1 (E), 2 (C), 4 (I) — H at 5 is out.
    # Discover first entered at 2 (K), 3 (E) — A at 5 is out. Propose: B at 4.
    filters = MetricFilters(entered_from=day(0), entered_to=day(5))
    result = process_metrics(process=process, filters=filters, now=NOW)
    rows = by_stage(result)
    assert counts(rows["Qualify"]) == {
        "entered": 6,
        "advanced": 5,
        "dropped": 1,
        "open": 0,
        "won": 2,
        "lost": 4,
    }
    assert counts(rows["Discover"]) == {
        "entered": 2,
        "advanced": 2,
        "dropped": 0,
        "open": 0,
        "won": 1,
        "lost": 1,
    }
    assert counts(rows["Propose"]) == {
        "entered": 1,
        "advanced": 0,
        "dropped": 1,
        "open": 0,
        "won": 0,
        "lost": 1,
    }
    assert rows["Negotiate"]["entered"] == 0
    # Of the six, reached Propose or beyond: A B K, and E (won).
    assert rows["Propose"]["cumulative_conversion"] == 0.6667
    # Summary: deals whose first entry is in the window: A B C E I K.
    assert (result["summary"]["deals"], result["summary"]["won"]) == (6, 2)
    assert result["filters"]["entered_from"] == day(0).isoformat()


def test_filter_by_entry_time_one_side(process, histories):
    later = MetricFilters(entered_from=day(30))  # Qualify: G (30), L (40)
    earlier = MetricFilters(entered_to=day(1))  # Qualify: A B K (0)
    assert process_metrics(process=process, filters=later, now=NOW)["stages"][0]["entered"] == 2
    assert process_metrics(process=process, filters=earlier, now=NOW)["stages"][0]["entered"] == 3


def test_filter_by_process_version_uses_the_first_entrys_version(process, build):
    v1 = process.current_version
    changed = {**SIMPLE_PROCESS, "stages": [{**s, "probability": 20} for s in SIMPLE_PROCESS["stages"]]}
    _, v2 = process_import(org=process.organization, data=changed, by=None)
    assert (v1.number, v2.number) == (1, 2)
    # Entered Qualify under v1, Discover under v2: in v1's Qualify cohort and v2's Discover cohort.
    build([("Qualify", 0), ("Discover", 5)], ("won", 9), versions=[v1.id, v2.id])
    # Entirely under v2, dropped in Qualify.
    build([("Qualify", 6)], ("lost", 8), versions=[v2.id])
    # Re-enters Qualify under v2, but its first entry was under v1.
    build([("Qualify", 1), ("Discover", 2), ("Qualify", 7)], versions=[v1.id, v1.id, v2.id])

    r1 = by_stage(process_metrics(process=process, filters=MetricFilters(process_version=1), now=NOW))
    r2 = by_stage(process_metrics(process=process, filters=MetricFilters(process_version=v2), now=NOW))
    assert (r1["Qualify"]["entered"], r1["Qualify"]["advanced"], r1["Discover"]["entered"]) == (2, 2, 1)
    assert (r2["Qualify"]["entered"], r2["Qualify"]["dropped"], r2["Discover"]["entered"]) == (1, 1, 1)
    missing = MetricFilters(process_version=9)
    assert process_metrics(process=process, filters=missing, now=NOW)["summary"]["deals"] == 0
    echoed = process_metrics(process=process, filters=MetricFilters(process_version=v2), now=NOW)["filters"]
    assert echoed["process_version"] == 2


def test_filters_combine(process, histories, build):
    build([("Qualify", 0)], ("won", 4), industry="Retail", amount="10000")
    filters = MetricFilters(industry="Retail", amount_min=9000, entered_to=day(1))
    assert process_metrics(process=process, filters=filters, now=NOW)["summary"]["deals"] == 1


def test_default_filters_are_echoed_as_nulls(process):
    assert process_metrics(process=process, now=NOW)["filters"] == {
        "entered_from": None,
        "entered_to": None,
        "process_version": None,
        "owner_ids": None,
        "industry": None,
        "amount_min": None,
        "amount_max": None,
    }


# Queries ------------------------------------------------------------------------------------------


def test_a_fixed_number_of_queries_whatever_the_number_of_deals(process, build):
    # The stages, then one statement for every number, with and without filters.
    def queries(filters=None) -> int:
        with CaptureQueriesContext(connection) as ctx:
            process_metrics(process=process, filters=filters, now=NOW)
        return len(ctx.captured_queries)

    every_filter = MetricFilters(
        entered_from=day(0),
        entered_to=day(99),
        process_version=1,
        owner_ids=[1, 2],
        industry="x",
        amount_min=1,
        amount_max=10**6,
    )
    build([("Qualify", 0), ("Discover", 1)], ("won", 3))
    few = (queries(), queries(every_filter))
    for n in range(40):
        build([("Qualify", n), ("Discover", n + 1), ("Propose", n + 2)], ("lost", n + 3))
        build([("Qualify", n), ("Negotiate", n + 1)])
    # PostgreSQL: two more, turning the JIT compiler off for the statement and (inside the test's
    # transaction) back.
    expected = 4 if connection.vendor == "postgresql" else 2
    assert few == (queries(), queries(every_filter)) == (expected, expected)


def test_computed_at_defaults_to_now(process):
    before = datetime.now(UTC)
    computed = datetime.fromisoformat(process_metrics(process=process)["computed_at"])
    assert before <= computed <= datetime.now(UTC)


@pytest.mark.postgres
def test_postgres_uses_percentile_cont(process, histories):
    with CaptureQueriesContext(connection) as ctx:
        process_metrics(process=process, now=NOW)
    assert any("percentile_cont" in q["sql"] for q in ctx.captured_queries)


@pytest.mark.postgres
def test_postgres_runs_the_statement_without_jit_and_puts_the_setting_back(process, histories):
    def jit() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW jit")
            return cursor.fetchone()[0]

    before = jit()
    with CaptureQueriesContext(connection) as ctx:
        process_metrics(process=process, now=NOW)
    sql = [q["sql"] for q in ctx.captured_queries]
    assert "set_config('jit', 'off', true)" in sql[-3] and "percentile_cont" in sql[-2]
    # The test runs inside a transaction, like any caller's: the setting is put back afterwards,
    # whatever it was in that transaction.
    assert jit() == before
    flipped = "off" if before == "on" else "on"
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL jit = {flipped}")
    process_metrics(process=process, now=NOW)
    assert jit() == flipped


def test_versions_of_other_processes_do_not_match(process, build, org):
    other, _ = process_import(org=org, data={**SIMPLE_PROCESS, "name": "Renewals"}, by=None)
    build([("Qualify", 0)])
    foreign = ProcessVersion.objects.get(process=other)
    assert (
        process_metrics(process=process, filters=MetricFilters(process_version=foreign), now=NOW)["summary"][
            "deals"
        ]
        == 0
    )
