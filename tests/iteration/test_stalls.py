"""Stall rules and the job that keeps the flags: levels, thresholds, clearing, snoozes, the digest and the
detect_stalls command."""

import io
import json
import statistics
from datetime import date, timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deals.models import DigestKind, DigestRun
from deals.services import activity_log, deal_create, deal_lose, deal_move, deal_win
from iteration.models import StallFlag, StallRule
from iteration.stall_digest import stall_digest_send
from iteration.stalls import (
    detect_stalls,
    flags_by_deal,
    no_activity_defaults,
    percentile_linear,
    stall_flag_snooze,
    stall_flags_refresh,
    stall_rule_set,
    stall_rules_for_process,
    stall_thresholds,
    visible_flags,
)
from iteration.tasks_stalls import detect_stalls_all, send_org_stall_digest, send_stall_digests
from salesproc.lib.errors import InvalidInput, NotAllowed

# Stages of tests.fixtures.SIMPLE_PROCESS: Qualify 10 days, Discover 14, Propose 21, Negotiate none.
QUALIFY, DISCOVER, PROPOSE, NEGOTIATE = range(4)


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


def deal_in(member, process, account, stage, *, days: float, now, name: str = "Deal", **extra):
    """A deal created `days` ago straight into `stage`, with nothing logged since."""
    return deal_create(
        by=member,
        process=process,
        stage=stage,
        name=name,
        account=account,
        amount="1000",
        at=now - timedelta(days=days),
        **extra,
    )


def flag_of(deal, rule):
    return StallFlag.objects.filter(deal=deal, rule=rule).first()


# ---- levels


@pytest.mark.parametrize(
    ("days", "level"),
    [
        (21, None),  # 21 whole days is not more than the 21-day threshold
        (22, "advice"),
        (31, "advice"),  # warning after 31.5
        (32, "warning"),
        (42, "warning"),  # red flag after 42
        (43, "red_flag"),
    ],
)
def test_stalled_levels_are_the_threshold_times_one_one_and_a_half_and_two(
    org, rep, process, stages, account, now, days, level
):
    deal = deal_in(rep, process, account, stages[PROPOSE], days=days, now=now)
    stall_flags_refresh(organization=org, now=now)
    flag = flag_of(deal, "stalled")
    assert (flag.level if flag else None) == level
    if flag:
        assert flag.days == days
        assert flag.threshold == {"advice": 21, "warning": 31.5, "red_flag": 42}[level]
        assert flag.reason.startswith(f"{days} days in Propose, past ")
        assert "21-day threshold (expected days)" in flag.reason


def test_stalled_level_counts_whole_days(org, rep, process, stages, account, now):
    almost = deal_in(rep, process, account, stages[PROPOSE], days=21.99, now=now, name="Almost")
    just = deal_in(rep, process, account, stages[PROPOSE], days=22, now=now, name="Just")
    stall_flags_refresh(organization=org, now=now)
    assert flag_of(almost, "stalled") is None
    assert flag_of(just, "stalled").level == "advice"


@pytest.mark.parametrize(
    ("days", "level"),
    [(14, None), (15, "advice"), (21, "advice"), (22, "warning"), (30, "warning"), (31, "red_flag")],
)
def test_no_activity_levels_default_to_the_idle_limit_then_21_and_30(
    org, rep, process, stages, account, now, days, level
):
    # Negotiate has no expected days and no history: only the no-activity rule applies there.
    deal = deal_in(rep, process, account, stages[NEGOTIATE], days=days, now=now)
    stall_flags_refresh(organization=org, now=now)
    assert not StallFlag.objects.filter(rule="stalled").exists()
    flag = flag_of(deal, "no_activity")
    assert (flag.level if flag else None) == level
    if flag:
        assert flag.reason.startswith(f"No activity or stage change for {days} days")


