"""Play effectiveness against hand-built histories: every expected count is worked out by hand in the
comments, from the definitions in playbooks.effectiveness. The same tests run on SQLite and PostgreSQL.
DealPlay rows are written directly (not through the triggering services) so only attachment times
matter here."""

import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deals.models import Deal, DealStatus, StageChange
from playbooks.effectiveness import (
    EFFECT_MIN_DEALS,
    HELPS,
    HURTS,
    NO_EFFECT,
    play_effectiveness,
    playbook_effectiveness,
)
from playbooks.models import DealPlay, Play, Playbook
from salesproc.services import process_import
from tests.factories import AccountFactory, MembershipFactory
from tests.fixtures import SIMPLE_PROCESS
from tests.iteration.test_metrics import NOW, day, make_builder

NOT_ENOUGH = "not enough data yet"

pytestmark = pytest.mark.django_db


@pytest.fixture
def build(org, process, account, rep):
    return make_builder(org=org, process=process, account=account, owner=rep)


@pytest.fixture
def playbook(org, process):
    return Playbook.objects.create(organization=org, name="Enterprise", process=process)


def make_play(playbook, name="Discovery deep-dive", target="Discover", active=True):
    target_stage = playbook.process.stages.get(name=target) if target else None
    return Play.objects.create(
        organization=playbook.organization,
        playbook=playbook,
        name=name,
        target_stage=target_stage,
        active=active,
    )


@pytest.fixture
def play(playbook):
    return make_play(playbook)


def attach(play, deal, at, detached=None):
    return DealPlay.objects.create(
        organization=deal.organization,
        deal=deal,
        play=play,
        attached_at=day(at),
        detached_at=day(detached) if detached is not None else None,
    )


def counts(side):
    return {k: side[k] for k in ("n", "successes")}


@pytest.fixture
def world(play, build):
    """The New business process: Qualify(1) → Discover(2) → Propose(3) → Negotiate(4); days from T0.
    The play targets Discover; its first attachment is on day 3."""
    deals = {
        # Attached in Discover, then advanced and won.
        "T1": build([("Qualify", 0), ("Discover", 5), ("Propose", 10)], ("won", 20)),
        # Attached in Qualify (before entering Discover), detached on day 8, lost in Discover.
        "T2": build([("Qualify", 0), ("Discover", 5)], ("lost", 12)),
        # Attached in Discover, advanced, still open in Propose.
        "T3": build([("Qualify", 0), ("Discover", 2), ("Propose", 4)]),
        # Attached in Discover, still open there.
        "T4": build([("Qualify", 0), ("Discover", 5)]),
        # Attached only in Propose, after leaving Discover on day 4; lost.
        "X1": build([("Qualify", 0), ("Discover", 2), ("Propose", 4)], ("lost", 9)),
        # Never attached: advanced and won; lost in Discover; open in Discover.
        "C1": build([("Qualify", 0), ("Discover", 3), ("Propose", 6)], ("won", 15)),
        "C2": build([("Qualify", 1), ("Discover", 4)], ("lost", 10)),
        "C3": build([("Qualify", 1), ("Discover", 2)]),
        # Never attached, lost on day 2: closed before the play's first attachment (day 3).
        "C4": build([("Qualify", 0)], ("lost", 2)),
        # Never attached, won from Negotiate only: never in a stage where the play got attached.
        "C5": build([("Negotiate", 20)], ("won", 25)),
    }
    attach(play, deals["T1"], 6)
    attach(play, deals["T2"], 3, detached=8)
    attach(play, deals["T3"], 3)
    attach(play, deals["T4"], 6)
    attach(play, deals["X1"], 5)
    return deals


# Counts by hand ------------------------------------------------------------------------------------


