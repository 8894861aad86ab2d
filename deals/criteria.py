"""Exit-criterion evaluation for one deal: which criteria of its current stage hold."""

from dataclasses import dataclass

from deals.models import Activity, CriterionAnswer, DealStakeholder, DealStep, DealTag, TagKind
from salesproc.models import CRITERION_FIELDS, CriterionKind, ExitCriterion, Importance


@dataclass(frozen=True)
class CriterionStatus:
    criterion: ExitCriterion
    met: bool

    def as_dict(self) -> dict:
        c = self.criterion
        return {
            "id": c.id,
            "label": c.label,
            "kind": c.kind,
            "importance": c.importance,
            "met": self.met,
            "hint": criterion_hint(c),
        }


def criterion_hint(c: ExitCriterion) -> str:
    """What the rep does to meet the criterion, in words."""
    from deals.models import ActivityKind, StakeholderRole

    if c.kind == CriterionKind.STEP:
        return "Complete the step in the plan"
    if c.kind == CriterionKind.FIELD:
        return f"Fill in {CRITERION_FIELDS.get(c.field_name, c.field_name).lower()}"
    if c.kind == CriterionKind.STAKEHOLDER_ROLE:
        label = dict(StakeholderRole.choices).get(c.role, c.role)
        return f"Add a stakeholder with the role {label.lower()}"
    if c.kind == CriterionKind.ACTIVITY_KIND:
        label = dict(ActivityKind.choices).get(c.activity_kind, c.activity_kind)
        return f"Log a {label.lower()} in this stage"
    return f"Answer: {c.question}"


def _field_filled(deal, field_name: str, tag_kinds: set[str]) -> bool:
    if field_name == "competitors":
        return TagKind.COMPETITOR in tag_kinds
    if field_name == "objections":
        return TagKind.OBJECTION in tag_kinds
    if field_name == "amount":
        return bool(deal.amount and deal.amount > 0)
    if field_name == "account":
        return deal.account_id is not None
    value = getattr(deal, field_name, None)
    return value not in (None, "")


def stage_criteria_status(
    deal, stage=None, *, criteria: list[ExitCriterion] | None = None
) -> list[CriterionStatus]:
    """Each exit criterion of `stage` (default: the deal's stage) with whether it holds now.

    At most six queries whatever the deal's size; only the kinds present are queried."""
    stage_id = stage.id if stage is not None else deal.stage_id
    if criteria is None:
        criteria = list(ExitCriterion.objects.filter(stage_id=stage_id).order_by("order", "id"))
    if not criteria:
        return []
    kinds = {c.kind for c in criteria}
    done_steps: set[int] = set()
    roles: set[str] = set()
    activity_kinds: set[str] = set()
    answered: set[int] = set()
    tag_kinds: set[str] = set()
    if CriterionKind.STEP in kinds:
        done_steps = set(
            DealStep.objects.filter(
                deal=deal, criterion__isnull=False, completed_at__isnull=False
            ).values_list("criterion_id", flat=True)
        )
    if CriterionKind.STAKEHOLDER_ROLE in kinds:
        roles = set(DealStakeholder.objects.filter(deal=deal).values_list("role", flat=True))
    if CriterionKind.ACTIVITY_KIND in kinds:
        activity_kinds = set(
            Activity.objects.filter(deal=deal, occurred_at__gte=deal.stage_entered_at)
            .values_list("kind", flat=True)
            .distinct()
        )
    if CriterionKind.ANSWER in kinds:
        answered = set(
            CriterionAnswer.objects.filter(deal=deal).exclude(text="").values_list("criterion_id", flat=True)
        )
    if CriterionKind.FIELD in kinds and {c.field_name for c in criteria} & {"competitors", "objections"}:
        tag_kinds = set(DealTag.objects.filter(deal=deal).values_list("kind", flat=True).distinct())
    out = []
    for c in criteria:
        if c.kind == CriterionKind.STEP:
            met = c.id in done_steps
        elif c.kind == CriterionKind.FIELD:
            met = _field_filled(deal, c.field_name, tag_kinds)
        elif c.kind == CriterionKind.STAKEHOLDER_ROLE:
            met = c.role in roles
        elif c.kind == CriterionKind.ACTIVITY_KIND:
            met = c.activity_kind in activity_kinds
        else:
            met = c.id in answered
        out.append(CriterionStatus(criterion=c, met=met))
    return out


def blocking(statuses: list[CriterionStatus]) -> tuple[list[CriterionStatus], list[CriterionStatus]]:
    """Split unmet criteria into (mandatory, critical); optional ones never block."""
    mandatory = [s for s in statuses if not s.met and s.criterion.importance == Importance.MANDATORY]
    critical = [s for s in statuses if not s.met and s.criterion.importance == Importance.CRITICAL]
    return mandatory, critical