def test_no_activity_defaults_follow_the_orgs_idle_limit():
    assert no_activity_defaults(14) == (14, 21, 30)
    assert no_activity_defaults(7) == (7, 11, 15)
    assert no_activity_defaults(1) == (1, 2, 2)


def test_a_shorter_idle_limit_flags_sooner(org, rep, process, stages, account, now):
    org.idle_days = 7
    org.save()
    deal = deal_in(rep, process, account, stages[NEGOTIATE], days=12, now=now)
    stall_flags_refresh(organization=org, now=now)
    assert flag_of(deal, "no_activity").level == "warning"  # 12 > 11


@pytest.mark.parametrize(("days", "level"), [(30, None), (31, "advice"), (61, "warning"), (91, "red_flag")])
def test_age_is_off_until_set_then_counts_days_since_creation(
    org, ops, rep, process, stages, account, now, days, level
):
    deal = deal_in(rep, process, account, stages[QUALIFY], days=days, now=now)
    deal_move(deal=deal, to_stage=stages[DISCOVER], by=rep, expected_version=deal.version, at=now)
    stall_flags_refresh(organization=org, now=now)
    assert not StallFlag.objects.exists()  # moved just now; age is off by default

    stall_rule_set(
        stage=stages[DISCOVER], by=ops, kind="age", advice_days=30, warning_days=60, red_flag_days=90
    )
    stall_flags_refresh(organization=org, now=now)
    flag = flag_of(deal, "age")
    assert (flag.level if flag else None) == level
    assert not StallFlag.objects.exclude(rule="age").exists()


def test_custom_stalled_days_replace_the_threshold_multiples(org, ops, rep, process, stages, account, now):
    deal = deal_in(rep, process, account, stages[PROPOSE], days=26, now=now)
    stall_rule_set(stage=stages[PROPOSE], by=ops, kind="stalled", warning_days=25)
    stall_flags_refresh(organization=org, now=now)
    flag = flag_of(deal, "stalled")
    assert (flag.level, flag.threshold) == ("warning", 25)
    assert "past the 25-day warning limit" in flag.reason


def test_a_disabled_rule_raises_no_flag(org, ops, rep, process, stages, account, now):
    deal_in(rep, process, account, stages[PROPOSE], days=50, now=now)
    stall_rule_set(stage=stages[PROPOSE], by=ops, kind="stalled", enabled=False)
    stall_rule_set(stage=stages[PROPOSE], by=ops, kind="no_activity", enabled=False)
    stall_flags_refresh(organization=org, now=now)
    assert not StallFlag.objects.exists()


# ---- the data-driven threshold


def advanced_through_negotiate(rep, process, stages, account, now, durations_days, *, won=True):
    """Deals that entered Negotiate 200 days ago and left it (won, or lost) after each duration."""
    for i, days in enumerate(durations_days):
        deal = deal_in(rep, process, account, stages[NEGOTIATE], days=200, now=now, name=f"Past {i}")
        at = deal.created_at + timedelta(days=days)
        if won:
            deal_win(deal=deal, by=rep, expected_version=deal.version, at=at)
        else:
            deal_lose(deal=deal, by=rep, expected_version=deal.version, reason="No budget", at=at)


def test_the_threshold_is_the_p75_of_deals_that_advanced_when_at_least_ten_did(
    org, rep, process, stages, account, now
):
    advanced_through_negotiate(rep, process, stages, account, now, range(1, 11))
    # Deals that dropped out (lost in the stage) do not count, however long they stayed.
    advanced_through_negotiate(rep, process, stages, account, now, [90, 95], won=False)
    threshold = stall_thresholds(organization=org)[stages[NEGOTIATE].id]
    assert (threshold.source, threshold.advanced) == ("p75", 10)
    assert threshold.days == 7.75  # 1..10: 7 + 0.75 × (8 − 7)

    slow = deal_in(rep, process, account, stages[NEGOTIATE], days=8, now=now, name="Slow")
    stall_flags_refresh(organization=org, now=now)
    flag = flag_of(slow, "stalled")
    assert (flag.level, flag.threshold) == ("advice", 7.75)
    assert "7.8-day threshold (p75 of deals that advanced)" in flag.reason


