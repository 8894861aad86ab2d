"""The deal's plan, people and activity: steps, stakeholders, activities, criterion answers."""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.db.models.functions import Greatest
from django.utils import timezone

from deals.models import (
    Activity,
    ActivityKind,
    Attitude,
    Contact,
    CriterionAnswer,
    Deal,
    DealStakeholder,
    DealStep,
    StakeholderRole,
    StepSource,
)
from deals.services.common import clean_date, clean_text, raise_if, require_deal_editor
from iteration.stalls import CLEARED_BY_ACTIVITY, stall_flags_clear
from orgs.models import Membership
from playbooks.triggering import deal_plays_refresh_on_commit
from salesproc.lib.errors import InvalidInput
from salesproc.models import CriterionKind, ExitCriterion


@transaction.atomic
def step_add(
    *, deal: Deal, by: Membership, title: str, description: str = "", due_date=None, assignee=None
) -> DealStep:
    """Add a custom step to the deal's plan."""
    require_deal_editor(by, deal)
    errors: dict = {}
    title = clean_text(title, "title", errors, max_length=200, required=True)
    description = clean_text(description, "description", errors, max_length=5000)
    due = clean_date(due_date, "due_date", errors)
    assignee_id = getattr(assignee, "pk", assignee)
    if (
        assignee_id
        and not Membership.objects.filter(organization_id=deal.organization_id, user_id=assignee_id).exists()
    ):
        errors["assignee"] = ["The assignee must be a member of this organization."]
    raise_if(errors)
    position = (DealStep.objects.filter(deal=deal).aggregate(m=Max("position"))["m"] or 0) + 1
    return DealStep.objects.create(
        organization_id=deal.organization_id,
        deal=deal,
        title=title,
        description=description,
        source=StepSource.CUSTOM,
        due_date=due,
        assignee_id=assignee_id or None,
        position=position,
        created_by_id=by.user_id,
    )


@transaction.atomic
def step_set_done(*, step: DealStep, by: Membership, done: bool) -> DealStep:
    """Tick or untick a plan step; completing records who and when."""
    require_deal_editor(by, step.deal)
    if done and step.completed_at is None:
        step.completed_at = timezone.now()
        step.completed_by_id = by.user_id
    elif not done:
        step.completed_at = None
        step.completed_by_id = None
    DealStep.objects.filter(pk=step.pk).update(
        completed_at=step.completed_at, completed_by_id=step.completed_by_id
    )
    return step


def _clean_stakeholder(data: dict, errors: dict) -> dict:
    out = {}
    if "role" in data:
        if data["role"] not in StakeholderRole.values:
            errors["role"] = [f"Choose one of {', '.join(StakeholderRole.values)}."]
        out["role"] = data["role"]
    if "attitude" in data:
        if data["attitude"] not in Attitude.values:
            errors["attitude"] = [f"Choose one of {', '.join(Attitude.values)}."]
        out["attitude"] = data["attitude"]
    if "influence" in data:
        try:
            influence = int(data["influence"])
        except (TypeError, ValueError):
            influence = 0
        if not 1 <= influence <= 5:
            errors["influence"] = ["A whole number from 1 to 5."]
        out["influence"] = influence
    for field in ("desired_results", "wins"):
        if field in data:
            out[field] = clean_text(data[field], field, errors, max_length=5000)
    return out


@transaction.atomic
def stakeholder_add(*, deal: Deal, by: Membership, contact: Contact, role: str, **data) -> DealStakeholder:
    """Put a contact on the deal with a role, influence (1–5) and attitude."""
    require_deal_editor(by, deal)
    errors: dict = {}
    if contact is None or contact.organization_id != deal.organization_id:
        errors["contact"] = ["Unknown contact."]
    fields = _clean_stakeholder({"role": role, **data}, errors)
    raise_if(errors)
    if DealStakeholder.objects.filter(deal=deal, contact=contact).exists():
        raise InvalidInput({"contact": [f"{contact.name} is already a stakeholder on this deal."]})
    try:
        with transaction.atomic():
            stakeholder = DealStakeholder.objects.create(
                organization_id=deal.organization_id, deal=deal, contact=contact, **fields
            )
    except IntegrityError:
        raise InvalidInput({"contact": [f"{contact.name} is already a stakeholder on this deal."]}) from None
    deal_plays_refresh_on_commit(deal.id)
    return stakeholder


