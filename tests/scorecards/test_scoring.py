"""A deal's score and result, by hand; and the set-based recompute agreeing with the per-deal one."""

import random
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext

from deals.services import deal_create
from scorecards.models import DealScorecard, DealScorecardAnswer, ScorecardCriterion
from scorecards.scoring import deal_result, deal_score, deal_scorecards_recompute
from scorecards.services import (
    AnswerInput,
    deal_scorecard_answer,
    deal_scorecard_answers_set,
    scorecard_criterion_add,
    scorecard_criterion_delete,
    scorecard_criterion_update,
    scorecard_update,
)


def _answer_all(deal, rep, criteria, values):
    answers = [AnswerInput(c, v) for c, v in zip(criteria, values, strict=True)]
    return deal_scorecard_answers_set(deal=deal, by=rep, answers=answers)


def test_one_yes_of_three_criteria_is_100_and_incomplete(deal, rep, criteria):
    budget, _, _ = criteria
    card = deal_scorecard_answer(deal=deal, criterion=budget, value="yes", by=rep)
    assert (card.score, card.result) == (Decimal("100.00"), "incomplete")


def test_partial_answers_weigh_only_what_was_answered(deal, rep, criteria):
    budget, pain, _ = criteria
    deal_scorecard_answer(deal=deal, criterion=budget, value=True, by=rep)
    card = deal_scorecard_answer(deal=deal, criterion=pain, value=2, by=rep)
    # (3 × 1 + 2 × 2/3) / (3 + 2) × 100 = 86.666… → 86.67
    assert (card.score, card.result) == (Decimal("86.67"), "incomplete")


def test_every_criterion_answered_below_the_threshold_is_no_go(deal, rep, criteria):
    card = _answer_all(deal, rep, criteria, [1, 2, 1])
    # (3 + 2 × 2/3 + 5 × 1/5) / 10 × 100 = 53.33
    assert (card.score, card.result) == (Decimal("53.33"), "no_go")


def test_exactly_at_the_threshold_is_go(deal, rep, criteria):
    card = _answer_all(deal, rep, criteria, [1, 0, 3])
    # (3 + 0 + 5 × 3/5) / 10 × 100 = 60.00, the threshold
    assert (card.score, card.result) == (Decimal("60.00"), "go")


def test_a_cent_below_the_threshold_is_no_go(deal, rep, criteria, scorecard, ops):
    _answer_all(deal, rep, criteria, [1, 0, 3])
    scorecard_update(scorecard=scorecard, by=ops, threshold=61)
    assert DealScorecard.objects.get(deal=deal).result == "no_go"


def test_all_top_answers_score_100_and_all_zero_answers_score_0(
    deal, rep, criteria, other_rep, process, account
):
    assert _answer_all(deal, rep, criteria, [1, 3, 5]).score == Decimal("100.00")
    other = deal_create(by=other_rep, process=process, name="Cold lead", account=account)
    card = _answer_all(other, other_rep, criteria, ["no", 0, 0])
    assert (card.score, card.result) == (Decimal("0.00"), "no_go")


def test_scores_round_half_up_to_the_cent():
    # 100 × (1 × 1/8) / (1 + 3) = 3.125 → 3.13 (not the banker's 3.12)
    assert deal_score([(1, 1, 8), (3, 0, 2)]) == Decimal("3.13")
    assert deal_score([]) == Decimal("0.00")


def test_the_result_needs_every_criterion_answered():
    assert deal_result(score=Decimal("95"), answered=2, criteria=3, threshold=60) == "incomplete"
    assert deal_result(score=Decimal("60"), answered=3, criteria=3, threshold=60) == "go"
    assert deal_result(score=Decimal("59.99"), answered=3, criteria=3, threshold=60) == "no_go"
    assert deal_result(score=Decimal("0"), answered=0, criteria=0, threshold=0) == "incomplete"


def test_the_set_recompute_rounds_half_up_like_python(deal, rep, scorecard, ops):
    eighths = scorecard_criterion_add(scorecard=scorecard, by=ops, label="Eighths", weight=1, max_points=8)
    halves = scorecard_criterion_add(scorecard=scorecard, by=ops, label="Halves", weight=3, max_points=2)
    deal_scorecard_answers_set(deal=deal, by=rep, answers=[AnswerInput(eighths, 1), AnswerInput(halves, 0)])
    DealScorecard.objects.filter(deal=deal).update(score=0, result="incomplete")
    deal_scorecards_recompute(scorecard=scorecard)
    card = DealScorecard.objects.get(deal=deal)
    assert (card.score, card.result) == (Decimal("3.13"), "no_go")