def test_fewer_than_ten_advanced_deals_give_no_threshold_and_no_stalled_flag(
    org, rep, process, stages, account, now
):
    advanced_through_negotiate(rep, process, stages, account, now, range(1, 10))
    threshold = stall_thresholds(organization=org)[stages[NEGOTIATE].id]
    assert (threshold.days, threshold.source, threshold.advanced) == (None, "none", 9)
    deal_in(rep, process, account, stages[NEGOTIATE], days=100, now=now)
    stall_flags_refresh(organization=org, now=now)
    assert not StallFlag.objects.filter(rule="stalled").exists()
    assert StallFlag.objects.filter(rule="no_activity").exists()


def test_a_deal_advanced_when_it_later_entered_a_higher_stage(org, rep, process, stages, account, now):
    # Ten deals go Negotiate → Propose (back: not advanced) and are then won from Propose: won counts
    # as advanced for every stage they entered, so they count for Negotiate with their first stay.
    for i in range(10):
        deal = deal_in(rep, process, account, stages[NEGOTIATE], days=100, now=now, name=f"Back {i}")
        deal_move(
            deal=deal,
            to_stage=stages[PROPOSE],
            by=rep,
            expected_version=deal.version,
            at=deal.created_at + timedelta(days=i + 1),
        )
        deal_win(deal=deal, by=rep, expected_version=deal.version, at=deal.created_at + timedelta(days=50))
    # Two deals that moved back and were lost did not advance from Negotiate.
    for i in range(2):
        deal = deal_in(rep, process, account, stages[NEGOTIATE], days=100, now=now, name=f"Lost {i}")
        deal_move(
            deal=deal,
            to_stage=stages[PROPOSE],
            by=rep,
            expected_version=deal.version,
            at=now - timedelta(days=60),
        )
        deal_lose(
            deal=deal, by=rep, expected_version=deal.version, reason="Gone", at=now - timedelta(days=50)
        )
    threshold = stall_thresholds(organization=org)[stages[NEGOTIATE].id]
    assert (threshold.advanced, threshold.days) == (10, 7.75)


def test_the_p75_is_the_same_interpolation_as_percentile_cont(org, rep, process, stages, account, now):
    hours = [5, 17, 29, 40, 66, 81, 97, 130, 151, 170, 222, 301, 347]
    advanced_through_negotiate(rep, process, stages, account, now, [h / 24 for h in hours])
    expected = round(statistics.quantiles([h * 3600 for h in hours], n=4, method="inclusive")[2] / 86400, 2)
    assert stall_thresholds(organization=org)[stages[NEGOTIATE].id].days == expected
    assert percentile_linear([1.0, 2.0, 3.0, 4.0], 0.75) == 3.25


def test_the_data_thresholds_take_one_query(
    org, rep, process, stages, account, now, django_assert_num_queries
):
    advanced_through_negotiate(rep, process, stages, account, now, range(1, 12))
    stage_rows = list(process.stages.all())
    with django_assert_num_queries(1):
        stall_thresholds(organization=org, stages=stage_rows)


# ---- clearing


@pytest.fixture
def flagged(org, ops, rep, process, stages, account, now):
    """A deal 50 days in Propose with no activity, and an age rule on Propose and Negotiate: three flags."""
    for stage in (stages[PROPOSE], stages[NEGOTIATE]):
        stall_rule_set(stage=stage, by=ops, kind="age", advice_days=40)
    deal = deal_in(rep, process, account, stages[PROPOSE], days=50, now=now)
    stall_flags_refresh(organization=org, now=now)
    assert set(StallFlag.objects.values_list("rule", flat=True)) == {"age", "stalled", "no_activity"}
    return deal


