"""Who may write what, and bad input: a clear message naming the field, and nothing written."""

from decimal import Decimal

import pytest

from deals.services import deal_create, deal_lose
from orgs.models import Role
from salesproc.lib.errors import InvalidInput, NotAllowed
from salesproc.services import process_import
from scorecards.models import DealScorecard, DealScorecardAnswer, Scorecard, ScorecardCriterion
from scorecards.services import (
    AnswerInput,
    deal_scorecard_answer,
    deal_scorecard_answers_set,
    scorecard_create,
    scorecard_criterion_add,
    scorecard_criterion_delete,
    scorecard_criterion_reorder,
    scorecard_criterion_update,
    scorecard_update,
)
from tests.factories import MembershipFactory
from tests.fixtures import SIMPLE_PROCESS

# ---- roles


@pytest.mark.parametrize("role", ["ops", "admin"])
def test_ops_and_admins_edit_the_scorecard(request, process, role):
    member = request.getfixturevalue(role)
    scorecard = scorecard_create(process=process, by=member, threshold=55)
    criterion = scorecard_criterion_add(
        scorecard=scorecard, by=member, label="Budget", weight=4, scale="yes_no"
    )
    scorecard_criterion_update(criterion=criterion, by=member, weight=5)
    scorecard_update(scorecard=scorecard, by=member, threshold=65)
    assert (ScorecardCriterion.objects.get().weight, Scorecard.objects.get().threshold) == (5, 65)


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_reps_and_managers_do_not_edit_the_scorecard(request, process, scorecard, criteria, role):
    member = request.getfixturevalue(role)
    budget = criteria[0]
    with pytest.raises(NotAllowed):
        scorecard_create(process=process, by=member)
    with pytest.raises(NotAllowed):
        scorecard_update(scorecard=scorecard, by=member, threshold=10)
    with pytest.raises(NotAllowed):
        scorecard_criterion_add(scorecard=scorecard, by=member, label="Timeline")
    with pytest.raises(NotAllowed):
        scorecard_criterion_update(criterion=budget, by=member, weight=9)
    with pytest.raises(NotAllowed):
        scorecard_criterion_delete(criterion=budget, by=member)
    with pytest.raises(NotAllowed):
        scorecard_criterion_reorder(
            scorecard=scorecard, by=member, criterion_ids=[c.pk for c in criteria][::-1]
        )
    assert Scorecard.objects.get().threshold == 60
    assert list(ScorecardCriterion.objects.order_by("order").values_list("label", "weight")) == [
        ("Budget confirmed", 3),
        ("Pain", 2),
        ("Champion", 5),
    ]


def test_another_orgs_ops_cannot_edit_it(scorecard, criteria, other_org):
    outsider = MembershipFactory(organization=other_org, role=Role.OPS)
    with pytest.raises(InvalidInput, match="Not found"):
        scorecard_update(scorecard=scorecard, by=outsider, threshold=10)
    with pytest.raises(InvalidInput, match="Not found"):
        scorecard_criterion_delete(criterion=criteria[0], by=outsider)
    assert ScorecardCriterion.objects.count() == 3


@pytest.mark.parametrize("role", ["rep", "manager", "admin"])
def test_the_rep_their_manager_and_admins_answer(request, deal, criteria, role):
    member = request.getfixturevalue(role)
    card = deal_scorecard_answer(deal=deal, criterion=criteria[0], value=1, note="CFO said so", by=member)
    answer = DealScorecardAnswer.objects.get()
    assert (card.score, answer.note, answer.by_id) == (Decimal("100.00"), "CFO said so", member.user_id)


@pytest.mark.parametrize("role", ["other_rep", "ops"])
def test_others_read_the_scorecard_but_do_not_answer(request, deal, criteria, role):
    member = request.getfixturevalue(role)
    with pytest.raises(NotAllowed):
        deal_scorecard_answer(deal=deal, criterion=criteria[0], value=1, by=member)
    assert not DealScorecard.objects.exists() and not DealScorecardAnswer.objects.exists()


# ---- bad scorecard input


@pytest.mark.parametrize("weight", [0, 11, -1, "text", "2.5", 2.5, True, None, ""])
def test_a_criterion_with_a_bad_weight_is_refused(scorecard, ops, weight):
    with pytest.raises(InvalidInput) as exc:
        scorecard_criterion_add(scorecard=scorecard, by=ops, label="Budget", weight=weight)
    assert exc.value.errors == {"weight": ["A whole number from 1 to 10."]}
    assert not ScorecardCriterion.objects.exists()