def test_stage_conversion_counts_by_hand(play, world):
    conversion = play_effectiveness(play=play, now=NOW)["stage_conversion"]
    # Treated: T1 (advanced to Propose), T2 (attached before entering, detached, dropped), T3 (advanced),
    # T4 (attached while in the stage, still there: open). X1 was attached after leaving: excluded.
    treated = conversion["treated"]
    assert {k: treated[k] for k in ("entered", "advanced", "dropped", "open")} == {
        "entered": 4,
        "advanced": 2,
        "dropped": 1,
        "open": 1,
    }
    assert counts(treated) == {"n": 3, "successes": 2}
    assert treated["rate"] == 0.6667
    assert treated["ci"] == [0.2077, 0.9385]  # Wilson 2/3
    # Comparison: C1 advanced, C2 dropped, C3 open. C4 and C5 never entered Discover.
    comparison = conversion["comparison"]
    assert {k: comparison[k] for k in ("entered", "advanced", "dropped", "open")} == {
        "entered": 3,
        "advanced": 1,
        "dropped": 1,
        "open": 1,
    }
    assert (comparison["rate"], comparison["ci"]) == (0.5, [0.0945, 0.9055])  # Wilson 1/2
    assert conversion["excluded"] == 1
    assert conversion["difference"] == 0.1667
    assert treated["small_sample"] and comparison["small_sample"]


def test_win_rate_counts_by_hand(play, world):
    win_rate = play_effectiveness(play=play, now=NOW)["win_rate"]
    # Treated: closed and ever attached: T1 won, T2 lost (detached still counts), X1 lost. T3 and T4
    # are open: not failures, not counted.
    assert counts(win_rate["treated"]) == {"n": 3, "successes": 1}
    assert (win_rate["treated"]["won"], win_rate["treated"]["lost"]) == (1, 2)
    # Attach stages: T1 on day 6 in Discover [5, 10); T2 on day 3 in Qualify [0, 5); X1 on day 5 in
    # Propose [4, 9). Comparison: C1 won, C2 lost. Not C4 (closed on day 2, before the first
    # attachment) nor C5 (only ever in Negotiate).
    assert counts(win_rate["comparison"]) == {"n": 2, "successes": 1}
    assert win_rate["difference"] == -0.1667
    assert win_rate["p_value"] == 0.7094  # z = (1/3 − 1/2) / √(0.4 × 0.6 × (1/3 + 1/2)) = −0.3727
    assert win_rate["verdict"] == NOT_ENOUGH


def test_the_comparison_enters_only_the_stages_where_the_play_got_attached(play, build):
    # The play gets attached once, in Propose.
    treated = build([("Qualify", 0), ("Discover", 1), ("Propose", 2)], ("won", 6))
    attach(play, treated, 3)
    build([("Qualify", 0), ("Discover", 1), ("Propose", 4)], ("lost", 8))  # reached Propose: counts
    build([("Qualify", 0), ("Discover", 1)], ("lost", 8))  # never in Propose: does not
    win_rate = play_effectiveness(play=play, now=NOW)["win_rate"]
    assert counts(win_rate["treated"]) == {"n": 1, "successes": 1}
    assert counts(win_rate["comparison"]) == {"n": 1, "successes": 0}


def test_an_attachment_at_the_moment_of_leaving_the_stage_is_after_it(play, build):
    # Discover left on day 4, the play attached on day 4: not before leaving, so excluded.
    deal = build([("Qualify", 0), ("Discover", 2), ("Propose", 4)], ("won", 9))
    attach(play, deal, 4)
    conversion = play_effectiveness(play=play, now=NOW)["stage_conversion"]
    assert (conversion["treated"]["entered"], conversion["comparison"]["entered"]) == (0, 0)
    assert conversion["excluded"] == 1


def test_an_inactive_plays_period_ends_at_its_last_detachment(playbook, build):
    play = make_play(playbook, active=False)
    treated = build([("Qualify", 0), ("Discover", 2)], ("won", 9))
    attach(play, treated, 3, detached=9)
    build([("Qualify", 5), ("Discover", 6)], ("lost", 30))  # open on days 5–30: overlaps [3, 9]
    build([("Qualify", 20), ("Discover", 21)], ("lost", 30))  # created on day 20: after it
    win_rate = play_effectiveness(play=play, now=NOW)["win_rate"]
    assert counts(win_rate["comparison"]) == {"n": 1, "successes": 0}