def test_a_move_clears_stalled_and_no_activity_flags_at_once(flagged, rep, stages):
    deal_move(deal=flagged, to_stage=stages[NEGOTIATE], by=rep, expected_version=flagged.version)
    # The deal is as old as before: its age flag stays until the job looks at the new stage's rule.
    assert list(StallFlag.objects.values_list("rule", flat=True)) == ["age"]


def test_activity_clears_the_no_activity_flag_at_once(flagged, rep):
    activity_log(deal=flagged, by=rep, kind="call", subject="Checked in")
    assert set(StallFlag.objects.values_list("rule", flat=True)) == {"age", "stalled"}


@pytest.mark.parametrize("close", ["win", "lose"])
def test_closing_a_deal_clears_all_its_flags(flagged, rep, close):
    if close == "win":
        deal_win(deal=flagged, by=rep, expected_version=flagged.version)
    else:
        deal_lose(deal=flagged, by=rep, expected_version=flagged.version, reason="No budget")
    assert not StallFlag.objects.exists()


def test_the_job_clears_flags_of_a_moved_deal_when_nothing_else_did(
    flagged, org, rep, stages, now, monkeypatch
):
    # As if the move came through a path that does not clear flags (the job is the safety net).
    monkeypatch.setattr("deals.services.moves.stall_flags_clear", lambda *args, **kwargs: 0)
    deal_move(deal=flagged, to_stage=stages[NEGOTIATE], by=rep, expected_version=flagged.version, at=now)
    assert StallFlag.objects.count() == 3
    age = flag_of(flagged, "age")
    result = stall_flags_refresh(organization=org, now=now + timedelta(minutes=1))
    assert set(StallFlag.objects.values_list("rule", flat=True)) == {"age"}
    assert result.deleted == 2
    # The age flag follows the deal to its new stage and keeps its `since`.
    moved = flag_of(flagged, "age")
    assert (moved.id, moved.since, moved.stage_id) == (age.id, age.since, stages[NEGOTIATE].id)


def test_the_job_clears_the_no_activity_flag_after_activity(flagged, org, rep, now, monkeypatch):
    monkeypatch.setattr("deals.services.plan.stall_flags_clear", lambda *args, **kwargs: 0)
    activity_log(deal=flagged, by=rep, kind="call", subject="Checked in", occurred_at=now)
    stall_flags_refresh(organization=org, now=now + timedelta(minutes=1))
    assert set(StallFlag.objects.values_list("rule", flat=True)) == {"age", "stalled"}


def test_the_job_clears_flags_a_rule_change_no_longer_raises(flagged, org, ops, stages, now):
    stall_rule_set(
        stage=stages[PROPOSE], by=ops, kind="stalled", advice_days=60, warning_days=70, red_flag_days=80
    )
    stall_flags_refresh(organization=org, now=now)
    assert not StallFlag.objects.filter(rule="stalled").exists()


# ---- since, idempotence, query counts


def test_since_is_kept_while_the_flag_persists_and_its_level_rises(org, rep, process, stages, account, now):
    deal = deal_in(rep, process, account, stages[PROPOSE], days=25, now=now)
    stall_flags_refresh(organization=org, now=now)
    first = flag_of(deal, "stalled")
    assert (first.level, first.since) == ("advice", now)

    later = now + timedelta(days=10)
    stall_flags_refresh(organization=org, now=later)
    flag = flag_of(deal, "stalled")
    assert (flag.id, flag.since) == (first.id, now)
    assert (flag.level, flag.days, flag.updated_at) == ("warning", 35, later)


def test_a_deal_stalled_again_in_another_stage_starts_a_new_since(org, rep, process, stages, account, now):
    deal = deal_in(rep, process, account, stages[PROPOSE], days=60, now=now)
    stall_flags_refresh(organization=org, now=now - timedelta(days=30))
    deal_move(
        deal=deal,
        to_stage=stages[DISCOVER],
        by=rep,
        expected_version=deal.version,
        at=now - timedelta(days=20),
    )
    stall_flags_refresh(organization=org, now=now)
    flag = flag_of(deal, "stalled")
    assert (flag.stage_id, flag.since) == (stages[DISCOVER].id, now)


