"""A deal's life: creation, field edits, stage moves, win and loss.

Every write here is guarded by the deal's `version` (optimistic lock): the UPDATE names the version the
caller saw, and zero rows updated means someone else got there first — nothing is written then.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from deals.criteria import blocking, stage_criteria_status
from deals.models import Account, Deal, DealStatus, DealStep, DealTag, StageChange, StepSource, TagKind
from deals.services.common import (
    clean_date,
    clean_decimal,
    clean_list,
    clean_text,
    raise_if,
    require_deal_editor,
    require_same_org,
)
from orgs.models import Membership, Role
from orgs.selectors import can_override_criteria, team_user_ids
from salesproc.lib.errors import CriteriaUnmet, InvalidInput, NotAllowed, StaleVersion
from salesproc.models import CriterionKind, Process, Stage

DEAL_FIELDS = (
    "name",
    "account",
    "owner",
    "amount",
    "currency",
    "expected_close",
    "industry",
    "budget",
    "lead_source",
    "description",
    "competitors",
    "objections",
)


def _clean_deal_fields(by: Membership, data: dict, *, creating: bool) -> tuple[dict, dict]:
    """Validate the editable deal fields present in `data`; return (fields, tags)."""
    errors: dict[str, list[str]] = {}
    out: dict = {}
    tags: dict[str, list[str]] = {}
    if "name" in data or creating:
        out["name"] = clean_text(data.get("name"), "name", errors, max_length=200, required=True)
    if "account" in data or creating:
        account = data.get("account")
        if account is None:
            errors["account"] = ["Choose an account."]
        elif not isinstance(account, Account) or account.organization_id != by.organization_id:
            errors["account"] = ["Unknown account."]
        else:
            out["account"] = account
    if "amount" in data:
        amount = clean_decimal(data.get("amount"), "amount", errors)
        out["amount"] = amount if amount is not None else 0
    if "budget" in data:
        out["budget"] = clean_decimal(data.get("budget"), "budget", errors)
    if "currency" in data:
        cur = clean_text(data.get("currency"), "currency", errors, max_length=3).upper()
        if cur and (len(cur) != 3 or not cur.isalpha()):
            errors["currency"] = ["A three-letter currency code, e.g. USD."]
        out["currency"] = cur or by.organization.default_currency
    if "expected_close" in data:
        out["expected_close"] = clean_date(data.get("expected_close"), "expected_close", errors)
    for field, length in (("industry", 80), ("lead_source", 80), ("description", 10000)):
        if field in data:
            out[field] = clean_text(data.get(field), field, errors, max_length=length)
    for field in ("competitors", "objections"):
        if field in data:
            tags[field] = clean_list(data.get(field), field, errors)
    if "owner" in data and data.get("owner") is not None:
        owner = data["owner"]
        owner_id = getattr(owner, "pk", owner)
        member = Membership.objects.filter(
            organization_id=by.organization_id, user_id=owner_id, is_active=True
        ).first()
        if member is None:
            errors["owner"] = ["The owner must be an active member of this organization."]
        elif owner_id != by.user_id:
            if by.role == Role.REP:
                errors["owner"] = ["Reps own the deals they create; a manager can reassign them."]
            elif by.role == Role.MANAGER and owner_id not in team_user_ids(by):
                errors["owner"] = ["A manager can assign deals to their own team only."]
        if "owner" not in errors:
            out["owner_id"] = owner_id
    raise_if(errors)
    return out, tags


def _replace_tags(deal: Deal, tags: dict[str, list[str]]) -> None:
    for field, kind in (("competitors", TagKind.COMPETITOR), ("objections", TagKind.OBJECTION)):
        if field not in tags:
            continue
        DealTag.objects.filter(deal=deal, kind=kind).exclude(value__in=tags[field]).delete()
        existing = set(DealTag.objects.filter(deal=deal, kind=kind).values_list("value", flat=True))
        DealTag.objects.bulk_create(
            [
                DealTag(organization_id=deal.organization_id, deal=deal, kind=kind, value=v)
                for v in tags[field]
                if v not in existing
            ]
        )


def add_stage_steps(deal: Deal, stage: Stage, *, by_user_id: int | None, at: datetime) -> int:
    """Add the stage's step criteria to the deal's plan (once per criterion, even on re-entry)."""
    criteria = list(stage.criteria.filter(kind=CriterionKind.STEP).order_by("order", "id"))
    if not criteria:
        return 0
    have = set(
        DealStep.objects.filter(deal=deal, criterion__in=criteria).values_list("criterion_id", flat=True)
    )
    base = DealStep.objects.filter(deal=deal).count()
    new = [
        DealStep(
            organization_id=deal.organization_id,
            deal=deal,
            title=c.label,
            description=c.description,
            source=StepSource.STAGE,
            stage=stage,
            criterion=c,
            position=base + i,
            created_by_id=by_user_id,
            created_at=at,
        )
        for i, c in enumerate(x for x in criteria if x.id not in have)
    ]
    DealStep.objects.bulk_create(new)
    return len(new)


def _enter_stage(
    deal: Deal,
    to_stage: Stage,
    *,
    by_user_id: int | None,
    at: datetime,
    from_stage_id: int | None = None,
    override_reason: str = "",
    overridden: list | None = None,
) -> StageChange:
    closed = StageChange.objects.filter(deal=deal, left_at__isnull=True).update(left_at=at)
    assert closed <= 1
    entry = StageChange.objects.create(
        organization_id=deal.organization_id,
        deal=deal,
        from_stage_id=from_stage_id if closed else None,
        to_stage=to_stage,
        entered_at=at,
        by_id=by_user_id,
        process_version_id=deal.process.current_version_id,
        override_reason=override_reason,
        overridden_criteria=overridden or [],
    )
    add_stage_steps(deal, to_stage, by_user_id=by_user_id, at=at)
    return entry


def _bump(deal: Deal, expected_version: int, **values) -> None:
    """Conditional UPDATE guarded by the version; raise StaleVersion (nothing written) when it moved on."""
    now = values.pop("_now", None) or timezone.now()
    updated = Deal.objects.filter(pk=deal.pk, version=expected_version).update(
        version=F("version") + 1, updated_at=now, **values
    )
    if updated != 1:
        current = Deal.objects.filter(pk=deal.pk).values_list("version", flat=True).first()
        raise StaleVersion(current_version=current or 0)
    for key, value in values.items():
        setattr(deal, key, value)
    deal.version = expected_version + 1
    deal.updated_at = now


@transaction.atomic
def deal_create(
    *, by: Membership, process: Process, at: datetime | None = None, stage: Stage | None = None, **data
) -> Deal:
    """Create a deal and enter it into the process's first stage (or `stage`, for imports), through
    the same path as a move: one StageChange, the stage's steps in the plan."""
    require_same_org(by, process)
    fields, tags = _clean_deal_fields(by, {**data}, creating=True)
    stages = list(Stage.objects.filter(process=process).order_by("order"))
    if not stages:
        raise InvalidInput({"process": ["This process has no stages yet."]})
    first = stage or stages[0]
    if first.process_id != process.id:
        raise InvalidInput({"stage": ["That stage belongs to another process."]})
    at = at or timezone.now()
    fields.setdefault("owner_id", by.user_id)
    fields.setdefault("currency", by.organization.default_currency)
    if not fields.get("industry") and fields["account"].industry:
        fields["industry"] = fields["account"].industry
    deal = Deal.objects.create(
        organization_id=by.organization_id,
        process=process,
        stage=first,
        status=DealStatus.OPEN,
        stage_entered_at=at,
        last_activity_at=at,
        created_at=at,
        updated_at=at,
        external_id=data.get("external_id") or None,
        **fields,
    )
    _replace_tags(deal, tags)
    _enter_stage(deal, first, by_user_id=by.user_id, at=at)
    return deal


