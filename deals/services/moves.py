"""A deal's life: creation, field edits, stage moves, win and loss.

Every write here is guarded by the deal's `version` (optimistic lock): the UPDATE names the version the
caller saw, and zero rows updated means someone else got there first — nothing is written then.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import F, Max, Subquery
from django.utils import timezone

from deals.criteria import blocking, stage_criteria_status
from deals.lock_objects import deal_for_update
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
from deals.services.rollups import ROLLUP_FIELDS, rollup_entry, rollup_track
from iteration.stalls import CLEARED_BY_CLOSE, CLEARED_BY_MOVE, stall_flags_clear
from orgs.models import Membership, Role
from orgs.selectors import can_override_criteria, team_user_ids
from playbooks.triggering import deal_plays_refresh_on_commit
from salesproc.lib.errors import CriteriaUnmet, InvalidInput, NotAllowed, StaleVersion
from salesproc.models import CriterionKind, ExitCriterion, Process, Stage

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
    # After the plan's last step (a reordered plan or a removed step leaves positions a count would miss).
    last = DealStep.objects.filter(deal=deal).aggregate(m=Max("position"))["m"]
    base = 0 if last is None else last + 1
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


def add_criterion_steps_to_open_deals(criterion: ExitCriterion, *, by_user_id: int | None) -> int:
    """Put a step criterion into the plan of every open deal already in its stage that lacks it.

    Deals entering the stage later get the step from `_enter_stage`; without this, a deal sitting in
    the stage when ops add the criterion would have no step to complete and stay blocked. A fixed
    number of queries however many deals; a concurrent entry that added the step first is skipped."""
    if criterion.kind != CriterionKind.STEP:
        return 0
    missing = Deal.objects.filter(stage_id=criterion.stage_id, status=DealStatus.OPEN).exclude(
        steps__criterion=criterion
    )
    deal_ids = list(missing.values_list("id", flat=True))
    if not deal_ids:
        return 0
    last = dict(
        DealStep.objects.filter(deal__in=missing.values("id"))
        .order_by()
        .values("deal_id")
        .annotate(m=Max("position"))
        .values_list("deal_id", "m")
    )
    now = timezone.now()
    DealStep.objects.bulk_create(
        [
            DealStep(
                organization_id=criterion.organization_id,
                deal_id=deal_id,
                title=criterion.label,
                description=criterion.description,
                source=StepSource.STAGE,
                stage_id=criterion.stage_id,
                criterion=criterion,
                position=last.get(deal_id, -1) + 1,
                created_by_id=by_user_id,
                created_at=now,
            )
            for deal_id in deal_ids
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    return len(deal_ids)


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
        # The version in force now, read in the INSERT: the process object the caller holds may be
        # older than the last process edit.
        process_version_id=Subquery(Process.objects.filter(pk=deal.process_id).values("current_version_id")),
        override_reason=override_reason,
        overridden_criteria=overridden or [],
    )
    # The attribute holds the expression; drop it so reading it loads the stored id.
    entry.__dict__.pop("process_version_id", None)
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
    rollup_track(before=None, after=rollup_entry(deal))
    deal_plays_refresh_on_commit(deal.id)
    return deal


# The deal fields deal_update may change that the board's totals depend on.
ROLLUP_COUNTED = frozenset({"owner_id", "amount", "currency"})


def _locked_rollup_state(deal: Deal, expected_version: int) -> dict:
    """The deal's rollup fields as stored, with its row locked; StaleVersion when it moved on."""
    state = (
        Deal.objects.select_for_update()
        .filter(pk=deal.pk, version=expected_version)
        .values(*ROLLUP_FIELDS)
        .first()
    )
    if state is None:
        current = Deal.objects.filter(pk=deal.pk).values_list("version", flat=True).first()
        raise StaleVersion(current_version=current or 0)
    return state


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
    before = None
    if ROLLUP_COUNTED & fields.keys():
        # The board's totals move with the owner, amount and currency: read what they were under the
        # row lock (the deal object in hand may be older than `expected_version`).
        before = _locked_rollup_state(deal, expected_version)
    _bump(deal, expected_version, **fields)
    if account is not None:
        deal.account = account
    _replace_tags(deal, tags)
    if before is not None:
        rollup_track(before=rollup_entry(before), after=rollup_entry({**before, **fields}))
    deal_plays_refresh_on_commit(deal.id)
    return deal


def _open_deal_locked(deal: Deal, expected_version: int) -> Deal:
    # Lock the deal row alone, then read it with its relations. A FOR UPDATE over the join would, after
    # waiting for a concurrent move, re-check the join against the old stage row and find no deal at
    # all (DoesNotExist, a 500) instead of the newer version (StaleVersion).
    deal_for_update(deal.pk)
    locked = Deal.objects.select_related("process", "stage").get(pk=deal.pk)
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

    A forward move needs the exit criteria of the current stage and of any stage it skips: unmet
    mandatory ones may be overridden by a manager with a reason (recorded on the StageChange), unmet
    critical ones never. Back-moves are free. Exactly one StageChange is written; the previous entry's `left_at` is closed; the new
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
        # The exit criteria of the stage being left and of every stage skipped on the way: skipping a
        # stage does not skip what it requires.
        criteria = list(
            ExitCriterion.objects.filter(
                stage__process_id=locked.process_id,
                stage__order__gte=locked.stage.order,
                stage__order__lt=to_stage.order,
            ).order_by("stage__order", "order", "id")
        )
        statuses = stage_criteria_status(locked, criteria=criteria)
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
    if not overridden:
        # A reason is recorded only with what it overrode: history and analytics read a non-empty
        # override_reason as "a manager waived a criterion here".
        override_reason = ""
    at = at or timezone.now()
    from_stage_id = locked.stage_id
    before = rollup_entry(locked)
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
    rollup_track(before=before, after=rollup_entry(locked))
    stall_flags_clear(locked, CLEARED_BY_MOVE)
    deal_plays_refresh_on_commit(locked.id)
    deal.__dict__.update({k: v for k, v in locked.__dict__.items() if not k.startswith("_")})
    deal.stage = to_stage
    return deal


def _close(deal: Deal, *, by: Membership, expected_version: int, status: str, reason: str, at) -> Deal:
    require_deal_editor(by, deal)
    locked = _open_deal_locked(deal, expected_version)
    at = at or timezone.now()
    before = rollup_entry(locked)
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
    rollup_track(before=before, after=None)
    stall_flags_clear(locked, CLEARED_BY_CLOSE)
    deal_plays_refresh_on_commit(locked.id)
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


@transaction.atomic
def deal_delete(*, deal: Deal) -> None:
    """Delete a deal and everything that hangs off it; an open deal leaves the board's totals in the
    same transaction. (Nothing deletes deals today: the admin refuses, since the stage history is
    read-only there. Whatever does should come through here.)"""
    locked = Deal.objects.select_for_update().filter(pk=deal.pk).values(*ROLLUP_FIELDS).first()
    if locked is None:
        return
    Deal.objects.filter(pk=deal.pk).delete()
    rollup_track(before=rollup_entry(locked), after=None)
