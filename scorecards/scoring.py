"""How a deal's score and result are computed: once in Python (one deal, after an answer) and once in
SQL (every deal of a scorecard, after an edit of its weights, threshold or criteria).

score = 100 × Σ weight × value / max_points ÷ Σ weight, over the criteria the deal answered, rounded
half up to hundredths. The SQL does it in integers so PostgreSQL and SQLite agree to the cent with the
exact fractions used here: every max_points (1..10) divides 2520, so Σ weight × value × (2520 / max)
is a whole number N, score = 100 × N / (2520 × W) with W = Σ weight, and the score in hundredths
rounded half up is (20000 × N + 2520 × W) div (2 × 2520 × W). tests/scorecards/test_scoring.py checks
that the two agree on random scorecards."""

from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction
from math import floor

from django.db import connection

from scorecards.models import (
    DealScorecard,
    DealScorecardAnswer,
    Scorecard,
    ScorecardCriterion,
    ScorecardResult,
)

# The least common multiple of 1..10: every criterion's max_points divides it.
_LCM = 2520


def deal_score(answers: Iterable[tuple[int, int, int]]) -> Decimal:
    """The score of answers given as (weight, value, max_points), 0.00 to 100.00; 0.00 for none."""
    total_weight = 0
    points = Fraction(0)
    for weight, value, max_points in answers:
        total_weight += weight
        points += Fraction(weight * value, max_points)
    if total_weight == 0:
        return Decimal("0.00")
    hundredths = floor(Fraction(10000) * points / total_weight + Fraction(1, 2))
    return Decimal(hundredths) / 100


def deal_result(*, score: Decimal, answered: int, criteria: int, threshold: int) -> str:
    """`incomplete` until every criterion is answered; then `go` at or above the threshold."""
    if criteria == 0 or answered < criteria:
        return ScorecardResult.INCOMPLETE
    return ScorecardResult.GO if score >= threshold else ScorecardResult.NO_GO


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def deal_scorecards_recompute(*, scorecard: Scorecard) -> int:
    """Store the score and result of every deal of the scorecard, from their answers and the current
    weights, scales and threshold: one DELETE of the deal scorecards left without answers (a deleted
    criterion took their last one: the deal is "not scored" again) and one UPDATE … FROM a grouped
    subquery, whatever the number of deals. Returns how many deal scorecards were updated. The caller
    holds the scorecard's lock (scorecards.lock_objects) inside a transaction."""
    DealScorecard.objects.filter(scorecard=scorecard).exclude(answers__isnull=False).delete()
    criteria = ScorecardCriterion.objects.filter(scorecard=scorecard).count()
    answer, criterion, deal_scorecard = (
        _table(DealScorecardAnswer),
        _table(ScorecardCriterion),
        _table(DealScorecard),
    )
    # Column names in SET stay unqualified: PostgreSQL and SQLite both refuse "alias.column" there.
    # The sums are cast back to integers: PostgreSQL's SUM of a bigint is a numeric, whose division
    # would not truncate.
    sql = f"""
        UPDATE {deal_scorecard} AS ds
        SET score = totals.hundredths / 100.0,
            result = CASE
                WHEN totals.answered < %s THEN %s
                WHEN totals.hundredths >= %s THEN %s
                ELSE %s
            END
        FROM (
            SELECT a.deal_scorecard_id AS id,
                   COUNT(*) AS answered,
                   (20000 * CAST(SUM(c.weight * a.value * ({_LCM} / c.max_points)) AS BIGINT)
                    + {_LCM} * CAST(SUM(c.weight) AS BIGINT))
                   / (2 * {_LCM} * CAST(SUM(c.weight) AS BIGINT)) AS hundredths
            FROM {answer} AS a
            JOIN {criterion} AS c ON c.id = a.criterion_id
            WHERE c.scorecard_id = %s
            GROUP BY a.deal_scorecard_id
        ) AS totals
        WHERE ds.id = totals.id
    """
    params = [
        max(criteria, 1),
        ScorecardResult.INCOMPLETE.value,
        scorecard.threshold * 100,
        ScorecardResult.GO.value,
        ScorecardResult.NO_GO.value,
        scorecard.pk,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