@pytest.mark.parametrize("weight", [0, 11, "text"])
def test_a_bad_weight_edit_changes_nothing(deal, rep, ops, criteria, weight):
    budget, pain, champion = criteria
    deal_scorecard_answers_set(deal=deal, by=rep, answers=[AnswerInput(budget, 1), AnswerInput(pain, 0)])
    with pytest.raises(InvalidInput) as exc:
        scorecard_criterion_update(criterion=pain, by=ops, weight=weight, label="Renamed")
    assert exc.value.errors == {"weight": ["A whole number from 1 to 10."]}
    pain.refresh_from_db()
    assert (pain.label, pain.weight) == ("Pain", 2)
    assert DealScorecard.objects.get().score == Decimal("60.00")


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"scale": "stars"}, {"scale": ["Choose one of yes_no, points."]}),
        ({"scale": "yes_no", "max_points": 3}, {"max_points": ["A yes / no answer is worth 0 or 1 point."]}),
        ({"scale": "points", "max_points": 1}, {"max_points": ["A whole number from 2 to 10."]}),
        ({"scale": "points", "max_points": 11}, {"max_points": ["A whole number from 2 to 10."]}),
        ({"scale": "points", "max_points": "lots"}, {"max_points": ["A whole number from 2 to 10."]}),
        ({"label": "  "}, {"label": ["Required."]}),
        ({"label": "x" * 201}, {"label": ["At most 200 characters."]}),
    ],
)
def test_a_criterion_with_a_bad_scale_or_label_is_refused(scorecard, ops, fields, errors):
    with pytest.raises(InvalidInput) as exc:
        scorecard_criterion_add(scorecard=scorecard, by=ops, **{"label": "Budget", **fields})
    assert exc.value.errors == errors
    assert not ScorecardCriterion.objects.exists()


def test_a_criterion_label_is_unique_in_its_scorecard(scorecard, ops, criteria):
    with pytest.raises(InvalidInput) as exc:
        scorecard_criterion_add(scorecard=scorecard, by=ops, label="pain")
    assert exc.value.errors == {"label": ["This scorecard already has that criterion."]}
    with pytest.raises(InvalidInput):
        scorecard_criterion_update(criterion=criteria[2], by=ops, label="PAIN")
    assert ScorecardCriterion.objects.count() == 3


@pytest.mark.parametrize("threshold", [101, -1, "abc", 60.5, None])
def test_a_bad_threshold_is_refused(deal, rep, ops, scorecard, criteria, threshold):
    deal_scorecard_answers_set(deal=deal, by=rep, answers=[AnswerInput(c, 1) for c in criteria])
    with pytest.raises(InvalidInput) as exc:
        scorecard_update(scorecard=scorecard, by=ops, threshold=threshold, name="Renamed")
    assert exc.value.errors == {"threshold": ["A whole number from 0 to 100."]}
    scorecard.refresh_from_db()
    assert (scorecard.name, scorecard.threshold) == ("MEDDIC lite", 60)
    assert DealScorecard.objects.get().result == "no_go"


def test_a_field_the_service_does_not_edit_is_refused(scorecard, ops, criteria):
    with pytest.raises(InvalidInput) as exc:
        scorecard_update(scorecard=scorecard, by=ops, process=None)
    assert exc.value.errors == {"process": ["This field cannot be changed here."]}
    with pytest.raises(InvalidInput):
        scorecard_criterion_update(criterion=criteria[0], by=ops, order=7)


def test_a_process_has_one_scorecard(process, ops, scorecard):
    with pytest.raises(InvalidInput, match="already has a scorecard"):
        scorecard_create(process=process, by=ops)
    assert Scorecard.objects.count() == 1


def test_the_scale_of_an_answered_criterion_is_fixed(deal, rep, ops, criteria):
    budget, pain, _ = criteria
    deal_scorecard_answer(deal=deal, criterion=pain, value=3, by=rep)
    with pytest.raises(InvalidInput) as exc:
        scorecard_criterion_update(criterion=pain, by=ops, max_points=5)
    assert "max_points" in exc.value.errors
    with pytest.raises(InvalidInput) as exc:
        scorecard_criterion_update(criterion=pain, by=ops, scale="yes_no")
    assert "scale" in exc.value.errors
    pain.refresh_from_db()
    assert (pain.scale, pain.max_points) == ("points", 3)
    # An unanswered criterion can change its scale.
    scorecard_criterion_update(criterion=budget, by=ops, scale="points", max_points=4)


def test_reorder_lists_every_criterion_once(scorecard, ops, criteria):
    budget, pain, champion = criteria
    with pytest.raises(InvalidInput):
        scorecard_criterion_reorder(scorecard=scorecard, by=ops, criterion_ids=[budget.pk, pain.pk])
    scorecard_criterion_reorder(scorecard=scorecard, by=ops, criterion_ids=[champion.pk, budget.pk, pain.pk])
    assert list(ScorecardCriterion.objects.order_by("order").values_list("label", flat=True)) == [
        "Champion",
        "Budget confirmed",
        "Pain",
    ]


