"""The sales process definition: processes, their ordered stages, exit criteria and versions."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from salesproc.lib.models import OrgScopedModel


class Phase(models.TextChoices):
    CHANGE = "change", "Change"
    DECISION = "decision", "Decision"
    VALUE = "value", "Value"


PHASE_QUESTIONS = {
    Phase.CHANGE: "Do we change at all?",
    Phase.DECISION: "How do we buy, at what value and risk?",
    Phase.VALUE: "Did we get what we wanted?",
}


class Process(OrgScopedModel):
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    current_version = models.ForeignKey(
        "ProcessVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="process_name_unique_per_org"),
        ]
        verbose_name_plural = "processes"

    def __str__(self) -> str:
        return self.name


class Stage(OrgScopedModel):
    process = models.ForeignKey(Process, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=80)
    order = models.PositiveIntegerField()
    phase = models.CharField(max_length=10, choices=Phase.choices, default=Phase.CHANGE)
    probability = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(0), MaxValueValidator(100)], help_text="Win probability, %"
    )
    expected_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Days a deal is expected to spend here: the stall threshold."
    )
    guidance = models.TextField(blank=True)

    class Meta:
        ordering = ["process_id", "order"]
        constraints = [
            models.UniqueConstraint(fields=["process", "name"], name="stage_name_unique_per_process"),
            models.UniqueConstraint(fields=["process", "order"], name="stage_order_unique_per_process"),
            models.CheckConstraint(
                condition=models.Q(probability__lte=100), name="stage_probability_max_100"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def phase_question(self) -> str:
        return PHASE_QUESTIONS[self.phase]


class CriterionKind(models.TextChoices):
    STEP = "step", "Step to complete"
    FIELD = "field", "Deal field filled"
    STAKEHOLDER_ROLE = "stakeholder_role", "Stakeholder of a role"
    ACTIVITY_KIND = "activity_kind", "Activity logged in the stage"
    ANSWER = "answer", "Answer to a question"


class Importance(models.TextChoices):
    OPTIONAL = "optional", "Optional"
    MANDATORY = "mandatory", "Mandatory"
    CRITICAL = "critical", "Critical"


# Deal fields an exit criterion of kind `field` may require; the value is the label shown to users.
CRITERION_FIELDS = {
    "amount": "Amount",
    "expected_close": "Expected close date",
    "industry": "Industry",
    "budget": "Budget",
    "lead_source": "Lead source",
    "competitors": "Competitors",
    "objections": "Objections",
    "account": "Account",
}


class ExitCriterion(OrgScopedModel):
    """What must be true for a deal to leave its stage. Exactly one parameter is used, by kind."""

    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="criteria")
    kind = models.CharField(max_length=20, choices=CriterionKind.choices)
    label = models.CharField(max_length=200)
    importance = models.CharField(max_length=10, choices=Importance.choices, default=Importance.MANDATORY)
    order = models.PositiveIntegerField(default=0)
    # kind=field: a key of CRITERION_FIELDS
    field_name = models.CharField(max_length=40, blank=True)
    # kind=stakeholder_role: a deals.StakeholderRole value
    role = models.CharField(max_length=30, blank=True)
    # kind=activity_kind: a deals.ActivityKind value
    activity_kind = models.CharField(max_length=20, blank=True)
    # kind=answer: the question the rep answers on the deal
    question = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["stage_id", "order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in CriterionKind]), name="criterion_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(importance__in=[i.value for i in Importance]),
                name="criterion_importance_valid",
            ),
        ]
        verbose_name_plural = "exit criteria"

    def __str__(self) -> str:
        return self.label


class ProcessVersion(OrgScopedModel):
    """An immutable snapshot of a process after an edit; stage entries point at the version in force."""

    process = models.ForeignKey(Process, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=300, blank=True)
    snapshot = models.JSONField()
    changes = models.JSONField(
        default=list, help_text="Human-readable list of what changed from the previous version"
    )

    class Meta:
        ordering = ["process_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["process", "number"], name="process_version_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.process.name} v{self.number}"
