"""Deal-level strategy: one deal's plan in words, written by the rep and their manager together; the
manager's coaching comments on it; and the in-app notifications that @mentions create."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from salesproc.lib.models import OrgScopedModel

# The strategy's text fields in the order the panel shows them, with their labels. The services, the
# form, the API and the history read this one list.
STRATEGY_FIELDS: dict[str, str] = {
    "situation": "Situation",
    "desired_result": "Desired result",
    "our_perspective": "Our perspective",
    "risks": "Risks",
    "next_moves": "Next moves",
}
STRATEGY_HELP: dict[str, str] = {
    "situation": "Where the customer stands today and what pushes them to change.",
    "desired_result": "The result the customer wants, in their words.",
    "our_perspective": "How we help them get there, and why us.",
    "risks": "What could stop or delay the deal.",
    "next_moves": "What we do next, and who does it.",
}
STRATEGY_TEXT_MAX = 10000


class DealStrategy(OrgScopedModel):
    """One deal's strategy. The row is written on the first save (a deal without one shows an empty
    panel at version 0); every later save names the version it saw and bumps it."""

    deal = models.OneToOneField("deals.Deal", on_delete=models.CASCADE, related_name="strategy")
    situation = models.TextField(blank=True)
    desired_result = models.TextField(blank=True)
    our_perspective = models.TextField(blank=True)
    risks = models.TextField(blank=True)
    next_moves = models.TextField(blank=True)
    # Optimistic lock: every save bumps it; writers name the version they saw.
    version = models.PositiveIntegerField(default=1)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "deal strategies"
        constraints = [
            models.CheckConstraint(condition=Q(version__gte=1), name="deal_strategy_version_positive"),
        ]

    def __str__(self) -> str:
        return f"Strategy of deal {self.deal_id} (v{self.version})"


class StrategyRevision(OrgScopedModel):
    """One save of a deal's strategy: who, when, and each field it changed with its text before and
    after. Append-only; the strategy's history."""

    strategy = models.ForeignKey(DealStrategy, on_delete=models.CASCADE, related_name="revisions")
    # The strategy version this save produced (1 for the first).
    version = models.PositiveIntegerField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    # [{"field": "risks", "before": "…", "after": "…"}, …] in STRATEGY_FIELDS order.
    changes = models.JSONField(default=list)

    class Meta:
        ordering = ["-version"]
        constraints = [
            # Also the index of the history list: a strategy's revisions, newest first.
            models.UniqueConstraint(
                fields=["strategy", "version"], name="strategy_revision_once_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"Strategy {self.strategy_id} v{self.version}"

    @property
    def field_labels(self) -> list[str]:
        return [STRATEGY_FIELDS.get(c["field"], c["field"]) for c in self.changes]


class DealComment(OrgScopedModel):
    """A comment on a deal's strategy by someone who may edit the deal. A manager's (or admin's)
    comment on another person's deal is coaching. `mentions` are the @mentions resolved when it was
    written: [{"start": 0, "end": 5, "user_id": 7}] (character offsets into `body`), so the page
    highlights them without reading the members again."""

    # Indexed by deal_comment_deal_id below, which leads with it.
    deal = models.ForeignKey("deals.Deal", on_delete=models.CASCADE, related_name="comments", db_index=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    is_coaching = models.BooleanField(default=False)
    mentions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The deal page's comments and the API's cursor: a deal's comments, newest first.
            models.Index(fields=["deal", "id"], name="deal_comment_deal_id"),
        ]

    def __str__(self) -> str:
        return self.body[:60]


class NotificationKind(models.TextChoices):
    MENTION = "mention", "Mention"


class Notification(OrgScopedModel):
    """Something for one person to look at, in one organization: for now, being @mentioned in a
    comment. `emailed_at` is claimed before its email goes out, so the email is sent at most once."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices, default=NotificationKind.MENTION)
    # No index of its own: nothing looks notifications up by deal alone (only a deal's rare delete).
    deal = models.ForeignKey("deals.Deal", on_delete=models.CASCADE, related_name="+", db_index=False)
    comment = models.ForeignKey(
        DealComment, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    # Or the comment on one step of the deal's plan that mentioned them (deals.services.plan).
    step_comment = models.ForeignKey(
        "deals.StepComment", null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # One notification per person and comment, however often the comment names them.
            models.UniqueConstraint(
                fields=["recipient", "comment", "kind"], name="notification_once_per_comment"
            ),
            models.UniqueConstraint(
                fields=["recipient", "step_comment", "kind"], name="notification_once_per_step_comment"
            ),
            models.CheckConstraint(condition=Q(kind__in=["mention"]), name="notification_kind_valid"),
        ]
        indexes = [
            # The notifications page and API: one person's notifications in one org, newest first.
            models.Index(fields=["recipient", "organization", "id"], name="notification_recipient_id"),
            # The top bar's unread badge on every page: only the unread rows are in it.
            models.Index(
                fields=["recipient", "organization"],
                condition=Q(read_at__isnull=True),
                name="notification_unread",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.recipient_id} on deal {self.deal_id}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None