def test_an_active_plays_period_runs_until_now(play, build):
    treated = build([("Qualify", 0), ("Discover", 2)], ("won", 9))
    attach(play, treated, 3, detached=9)
    build([("Qualify", 20), ("Discover", 21)], ("lost", 30))
    win_rate = play_effectiveness(play=play, now=NOW)["win_rate"]
    assert counts(win_rate["comparison"]) == {"n": 1, "successes": 0}


def test_a_play_never_attached_has_no_deals_on_either_side(play, world):
    other = make_play(play.playbook, name="Unused")
    result = play_effectiveness(play=other, now=NOW)
    assert (
        counts(result["win_rate"]["treated"])
        == counts(result["win_rate"]["comparison"])
        == {
            "n": 0,
            "successes": 0,
        }
    )
    # The target stage's cohort is all comparison: C1 C2 C3, and T1–T4 and X1 (attached to the other
    # play only).
    assert result["stage_conversion"]["comparison"]["entered"] == 8
    assert result["stage_conversion"]["treated"]["rate"] is None
    assert result["verdict"] == NOT_ENOUGH


@pytest.fixture
def renewals(org, account, rep, play):
    """A second process of the same org: one deal attached to the play on day 4 and won in Qualify, one
    never attached and lost in Qualify."""
    proc, _ = process_import(org=org, data={**SIMPLE_PROCESS, "name": "Renewals"}, by=None)
    build = make_builder(org=org, process=proc, account=account, owner=rep)
    attached = build([("Qualify", 0)], ("won", 10))
    attach(play, attached, 4)
    build([("Qualify", 0)], ("lost", 8))
    return proc


@pytest.fixture
def foreign_deal(other_org, play):
    """A deal of another organization, closed, with a (corrupt) attachment to this org's play on day 1:
    were it counted, it would also start the play's active period early enough to let C4 in."""
    member = MembershipFactory(organization=other_org)
    proc, _ = process_import(org=other_org, data=SIMPLE_PROCESS, by=None)
    build = make_builder(
        org=other_org, process=proc, account=AccountFactory(organization=other_org), owner=member
    )
    deal = build([("Qualify", 0), ("Discover", 1)], ("won", 5))
    attach(play, deal, 1)
    return deal


def test_other_processes_and_organizations_do_not_count(play, world, renewals, foreign_deal):
    result = play_effectiveness(play=play, now=NOW)
    assert counts(result["win_rate"]["treated"]) == {"n": 3, "successes": 1}
    assert counts(result["win_rate"]["comparison"]) == {"n": 2, "successes": 1}
    assert result["stage_conversion"]["treated"]["entered"] == 4


def test_a_playbook_without_process_covers_every_process_of_the_org(
    play, world, renewals, foreign_deal, playbook
):
    playbook.process = None
    playbook.save()
    result = play_effectiveness(play=play, now=NOW)
    # Renewals joins: its attached deal won (treated 2 of 4); it was attached in Renewals' Qualify,
    # which the unattached Renewals deal entered and lost (comparison 1 of 3). The other org does not.
    assert counts(result["win_rate"]["treated"]) == {"n": 4, "successes": 2}
    assert counts(result["win_rate"]["comparison"]) == {"n": 3, "successes": 1}
    # The target stage is New business's Discover: Renewals deals never enter it.
    assert result["stage_conversion"]["treated"]["entered"] == 4
    assert result["stage_conversion"]["comparison"]["entered"] == 3


# Verdicts ------------------------------------------------------------------------------------------


