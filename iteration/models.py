"""The iteration pillar's records: history imports, metric snapshots and their runs, stall rules and
flags, and the suggestions that feed the data back into the process."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from salesproc.lib.models import OrgScopedModel


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class HistoryImport(OrgScopedModel):
    """One upload of a deals CSV and a history CSV into a process. The files are kept in the row so the
    web server and the worker need no shared disk; they are dropped once the import has succeeded."""

    process = models.ForeignKey("salesproc.Process", on_delete=models.CASCADE, related_name="history_imports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED)
    deals_filename = models.CharField(max_length=255)
    history_filename = models.CharField(max_length=255)
    deals_data = models.BinaryField(default=bytes, blank=True)
    history_data = models.BinaryField(default=bytes, blank=True)
    # 0–100 and what the import is doing, for the progress bar.
    progress = models.PositiveSmallIntegerField(default=0)
    phase = models.CharField(max_length=60, blank=True)
    # [{"file", "line", "column", "message"}, ...], at most 100.
    errors = models.JSONField(default=list, blank=True)
    # {"deals_created", "deals_updated", "deals_unchanged", "history_rows", "members_created"}
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import {self.deals_filename} + {self.history_filename} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES


class MetricRun(OrgScopedModel):
    """One computation of a process's metrics. At most one run per process is queued or running (a
    database constraint), so two concurrent requests never both write a snapshot."""

    process = models.ForeignKey("salesproc.Process", on_delete=models.CASCADE, related_name="metric_runs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["process"],
                condition=Q(status__in=["queued", "running"]),
                name="metric_run_one_active_per_process",
            ),
        ]

    def __str__(self) -> str:
        return f"Metrics of process {self.process_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES


class MetricSnapshot(OrgScopedModel):
    """The last complete metrics of a process: overall, and per process version. Replaced as a whole,
    in one transaction, by a run that finished."""

    process = models.OneToOneField(
        "salesproc.Process", on_delete=models.CASCADE, related_name="metric_snapshot"
    )
    run = models.ForeignKey(MetricRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    computed_at = models.DateTimeField()
    # The body of GET /api/processes/{id}/metrics/.
    overall = models.JSONField()
    # {"<version number>": <same shape>, ...}
    by_version = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"Metrics of process {self.process_id} at {self.computed_at:%Y-%m-%d %H:%M}"


class StallRuleKind(models.TextChoices):
    AGE = "age", "Age"
    STALLED = "stalled", "Stalled in stage"
    NO_ACTIVITY = "no_activity", "No activity"


class StallLevel(models.TextChoices):
    ADVICE = "advice", "Advice"
    WARNING = "warning", "Warning"
    RED_FLAG = "red_flag", "Red flag"


STALL_LEVEL_RANK = {StallLevel.ADVICE: 1, StallLevel.WARNING: 2, StallLevel.RED_FLAG: 3}


class StallRule(OrgScopedModel):
    """A stage's setting for one rule. Without a row the defaults apply (see iteration.stalls). Days
    left empty switch that level off; for `stalled`, empty days mean the threshold × 1, 1.5 and 2."""

    stage = models.ForeignKey("salesproc.Stage", on_delete=models.CASCADE, related_name="stall_rules")
    kind = models.CharField(max_length=12, choices=StallRuleKind.choices)
    enabled = models.BooleanField(default=True)
    advice_days = models.PositiveIntegerField(null=True, blank=True)
    warning_days = models.PositiveIntegerField(null=True, blank=True)
    red_flag_days = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["stage_id", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["stage", "kind"], name="stall_rule_one_per_stage_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} rule of stage {self.stage_id}"


class StallFlag(OrgScopedModel):
    """A deal currently caught by a stall rule, at its worst level. Maintained by the stall job; gone
    when the deal moves, gets activity or closes."""

    deal = models.ForeignKey("deals.Deal", on_delete=models.CASCADE, related_name="stall_flags")
    stage = models.ForeignKey("salesproc.Stage", on_delete=models.CASCADE, related_name="+")
    rule = models.CharField(max_length=12, choices=StallRuleKind.choices)
    level = models.CharField(max_length=10, choices=StallLevel.choices)
    days = models.FloatField()
    threshold = models.FloatField()
    reason = models.CharField(max_length=300)
    since = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    snoozed_until = models.DateField(null=True, blank=True)
    snooze_reason = models.CharField(max_length=300, blank=True)
    snoozed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["deal_id", "rule"]
        constraints = [
            models.UniqueConstraint(fields=["deal", "rule"], name="stall_flag_one_per_deal_rule"),
        ]
        indexes = [models.Index(fields=["organization", "level"], name="stall_flag_org_level")]

    def __str__(self) -> str:
        return f"{self.get_level_display()}: {self.reason}"

    def is_snoozed(self, today=None) -> bool:
        today = today or timezone.localdate()
        return self.snoozed_until is not None and self.snoozed_until > today


class SuggestionKind(models.TextChoices):
    EXPECTED_DAYS = "expected_days", "Set expected days"
    MAKE_MANDATORY = "make_mandatory", "Make criterion mandatory"
    RELAX = "relax", "Consider relaxing criterion"
    REVIEW_STAGE = "review_stage", "Review stage"
    RETIRE_PLAY = "retire_play", "Retire or rework play"
    ADOPT_PLAY = "adopt_play", "Make play steps part of the stage"


class SuggestionStatus(models.TextChoices):
    OPEN = "open", "Open"
    APPLIED = "applied", "Applied"
    DISMISSED = "dismissed", "Dismissed"


class Suggestion(OrgScopedModel):
    """A change to the process that the data supports, with its evidence. Ops apply it (through the
    process services, which record a new version) or dismiss it with a reason."""

    process = models.ForeignKey("salesproc.Process", on_delete=models.CASCADE, related_name="suggestions")
    stage = models.ForeignKey(
        "salesproc.Stage", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    criterion = models.ForeignKey(
        "salesproc.ExitCriterion", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    play = models.ForeignKey(
        "playbooks.Play", null=True, blank=True, on_delete=models.CASCADE, related_name="suggestions"
    )
    kind = models.CharField(max_length=20, choices=SuggestionKind.choices)
    # "stage:<id>", "criterion:<id>" or "play:<id>": what the suggestion is about, for the
    # one-open-per-subject rule.
    subject = models.CharField(max_length=40)
    title = models.CharField(max_length=300)
    # Numbers, sample sizes and intervals behind the suggestion.
    evidence = models.JSONField(default=dict, blank=True)
    # What applying does, e.g. {"expected_days": 12} or {"importance": "mandatory"}; empty = advice only.
    change = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=SuggestionStatus.choices, default=SuggestionStatus.OPEN)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    dismiss_reason = models.TextField(blank=True)
    applied_version = models.ForeignKey(
        "salesproc.ProcessVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The nightly job refreshes an open suggestion rather than adding a second one.
            models.UniqueConstraint(
                fields=["process", "kind", "subject"],
                condition=Q(status="open"),
                name="suggestion_one_open_per_subject",
            ),
        ]

    def __str__(self) -> str:
        return self.title
