"""Sending deal-level strategy upstream: a custom step of a deal's plan (or a step that recurs across
many deals) proposed as a play of a playbook or as an exit criterion of a stage, then accepted or
dismissed by ops.

A `Promotion` is the proposal and, once decided, the record of what it became (`play` / `criterion`).
`PromotionStep` links it to the custom steps it came from: one for a step promoted by hand, the whole
group for a recurring step found by the nightly job (`upstream.recurrence`).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from salesproc.lib.models import OrgScopedModel
from salesproc.models import Importance


class PromotionTarget(models.TextChoices):
    PLAY = "play", "Play"
    CRITERION = "criterion", "Exit criterion"


class PromotionOrigin(models.TextChoices):
    STEP = "step", "Promoted from a deal"  # a rep/manager pressed "Promote" on a custom step
    RECURRENCE = "recurrence", "Recurring step"  # the nightly job found it on many deals


class PromotionStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    ACCEPTED = "accepted", "Accepted"
    DISMISSED = "dismissed", "Dismissed"


class Promotion(OrgScopedModel):
    """A proposal to turn deal-level steps into a play or an exit criterion, and its decision."""

    origin = models.CharField(max_length=12, choices=PromotionOrigin.choices)
    target = models.CharField(max_length=10, choices=PromotionTarget.choices, default=PromotionTarget.PLAY)
    status = models.CharField(
        max_length=10, choices=PromotionStatus.choices, default=PromotionStatus.PROPOSED
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # The process of the deals it came from.
    process = models.ForeignKey(
        "salesproc.Process", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # target = play: the proposed trigger condition (normalized `playbooks.conditions.parse(...).data`)
    # and, once chosen, the playbook.
    condition = models.JSONField(default=dict, blank=True)
    playbook = models.ForeignKey(
        "playbooks.Playbook", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # target = criterion: the stage whose exit criterion (kind "step") it becomes, and its importance.
    stage = models.ForeignKey(
        "salesproc.Stage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    importance = models.CharField(max_length=10, choices=Importance.choices, default=Importance.OPTIONAL)
    # origin = step: the step promoted.
    source_step = models.ForeignKey(
        "deals.DealStep", null=True, blank=True, on_delete=models.SET_NULL, related_name="promotions"
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # origin = recurrence: the evidence schema of docs/upstream.md; origin = step: {"deal_facts": {...}}.
    evidence = models.JSONField(default=dict, blank=True)
    # origin = recurrence: a stable key of the group (sha of its sorted normalized key terms), for
    # dedup and the quiet period after a dismissal.
    signature = models.CharField(max_length=64, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    dismiss_reason = models.TextField(blank=True)
    # The result, once accepted.
    play = models.ForeignKey(
        "playbooks.Play", null=True, blank=True, on_delete=models.SET_NULL, related_name="promotions"
    )
    criterion = models.ForeignKey(
        "salesproc.ExitCriterion", null=True, blank=True, on_delete=models.SET_NULL, related_name="promotions"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A second press of "Promote" on the same step finds the open proposal instead of adding one.
            models.UniqueConstraint(
                fields=["source_step"],
                condition=Q(status="proposed", source_step__isnull=False),
                name="promotion_one_proposed_per_step",
            ),
            # The nightly job upserts by signature: one open proposal per recurring group.
            models.UniqueConstraint(
                fields=["organization", "signature"],
                condition=Q(status="proposed") & ~Q(signature=""),
                name="promotion_one_proposed_per_signature",
            ),
            models.CheckConstraint(
                condition=Q(origin__in=[o.value for o in PromotionOrigin]), name="promotion_origin_valid"
            ),
            models.CheckConstraint(
                condition=Q(target__in=[t.value for t in PromotionTarget]), name="promotion_target_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in PromotionStatus]), name="promotion_status_valid"
            ),
        ]
        indexes = [
            # The review page and the API list: an org's promotions of one status, newest first.
            models.Index(
                fields=["organization", "status", "-created_at"], name="promotion_org_status_created"
            ),
            # The recurrence job's quiet period: dismissed/accepted promotions of an org by signature.
            models.Index(fields=["organization", "signature"], name="promotion_org_signature"),
        ]

    def __str__(self) -> str:
        return self.title


class PromotionStep(OrgScopedModel):
    """A custom step a promotion came from (one for origin step; the group for origin recurrence)."""

    promotion = models.ForeignKey(Promotion, on_delete=models.CASCADE, related_name="step_links")
    step = models.ForeignKey("deals.DealStep", on_delete=models.CASCADE, related_name="promotion_links")

    class Meta:
        ordering = ["promotion_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["promotion", "step"], name="promotion_step_unique"),
        ]

    def __str__(self) -> str:
        return f"Promotion {self.promotion_id} ← step {self.step_id}"
