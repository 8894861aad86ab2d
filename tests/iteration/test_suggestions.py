"""Suggestions: what the nightly job proposes from hand-built histories, and applying or dismissing one.
Every expected suggestion follows from counts worked out in the test, not from the job's code."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deals.models import DealStep, StepSource
from iteration.models import Suggestion, SuggestionKind, SuggestionStatus
from iteration.suggestions import (
    DISMISSED_QUIET_DAYS,
    suggestion_apply,
    suggestion_candidates,
    suggestion_dismiss,
    suggestions_refresh,
)
from orgs.models import Role
from salesproc.lib.errors import InvalidInput, NotAllowed
from salesproc.models import ProcessVersion
from salesproc.services import criterion_add, process_import, stage_update
from tests.factories import AccountFactory, MembershipFactory
from tests.fixtures import SIMPLE_PROCESS
from tests.iteration.test_metrics import NOW, day, make_builder

pytestmark = pytest.mark.django_db


@pytest.fixture
def build(org, process, account, rep):
    return make_builder(org=org, process=process, account=account, owner=rep)


def _kinds(process):
    return {(c.kind, c.title) for c in suggestion_candidates(process=process, now=NOW)}


def _stay(build, n, stage_path, days, outcome=None):
    """n deals that spent `days` in the first stage of `stage_path` before moving on."""
    first, nxt = stage_path
    for i in range(n):
        build([(first, i * 0.1), (nxt, i * 0.1 + days)], outcome)


# Expected days ---------------------------------------------------------------------------------------


def test_a_stage_slower_than_expected_gets_a_new_expected_days(process, build):
    # Qualify expects 10 days; 30 deals stayed 20 days: p75 = 20, 100% over.
    _stay(build, 30, ("Qualify", "Discover"), 20)

    assert _kinds(process) == {(SuggestionKind.EXPECTED_DAYS, "Qualify: set expected days to 20")}
    candidate = suggestion_candidates(process=process, now=NOW)[0]
    assert candidate.change == {"expected_days": 20}
    assert candidate.evidence["left"] == 30 and candidate.evidence["expected_days"] == 10


def test_within_thirty_percent_of_expected_days_is_left_alone(process, build):
    _stay(build, 30, ("Qualify", "Discover"), 12)  # 20% over

    assert _kinds(process) == set()


def test_fewer_than_thirty_stays_are_not_enough(process, build):
    _stay(build, 29, ("Qualify", "Discover"), 20)

    assert _kinds(process) == set()


def test_a_stage_without_expected_days_gets_one(process, build):
    _stay(build, 30, ("Negotiate", "Propose"), 6)  # Negotiate has no expected days

    kinds = {kind for kind, _ in _kinds(process)}
    titles = {title for _, title in _kinds(process)}
    assert SuggestionKind.EXPECTED_DAYS in kinds and "Negotiate: set expected days to 6" in titles


# Exit criteria ---------------------------------------------------------------------------------------


def _criterion(stages, importance, label="Run a discovery call"):
    return criterion_add(stage=stages[0], by=None, kind="step", label=label, importance=importance)


def _deals_with_step(build, org, criterion, *, n, advanced, met, completed_after_leaving=False, won=None):
    """n deals through Qualify: `advanced` of them moved on to Discover (then closed: `won` of those won,
    the rest lost, when `won` is given), the others were lost in Qualify; each had the criterion's step,
    completed before leaving when `met`."""
    for i in range(n):
        if i < advanced:
            outcome = None if won is None else ("won" if i < won else "lost", 9)
            deal = build([("Qualify", 0), ("Discover", 4)], outcome)
            left = day(4)
        else:
            deal = build([("Qualify", 0)], ("lost", 4))
            left = day(4)
        completed = (left + timedelta(days=1)) if completed_after_leaving else left - timedelta(days=1)
        DealStep.objects.create(
            organization=org,
            deal=deal,
            title=criterion.label,
            source=StepSource.STAGE,
            stage=criterion.stage,
            criterion=criterion,
            completed_at=completed if met else None,
        )


def test_an_optional_criterion_that_goes_with_higher_conversion_should_be_mandatory(org, stages, build):
    criterion = _criterion(stages, "optional")
    # Met: 36 of 40 advanced (90%); not met: 12 of 40 (30%).
    _deals_with_step(build, org, criterion, n=40, advanced=36, met=True)
    _deals_with_step(build, org, criterion, n=40, advanced=12, met=False)

    [candidate] = [c for c in suggestion_candidates(process=stages[0].process, now=NOW) if c.criterion]
    assert candidate.kind == SuggestionKind.MAKE_MANDATORY
    assert candidate.change == {"importance": "mandatory"}
    conversion = candidate.evidence["conversion"]
    assert (conversion["met"]["n"], conversion["met"]["successes"]) == (40, 36)
    assert (conversion["unmet"]["n"], conversion["unmet"]["successes"]) == (40, 12)
    assert conversion["difference"] == 0.6 and conversion["difference_ci"][0] > 0


def test_no_clear_difference_no_suggestion(org, stages, build):
    criterion = _criterion(stages, "optional")
    _deals_with_step(build, org, criterion, n=40, advanced=20, met=True)
    _deals_with_step(build, org, criterion, n=40, advanced=18, met=False)

    assert not [c for c in suggestion_candidates(process=stages[0].process, now=NOW) if c.criterion]


def test_a_step_completed_after_leaving_the_stage_does_not_count_as_met(org, stages, build):
    criterion = _criterion(stages, "optional")
    # The same counts as the positive test, but the steps were ticked off after the deals left.
    _deals_with_step(build, org, criterion, n=40, advanced=36, met=True, completed_after_leaving=True)
    _deals_with_step(build, org, criterion, n=40, advanced=12, met=False)

    assert not [c for c in suggestion_candidates(process=stages[0].process, now=NOW) if c.criterion]


def test_a_mandatory_criterion_without_measurable_association_may_be_relaxed(org, stages, build):
    criterion = _criterion(stages, "mandatory")
    # 60 deals met it and 60 went through without it; all advanced and closed, half of each side won.
    _deals_with_step(build, org, criterion, n=60, advanced=60, met=True, won=30)
    _deals_with_step(build, org, criterion, n=60, advanced=60, met=False, won=30)

    [candidate] = [c for c in suggestion_candidates(process=stages[0].process, now=NOW) if c.criterion]
    assert candidate.kind == SuggestionKind.RELAX and candidate.change == {"importance": "optional"}
    wins = candidate.evidence["win_rate_after_advancing"]
    assert (wins["met"]["n"], wins["met"]["successes"], wins["unmet"]["n"], wins["unmet"]["successes"]) == (
        60,
        30,
        60,
        30,
    )


def test_a_mandatory_criterion_that_goes_with_more_wins_stays(org, stages, build):
    criterion = _criterion(stages, "mandatory")
    _deals_with_step(build, org, criterion, n=60, advanced=60, met=True, won=50)
    _deals_with_step(build, org, criterion, n=60, advanced=60, met=False, won=10)

    assert not [c for c in suggestion_candidates(process=stages[0].process, now=NOW) if c.criterion]


def test_too_few_deals_through_without_a_mandatory_criterion_say_nothing(org, stages, build):
    criterion = _criterion(stages, "mandatory")
    _deals_with_step(build, org, criterion, n=90, advanced=90, met=True, won=45)
    _deals_with_step(build, org, criterion, n=20, advanced=20, met=False, won=10)

    assert not [c for c in suggestion_candidates(process=stages[0].process, now=NOW) if c.criterion]


# Backward moves and skips ----------------------------------------------------------------------------


def test_a_stage_many_deals_move_back_from_is_to_be_reviewed(process, build):
    for i in range(30):
        if i < 12:  # 12 of 30 went back from Discover to Qualify: 40%
            build([("Qualify", 0), ("Discover", 2), ("Qualify", 3)])
        else:
            build([("Qualify", 0), ("Discover", 2)])

    [candidate] = [c for c in suggestion_candidates(process=process, now=NOW) if c.kind == "review_stage"]
    assert candidate.stage.name == "Discover"
    assert (candidate.evidence["backward"]["n"], candidate.evidence["backward"]["successes"]) == (30, 12)
    assert candidate.change == {}


def test_a_stage_many_deals_skip_is_to_be_reviewed(process, build):
    for i in range(30):
        if i < 15:  # half jump from Qualify straight to Propose
            build([("Qualify", 0), ("Propose", 2)])
        else:
            build([("Qualify", 0), ("Discover", 2), ("Propose", 3)])

    reviews = [c for c in suggestion_candidates(process=process, now=NOW) if c.kind == "review_stage"]
    assert [c.stage.name for c in reviews] == ["Discover"]
    assert (reviews[0].evidence["skipped"]["n"], reviews[0].evidence["skipped"]["successes"]) == (30, 15)


def test_few_back_moves_are_normal(process, build):
    for i in range(40):
        build(
            [("Qualify", 0), ("Discover", 2), ("Qualify", 3)] if i < 4 else [("Qualify", 0), ("Discover", 2)]
        )

    assert not [c for c in suggestion_candidates(process=process, now=NOW) if c.kind == "review_stage"]


def test_entries_before_the_window_do_not_count(process, build):
    _stay(build, 30, ("Qualify", "Discover"), 20)

    assert suggestion_candidates(process=process, now=NOW + timedelta(days=400)) == []


def test_the_candidates_take_a_fixed_number_of_queries(org, stages, build):
    _criterion(stages, "optional")
    _criterion(stages, "mandatory", label="Confirm budget")

    def count():
        with CaptureQueriesContext(connection) as queries:
            suggestion_candidates(process=stages[0].process, now=NOW)
        return len(queries.captured_queries)

    before = count()
    _stay(build, 25, ("Qualify", "Discover"), 20)
    # stages, metrics (2, and on PostgreSQL 2 more turning the JIT compiler off for its statement and
    # back), criteria, one per stage with criteria, review, the first active process and the plays (none
    # here: each play adds the queries of its effectiveness).
    expected = 10 if connection.vendor == "postgresql" else 8
    assert count() == before == expected


# Refresh ---------------------------------------------------------------------------------------------


def test_refresh_writes_once_and_updates_after(process, build):
    _stay(build, 30, ("Qualify", "Discover"), 20)

    first = suggestions_refresh(process=process, now=NOW)
    second = suggestions_refresh(process=process, now=NOW + timedelta(hours=1))

    assert (first.created, second.created, second.updated) == (1, 0, 1)
    [suggestion] = Suggestion.objects.filter(process=process)
    assert suggestion.status == SuggestionStatus.OPEN and suggestion.evidence["p75_days"] == 20.0


def test_refresh_withdraws_what_the_data_no_longer_supports(process, build, ops):
    _stay(build, 30, ("Qualify", "Discover"), 20)
    suggestions_refresh(process=process, now=NOW)
    stage_update(stage=process.stages.get(name="Qualify"), by=ops, expected_days=19)

    result = suggestions_refresh(process=process, now=NOW)

    assert result.withdrawn == 1 and not Suggestion.objects.filter(process=process).exists()


def test_a_dismissed_suggestion_does_not_come_back_for_a_while(process, build, ops):
    _stay(build, 30, ("Qualify", "Discover"), 20)
    suggestions_refresh(process=process, now=NOW)
    suggestion = Suggestion.objects.get(process=process)
    suggestion_dismiss(suggestion=suggestion, by=ops, reason="Qualify is slow on purpose this quarter")

    Suggestion.objects.filter(pk=suggestion.pk).update(decided_at=NOW - timedelta(days=10))

    result = suggestions_refresh(process=process, now=NOW)

    assert result.created == 0
    assert Suggestion.objects.filter(process=process, status="open").count() == 0


def test_a_dismissed_suggestion_comes_back_after_the_quiet_period(process, build, ops):
    _stay(build, 30, ("Qualify", "Discover"), 20)
    suggestions_refresh(process=process, now=NOW)
    suggestion = Suggestion.objects.get(process=process)
    suggestion_dismiss(suggestion=suggestion, by=ops, reason="Not now")
    Suggestion.objects.filter(pk=suggestion.pk).update(
        decided_at=NOW - timedelta(days=DISMISSED_QUIET_DAYS + 1)
    )

    result = suggestions_refresh(process=process, now=NOW)

    assert result.created == 1
    assert Suggestion.objects.filter(process=process, status="open").count() == 1


def test_refresh_reads_only_its_own_organization(process, build, other_org):
    member = MembershipFactory(organization=other_org, role=Role.ADMIN)
    foreign, _ = process_import(org=other_org, data=SIMPLE_PROCESS, by=None)
    foreign_build = make_builder(
        org=other_org, process=foreign, account=AccountFactory(organization=other_org), owner=member
    )
    _stay(foreign_build, 30, ("Qualify", "Discover"), 20)

    assert suggestions_refresh(process=process, now=NOW).created == 0
    assert not Suggestion.objects.filter(organization=process.organization).exists()


# Apply and dismiss -----------------------------------------------------------------------------------


@pytest.fixture
def expected_days_suggestion(process, build):
    _stay(build, 30, ("Qualify", "Discover"), 20)
    suggestions_refresh(process=process, now=NOW)
    return Suggestion.objects.get(process=process)


def test_applying_edits_the_process_through_a_new_version(process, ops, expected_days_suggestion):
    before = process.versions.count()

    version = suggestion_apply(suggestion=expected_days_suggestion, by=ops)

    assert process.versions.count() == before + 1
    assert version.note == f"Suggestion #{expected_days_suggestion.id}: Qualify: set expected days to 20"
    assert process.stages.get(name="Qualify").expected_days == 20
    expected_days_suggestion.refresh_from_db()
    assert expected_days_suggestion.status == SuggestionStatus.APPLIED
    assert (expected_days_suggestion.applied_version, expected_days_suggestion.decided_by) == (
        version,
        ops.user,
    )


def test_applying_a_criterion_suggestion_changes_its_importance(org, stages, build, ops):
    criterion = _criterion(stages, "optional")
    _deals_with_step(build, org, criterion, n=40, advanced=36, met=True)
    _deals_with_step(build, org, criterion, n=40, advanced=12, met=False)
    suggestions_refresh(process=stages[0].process, now=NOW)
    suggestion = Suggestion.objects.get(kind=SuggestionKind.MAKE_MANDATORY)

    version = suggestion_apply(suggestion=suggestion, by=ops)

    criterion.refresh_from_db()
    assert criterion.importance == "mandatory" and version.note.startswith(f"Suggestion #{suggestion.id}:")


@pytest.mark.parametrize("role", ["rep_member", "manager"])
def test_only_ops_apply(role, request, process, expected_days_suggestion):
    member = request.getfixturevalue(role)
    versions = process.versions.count()

    with pytest.raises(NotAllowed):
        suggestion_apply(suggestion=expected_days_suggestion, by=member)

    expected_days_suggestion.refresh_from_db()
    assert expected_days_suggestion.status == SuggestionStatus.OPEN
    assert process.versions.count() == versions and process.stages.get(name="Qualify").expected_days == 10


@pytest.fixture
def rep_member(rep):
    return rep


def test_another_organizations_ops_cannot_apply(other_org, process, expected_days_suggestion):
    stranger = MembershipFactory(organization=other_org, role=Role.OPS)

    with pytest.raises(NotAllowed):
        suggestion_apply(suggestion=expected_days_suggestion, by=stranger)
    assert process.stages.get(name="Qualify").expected_days == 10


def test_a_suggestion_is_applied_once(process, ops, expected_days_suggestion):
    suggestion_apply(suggestion=expected_days_suggestion, by=ops)
    versions = ProcessVersion.objects.filter(process=process).count()

    with pytest.raises(InvalidInput, match="already applied"):
        suggestion_apply(suggestion=expected_days_suggestion, by=ops)
    assert ProcessVersion.objects.filter(process=process).count() == versions


def test_applying_what_is_already_in_place_is_refused(process, ops, expected_days_suggestion):
    stage_update(stage=process.stages.get(name="Qualify"), by=ops, expected_days=20)
    versions = process.versions.count()

    with pytest.raises(InvalidInput, match="already expects 20 days"):
        suggestion_apply(suggestion=expected_days_suggestion, by=ops)
    assert process.versions.count() == versions


def test_advice_cannot_be_applied(process, build, ops):
    for _ in range(30):
        build([("Qualify", 0), ("Discover", 2), ("Qualify", 3)])
    suggestions_refresh(process=process, now=NOW)
    advice = Suggestion.objects.get(kind=SuggestionKind.REVIEW_STAGE)
    versions = process.versions.count()

    with pytest.raises(InvalidInput, match="advice"):
        suggestion_apply(suggestion=advice, by=ops)
    assert process.versions.count() == versions


def test_dismissing_needs_a_reason_and_keeps_it(ops, expected_days_suggestion):
    with pytest.raises(InvalidInput) as error:
        suggestion_dismiss(suggestion=expected_days_suggestion, by=ops, reason="  ")
    assert error.value.errors == {"reason": ["Say why the suggestion is dismissed."]}
    expected_days_suggestion.refresh_from_db()
    assert expected_days_suggestion.status == SuggestionStatus.OPEN

    suggestion_dismiss(suggestion=expected_days_suggestion, by=ops, reason="Seasonal")

    expected_days_suggestion.refresh_from_db()
    assert (expected_days_suggestion.status, expected_days_suggestion.dismiss_reason) == (
        "dismissed",
        "Seasonal",
    )


# Plays -----------------------------------------------------------------------------------------------


@pytest.fixture
def playbook(org, process, ops):
    from playbooks.services import playbook_create

    return playbook_create(org=org, by=ops, name="Competitive", process=process)


def _play_with_history(org, playbook, build, *, target, attached, comparison, step_titles=()):
    """A play targeting `target`, and deals through it: `attached` and `comparison` are (advanced, lost)
    counts; attached deals got the play while in the stage."""
    from playbooks.models import DealPlay, Play, PlayStep

    play = Play.objects.create(
        organization=org,
        playbook=playbook,
        name="Against Globex",
        condition={"field": "amount", "op": "gte", "value": 0},
        target_stage=target,
    )
    for i, title in enumerate(step_titles):
        PlayStep.objects.create(organization=org, play=play, title=title, order=i)
    for on_play, (advanced, lost) in ((True, attached), (False, comparison)):
        for i in range(advanced + lost):
            path = [("Qualify", 0), ("Discover", 2)] if i < advanced else [("Qualify", 0)]
            deal = build(path, ("won", 5) if i < advanced else ("lost", 3))
            if on_play:
                DealPlay.objects.create(
                    organization=org, deal=deal, play=play, attached_at=day(1), detached_at=day(2)
                )
    return play


def test_a_play_that_helps_is_suggested_as_part_of_its_stage(org, stages, playbook, build, ops):
    play = _play_with_history(
        org, playbook, build, target=stages[0], attached=(36, 4), comparison=(10, 30),
        step_titles=("Send the battle card", "Call a reference"),
    )  # fmt: skip

    suggestions_refresh(process=stages[0].process, now=NOW)

    suggestion = Suggestion.objects.get(kind=SuggestionKind.ADOPT_PLAY)
    assert (
        suggestion.play == play
        and suggestion.title == "Play “Against Globex” helps: make its steps part of Qualify"
    )
    assert suggestion.evidence["effectiveness"]["verdict"] == "helps"
    versions = stages[0].process.versions.count()

    version = suggestion_apply(suggestion=suggestion, by=ops)

    labels = list(stages[0].criteria.order_by("order").values_list("label", "importance", "kind"))
    assert labels == [("Send the battle card", "optional", "step"), ("Call a reference", "optional", "step")]
    assert stages[0].process.versions.count() == versions + 2
    assert version.note == f"Suggestion #{suggestion.id}: {suggestion.title}"


def test_a_play_without_effect_after_enough_deals_is_suggested_for_retirement(
    org, stages, playbook, build, ops
):
    play = _play_with_history(
        org, playbook, build, target=stages[0], attached=(100, 100), comparison=(100, 100)
    )
    play.active = True
    play.save()

    suggestions_refresh(process=stages[0].process, now=NOW)

    suggestion = Suggestion.objects.get(kind=SuggestionKind.RETIRE_PLAY)
    assert suggestion.title == "Play “Against Globex” shows no effect after 200 deals: retire or rework it"
    versions = stages[0].process.versions.count()

    assert suggestion_apply(suggestion=suggestion, by=ops) is None

    play.refresh_from_db()
    assert play.active is False and stages[0].process.versions.count() == versions
    suggestion.refresh_from_db()
    assert suggestion.status == SuggestionStatus.APPLIED and suggestion.applied_version is None


def test_a_play_with_few_deals_is_not_judged(org, stages, playbook, build):
    _play_with_history(org, playbook, build, target=stages[0], attached=(5, 5), comparison=(5, 5))

    suggestions_refresh(process=stages[0].process, now=NOW)

    assert not Suggestion.objects.filter(kind__in=["retire_play", "adopt_play"]).exists()
