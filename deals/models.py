"""Accounts, contacts, deals and everything that happens to a deal: stage history, plan, people, activity."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from salesproc.lib.models import OrgQuerySet, OrgScopedModel


class Account(OrgScopedModel):
    name = models.CharField(max_length=200)
    industry = models.CharField(max_length=80, blank=True)
    website = models.URLField(blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            # Serves the account list and search: name order within an org.
            models.Index(fields=["organization", "name"], name="account_org_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(OrgScopedModel):
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    title = models.CharField(max_length=120, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["organization", "name"], name="contact_org_name")]

    def __str__(self) -> str:
        return self.name


class DealStatus(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class DealQuerySet(OrgQuerySet):
    def open(self):
        return self.filter(status=DealStatus.OPEN)


class Deal(OrgScopedModel):
    # No single-column indexes on organization and process: deal_org_id and deal_board_keyset lead
    # with them, and every index slows the bulk history import.
    organization = models.ForeignKey(
        "orgs.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    name = models.CharField(max_length=200)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="deals")
    # Owner lookups go through deal_org_owner_status (organization, owner, status).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_deals", db_index=False
    )
    process = models.ForeignKey(
        "salesproc.Process", on_delete=models.PROTECT, related_name="deals", db_index=False
    )
    stage = models.ForeignKey("salesproc.Stage", on_delete=models.PROTECT, related_name="deals")
    status = models.CharField(max_length=5, choices=DealStatus.choices, default=DealStatus.OPEN)
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3, default="USD")
    expected_close = models.DateField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    lost_reason = models.CharField(max_length=300, blank=True)
    industry = models.CharField(max_length=80, blank=True)
    budget = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    lead_source = models.CharField(max_length=80, blank=True)
    description = models.TextField(blank=True)
    external_id = models.CharField(max_length=100, null=True, blank=True)
    # Optimistic lock: every write bumps it; writers name the version they saw.
    version = models.PositiveIntegerField(default=1)
    stage_entered_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = DealQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["open", "won", "lost"]), name="deal_status_valid"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="deal_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True)
                | (~Q(status="open") & Q(closed_at__isnull=False)),
                name="deal_closed_at_iff_closed",
            ),
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=Q(external_id__isnull=False),
                name="deal_external_id_unique_per_org",
            ),
        ]
        indexes = [
            # Board columns: open deals of a process by stage, keyset on (stage_entered_at, id).
            models.Index(
                fields=["process", "status", "stage", "stage_entered_at", "id"], name="deal_board_keyset"
            ),
            # "My deals" and owner filters.
            models.Index(fields=["organization", "owner", "status"], name="deal_org_owner_status"),
            # The deal list API's cursor (newest first) within an org.
            models.Index(fields=["organization", "id"], name="deal_org_id"),
            # The stale-deal digest: open deals by last activity.
            models.Index(
                fields=["organization", "status", "last_activity_at"], name="deal_org_status_activity"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status == DealStatus.OPEN


class StageRollup(OrgScopedModel):
    """The open deals of one stage, owner and currency: how many, and their amounts summed.

    The board's column headers read these rows instead of counting deals (a handful of rows per stage
    whatever the number of deals). The deal services keep them exact in the same transaction as the
    deal write (deals.services.rollups); bulk writers rebuild them with `rollup_rebuild`, and
    `reconcile_rollups` checks and repairs them. Derived data: no constraint here may refuse a deal
    write (a row that drifted, even below zero, is the reconciler's to repair, not the rep's problem)."""

    process = models.ForeignKey("salesproc.Process", on_delete=models.CASCADE, related_name="+")
    stage = models.ForeignKey("salesproc.Stage", on_delete=models.CASCADE, related_name="rollups")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    open_count = models.BigIntegerField(default=0)
    amount_sum = models.DecimalField(max_digits=20, decimal_places=2, default=Decimal("0"))

    class Meta:
        constraints = [
            # The upsert key of deals.services.rollups (INSERT … ON CONFLICT on these columns).
            models.UniqueConstraint(fields=["stage", "owner", "currency"], name="stage_rollup_key"),
        ]
        indexes = [
            # The board's headers: the rows of one process (optionally of some owners), by stage.
            models.Index(fields=["process", "owner"], name="stage_rollup_process_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.stage_id}/{self.owner_id}/{self.currency}: {self.open_count}"


class TagKind(models.TextChoices):
    COMPETITOR = "competitor", "Competitor"
    OBJECTION = "objection", "Objection"


class DealTag(OrgScopedModel):
    """A competitor or an objection on a deal: rows rather than a list so conditions can query them."""

    # No single-column indexes: deal_tag_unique leads with the deal, deal_tag_org_kind_value with the
    # organization, and every index slows the bulk history import.
    organization = models.ForeignKey(
        "orgs.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="tags", db_index=False)
    kind = models.CharField(max_length=12, choices=TagKind.choices)
    value = models.CharField(max_length=120)

    class Meta:
        ordering = ["kind", "value"]
        constraints = [
            models.UniqueConstraint(fields=["deal", "kind", "value"], name="deal_tag_unique"),
        ]
        indexes = [models.Index(fields=["organization", "kind", "value"], name="deal_tag_org_kind_value")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.value}"


class StageChange(OrgScopedModel):
    """Append-only log of stage entries; `left_at` is set by the next move or the close, in the same
    transaction, so time in stage is a plain aggregate."""

    # No single-column indexes on deal and to_stage: the composite indexes below lead with them. None
    # either on organization, from_stage, by and process_version: no page or job looks entries up by
    # them alone (only the rare delete of an organization, stage, user or version, which may scan), and
    # every index slows the bulk history import (four fewer: a third less time writing its rows).
    organization = models.ForeignKey(
        "orgs.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="stage_changes", db_index=False)
    from_stage = models.ForeignKey(
        "salesproc.Stage", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    to_stage = models.ForeignKey(
        "salesproc.Stage", on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    entered_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, db_index=False
    )
    process_version = models.ForeignKey(
        "salesproc.ProcessVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    override_reason = models.TextField(blank=True)
    overridden_criteria = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["deal_id", "entered_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["deal"],
                condition=Q(left_at__isnull=True),
                name="stage_change_one_open_entry_per_deal",
            ),
            models.CheckConstraint(
                condition=Q(left_at__isnull=True) | Q(left_at__gte=models.F("entered_at")),
                name="stage_change_left_after_entered",
            ),
        ]
        indexes = [
            # A deal's history in order.
            models.Index(fields=["deal", "entered_at"], name="stage_change_deal_time"),
            # Stage analytics and stall rules: the entries into a process's stages. Keyed by deal rather
            # than by time so that a bulk import (deals in id order) adds to the end of each stage's
            # range instead of all over it (a third less time storing 500k entries); entered_at rides
            # along for the month and date-range filters, read from the index.
            models.Index(fields=["to_stage", "deal"], include=["entered_at"], name="stage_change_stage_deal"),
        ]

    def __str__(self) -> str:
        return f"{self.deal_id} → {self.to_stage_id} at {self.entered_at:%Y-%m-%d}"


class StakeholderRole(models.TextChoices):
    ECONOMIC_BUYER = "economic_buyer", "Economic buyer"
    CHAMPION = "champion", "Champion"
    DECISION_MAKER = "decision_maker", "Decision maker"
    INFLUENCER = "influencer", "Influencer"
    USER = "user", "User"
    PROCUREMENT = "procurement", "Procurement"
    BLOCKER = "blocker", "Blocker"


class Attitude(models.TextChoices):
    ADVOCATE = "advocate", "Advocate"
    SUPPORTER = "supporter", "Supporter"
    NEUTRAL = "neutral", "Neutral"
    SKEPTIC = "skeptic", "Skeptic"
    OPPONENT = "opponent", "Opponent"


class DealStakeholder(OrgScopedModel):
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="stakeholders")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="deal_roles")
    role = models.CharField(max_length=20, choices=StakeholderRole.choices)
    influence = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    attitude = models.CharField(max_length=10, choices=Attitude.choices, default=Attitude.NEUTRAL)
    desired_results = models.TextField(blank=True)
    wins = models.TextField(blank=True, help_text="What this person wins personally")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-influence", "id"]
        constraints = [
            models.UniqueConstraint(fields=["deal", "contact"], name="stakeholder_once_per_deal"),
            models.CheckConstraint(
                condition=Q(influence__gte=1) & Q(influence__lte=5), name="stakeholder_influence_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact} ({self.get_role_display()})"


class ActivityKind(models.TextChoices):
    CALL = "call", "Call"
    MEETING = "meeting", "Meeting"
    EMAIL = "email", "Email"
    NOTE = "note", "Note"


class Activity(OrgScopedModel):
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(max_length=10, choices=ActivityKind.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    stakeholder = models.ForeignKey(
        DealStakeholder, null=True, blank=True, on_delete=models.SET_NULL, related_name="activities"
    )
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["deal", "-occurred_at"], name="activity_deal_time")]
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return self.subject


class StepSource(models.TextChoices):
    STAGE = "stage", "Stage"
    PLAY = "play", "Play"
    CUSTOM = "custom", "Custom"


class DealStep(OrgScopedModel):
    """One line of a deal's plan."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="steps")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=StepSource.choices, default=StepSource.CUSTOM)
    stage = models.ForeignKey(
        "salesproc.Stage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    criterion = models.ForeignKey(
        "salesproc.ExitCriterion", null=True, blank=True, on_delete=models.SET_NULL, related_name="deal_steps"
    )
    # The play step this line came from (source `play`): a play that stops matching takes back its open
    # steps; completed ones stay with their history.
    play_step = models.ForeignKey(
        "playbooks.PlayStep", null=True, blank=True, on_delete=models.SET_NULL, related_name="deal_steps"
    )
    position = models.PositiveIntegerField(default=0)
    due_date = models.DateField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The person on the customer's side the step is about (custom steps): a stakeholder of the same
    # deal, checked by the services. Removing the stakeholder keeps the step.
    stakeholder = models.ForeignKey(
        DealStakeholder, null=True, blank=True, on_delete=models.SET_NULL, related_name="steps"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            # Re-entering a stage must not add its criterion steps twice.
            models.UniqueConstraint(
                fields=["deal", "criterion"],
                condition=Q(criterion__isnull=False),
                name="deal_step_once_per_criterion",
            ),
            # Re-evaluating a play must not add its steps twice.
            models.UniqueConstraint(
                fields=["deal", "play_step"],
                condition=Q(play_step__isnull=False),
                name="deal_step_once_per_play_step",
            ),
        ]
        indexes = [models.Index(fields=["deal", "position"], name="deal_step_deal_position")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_done(self) -> bool:
        return self.completed_at is not None

    @property
    def is_overdue(self) -> bool:
        """Open and due before today (in the current time zone)."""
        return (
            self.completed_at is None and self.due_date is not None and self.due_date < timezone.localdate()
        )


class StepComment(OrgScopedModel):
    """A comment in the thread of one plan step, by anyone who may read the deal. `mentions` are the
    @mentions resolved when it was written, in the shape of strategy.DealComment's
    ([{"start": 0, "end": 5, "user_id": 7}], character offsets into `body`), so the thread highlights
    them without reading the members again."""

    # Indexed by step_comment_step_id below, which leads with it.
    step = models.ForeignKey(DealStep, on_delete=models.CASCADE, related_name="comments", db_index=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    mentions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [
            # A step's thread in order (the page and the API's cursor), and the plan's comment counts.
            models.Index(fields=["step", "id"], name="step_comment_step_id"),
        ]

    def __str__(self) -> str:
        return self.body[:60]


class CriterionAnswer(OrgScopedModel):
    """A deal's answer to an exit criterion of kind `answer`."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="answers")
    criterion = models.ForeignKey("salesproc.ExitCriterion", on_delete=models.CASCADE, related_name="answers")
    text = models.TextField()
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["deal", "criterion"], name="criterion_answer_once_per_deal"),
        ]

    def __str__(self) -> str:
        return self.text[:60]


class DigestKind(models.TextChoices):
    STALE_DEALS = "stale_deals", "Idle deals"
    STALL_FLAGS = "stall_flags", "Stall flags"


class DigestRun(OrgScopedModel):
    """One digest email to one person for one day. The row is claimed before the email goes out, so a
    redelivered or duplicated digest task finds it and sends nothing twice (at most once per day)."""

    kind = models.CharField(max_length=20, choices=DigestKind.choices, default=DigestKind.STALE_DEALS)
    day = models.DateField()
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # The task run that claimed the row; it sends only the rows carrying its own claim.
    claim = models.UUIDField(editable=False)
    deal_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-day", "id"]
        constraints = [
            # The idempotency guard of deals.services.digest: one email per person, kind and day.
            models.UniqueConstraint(
                fields=["organization", "kind", "day", "recipient"], name="digest_run_once_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.recipient_id} on {self.day}"
