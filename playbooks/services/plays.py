"""Playbooks and plays: create, edit, activate, delete. Ops only; every change that can change which deals
a play is attached to queues a re-evaluation of the play across its open deals (after commit)."""

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from deals.services.common import clean_text, raise_if
from orgs.models import Membership, Organization
from playbooks.conditions import InvalidCondition, parse
from playbooks.models import DealPlay, Play, Playbook
from playbooks.services.common import (
    StalePlay,
    clean_stage,
    current_play_version,
    require_playbook_editor,
    same_org,
)
from playbooks.triggering import play_evaluation_request
from salesproc.lib.errors import InvalidInput
from salesproc.models import Process

PLAYBOOK_FIELDS = ("name", "description", "process", "active", "owner")
PLAY_FIELDS = ("name", "description", "condition", "talk_track", "priority", "active", "target_stage")
MAX_PRIORITY = 1000


def _unknown(data: dict, allowed: tuple[str, ...]) -> None:
    unknown = set(data) - set(allowed)
    if unknown:
        raise InvalidInput({k: ["This field cannot be changed here."] for k in sorted(unknown)})


def _clean_bool(value, field: str, errors: dict) -> bool:
    if not isinstance(value, bool):
        errors[field] = ["Expected true or false."]
        return False
    return value


# ---------------------------------------------------------------------------------------------------
# Playbooks


def _clean_playbook(org_id: int, data: dict, *, playbook: Playbook | None) -> dict:
    errors: dict[str, list[str]] = {}
    out: dict = {}
    if "name" in data or playbook is None:
        name = clean_text(data.get("name"), "name", errors, max_length=120, required=True)
        clash = Playbook.objects.filter(organization_id=org_id, name__iexact=name)
        if playbook is not None:
            clash = clash.exclude(pk=playbook.pk)
        if name and "name" not in errors and clash.exists():
            errors["name"] = [f'There is already a playbook named "{name}".']
        out["name"] = name
    if "description" in data:
        out["description"] = clean_text(data["description"], "description", errors, max_length=5000)
    if "process" in data:
        process = data["process"]
        if process is not None and not isinstance(process, Process):
            process = Process.objects.filter(pk=process, organization_id=org_id).first()
            if process is None:
                errors["process"] = ["Unknown process."]
        same_org(org_id, process, "process", errors, "Unknown process.")
        out["process"] = process
    if "active" in data:
        out["active"] = _clean_bool(data["active"], "active", errors)
    if "owner" in data:
        owner = data["owner"]
        if owner is not None and not isinstance(owner, Membership):
            errors["owner"] = ["Unknown member."]
        same_org(org_id, owner, "owner", errors, "Unknown member.")
        out["owner"] = owner
    raise_if(errors)
    return out


@transaction.atomic
def playbook_create(*, org: Organization, by: Membership | None, **data) -> Playbook:
    """A new playbook (for one process, or for all with `process=None`). It has no plays yet, so no
    deal changes."""
    require_playbook_editor(by, org.id)
    _unknown(data, PLAYBOOK_FIELDS)
    fields = _clean_playbook(org.id, data, playbook=None)
    fields.setdefault("owner", by)
    now = timezone.now()
    try:
        with transaction.atomic():
            return Playbook.objects.create(organization=org, created_at=now, updated_at=now, **fields)
    except IntegrityError:
        raise InvalidInput({"name": ["There is already a playbook with that name."]}) from None


@transaction.atomic
def playbook_update(*, playbook: Playbook, by: Membership | None, **data) -> Playbook:
    """Edit a playbook. Activating, deactivating or moving it to another process re-evaluates each of its
    plays across the open deals (in the background; see `PlayEvaluationRun`)."""
    require_playbook_editor(by, playbook.organization_id)
    _unknown(data, PLAYBOOK_FIELDS)
    locked = Playbook.objects.select_for_update().get(pk=playbook.pk)
    fields = _clean_playbook(playbook.organization_id, data, playbook=locked)
    scope_changed = ("active" in fields and fields["active"] != locked.active) or (
        "process" in fields and getattr(fields["process"], "pk", None) != locked.process_id
    )
    for key, value in fields.items():
        setattr(locked, key, value)
    locked.updated_at = timezone.now()
    try:
        with transaction.atomic():
            locked.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        raise InvalidInput({"name": ["There is already a playbook with that name."]}) from None
    if scope_changed:
        for play in Play.objects.filter(playbook=locked).order_by("id"):
            play_evaluation_request(play=play, by=by)
    playbook.__dict__.update({k: v for k, v in locked.__dict__.items() if not k.startswith("_")})
    return playbook


@transaction.atomic
def playbook_delete(*, playbook: Playbook, by: Membership | None) -> None:
    """Delete a playbook whose plays were never attached to a deal; one with history is deactivated
    instead (the history is what play effectiveness is measured on)."""
    require_playbook_editor(by, playbook.organization_id)
    if DealPlay.objects.filter(play__playbook=playbook).exists():
        raise InvalidInput(
            {"__all__": ["Plays of this playbook have been attached to deals: deactivate it instead."]}
        )
    Playbook.objects.filter(pk=playbook.pk).delete()


# ---------------------------------------------------------------------------------------------------
# Plays