def bulk_deals(*, org, process, account, owner, play, count, won, attached):
    """`count` deals through Qualify (day 0) and Discover (day 1): won from Propose (entered day 2,
    closed day 5) when `won`, else lost in Discover on day 5; the play attached in Discover on day 1.5
    when `attached`. Written with one bulk insert per table."""
    if not count:
        return
    stages = {s.name: s for s in process.stages.all()}
    path = ["Qualify", "Discover", "Propose"] if won else ["Qualify", "Discover"]
    closed = day(5)
    deals = Deal.objects.bulk_create(
        Deal(
            organization=org,
            name=f"Bulk {i}",
            account=account,
            owner_id=owner.user_id,
            process=process,
            stage=stages[path[-1]],
            status=DealStatus.WON if won else DealStatus.LOST,
            amount=Decimal("1000"),
            closed_at=closed,
            created_at=day(0),
            stage_entered_at=day(len(path) - 1),
            last_activity_at=closed,
        )
        for i in range(count)
    )
    StageChange.objects.bulk_create(
        StageChange(
            organization=org,
            deal=deal,
            from_stage=stages[path[k - 1]] if k else None,
            to_stage=stages[name],
            entered_at=day(k),
            left_at=day(k + 1) if k + 1 < len(path) else closed,
        )
        for deal in deals
        for k, name in enumerate(path)
    )
    if attached:
        DealPlay.objects.bulk_create(
            DealPlay(organization=org, deal=deal, play=play, attached_at=day(1.5)) for deal in deals
        )


@pytest.fixture
def scenario(org, process, account, rep, play):
    """scenario(treated=(won, lost), comparison=(won, lost)): the play's effectiveness over those deals.
    Every won deal advanced from Discover and every lost one dropped there, so the stage conversion
    and the win rate have the same counts."""

    def run(*, treated, comparison):
        for attached, (won, lost) in ((True, treated), (False, comparison)):
            for is_won, count in ((True, won), (False, lost)):
                bulk_deals(
                    org=org,
                    process=process,
                    account=account,
                    owner=rep,
                    play=play,
                    count=count,
                    won=is_won,
                    attached=attached,
                )
        return play_effectiveness(play=play, now=NOW)

    return run


def test_helps_when_the_interval_is_above_zero(scenario):
    # 32/40 against 12/40: difference 0.5, Newcombe interval about [0.29, 0.66].
    result = scenario(treated=(32, 8), comparison=(12, 28))
    for part in (result["stage_conversion"], result["win_rate"]):
        assert (counts(part["treated"]), counts(part["comparison"])) == (
            {"n": 40, "successes": 32},
            {"n": 40, "successes": 12},
        )
        assert part["difference"] == 0.5
        assert part["difference_ci"][0] > 0
        assert (part["verdict"], part["more_needed"]) == (HELPS, None)
        assert part["p_value"] < 0.001
        assert not part["treated"]["small_sample"]
    assert result["verdict"] == HELPS


def test_hurts_when_the_interval_is_below_zero(scenario):
    result = scenario(treated=(12, 28), comparison=(32, 8))
    assert result["stage_conversion"]["difference"] == -0.5
    assert result["stage_conversion"]["difference_ci"][1] < 0
    assert result["stage_conversion"]["verdict"] == result["win_rate"]["verdict"] == HURTS
    assert result["verdict"] == HURTS


def test_no_measurable_effect_with_enough_deals_on_both_sides(scenario):
    # 60/120 on both sides: the interval straddles 0 (about ±0.125) and both sides have ≥ 100.
    result = scenario(treated=(60, 60), comparison=(60, 60))
    conversion = result["stage_conversion"]
    assert (conversion["treated"]["n"], conversion["comparison"]["n"]) == (120, 120)
    assert conversion["difference"] == 0.0
    assert conversion["difference_ci"][0] < 0 < conversion["difference_ci"][1]
    assert (conversion["verdict"], conversion["more_needed"]) == (NO_EFFECT, None)
    assert result["verdict"] == NO_EFFECT