# ---- bad answers


@pytest.mark.parametrize(
    ("which", "value", "message"),
    [
        (1, 4, "A whole number from 0 to 3."),
        (1, -1, "A whole number from 0 to 3."),
        (1, "2.5", "A whole number from 0 to 3."),
        (1, "two", "A whole number from 0 to 3."),
        (1, True, "A whole number from 0 to 3."),
        (0, 2, "Answer yes or no."),
        (0, "maybe", "Answer yes or no."),
        (2, 6, "A whole number from 0 to 5."),
    ],
)
def test_a_value_outside_the_scale_is_refused(deal, rep, criteria, which, value, message):
    with pytest.raises(InvalidInput) as exc:
        deal_scorecard_answer(deal=deal, criterion=criteria[which], value=value, by=rep)
    assert exc.value.errors == {"value": [message]}
    assert not DealScorecard.objects.exists() and not DealScorecardAnswer.objects.exists()


def test_an_unknown_criterion_is_refused(deal, rep, criteria, org, ops):
    # A criterion of another process's scorecard, and an id that does not exist.
    other_process, _ = process_import(org=org, data={**SIMPLE_PROCESS, "name": "Renewals"}, by=None)
    elsewhere = scorecard_criterion_add(
        scorecard=scorecard_create(process=other_process, by=ops), by=ops, label="Renewal risk"
    )
    for criterion in (elsewhere, 987654321):
        with pytest.raises(InvalidInput) as exc:
            deal_scorecard_answer(deal=deal, criterion=criterion, value=1, by=rep)
        assert exc.value.errors == {"criterion": ["Unknown criterion: not one of this deal's scorecard."]}
    assert not DealScorecardAnswer.objects.exists()


def test_several_answers_are_all_or_nothing(deal, rep, criteria):
    budget, pain, champion = criteria
    deal_scorecard_answer(deal=deal, criterion=budget, value=1, by=rep)
    with pytest.raises(InvalidInput) as exc:
        deal_scorecard_answers_set(
            deal=deal,
            by=rep,
            answers=[
                AnswerInput(budget, 0),
                AnswerInput(pain, 9),
                AnswerInput(champion, 2),
                AnswerInput(pain, 1),
            ],
        )
    assert exc.value.errors == {
        "answers.1.value": ["A whole number from 0 to 3."],
        "answers.3.criterion": ["This criterion is answered twice."],
    }
    assert list(DealScorecardAnswer.objects.values_list("criterion__label", "value")) == [
        ("Budget confirmed", 1)
    ]
    assert DealScorecard.objects.get().score == Decimal("100.00")


def test_a_closed_deal_keeps_its_scorecard(deal, rep, criteria):
    deal_scorecard_answer(deal=deal, criterion=criteria[0], value=1, by=rep)
    deal = deal_lose(deal=deal, by=rep, expected_version=deal.version, reason="No budget after all")
    with pytest.raises(InvalidInput, match="lost: its scorecard stays"):
        deal_scorecard_answer(deal=deal, criterion=criteria[0], value=0, by=rep)
    assert DealScorecardAnswer.objects.get().value == 1


def test_a_switched_off_scorecard_takes_no_answers(deal, rep, ops, scorecard, criteria):
    scorecard_update(scorecard=scorecard, by=ops, active=False)
    with pytest.raises(InvalidInput, match="no active qualification scorecard"):
        deal_scorecard_answer(deal=deal, criterion=criteria[0], value=1, by=rep)
    assert not DealScorecardAnswer.objects.exists()


def test_a_deal_of_a_process_without_a_scorecard_takes_no_answers(deal, rep):
    with pytest.raises(InvalidInput, match="no active qualification scorecard"):
        deal_scorecard_answer(deal=deal, criterion=1, value=1, by=rep)


def test_answers_take_yes_and_no_in_words_and_numbers_as_text(deal, rep, criteria, process, account):
    budget, pain, champion = criteria
    card = deal_scorecard_answers_set(
        deal=deal,
        by=rep,
        answers=[AnswerInput(budget, "Yes"), AnswerInput(pain, " 3 "), AnswerInput(champion, "5")],
    )
    assert (card.score, card.result) == (Decimal("100.00"), "go")
    other = deal_create(by=rep, process=process, name="Second", account=account)
    assert deal_scorecard_answer(deal=other, criterion=budget, value=False, by=rep).score == Decimal("0.00")