def test_the_job_is_idempotent(flagged, org, now):
    before = list(StallFlag.objects.order_by("id").values())
    result = stall_flags_refresh(organization=org, now=now)
    assert (result.created, result.updated, result.deleted) == (0, 0, 0)
    assert list(StallFlag.objects.order_by("id").values()) == before


def test_a_task_redelivered_writes_nothing_new(flagged, org, now):
    from iteration.tasks_stalls import detect_org_stalls

    first = detect_org_stalls.delay(org.id).get()
    again = detect_org_stalls.delay(org.id).get()
    assert first["flags"] == again["flags"] == 3
    assert (again["created"], again["updated"], again["deleted"]) == (0, 0, 0)


def _job_queries(org, now) -> tuple[int, int]:
    """Queries of a run that writes every flag, then of a run a day later that updates them all."""
    StallFlag.objects.all().delete()
    with CaptureQueriesContext(connection) as first:
        stall_flags_refresh(organization=org, now=now)
    with CaptureQueriesContext(connection) as again:
        stall_flags_refresh(organization=org, now=now + timedelta(days=1))
    return len(first), len(again)


def test_the_job_runs_the_same_queries_whatever_the_number_of_deals(
    org, rep, other_rep, process, stages, account, now
):
    advanced_through_negotiate(rep, process, stages, account, now, range(1, 4))

    def add_deals(n, start):
        for i in range(start, start + n):
            owner = rep if i % 2 else other_rep
            deal_in(owner, process, account, stages[i % 4], days=40 + i, now=now, name=f"D{i}")

    add_deals(2, 0)
    few = _job_queries(org, now)
    flags_few = StallFlag.objects.count()
    add_deals(20, 2)
    many = _job_queries(org, now)
    assert StallFlag.objects.count() > flags_few + 20
    # stages, thresholds, rule rows, open deals, flags, the upsert, the clean-up (+ transaction).
    assert few == many


def test_the_job_fans_out_to_every_org(flagged, other_org_world, django_capture_on_commit_callbacks):
    StallFlag.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        assert detect_stalls_all.delay().get() == 2
    assert StallFlag.objects.filter(deal=flagged).count() == 3


# ---- snooze


def test_a_snoozed_flag_is_hidden_until_its_resume_date(flagged, org, rep):
    flag = flag_of(flagged, "stalled")
    today = timezone.localdate()
    stall_flag_snooze(
        flag=flag, by=rep, until=today + timedelta(days=3), reason="Customer on holiday", today=today
    )
    flag.refresh_from_db()
    assert (flag.snooze_reason, flag.snoozed_by_id) == ("Customer on holiday", rep.user_id)

    assert "stalled" not in {f.rule for f in visible_flags(membership=rep, today=today)}
    assert "stalled" not in {f.rule for f in flags_by_deal(org, [flagged.id], today=today)[flagged.id]}
    assert "stalled" in {f.rule for f in visible_flags(membership=rep, today=today, include_snoozed=True)}
    # On the resume date it shows again.
    back = today + timedelta(days=3)
    assert "stalled" in {f.rule for f in visible_flags(membership=rep, today=back)}
    assert "stalled" in {f.rule for f in flags_by_deal(org, [flagged.id], today=back)[flagged.id]}


def test_a_snooze_survives_the_job_while_the_flag_persists(flagged, org, rep, now):
    flag = flag_of(flagged, "stalled")
    until = timezone.localdate() + timedelta(days=20)
    stall_flag_snooze(flag=flag, by=rep, until=until, reason="Waiting for the board")
    stall_flags_refresh(organization=org, now=now + timedelta(days=5))
    flag.refresh_from_db()
    assert (flag.snoozed_until, flag.snooze_reason) == (until, "Waiting for the board")