def _clean_play(playbook: Playbook, data: dict, *, play: Play | None) -> dict:
    """Validate the play fields present in `data`. The condition goes through `conditions.parse` with the
    organization (stage and owner ids must be its own); its problems are listed under "condition", each
    with its path. Nothing is written when anything is wrong."""
    org_id = playbook.organization_id
    errors: dict[str, list[str]] = {}
    out: dict = {}
    if "name" in data or play is None:
        name = clean_text(data.get("name"), "name", errors, max_length=200, required=True)
        clash = Play.objects.filter(playbook=playbook, name__iexact=name)
        if play is not None:
            clash = clash.exclude(pk=play.pk)
        if name and "name" not in errors and clash.exists():
            errors["name"] = [f'This playbook already has a play named "{name}".']
        out["name"] = name
    if "description" in data:
        out["description"] = clean_text(data["description"], "description", errors, max_length=5000)
    if "talk_track" in data:
        out["talk_track"] = clean_text(data["talk_track"], "talk_track", errors, max_length=20000)
    if "condition" in data or play is None:
        try:
            out["condition"] = parse(data.get("condition"), organization=playbook.organization_id).data
        except InvalidCondition as exc:
            errors["condition"] = exc.problems
    if "priority" in data:
        priority = data["priority"]
        if isinstance(priority, str) and priority.strip().lstrip("-").isdigit():
            priority = int(priority)
        if not isinstance(priority, int) or isinstance(priority, bool) or abs(priority) > MAX_PRIORITY:
            errors["priority"] = [f"A whole number from -{MAX_PRIORITY} to {MAX_PRIORITY}."]
        out["priority"] = priority
    if "active" in data:
        out["active"] = _clean_bool(data["active"], "active", errors)
    if "target_stage" in data:
        out["target_stage"] = clean_stage(
            data["target_stage"],
            organization_id=org_id,
            process_id=playbook.process_id,
            field="target_stage",
            errors=errors,
        )
    raise_if(errors)
    return out


@transaction.atomic
def play_create(*, playbook: Playbook, by: Membership | None, **data) -> Play:
    """A new play in the playbook. An active play is evaluated against every open deal of its
    processes after commit (a PlayEvaluationRun, polled for progress)."""
    require_playbook_editor(by, playbook.organization_id)
    _unknown(data, PLAY_FIELDS)
    fields = _clean_play(playbook, data, play=None)
    now = timezone.now()
    try:
        with transaction.atomic():
            play = Play.objects.create(
                organization_id=playbook.organization_id,
                playbook=playbook,
                created_at=now,
                updated_at=now,
                **fields,
            )
    except IntegrityError:
        raise InvalidInput({"name": ["This playbook already has a play with that name."]}) from None
    if play.active:
        play_evaluation_request(play=play, by=by)
    return play


@transaction.atomic
def play_update(*, play: Play, by: Membership | None, expected_version: int, **data) -> Play:
    """Edit a play, guarded by its version: the UPDATE names the version the editor saw, and a play
    saved by someone else since raises StalePlay with nothing written. A changed condition or active
    flag re-evaluates the play across its open deals after commit."""
    require_playbook_editor(by, play.organization_id)
    _unknown(data, PLAY_FIELDS)
    playbook = Playbook.objects.get(pk=play.playbook_id)
    fields = _clean_play(playbook, data, play=play)
    values = {
        ("target_stage_id" if k == "target_stage" else k): getattr(v, "pk", v) for k, v in fields.items()
    }
    before = Play.objects.filter(pk=play.pk, version=expected_version).values("condition", "active").first()
    now = timezone.now()
    try:
        with transaction.atomic():
            updated = Play.objects.filter(pk=play.pk, version=expected_version).update(
                version=F("version") + 1, updated_at=now, **values
            )
    except IntegrityError:
        raise InvalidInput({"name": ["This playbook already has a play with that name."]}) from None
    if updated != 1 or before is None:
        raise StalePlay(current_version=current_play_version(play.pk))
    for key, value in fields.items():
        setattr(play, key, value)
    play.version = expected_version + 1
    play.updated_at = now
    if any(key in fields and fields[key] != before[key] for key in ("condition", "active")):
        play_evaluation_request(play=play, by=by)
    return play


@transaction.atomic
def play_set_active(*, play: Play, by: Membership | None, active: bool) -> Play:
    """Activate or deactivate a play (not version-guarded: a switch, not an edit of its content).
    Activating attaches it where its condition holds, deactivating detaches it everywhere — both after
    commit, in bulk."""
    require_playbook_editor(by, play.organization_id)
    errors: dict = {}
    active = _clean_bool(active, "active", errors)
    raise_if(errors)
    changed = (
        Play.objects.filter(pk=play.pk)
        .exclude(active=active)
        .update(active=active, version=F("version") + 1, updated_at=timezone.now())
    )
    play.refresh_from_db(fields=["active", "version", "updated_at"])
    if changed:
        play_evaluation_request(play=play, by=by)
    return play


@transaction.atomic
def play_delete(*, play: Play, by: Membership | None) -> None:
    """Delete a play that was never attached to a deal. One that was has history that play effectiveness
    is measured on: deactivate it instead."""
    require_playbook_editor(by, play.organization_id)
    if DealPlay.objects.filter(play_id=play.pk).exists():
        raise InvalidInput(
            {"__all__": [f'"{play.name}" has been attached to deals: deactivate it instead of deleting it.']}
        )
    Play.objects.filter(pk=play.pk).delete()
