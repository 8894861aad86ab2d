"""Qualification scorecards: per process, weighted criteria and a go / no-go threshold; per deal, the
answers and the score they give.

A deal's score is Σ weight × (value / max points) / Σ weight × 100 over the criteria it answered,
rounded half up to two decimals (scorecards.scoring). Its result is `incomplete` until every criterion
of the scorecard is answered, then `go` when the score is at least the threshold, else `no_go`. Both
are stored on DealScorecard, so the board filters on them and analytics group by them without
recomputing; the services keep them exact (an answer recomputes its deal, an edit of the scorecard
recomputes every deal of the process in one statement)."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from salesproc.lib.models import OrgScopedModel

MAX_WEIGHT = 10
MAX_POINTS = 10


class Scorecard(OrgScopedModel):
    """The qualification scorecard of one process."""

    process = models.OneToOneField("salesproc.Process", on_delete=models.CASCADE, related_name="scorecard")
    name = models.CharField(max_length=120, default="Qualification")
    threshold = models.PositiveSmallIntegerField(
        default=60, help_text="A fully answered scorecard at or above this score (%) is a go."
    )
    # Switched off, the deal page stops asking; the answers and scores already given stay.
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(threshold__lte=100), name="scorecard_threshold_max_100"),
        ]

    def __str__(self) -> str:
        return self.name


class AnswerScale(models.TextChoices):
    YES_NO = "yes_no", "Yes / no"
    POINTS = "points", "Points (0 to N)"


class ScorecardCriterion(OrgScopedModel):
    """One weighted question of a scorecard. An answer is a whole number from 0 to `max_points`
    (yes / no is 1 / 0)."""

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="criteria")
    label = models.CharField(max_length=200)
    help_text = models.TextField(blank=True)
    weight = models.PositiveSmallIntegerField(default=1)
    order = models.PositiveIntegerField(default=0)
    scale = models.CharField(max_length=10, choices=AnswerScale.choices, default=AnswerScale.POINTS)
    max_points = models.PositiveSmallIntegerField(default=3)

    class Meta:
        ordering = ["scorecard_id", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["scorecard", "label"], name="scorecard_criterion_label_unique"),
            models.CheckConstraint(
                condition=Q(weight__gte=1, weight__lte=MAX_WEIGHT), name="scorecard_criterion_weight_1_to_10"
            ),
            # The scale decides the points: yes / no is worth 0 or 1; a points scale 0 to 2..10.
            models.CheckConstraint(
                condition=Q(scale=AnswerScale.YES_NO, max_points=1)
                | Q(scale=AnswerScale.POINTS, max_points__gte=2, max_points__lte=MAX_POINTS),
                name="scorecard_criterion_scale_points",
            ),
        ]
        verbose_name_plural = "scorecard criteria"

    def __str__(self) -> str:
        return self.label

    @property
    def choices(self) -> list[tuple[int, str]]:
        """The answers a rep can give, as (value, label)."""
        if self.scale == AnswerScale.YES_NO:
            return [(1, "Yes"), (0, "No")]
        return [(n, str(n)) for n in range(self.max_points + 1)]

    def value_label(self, value: int) -> str:
        if self.scale == AnswerScale.YES_NO:
            return "Yes" if value else "No"
        return f"{value} / {self.max_points}"


class ScorecardResult(models.TextChoices):
    GO = "go", "Go"
    NO_GO = "no_go", "No-go"
    INCOMPLETE = "incomplete", "Incomplete"


class DealScorecard(OrgScopedModel):
    """A deal's scorecard: its stored score and result. Exists while the deal has at least one answer
    (a deal with none is "not scored": no row)."""

    deal = models.OneToOneField("deals.Deal", on_delete=models.CASCADE, related_name="scorecard")
    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="deal_scorecards")
    score = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))
    result = models.CharField(
        max_length=10, choices=ScorecardResult.choices, default=ScorecardResult.INCOMPLETE
    )
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=0, score__lte=100), name="deal_scorecard_score_0_to_100"
            ),
            models.CheckConstraint(
                condition=Q(result__in=ScorecardResult.values), name="deal_scorecard_result_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.deal_id}: {self.score} ({self.result})"


class DealScorecardAnswer(OrgScopedModel):
    """A deal's answer to one criterion, with who gave it and when."""

    # No index of its own: the unique key below leads with it.
    deal_scorecard = models.ForeignKey(
        DealScorecard, on_delete=models.CASCADE, related_name="answers", db_index=False
    )
    # Indexed: the recompute of a whole scorecard reads the answers of its criteria (scorecards.scoring).
    criterion = models.ForeignKey(ScorecardCriterion, on_delete=models.CASCADE, related_name="answers")
    value = models.PositiveSmallIntegerField()
    note = models.TextField(blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["deal_scorecard_id", "criterion_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["deal_scorecard", "criterion"], name="deal_scorecard_answer_once_per_criterion"
            ),
            models.CheckConstraint(
                condition=Q(value__lte=MAX_POINTS), name="deal_scorecard_answer_value_max"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.criterion_id}: {self.value}"