def test_clearing_the_flag_ends_its_snooze(flagged, org, rep, stages, now):
    flag = flag_of(flagged, "no_activity")
    stall_flag_snooze(flag=flag, by=rep, until=timezone.localdate() + timedelta(days=30), reason="Later")
    activity_log(deal=flagged, by=rep, kind="note", subject="Update", occurred_at=now - timedelta(days=45))
    assert flag_of(flagged, "no_activity") is None
    # The backdated note leaves the deal idle: the job raises a fresh flag, not snoozed.
    stall_flags_refresh(organization=org, now=now)
    assert flag_of(flagged, "no_activity").snoozed_until is None


@pytest.mark.parametrize("until", [date(2020, 1, 1), "today", None, "not a date"])
def test_a_snooze_needs_a_future_resume_date(flagged, rep, until):
    flag = flag_of(flagged, "stalled")
    until = timezone.localdate() if until == "today" else until
    with pytest.raises(InvalidInput) as exc:
        stall_flag_snooze(flag=flag, by=rep, until=until, reason="Later")
    assert "until" in exc.value.errors
    flag.refresh_from_db()
    assert flag.snoozed_until is None and flag.snooze_reason == ""


def test_a_snooze_needs_a_reason(flagged, rep):
    flag = flag_of(flagged, "stalled")
    with pytest.raises(InvalidInput) as exc:
        stall_flag_snooze(flag=flag, by=rep, until=timezone.localdate() + timedelta(days=2), reason="  ")
    assert "reason" in exc.value.errors
    assert not StallFlag.objects.filter(snoozed_until__isnull=False).exists()


@pytest.mark.parametrize("who", ["other_rep", "ops"])
def test_only_the_deals_editors_snooze_its_flags(flagged, request, who):
    member = request.getfixturevalue(who)
    flag = flag_of(flagged, "stalled")
    with pytest.raises(NotAllowed):
        stall_flag_snooze(flag=flag, by=member, until=timezone.localdate() + timedelta(days=2), reason="Mine")
    assert not StallFlag.objects.filter(snoozed_until__isnull=False).exists()


def test_a_manager_snoozes_a_flag_of_their_team(flagged, manager):
    flag = flag_of(flagged, "stalled")
    stall_flag_snooze(flag=flag, by=manager, until=timezone.localdate() + timedelta(days=2), reason="Coached")
    flag.refresh_from_db()
    assert flag.snoozed_by_id == manager.user_id


def test_flags_by_deal_is_one_query_worst_first(flagged, org, django_assert_num_queries):
    with django_assert_num_queries(1):
        result = flags_by_deal(org, [flagged.id, 10**9])
    assert list(result) == [flagged.id]
    assert [f.level for f in result[flagged.id]] == ["red_flag", "red_flag", "advice"]
    assert [f.rule for f in result[flagged.id]] == ["no_activity", "stalled", "age"]


# ---- rules


def test_rule_days_must_rise_from_advice_to_red_flag(ops, stages):
    with pytest.raises(InvalidInput) as exc:
        stall_rule_set(stage=stages[0], by=ops, kind="age", advice_days=30, warning_days=20, red_flag_days=40)
    assert "warning_days" in exc.value.errors
    with pytest.raises(InvalidInput) as exc:
        stall_rule_set(stage=stages[0], by=ops, kind="age", advice_days=0)
    assert "advice_days" in exc.value.errors
    with pytest.raises(InvalidInput):
        stall_rule_set(stage=stages[0], by=ops, kind="age", advice_days=20, red_flag_days=10)
    assert not StallRule.objects.exists()


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_only_ops_and_admins_set_rules(request, stages, who):
    with pytest.raises(NotAllowed):
        stall_rule_set(stage=stages[0], by=request.getfixturevalue(who), kind="age", advice_days=30)
    assert not StallRule.objects.exists()


