"""The playbooks pillar: playbooks of plays, each a trigger condition plus content (talk track,
questions to ask, resources) and steps; and what happened on deals — which plays were attached, why, and
the answers to the plays' questions.

A play's `condition` is JSON in the trigger-condition language of `playbooks.conditions`; it is stored
as `parse(...).data` (validated and normalized), never evaluated as code.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from salesproc.lib.models import OrgScopedModel


class Playbook(OrgScopedModel):
    """A named set of plays for one process, or for every process of the organization."""

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    # Empty: the playbook applies to deals of every process.
    process = models.ForeignKey(
        "salesproc.Process", null=True, blank=True, on_delete=models.CASCADE, related_name="playbooks"
    )
    active = models.BooleanField(default=True)
    owner = models.ForeignKey(
        "orgs.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_playbooks"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="playbook_name_unique_per_org"),
        ]
        indexes = [
            # Re-evaluation: the active playbooks of an org (then filtered by process in Python: few rows).
            models.Index(fields=["organization", "active"], name="playbook_org_active"),
        ]

    def __str__(self) -> str:
        return self.name


class Play(OrgScopedModel):
    """What to do in a known situation: when `condition` holds for an open deal, the play is attached to
    it (`DealPlay`) and its steps join the deal's plan."""

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="plays")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Normalized trigger condition: `playbooks.conditions.parse(...).data`.
    condition = models.JSONField(default=dict)
    # Markdown, written by ops; rendered to HTML through an allow-list sanitizer, never as is.
    talk_track = models.TextField(blank=True)
    priority = models.IntegerField(default=0, help_text="Plays with a higher priority are shown first.")
    active = models.BooleanField(default=True)
    # The stage the play means to get the deal into (or through): what its effectiveness is measured by.
    target_stage = models.ForeignKey(
        "salesproc.Stage", null=True, blank=True, on_delete=models.SET_NULL, related_name="targeting_plays"
    )
    # Optimistic lock for the play editor: every save bumps it; writers name the version they saw.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-priority", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "name"], name="play_name_unique_per_playbook"),
        ]
        indexes = [
            # Re-evaluation: the active plays of an org, to match against its open deals.
            models.Index(fields=["organization", "active"], name="play_org_active"),
        ]

    def __str__(self) -> str:
        return self.name


class PlayQuestion(OrgScopedModel):
    """A question the rep should ask when the play is attached; answers are `PlayAnswer` rows."""

    play = models.ForeignKey(Play, on_delete=models.CASCADE, related_name="questions")
    text = models.CharField(max_length=300)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["play_id", "order", "id"]
        # A play's questions in order (the play page, the deal's attached plays).
        indexes = [models.Index(fields=["play", "order"], name="play_question_play_order")]

    def __str__(self) -> str:
        return self.text


