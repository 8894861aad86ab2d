"""Writes of the upstream app: propose a custom step as a play or an exit criterion, accept a proposal
(it becomes a play of a playbook, or an exit criterion of a stage through the process services, so the
process gets a new version), or dismiss it.

Who may do what:
- propose: whoever may edit the deal's plan (the owner, their manager, admins: `can_edit_deal`) and
  ops (who could write the play themselves anyway);
- accept and dismiss: ops and admins (the playbook editors and the process editors are the same roles;
  the playbook and process services check their own rule again).
Every write runs in one transaction and locks the row it decides on, so two reviewers pressing at once
cannot both accept, and a second "Promote" on a step finds the open proposal instead of adding one.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from deals.models import DealStep, StepSource
from deals.services.common import clean_text, raise_if
from orgs.models import Membership
from orgs.selectors import can_edit_deal
from playbooks.models import Playbook
from playbooks.services import play_create, play_step_add
from salesproc.lib.errors import InvalidInput, NotAllowed
from salesproc.models import Importance, Stage
from salesproc.services import criterion_add
from upstream.facts import condition_from_facts, deal_facts
from upstream.models import Promotion, PromotionOrigin, PromotionStatus, PromotionStep, PromotionTarget

MAX_NOTE = 2000
MAX_REASON = 2000


def can_propose(membership: Membership, step: DealStep) -> bool:
    """A custom step may be proposed by whoever may edit its deal's plan, and by ops/admins. The step's
    deal must be loaded."""
    if membership.organization_id != step.organization_id or step.source != StepSource.CUSTOM:
        return False
    return membership.can_edit_process or can_edit_deal(membership, step.deal)


def require_reviewer(by: Membership, promotion: Promotion) -> None:
    """Ops and admins decide on promotions. Another organization's promotion is "not found"."""
    if by.organization_id != promotion.organization_id:
        raise InvalidInput({"__all__": ["Not found."]})
    if not by.can_edit_process:
        raise NotAllowed("Only ops and admins accept or dismiss promotions.")


def _open_promotion_of(step: DealStep) -> Promotion | None:
    link = (
        PromotionStep.objects.filter(step=step, promotion__status=PromotionStatus.PROPOSED)
        .select_related("promotion")
        .order_by("promotion_id")
        .first()
    )
    return link.promotion if link else None


@transaction.atomic
def promotion_propose_from_step(
    *, step: DealStep, by: Membership, target: str = PromotionTarget.PLAY, note: str = ""
) -> tuple[Promotion, bool]:
    """Propose a custom step of a deal's plan as a play (`target="play"`) or as an exit criterion of the
    deal's current stage (`target="criterion"`), with an optional note for the reviewer.

    Returns (promotion, created). A step that already has an open proposal (a second press, or the
    nightly job's group it belongs to) returns that one with created=False and writes nothing. The
    promotion keeps the deal's facts (`evidence["deal_facts"]`), a condition prefilled from them and the
    deal's stage, so the reviewer can switch targets without losing either."""
    deal = step.deal
    if by.organization_id != step.organization_id:
        raise InvalidInput({"__all__": ["Not found."]})
    if step.source != StepSource.CUSTOM:
        raise InvalidInput(
            {"step": ["Only custom steps can be promoted: this one comes from the process or a play."]}
        )
    if not can_propose(by, step):
        raise NotAllowed("You can read this deal but not change it: only its editors can promote its steps.")
    errors: dict[str, list[str]] = {}
    if target not in PromotionTarget.values:
        errors["target"] = [f"Choose one of {', '.join(PromotionTarget.values)}."]
    note = clean_text(note, "note", errors, max_length=MAX_NOTE)
    raise_if(errors)

    # Serializes two presses on the same step: the second waits, then finds the first one's proposal.
    DealStep.objects.select_for_update().filter(pk=step.pk).first()
    existing = _open_promotion_of(step)
    if existing is not None:
        return existing, False

    facts = deal_facts(deal)
    now = timezone.now()
    evidence: dict = {"deal_facts": facts}
    if note:
        evidence["note"] = note
    try:
        with transaction.atomic():
            promotion = Promotion.objects.create(
                organization_id=step.organization_id,
                origin=PromotionOrigin.STEP,
                target=target,
                title=step.title,
                description=step.description,
                process_id=deal.process_id,
                condition=condition_from_facts(facts),
                stage_id=deal.stage_id,
                importance=Importance.OPTIONAL,
                source_step=step,
                proposed_by=by.user,
                created_at=now,
                updated_at=now,
                evidence=evidence,
            )
            PromotionStep.objects.create(organization_id=step.organization_id, promotion=promotion, step=step)
    except IntegrityError:
        # Only reachable when the lock above was bypassed (a promotion written outside this service).
        existing = _open_promotion_of(step)
        if existing is None:
            raise
        return existing, False
    return promotion, True


def _decided(promotion: Promotion) -> str:
    who = f" by {promotion.decided_by.display_name}" if promotion.decided_by else ""
    when = ""
    if promotion.decided_at:
        at = timezone.localtime(promotion.decided_at)
        when = f" on {at:%b} {at.day}, {at.year}"
    return f"This promotion was already {promotion.get_status_display().lower()}{who}{when}."


def _lock_proposed(promotion: Promotion) -> Promotion:
    locked = (
        Promotion.objects.select_for_update(of=("self",)).select_related("decided_by").get(pk=promotion.pk)
    )
    if locked.status != PromotionStatus.PROPOSED:
        raise InvalidInput({"__all__": [_decided(locked)]})
    return locked