def test_values_equal_to_the_defaults_return_the_stage_to_them(ops, stages):
    stall_rule_set(
        stage=stages[0], by=ops, kind="no_activity", advice_days=10, warning_days=20, red_flag_days=30
    )
    assert StallRule.objects.count() == 1
    assert (
        stall_rule_set(
            stage=stages[0], by=ops, kind="no_activity", advice_days=14, warning_days=21, red_flag_days=30
        )
        is None
    )
    assert not StallRule.objects.exists()


def test_rules_of_a_process_show_what_applies(ops, process, stages):
    stall_rule_set(stage=stages[PROPOSE], by=ops, kind="stalled", red_flag_days=50)
    rows = stall_rules_for_process(process=process)
    assert [s.name for s, _, _ in rows] == ["Qualify", "Discover", "Propose", "Negotiate"]
    _, threshold, rules = rows[PROPOSE]
    assert (threshold.days, threshold.source) == (21, "expected_days")
    assert rules["stalled"].limits == {"advice": 21, "warning": 31.5, "red_flag": 50}
    assert rules["no_activity"].limits == {"advice": 14, "warning": 21, "red_flag": 30}
    assert not rules["age"].is_active
    assert not rows[NEGOTIATE][2]["stalled"].is_active  # no threshold yet


# ---- detect_stalls


def test_detect_stalls_prints_the_flags_as_json(flagged, org, rep, process, stages, account, now):
    imported = deal_in(
        rep, process, account, stages[PROPOSE], days=23, now=now, name="Imported", external_id="CRM-7"
    )
    out = io.StringIO()
    call_command("detect_stalls", "--org", "acme", "--format", "json", stdout=out)
    flags = json.loads(out.getvalue())
    keys = {"deal_id", "external_id", "deal", "stage", "rule", "level", "days", "threshold", "reason"}
    assert all(set(f) == keys for f in flags)
    ranks = {"red_flag": 3, "warning": 2, "advice": 1}
    assert [(-ranks[f["level"]], -f["days"]) for f in flags] == sorted(
        (-ranks[f["level"]], -f["days"]) for f in flags
    )
    first = next(f for f in flags if f["deal_id"] == flagged.id and f["rule"] == "stalled")
    assert first == {
        "deal_id": flagged.id,
        "external_id": None,
        "deal": "Deal",
        "stage": "Propose",
        "rule": "stalled",
        "level": "red_flag",
        "days": 50,
        "threshold": 42.0,
        "reason": "50 days in Propose, past 2× its 21-day threshold (expected days)",
    }
    mine = next(f for f in flags if f["deal_id"] == imported.id and f["rule"] == "stalled")
    assert (mine["external_id"], mine["level"], mine["days"]) == ("CRM-7", "advice", 23)
    assert len(flags) == StallFlag.objects.count() == 5


def test_detect_stalls_prints_a_table(flagged):
    out = io.StringIO()
    call_command("detect_stalls", "--org", "acme", stdout=out)
    text = out.getvalue()
    assert text.splitlines()[0].split() == ["LEVEL", "RULE", "DAYS", "LIMIT", "DEAL", "STAGE", "REASON"]
    assert "3 flags in Acme Sales." in text


def test_detect_stalls_returns_what_it_wrote(flagged, org):
    flags = detect_stalls(organization=org)
    assert {(f["deal_id"], f["rule"]) for f in flags} == set(StallFlag.objects.values_list("deal_id", "rule"))


# ---- the digest

DAY = date(2026, 3, 2)