class PlayResource(OrgScopedModel):
    """A link or an uploaded file that helps run the play (a battle card, a case study)."""

    play = models.ForeignKey(Play, on_delete=models.CASCADE, related_name="resources")
    title = models.CharField(max_length=200)
    url = models.URLField(max_length=500, blank=True)
    file = models.FileField(upload_to="play_resources/%Y/%m/", max_length=255, blank=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["play_id", "order", "id"]
        constraints = [
            # Exactly one of the two: a resource is either a link or a file.
            models.CheckConstraint(
                condition=(Q(url="") & ~Q(file="")) | (~Q(url="") & Q(file="")),
                name="play_resource_url_xor_file",
            ),
        ]
        indexes = [models.Index(fields=["play", "order"], name="play_resource_play_order")]

    def __str__(self) -> str:
        return self.title


class PlayStep(OrgScopedModel):
    """A step the play adds to the plan of a deal it is attached to (`DealStep.source = play`)."""

    play = models.ForeignKey(Play, on_delete=models.CASCADE, related_name="steps")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    order = models.PositiveIntegerField(default=0)
    # Empty: due in whatever stage the deal is in.
    stage = models.ForeignKey(
        "salesproc.Stage", null=True, blank=True, on_delete=models.SET_NULL, related_name="play_steps"
    )

    class Meta:
        ordering = ["play_id", "order", "id"]
        indexes = [models.Index(fields=["play", "order"], name="play_step_play_order")]

    def __str__(self) -> str:
        return self.title


class DealPlay(OrgScopedModel):
    """A play attached to a deal, from `attached_at` until `detached_at` (the condition stopped holding,
    the play was deactivated, or the deal closed). Rows are kept after detaching: they are the history
    that play effectiveness is measured on, which is why a play that was ever attached cannot be deleted
    (deactivate it instead)."""

    deal = models.ForeignKey("deals.Deal", on_delete=models.CASCADE, related_name="deal_plays")
    play = models.ForeignKey(Play, on_delete=models.PROTECT, related_name="deal_plays")
    attached_at = models.DateTimeField(default=timezone.now)
    detached_at = models.DateTimeField(null=True, blank=True)
    # The parts of the condition that held when the play was attached: `conditions.explain(...)`.
    why = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-attached_at", "-id"]
        constraints = [
            # One open attachment per deal and play; also serves "the plays attached to this deal now"
            # (deal_id = … AND detached_at IS NULL).
            models.UniqueConstraint(
                fields=["deal", "play"],
                condition=Q(detached_at__isnull=True),
                name="deal_play_one_open_per_deal_play",
            ),
            models.CheckConstraint(
                condition=Q(detached_at__isnull=True) | Q(detached_at__gte=models.F("attached_at")),
                name="deal_play_detached_after_attached",
            ),
        ]
        indexes = [
            # A play's deals: those attached now (detached_at IS NULL) when its condition changes, and
            # its whole history for effectiveness.
            models.Index(fields=["play", "detached_at"], name="deal_play_play_detached"),
        ]

    def __str__(self) -> str:
        return f"{self.play_id} on deal {self.deal_id}"

    @property
    def is_attached(self) -> bool:
        return self.detached_at is None


class PlayAnswer(OrgScopedModel):
    """A deal's answer to one of a play's questions. A question that has answers cannot be deleted: the
    answer is what the customer said, and belongs to the deal."""

    deal = models.ForeignKey("deals.Deal", on_delete=models.CASCADE, related_name="play_answers")
    question = models.ForeignKey(PlayQuestion, on_delete=models.PROTECT, related_name="answers")
    text = models.TextField()
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["deal_id", "question_id"]
        constraints = [
            models.UniqueConstraint(fields=["deal", "question"], name="play_answer_once_per_deal"),
        ]

    def __str__(self) -> str:
        return self.text[:60]


class PlayEvaluationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    # A newer run of the same play took over (the play changed while this one ran); it redoes the lot.
    SUPERSEDED = "superseded", "Superseded"
    FAILED = "failed", "Failed"


class PlayEvaluationRun(OrgScopedModel):
    """One re-evaluation of a play across the open deals of its processes (`playbooks.triggering.
    play_reevaluate`), run as a Celery job. `total` and `done` count the deals it looks at, so the play
    page can poll the row for progress."""

    play = models.ForeignKey(Play, on_delete=models.CASCADE, related_name="evaluation_runs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=12, choices=PlayEvaluationStatus.choices, default=PlayEvaluationStatus.QUEUED
    )
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    attached = models.PositiveIntegerField(default=0, help_text="Deals the play was attached to.")
    detached = models.PositiveIntegerField(default=0, help_text="Deals the play was detached from.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A second request while a run waits in the queue joins it rather than queueing another: the
            # queued run reads the play as it is when it starts, so it covers both changes.
            models.UniqueConstraint(
                fields=["play"], condition=Q(status="queued"), name="play_evaluation_run_one_queued"
            ),
        ]
        indexes = [
            # The play page: a play's latest runs.
            models.Index(fields=["play", "-created_at"], name="play_evaluation_run_play_time"),
        ]

    def __str__(self) -> str:
        return f"Evaluation of play {self.play_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in (PlayEvaluationStatus.QUEUED, PlayEvaluationStatus.RUNNING)

    @property
    def percent(self) -> int:
        if self.status == PlayEvaluationStatus.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0