def _provenance(promotion: Promotion) -> str:
    """ "Promoted from …": the note a new process version and the pages carry."""
    if promotion.origin == PromotionOrigin.RECURRENCE:
        deals = (promotion.evidence or {}).get("deals")
        return (
            f"Promoted from a step recurring on {deals} deals" if deals else "Promoted from a recurring step"
        )
    step = DealStep.objects.select_related("deal").filter(pk=promotion.source_step_id).first()
    if step is None:
        return "Promoted from a deal's step"
    return f'Promoted from deal "{step.deal.name}", step "{step.title}"'


def _renamed(exc: InvalidInput, names: dict[str, str]) -> InvalidInput:
    return InvalidInput({names.get(k, k): v for k, v in exc.errors.items()})


def _clean_playbook(value, promotion: Promotion, errors: dict):
    if value in (None, ""):
        errors["playbook"] = ["Choose the playbook the play joins."]
        return None
    playbook = Playbook.objects.filter(
        pk=getattr(value, "pk", value), organization_id=promotion.organization_id
    ).first()
    if playbook is None:
        errors["playbook"] = ["Unknown playbook."]
    elif playbook.process_id and promotion.process_id and playbook.process_id != promotion.process_id:
        errors["playbook"] = ["Choose a playbook of the deals' process, or one for every process."]
    return playbook


def _clean_stage(value, promotion: Promotion, errors: dict):
    if value in (None, ""):
        errors["stage"] = ["Choose the stage whose exit criterion it becomes."]
        return None
    stage = (
        Stage.objects.select_related("process__organization")
        .filter(pk=getattr(value, "pk", value), organization_id=promotion.organization_id)
        .first()
    )
    if stage is None or (promotion.process_id and stage.process_id != promotion.process_id):
        errors["stage"] = ["Choose a stage of the deals' process."]
        return None
    return stage


@transaction.atomic
def promotion_accept(
    *,
    promotion: Promotion,
    by: Membership,
    target: str | None = None,
    title: str | None = None,
    description: str | None = None,
    condition=None,
    playbook: Playbook | int | None = None,
    stage: Stage | int | None = None,
    importance: str | None = None,
) -> Promotion:
    """Accept a proposed promotion (ops, admins), with the reviewer's edits; any argument left None keeps
    the promotion's own value.

    - target play: a new active play named `title` in `playbook`, with `condition` and one step (title,
      description) — `play_create` and `play_step_add`, so the open deals it matches get the step after
      commit. A name the playbook already has is an error on "title".
    - target criterion: `criterion_add(stage, kind="step", label=title, importance)` with the note
      "Promoted from …", so the process gets a new version and open deals in the stage get the step.
    The promotion records the result, who decided and when. Errors (a decided promotion, a bad
    condition — the condition language's own messages under "condition" —, a missing playbook or stage)
    raise InvalidInput and nothing is written."""
    require_reviewer(by, promotion)
    locked = _lock_proposed(promotion)
    errors: dict[str, list[str]] = {}
    target = locked.target if target in (None, "") else target
    if target not in PromotionTarget.values:
        errors["target"] = [f"Choose one of {', '.join(PromotionTarget.values)}."]
    title = clean_text(
        locked.title if title is None else title, "title", errors, max_length=200, required=True
    )
    description = clean_text(
        locked.description if description is None else description, "description", errors, max_length=5000
    )
    result: dict = {}
    if target == PromotionTarget.PLAY:
        chosen = _clean_playbook(locked.playbook_id if playbook is None else playbook, locked, errors)
        raise_if(errors)
        try:
            play = play_create(
                playbook=chosen,
                by=by,
                name=title,
                description=description,
                condition=locked.condition if condition is None else condition,
                active=True,
            )
        except InvalidInput as exc:
            raise _renamed(exc, {"name": "title"}) from None
        play_step_add(play=play, by=by, title=title, description=description)
        result = {"playbook": chosen, "play": play, "condition": play.condition}
    elif target == PromotionTarget.CRITERION:
        chosen = _clean_stage(locked.stage_id if stage is None else stage, locked, errors)
        importance = locked.importance if importance in (None, "") else importance
        if importance not in Importance.values:
            errors["importance"] = [f"Choose one of {', '.join(Importance.values)}."]
        raise_if(errors)
        try:
            criterion = criterion_add(
                stage=chosen,
                by=by,
                note=_provenance(locked),
                kind="step",
                label=title,
                importance=importance,
                description=description,
            )
        except InvalidInput as exc:
            raise _renamed(exc, {"label": "title"}) from None
        result = {"stage": chosen, "importance": importance, "criterion": criterion}
    raise_if(errors)

    locked.target = target
    locked.title = title
    locked.description = description
    for key, value in result.items():
        setattr(locked, key, value)
    locked.status = PromotionStatus.ACCEPTED
    locked.decided_by = by.user
    locked.decided_at = locked.updated_at = timezone.now()
    locked.save()
    return locked


@transaction.atomic
def promotion_dismiss(*, promotion: Promotion, by: Membership, reason: str) -> Promotion:
    """Dismiss a proposed promotion (ops, admins), with a reason (required). A dismissed recurring group
    is not proposed again for 90 days (upstream.recurrence); a step promoted by hand may be proposed
    again."""
    require_reviewer(by, promotion)
    locked = _lock_proposed(promotion)
    errors: dict[str, list[str]] = {}
    reason = clean_text(reason, "reason", errors, max_length=MAX_REASON, required=True)
    raise_if(errors)
    locked.status = PromotionStatus.DISMISSED
    locked.dismiss_reason = reason
    locked.decided_by = by.user
    locked.decided_at = locked.updated_at = timezone.now()
    locked.save(update_fields=["status", "dismiss_reason", "decided_by", "decided_at", "updated_at"])
    return locked