def test_not_enough_data_yet_with_few_deals(scenario):
    # 8/10 against 3/10. Fleiss for 0.8 vs 0.3 at 80% power: 14.3 → 15 per side, raised to the
    # 30-deal minimum: 20 more on each side.
    result = scenario(treated=(8, 2), comparison=(3, 7))
    conversion = result["stage_conversion"]
    assert conversion["difference"] == 0.5
    assert (conversion["verdict"], conversion["more_needed"]) == (NOT_ENOUGH, 40)
    assert conversion["treated"]["small_sample"] and conversion["comparison"]["small_sample"]
    assert result["verdict"] == NOT_ENOUGH


def test_no_effect_needs_enough_deals_on_both_sides(scenario):
    # 120 treated, 60 comparison, same rate: inconclusive until the comparison reaches 100.
    result = scenario(treated=(60, 60), comparison=(30, 30))
    conversion = result["stage_conversion"]
    assert (conversion["verdict"], conversion["more_needed"]) == (NOT_ENOUGH, EFFECT_MIN_DEALS - 60)


def test_equal_rates_below_the_effect_minimum_need_the_effect_minimum(scenario):
    result = scenario(treated=(25, 25), comparison=(25, 25))
    assert (result["win_rate"]["verdict"], result["win_rate"]["more_needed"]) == (NOT_ENOUGH, 100)


def test_without_a_target_stage_the_verdict_is_the_win_rates(playbook, build):
    play = make_play(playbook, name="Close plan", target=None)
    deal = build([("Qualify", 0), ("Discover", 1)], ("won", 5))
    attach(play, deal, 2)
    result = play_effectiveness(play=play, now=NOW)
    assert result["stage_conversion"] is None
    assert (result["target_stage"], result["target_stage_id"]) == (None, None)
    assert result["verdict"] == result["win_rate"]["verdict"] == NOT_ENOUGH
    assert result["win_rate"]["more_needed"] == 2 * EFFECT_MIN_DEALS - 1  # no comparison rate yet


# Shape and queries ---------------------------------------------------------------------------------


def test_result_is_json_ready(play, world):
    result = play_effectiveness(play=play, now=NOW)
    assert json.loads(json.dumps(result)) == result
    assert set(result) == {
        "play", "play_id", "target_stage", "target_stage_id", "computed_at", "win_rate",
        "stage_conversion", "verdict",
    }  # fmt: skip
    assert (result["play"], result["play_id"], result["target_stage"]) == (
        "Discovery deep-dive",
        play.id,
        "Discover",
    )
    assert set(result["stage_conversion"]) == {
        "treated", "comparison", "difference", "difference_ci", "p_value", "verdict", "more_needed",
        "excluded",
    }  # fmt: skip
    assert set(result["win_rate"]["treated"]) == {
        "n", "successes", "won", "lost", "rate", "ci", "small_sample",
    }  # fmt: skip


def test_playbook_effectiveness_covers_every_play_in_order(playbook, play, world):
    unused = make_play(playbook, name="Already retired", target=None, active=False)
    results = playbook_effectiveness(playbook=playbook, now=NOW)
    assert [r["play_id"] for r in results] == [unused.id, play.id]  # by name at equal priority
    assert results[1] == play_effectiveness(play=play, now=NOW)


def test_query_count_does_not_grow_with_the_number_of_deals(
    playbook, play, world, org, process, account, rep
):
    make_play(playbook, name="Close plan", target=None)

    def queries(fn) -> int:
        with CaptureQueriesContext(connection) as ctx:
            fn()
        return len(ctx.captured_queries)

    def run_all():
        return (
            queries(lambda: play_effectiveness(play=play, now=NOW)),
            queries(lambda: playbook_effectiveness(playbook=playbook, now=NOW)),
        )

    few = run_all()
    for attached in (True, False):
        for won in (True, False):
            bulk_deals(
                org=org,
                process=process,
                account=account,
                owner=rep,
                play=play,
                count=25,
                won=won,
                attached=attached,
            )
    # The play, its conversion, its attach stages, its win rate; the plays, then 3 + 2 for the two.
    assert few == run_all() == (4, 6)
