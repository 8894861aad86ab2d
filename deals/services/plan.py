"""The deal's plan, people and activity: steps, stakeholders, activities, criterion answers."""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Max, PositiveIntegerField, Value, When
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
    StepComment,
    StepSource,
)
from deals.services.common import clean_date, clean_text, raise_if, require_deal_editor
from iteration.stalls import CLEARED_BY_ACTIVITY, stall_flags_clear
from orgs.models import Membership
from playbooks.triggering import deal_plays_refresh_on_commit
from salesproc.lib.errors import InvalidInput, NotAllowed
from salesproc.models import CriterionKind, ExitCriterion
from strategy.mentions import Person
from strategy.services import mentions_notify, mentions_resolve

STEP_COMMENT_MAX = 5000


# Which fields of a step each source lets people change: a stage step's title and description are the
# exit criterion's and a play step's the play's, so only the plan's own (custom) steps are rewritten.
STEP_TEXT_FIELDS = ("title", "description")
STEP_PLAN_FIELDS = ("due_date", "assignee", "stakeholder")
NOT_CUSTOM = (
    "Only the deal's own (custom) steps can be {action}: stage steps come from the exit criteria and "
    "play steps from the plays."
)


def _clean_step_fields(deal: Deal, data: dict, errors: dict) -> dict:
    """The step fields present in `data`, cleaned; messages go to `errors` under each field's name."""
    out: dict = {}
    if "title" in data:
        out["title"] = clean_text(data["title"], "title", errors, max_length=200, required=True)
    if "description" in data:
        out["description"] = clean_text(data["description"], "description", errors, max_length=5000)
    if "due_date" in data:
        out["due_date"] = clean_date(data["due_date"], "due_date", errors)
    if "assignee" in data:
        assignee_id = getattr(data["assignee"], "pk", data["assignee"]) or None
        if assignee_id is not None and not (
            isinstance(assignee_id, int)
            and Membership.objects.filter(
                organization_id=deal.organization_id,
                user_id=assignee_id,
                is_active=True,
                user__is_active=True,
            ).exists()
        ):
            errors["assignee"] = ["The assignee must be an active member of this organization."]
        out["assignee_id"] = assignee_id
    if "stakeholder" in data:
        stakeholder = data["stakeholder"]
        stakeholder_id = getattr(stakeholder, "pk", stakeholder) or None
        if stakeholder_id is not None and not (
            isinstance(stakeholder_id, int)
            and DealStakeholder.objects.filter(pk=stakeholder_id, deal_id=deal.pk).exists()
        ):
            errors["stakeholder"] = ["That person is not a stakeholder on this deal."]
        out["stakeholder_id"] = stakeholder_id
    return out


@transaction.atomic
def step_add(
    *,
    deal: Deal,
    by: Membership,
    title: str,
    description: str = "",
    due_date=None,
    assignee=None,
    stakeholder=None,
) -> DealStep:
    """Add a custom step (deal-level strategy) at the end of the deal's plan. `assignee` (a user or
    their id) must be an active member of the deal's org, `stakeholder` (a DealStakeholder or its id)
    a stakeholder of this deal; bad input writes nothing."""
    require_deal_editor(by, deal)
    errors: dict = {}
    fields = _clean_step_fields(
        deal,
        {
            "title": title,
            "description": description,
            "due_date": due_date,
            "assignee": assignee,
            "stakeholder": stakeholder,
        },
        errors,
    )
    raise_if(errors)
    position = (DealStep.objects.filter(deal=deal).aggregate(m=Max("position"))["m"] or 0) + 1
    return DealStep.objects.create(
        organization_id=deal.organization_id,
        deal=deal,
        source=StepSource.CUSTOM,
        position=position,
        created_by_id=by.user_id,
        **fields,
    )


@transaction.atomic
def step_update(*, step: DealStep, by: Membership, **data) -> DealStep:
    """Change some of a step's fields (those given): title and description of a custom step; the due
    date, assignee and stakeholder of any step (a stage or play step is planned like the others).
    The same checks as `step_add`; bad input writes nothing."""
    deal = step.deal
    require_deal_editor(by, deal)
    unknown = sorted(set(data) - set(STEP_TEXT_FIELDS) - set(STEP_PLAN_FIELDS))
    if unknown:
        raise InvalidInput({name: ["Not a field of a plan step."] for name in unknown})
    if step.source != StepSource.CUSTOM:
        fixed = [name for name in STEP_TEXT_FIELDS if name in data and data[name] != getattr(step, name)]
        if fixed:
            raise InvalidInput({name: [NOT_CUSTOM.format(action="renamed or redescribed")] for name in fixed})
        data = {k: v for k, v in data.items() if k not in STEP_TEXT_FIELDS}
    errors: dict = {}
    fields = _clean_step_fields(deal, data, errors)
    raise_if(errors)
    if fields:
        DealStep.objects.filter(pk=step.pk).update(**fields)
        for name, value in fields.items():
            setattr(step, name, value)
    return step