@transaction.atomic
def deal_update(*, deal: Deal, by: Membership, expected_version: int, **data) -> Deal:
    """Edit a deal's fields (not its stage or status). Fields the caller may not set are refused."""
    require_deal_editor(by, deal)
    unknown = set(data) - set(DEAL_FIELDS)
    if unknown:
        raise InvalidInput({k: ["This field cannot be changed here."] for k in sorted(unknown)})
    fields, tags = _clean_deal_fields(by, data, creating=False)
    if "owner_id" in fields and fields["owner_id"] != deal.owner_id and by.role == Role.REP:
        raise NotAllowed("Only a manager can reassign a deal.")
    account = fields.pop("account", None)
    if account is not None:
        fields["account_id"] = account.id
    _bump(deal, expected_version, **fields)
    if account is not None:
        deal.account = account
    _replace_tags(deal, tags)
    return deal


def _open_deal_locked(deal: Deal, expected_version: int) -> Deal:
    locked = Deal.objects.select_for_update().select_related("process", "stage").get(pk=deal.pk)
    if locked.version != expected_version:
        raise StaleVersion(current_version=locked.version)
    if locked.status != DealStatus.OPEN:
        raise InvalidInput({"__all__": [f"This deal is already {locked.status}."]})
    return locked


@transaction.atomic
def deal_move(
    *,
    deal: Deal,
    to_stage: Stage,
    by: Membership,
    expected_version: int,
    override_reason: str | None = None,
    at: datetime | None = None,
) -> Deal:
    """Move an open deal to another stage of its process.

    A forward move needs the current stage's exit criteria: unmet mandatory ones may be overridden by
    a manager with a reason (recorded on the StageChange), unmet critical ones never. Back-moves are
    free. Exactly one StageChange is written; the previous entry's `left_at` is closed; the new
    stage's steps join the plan. A stale `expected_version` writes nothing."""
    require_deal_editor(by, deal)
    locked = _open_deal_locked(deal, expected_version)
    if to_stage.process_id != locked.process_id:
        raise InvalidInput({"to_stage": ["That stage belongs to another process."]})
    if to_stage.id == locked.stage_id:
        raise InvalidInput({"to_stage": ["The deal is already in that stage."]})
    override_reason = (override_reason or "").strip()
    overridden: list[dict] = []
    if to_stage.order > locked.stage.order:
        statuses = stage_criteria_status(locked)
        mandatory, critical = blocking(statuses)
        if critical or mandatory:
            may_override = not critical and can_override_criteria(by, locked)
            if critical or not override_reason or not may_override:
                if override_reason and not may_override and not critical:
                    raise NotAllowed("Only the deal's manager can override a mandatory criterion.")
                raise CriteriaUnmet(
                    unmet=[s.as_dict() for s in critical + mandatory], can_override=may_override
                )
            overridden = [s.as_dict() for s in mandatory]
    elif override_reason:
        override_reason = ""
    at = at or timezone.now()
    from_stage_id = locked.stage_id
    _bump(locked, expected_version, stage_id=to_stage.id, stage_entered_at=at, last_activity_at=at, _now=at)
    locked.stage = to_stage
    _enter_stage(
        locked,
        to_stage,
        by_user_id=by.user_id,
        at=at,
        from_stage_id=from_stage_id,
        override_reason=override_reason,
        overridden=overridden,
    )
    deal.__dict__.update({k: v for k, v in locked.__dict__.items() if not k.startswith("_")})
    deal.stage = to_stage
    return deal


