"""The customer's journey after the win: value-confirmation conversations with each stakeholder, and
the deals that grow out of them (expansion deals, linked to the deal and the conversation)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from salesproc.lib.models import OrgScopedModel


class ValueConfirmation(OrgScopedModel):
    """One value-confirmation conversation with one stakeholder of a won deal: planned, then held.
    After one is held, a follow-up can be planned with the same stakeholder (a quarterly review…):
    each stakeholder has at most one conversation still to hold, and any number held.

    Held means `held_at` is set; the value they confirm is then said in their own words (and, when
    they measure it, as a metric), with the next opportunity it opens."""

    deal = models.ForeignKey("deals.Deal", on_delete=models.CASCADE, related_name="value_confirmations")
    stakeholder = models.ForeignKey(
        "deals.DealStakeholder", on_delete=models.CASCADE, related_name="value_confirmations"
    )
    planned_for = models.DateField()
    held_at = models.DateField(null=True, blank=True)
    confirmed_value = models.TextField(blank=True, help_text="The value they confirm, in their own metrics")
    metric_name = models.CharField(max_length=120, blank=True)
    metric_value = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    next_opportunity = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["planned_for", "id"]
        constraints = [
            # At most one conversation still to hold per stakeholder: planning twice adds no second
            # (value_plan_create inserts with ignore_conflicts on it), and a follow-up is planned once
            # the last one was held. Held conversations accumulate: the value over time.
            models.UniqueConstraint(
                fields=["stakeholder"],
                condition=Q(held_at__isnull=True),
                name="value_confirmation_one_planned_per_stakeholder",
            ),
            models.CheckConstraint(
                condition=Q(held_at__isnull=True) | ~Q(confirmed_value=""),
                name="value_confirmation_held_has_value",
            ),
        ]
        indexes = [
            # The account page's timeline: held conversations of an org, newest first.
            models.Index(fields=["organization", "-held_at"], name="value_conf_org_held"),
        ]

    def __str__(self) -> str:
        return f"Value confirmation {self.pk} on deal {self.deal_id}"

    @property
    def is_held(self) -> bool:
        return self.held_at is not None


class DealLinkKind(models.TextChoices):
    EXPANSION = "expansion", "Expansion"


class DealLink(OrgScopedModel):
    """A deal that grew out of another: `to_deal` is an expansion of `from_deal`, opened from the
    value-confirmation conversation that found the opportunity."""

    from_deal = models.ForeignKey("deals.Deal", on_delete=models.CASCADE, related_name="links_out")
    to_deal = models.ForeignKey("deals.Deal", on_delete=models.CASCADE, related_name="links_in")
    kind = models.CharField(max_length=12, choices=DealLinkKind.choices, default=DealLinkKind.EXPANSION)
    confirmation = models.ForeignKey(
        ValueConfirmation, null=True, blank=True, on_delete=models.SET_NULL, related_name="links"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["from_deal", "to_deal"], name="deal_link_once"),
            # One expansion deal per conversation: a double click does not open two.
            models.UniqueConstraint(
                fields=["confirmation"],
                condition=Q(confirmation__isnull=False),
                name="deal_link_once_per_confirmation",
            ),
            models.CheckConstraint(condition=~Q(from_deal=models.F("to_deal")), name="deal_link_not_self"),
            models.CheckConstraint(condition=Q(kind__in=["expansion"]), name="deal_link_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.to_deal_id} is an {self.kind} of {self.from_deal_id}"