@transaction.atomic
def step_delete(*, step: DealStep, by: Membership) -> None:
    """Delete a custom step with its comments. Stage and play steps are refused (InvalidInput on
    `step`): they leave the plan with their criterion or play. The steps after it move up one place."""
    require_deal_editor(by, step.deal)
    if step.source != StepSource.CUSTOM:
        raise InvalidInput({"step": [NOT_CUSTOM.format(action="deleted")]})
    DealStep.objects.filter(pk=step.pk).delete()
    # Close the gap, so appending by count or by maximum still lands at the end.
    DealStep.objects.filter(deal_id=step.deal_id, position__gt=step.position).update(
        position=F("position") - 1
    )


@transaction.atomic
def steps_reorder(*, deal: Deal, by: Membership, step_ids) -> list[int]:
    """Put the deal's plan in the order of `step_ids`: every step of the plan (stage, play and custom
    steps share one order), each once. The positions become 1…n in one UPDATE; the plan's rows are
    locked first, so two reorders of the same plan apply one after the other. Returns the ids in order.
    Anything else (missing, unknown or repeated ids, not a list of ids) is refused and writes nothing."""
    require_deal_editor(by, deal)
    if not isinstance(step_ids, list | tuple) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in step_ids
    ):
        raise InvalidInput({"step_ids": ["A list of the plan's step ids, in the new order."]})
    current = list(
        DealStep.objects.select_for_update().filter(deal=deal).order_by("pk").values_list("pk", flat=True)
    )
    repeated = sorted({i for i in step_ids if step_ids.count(i) > 1})
    unknown = sorted(set(step_ids) - set(current))
    missing = sorted(set(current) - set(step_ids))
    problems = []
    if repeated:
        problems.append(f"repeated: {', '.join(map(str, repeated))}")
    if unknown:
        problems.append(f"not steps of this deal's plan: {', '.join(map(str, unknown))}")
    if missing:
        problems.append(f"missing: {', '.join(map(str, missing))}")
    if problems:
        raise InvalidInput(
            {"step_ids": [f"Send every step of the plan exactly once ({'; '.join(problems)})."]}
        )
    if step_ids:
        DealStep.objects.filter(deal=deal, pk__in=step_ids).update(
            position=Case(
                *(When(pk=pk, then=Value(i)) for i, pk in enumerate(step_ids, start=1)),
                output_field=PositiveIntegerField(),
            )
        )
    return list(step_ids)


def step_move(*, step: DealStep, by: Membership, direction: str) -> list[int]:
    """Move a step one place up or down the plan (the buttons beside each step: the keyboard's way to
    reorder). At the top or bottom already, nothing changes."""
    if direction not in ("up", "down"):
        raise InvalidInput({"direction": ['Either "up" or "down".']})
    with transaction.atomic():
        ids = list(
            DealStep.objects.filter(deal_id=step.deal_id)
            .order_by("position", "pk")
            .values_list("pk", flat=True)
        )
        i = ids.index(step.pk)
        j = i - 1 if direction == "up" else i + 1
        if 0 <= j < len(ids):
            ids[i], ids[j] = ids[j], ids[i]
        return steps_reorder(deal=step.deal, by=by, step_ids=ids)


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


@dataclass(frozen=True)
class StepCommentPosted:
    """A new step comment, the people its @mentions notified and the handles that named nobody."""

    comment: StepComment
    notified: list[Person]
    unresolved: list[str]


def require_deal_reader(by: Membership, deal: Deal) -> None:
    # Every member of the deal's org reads it (pages and API 404 another org's deal before this).
    if by.organization_id != deal.organization_id:
        raise NotAllowed("This deal is not in your organization.")


@transaction.atomic
def step_comment_add(*, step: DealStep, by: Membership, body: str) -> StepCommentPosted:
    """Comment on one step of the plan. Whoever may read the deal comments (coaching is a
    conversation: a peer's tip counts too). Each member the text @mentions (strategy.mentions) gets
    one Notification, except the author; their emails are queued after the commit, so a rolled-back
    comment emails nobody."""
    deal = step.deal
    require_deal_reader(by, deal)
    errors: dict = {}
    body = clean_text(body, "body", errors, max_length=STEP_COMMENT_MAX, required=True)
    raise_if(errors)
    mentioned = mentions_resolve(organization_id=deal.organization_id, body=body, author_id=by.user_id)
    now = timezone.now()
    comment = StepComment.objects.create(
        organization_id=deal.organization_id,
        step=step,
        author_id=by.user_id,
        body=body,
        mentions=mentioned.stored,
        created_at=now,
    )
    mentions_notify(mentioned, deal=deal, by=by, at=now, step_comment=comment)
    return StepCommentPosted(comment=comment, notified=mentioned.notified, unresolved=mentioned.unresolved)


@transaction.atomic
def step_comment_delete(*, comment: StepComment, by: Membership) -> None:
    """Delete a step comment (and the notifications it made). Only its author may: a thread is a
    record of the conversation, so nobody removes someone else's words, whatever their role."""
    if comment.author_id != by.user_id or comment.organization_id != by.organization_id:
        raise NotAllowed("Only the comment's author can delete it.")
    StepComment.objects.filter(pk=comment.pk).delete()


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
    # Plays may read engagement (who was met lately): re-evaluate them once this activity is committed.
    deal_plays_refresh_on_commit(deal.id)
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
