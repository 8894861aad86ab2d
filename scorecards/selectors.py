"""Reads behind the scorecard pages and API, each a fixed number of queries however many criteria,
answers or deals there are (pinned in tests/scorecards/test_query_counts.py)."""

from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Q, QuerySet

from deals.models import Deal
from salesproc.models import Process
from scorecards.models import (
    DealScorecard,
    DealScorecardAnswer,
    Scorecard,
    ScorecardCriterion,
    ScorecardResult,
)


def process_scorecard(process: Process) -> Scorecard | None:
    """The process's scorecard, or None. No query when the process was read with
    select_related("scorecard") (the deal page reads deals that way: deals.selectors.deals_for_page)."""
    try:
        return process.scorecard
    except ObjectDoesNotExist:
        return None


def scorecard_criteria(scorecard: Scorecard) -> QuerySet[ScorecardCriterion]:
    """The scorecard's criteria in order."""
    return ScorecardCriterion.objects.filter(scorecard=scorecard).order_by("order", "id")


def scorecard_criteria_with_use(scorecard: Scorecard) -> list[ScorecardCriterion]:
    """The criteria in order, each with `answered`: how many deals answered it. One query."""
    return list(scorecard_criteria(scorecard).annotate(answered=Count("answers")))


@dataclass
class CriterionRow:
    criterion: ScorecardCriterion
    answer: DealScorecardAnswer | None


@dataclass
class DealScorecardView:
    """A deal's scorecard as the deal page and the API show it."""

    scorecard: Scorecard
    rows: list[CriterionRow]
    deal_scorecard: DealScorecard | None
    weights: int = field(init=False)

    def __post_init__(self):
        self.weights = sum(r.criterion.weight for r in self.rows)

    @property
    def score(self) -> Decimal | None:
        return self.deal_scorecard.score if self.deal_scorecard else None

    @property
    def result(self) -> str | None:
        """go, no_go or incomplete; None when the deal is not scored."""
        return self.deal_scorecard.result if self.deal_scorecard else None

    @property
    def result_label(self) -> str:
        return ScorecardResult(self.result).label if self.result else "Not scored"

    @property
    def answered(self) -> int:
        return sum(1 for r in self.rows if r.answer is not None)


def deal_scorecard_view(*, deal: Deal, scorecard: Scorecard) -> DealScorecardView:
    """The scorecard's criteria with the deal's answers (and who gave them) and its stored score and
    result: two queries."""
    criteria = list(scorecard_criteria(scorecard))
    answers = list(
        DealScorecardAnswer.objects.filter(deal_scorecard__deal_id=deal.pk, criterion__scorecard=scorecard)
        .select_related("deal_scorecard", "by")
        .order_by()
    )
    by_criterion = {a.criterion_id: a for a in answers}
    # A deal scorecard exists exactly while it has answers (scorecards.services keeps it so).
    deal_scorecard = answers[0].deal_scorecard if answers else None
    rows = [CriterionRow(c, by_criterion.get(c.pk)) for c in criteria]
    return DealScorecardView(scorecard=scorecard, rows=rows, deal_scorecard=deal_scorecard)


# ---------------------------------------------------------------------------------------------------
# The board's filter

NOT_SCORED = "not_scored"
BOARD_FILTER_CHOICES = [
    (ScorecardResult.GO.value, "Go"),
    (ScorecardResult.NO_GO.value, "No-go"),
    (ScorecardResult.INCOMPLETE.value, "Incomplete"),
    (NOT_SCORED, "Not scored"),
]


def deal_scorecard_filter(value: str) -> Q:
    """Deals whose stored scorecard result is `value` (go, no_go, incomplete), or that have none
    (not_scored); everything for "" or anything else. A join on the deal scorecard's unique deal key."""
    if value == NOT_SCORED:
        return Q(scorecard__isnull=True)
    if value in ScorecardResult.values:
        return Q(scorecard__result=value)
    return Q()