def _expected(deal_scorecard: DealScorecard, criteria_count: int, threshold: int) -> tuple[Decimal, str]:
    rows = list(
        DealScorecardAnswer.objects.filter(deal_scorecard=deal_scorecard).values_list(
            "criterion__weight", "value", "criterion__max_points"
        )
    )
    score = deal_score(rows)
    return score, deal_result(score=score, answered=len(rows), criteria=criteria_count, threshold=threshold)


def test_recompute_after_weight_and_threshold_edits_matches_the_per_deal_computation(
    rep, ops, process, account, scorecard
):
    rng = random.Random(20261202)
    criteria = []
    for i in range(6):
        scale = rng.choice(["yes_no", "points"])
        criteria.append(
            scorecard_criterion_add(
                scorecard=scorecard,
                by=ops,
                label=f"Criterion {i}",
                weight=rng.randint(1, 10),
                scale=scale,
                max_points=None if scale == "yes_no" else rng.randint(2, 10),
            )
        )
    for i in range(25):
        deal = deal_create(by=rep, process=process, name=f"Deal {i}", account=account)
        answered = rng.sample(criteria, rng.randint(1, len(criteria)))
        deal_scorecard_answers_set(
            deal=deal, by=rep, answers=[AnswerInput(c, rng.randint(0, c.max_points)) for c in answered]
        )
    for _ in range(5):
        for c in rng.sample(criteria, 3):
            scorecard_criterion_update(criterion=c, by=ops, weight=rng.randint(1, 10))
        scorecard = scorecard_update(scorecard=scorecard, by=ops, threshold=rng.randint(0, 100))
        count = ScorecardCriterion.objects.filter(scorecard=scorecard).count()
        stored = list(DealScorecard.objects.filter(scorecard=scorecard))
        assert len(stored) == 25
        for card in stored:
            assert (card.score, card.result) == _expected(card, count, scorecard.threshold), card.deal_id


def test_a_weight_edit_recomputes_every_deal_in_a_fixed_number_of_queries(
    rep, ops, process, account, scorecard, criteria
):
    budget, pain, champion = criteria

    def edit_counts(weight: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            scorecard_criterion_update(criterion=champion, by=ops, weight=weight)
        return len(queries.captured_queries)

    deal = deal_create(by=rep, process=process, name="First", account=account)
    _answer_all(deal, rep, criteria, [1, 3, 5])
    few = edit_counts(4)
    for i in range(20):
        more = deal_create(by=rep, process=process, name=f"More {i}", account=account)
        _answer_all(more, rep, criteria, [i % 2, i % 4, i % 6])
    many = edit_counts(6)
    assert many == few
    # (3 + 2 + 6 × 5/5) / 11 × 100 = 100; the first deal's score did not move, a mixed one did.
    assert DealScorecard.objects.get(deal=deal).score == Decimal("100.00")
    mixed = DealScorecard.objects.get(deal__name="More 2")  # no, 2/3, 2/5
    assert mixed.score == Decimal("33.94")  # (0 + 2 × 2/3 + 6 × 2/5) / 11 × 100 = 33.939…


def test_a_new_criterion_makes_scored_deals_incomplete(deal, rep, ops, criteria, scorecard):
    assert _answer_all(deal, rep, criteria, [1, 3, 5]).result == "go"
    scorecard_criterion_add(scorecard=scorecard, by=ops, label="Timeline", weight=1, scale="yes_no")
    card = DealScorecard.objects.get(deal=deal)
    assert (card.score, card.result) == (Decimal("100.00"), "incomplete")


def test_deleting_a_criterion_recomputes_and_unscores_deals_left_without_answers(
    deal, rep, ops, criteria, other_rep, process, account
):
    budget, pain, champion = criteria
    deal_scorecard_answers_set(deal=deal, by=rep, answers=[AnswerInput(budget, 0), AnswerInput(pain, 3)])
    only_budget = deal_create(by=other_rep, process=process, name="Only budget", account=account)
    deal_scorecard_answer(deal=only_budget, criterion=budget, value=1, by=other_rep)

    scorecard_criterion_delete(criterion=budget, by=ops)

    card = DealScorecard.objects.get(deal=deal)
    assert (card.score, card.result) == (Decimal("100.00"), "incomplete")  # pain 3/3 alone
    assert not DealScorecard.objects.filter(deal=only_budget).exists()
    assert not DealScorecardAnswer.objects.filter(criterion_id=budget.pk).exists()


def test_clearing_the_last_answer_leaves_the_deal_not_scored(deal, rep, criteria):
    budget, _, _ = criteria
    deal_scorecard_answer(deal=deal, criterion=budget, value=1, by=rep)
    assert deal_scorecard_answer(deal=deal, criterion=budget, value=None, by=rep) is None
    assert not DealScorecard.objects.filter(deal=deal).exists()