@pytest.fixture
def team_flags(org, ops, manager, rep, other_rep, process, stages, account, now):
    deals = {
        "rep_red": deal_in(rep, process, account, stages[PROPOSE], days=50, now=now, name="Globex pilot"),
        "rep_advice": deal_in(
            rep, process, account, stages[PROPOSE], days=23, now=now, name="Globex rollout"
        ),
        "rep_snoozed": deal_in(
            rep, process, account, stages[PROPOSE], days=60, now=now, name="Globex snoozed"
        ),
        "rep_fresh": deal_in(rep, process, account, stages[PROPOSE], days=3, now=now, name="Globex renewal"),
        "other": deal_in(
            other_rep, process, account, stages[PROPOSE], days=30, now=now, name="Initrode deal"
        ),
    }
    stall_flags_refresh(organization=org, now=now)
    for flag in StallFlag.objects.filter(deal=deals["rep_snoozed"]):
        stall_flag_snooze(flag=flag, by=rep, until=DAY + timedelta(days=5), reason="Board meets", today=DAY)
    return deals


def mails_to(email: str) -> list:
    return [m for m in mail.outbox if m.to == [email]]


def test_the_digest_lists_each_owners_flagged_deals_and_a_managers_team(team_flags, org, settings):
    settings.SITE_URL = "https://crm.example.com"
    assert stall_digest_send(org=org, day=DAY) == 3

    [to_rep] = mails_to("rep@acme.test")
    assert to_rep.subject == "[Acme Sales] 2 flagged deals of yours"
    body = to_rep.body
    assert "- [RED FLAG] Globex pilot · Globex · Propose\n" in body
    assert "    50 days in Propose, past 2× its 21-day threshold (expected days)\n" in body
    assert f"    https://crm.example.com/deals/{team_flags['rep_red'].id}/\n" in body
    assert body.index("Globex pilot") < body.index("Globex rollout")  # worst first
    for absent in ("Globex snoozed", "Globex renewal", "Initrode deal"):
        assert absent not in body

    [to_manager] = mails_to("manager@acme.test")
    assert to_manager.subject == "[Acme Sales] 2 flagged deals in your team"
    assert "Your team's deals\n- [RED FLAG] Globex pilot · Globex · Propose · " in to_manager.body
    assert "Initrode deal" not in to_manager.body  # other_rep is not in the manager's team

    [to_other] = mails_to("rep2@acme.test")
    assert "[WARNING] Initrode deal" in to_other.body
    assert not mails_to("ops@acme.test")
    assert set(
        DigestRun.objects.filter(kind=DigestKind.STALL_FLAGS).values_list("recipient__email", "deal_count")
    ) == {
        ("rep@acme.test", 2),
        ("manager@acme.test", 2),
        ("rep2@acme.test", 1),
    }


def test_the_digest_goes_once_per_person_per_day(team_flags, org):
    assert send_org_stall_digest.delay(org.id, DAY.isoformat()).get() == 3
    assert send_org_stall_digest.delay(org.id, DAY.isoformat()).get() == 0
    assert len(mail.outbox) == 3
    # The next day is a new digest; the snooze is still on.
    assert send_org_stall_digest.delay(org.id, (DAY + timedelta(days=1)).isoformat()).get() == 3
    assert "Globex snoozed" not in mails_to("rep@acme.test")[-1].body


def test_the_snoozed_deal_comes_back_on_its_resume_date(team_flags, org):
    stall_digest_send(org=org, day=DAY + timedelta(days=5))
    assert "Globex snoozed" in mails_to("rep@acme.test")[0].body


def test_the_stall_digest_does_not_block_the_idle_digest(team_flags, org):
    from deals.services.digest import stale_deal_digest_send

    stall_digest_send(org=org, day=DAY)
    assert stale_deal_digest_send(org=org, day=DAY) > 0


def test_the_daily_task_fans_out_per_org(
    team_flags, org, other_org_world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert send_stall_digests.delay(DAY.isoformat()).get() == 2
    assert len(mail.outbox) == 3


def test_the_digest_runs_a_constant_number_of_queries(team_flags, org, django_assert_max_num_queries):
    # flags, memberships, claim insert, claimed rows, sent_at update
    with django_assert_max_num_queries(5):
        stall_digest_send(org=org, day=DAY)