def _close(deal: Deal, *, by: Membership, expected_version: int, status: str, reason: str, at) -> Deal:
    require_deal_editor(by, deal)
    locked = _open_deal_locked(deal, expected_version)
    at = at or timezone.now()
    _bump(
        locked,
        expected_version,
        status=status,
        closed_at=at,
        lost_reason=reason,
        last_activity_at=at,
        _now=at,
    )
    StageChange.objects.filter(deal=locked, left_at__isnull=True).update(left_at=at)
    deal.__dict__.update({k: v for k, v in locked.__dict__.items() if not k.startswith("_")})
    return deal


@transaction.atomic
def deal_win(*, deal: Deal, by: Membership, expected_version: int, at: datetime | None = None) -> Deal:
    """Mark an open deal won: sets closed_at and closes its open stage entry."""
    return _close(deal, by=by, expected_version=expected_version, status=DealStatus.WON, reason="", at=at)


@transaction.atomic
def deal_lose(
    *, deal: Deal, by: Membership, expected_version: int, reason: str, at: datetime | None = None
) -> Deal:
    """Mark an open deal lost with a reason: sets closed_at and closes its open stage entry."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": ["Say why the deal was lost."]})
    if len(reason) > 300:
        raise InvalidInput({"reason": ["At most 300 characters."]})
    return _close(
        deal, by=by, expected_version=expected_version, status=DealStatus.LOST, reason=reason, at=at
    )