@transaction.atomic
def stakeholder_update(*, stakeholder: DealStakeholder, by: Membership, **data) -> DealStakeholder:
    require_deal_editor(by, stakeholder.deal)
    errors: dict = {}
    fields = _clean_stakeholder(data, errors)
    raise_if(errors)
    for key, value in fields.items():
        setattr(stakeholder, key, value)
    DealStakeholder.objects.filter(pk=stakeholder.pk).update(**fields)
    deal_plays_refresh_on_commit(stakeholder.deal_id)
    return stakeholder


@transaction.atomic
def stakeholder_remove(*, stakeholder: DealStakeholder, by: Membership) -> None:
    require_deal_editor(by, stakeholder.deal)
    stakeholder.delete()
    deal_plays_refresh_on_commit(stakeholder.deal_id)


@transaction.atomic
def activity_log(
    *,
    deal: Deal,
    by: Membership,
    kind: str,
    subject: str,
    body: str = "",
    occurred_at: datetime | None = None,
    stakeholder: DealStakeholder | None = None,
) -> Activity:
    """Log a call, meeting, email or note; moves the deal's `last_activity_at` forward (never back)."""
    require_deal_editor(by, deal)
    errors: dict = {}
    if kind not in ActivityKind.values:
        errors["kind"] = [f"Choose one of {', '.join(ActivityKind.values)}."]
    subject = clean_text(subject, "subject", errors, max_length=200, required=True)
    body = clean_text(body, "body", errors, max_length=20000)
    now = timezone.now()
    occurred_at = occurred_at or now
    if occurred_at > now + timezone.timedelta(days=1):
        errors["occurred_at"] = ["An activity cannot be logged in the future."]
    if stakeholder is not None and stakeholder.deal_id != deal.id:
        errors["stakeholder"] = ["That person is not a stakeholder on this deal."]
    raise_if(errors)
    activity = Activity.objects.create(
        organization_id=deal.organization_id,
        deal=deal,
        kind=kind,
        subject=subject,
        body=body,
        occurred_at=occurred_at,
        stakeholder=stakeholder,
        by_id=by.user_id,
    )
    # Not version-guarded: activity is not an edit of the deal, and Greatest makes concurrent logs safe.
    Deal.objects.filter(pk=deal.pk).update(last_activity_at=Greatest("last_activity_at", occurred_at))
    stall_flags_clear(deal, CLEARED_BY_ACTIVITY)
    if deal.last_activity_at is None or occurred_at > deal.last_activity_at:
        deal.last_activity_at = occurred_at
    return activity


@transaction.atomic
def answer_set(*, deal: Deal, by: Membership, criterion: ExitCriterion, text: str) -> CriterionAnswer | None:
    """Record (or clear, with empty text) the deal's answer to a criterion question."""
    require_deal_editor(by, deal)
    if criterion.organization_id != deal.organization_id or criterion.kind != CriterionKind.ANSWER:
        raise InvalidInput({"criterion": ["Unknown question."]})
    errors: dict = {}
    text = clean_text(text, "text", errors, max_length=5000)
    raise_if(errors)
    if not text:
        CriterionAnswer.objects.filter(deal=deal, criterion=criterion).delete()
        return None
    answer, _ = CriterionAnswer.objects.update_or_create(
        deal=deal,
        criterion=criterion,
        defaults={
            "organization_id": deal.organization_id,
            "text": text,
            "answered_by_id": by.user_id,
            "answered_at": timezone.now(),
        },
    )
    return answer
