"""Helpers shared by the playbook services: who may edit, tenancy, and the checks every form repeats."""

from django.db.models import Max

from orgs.models import Membership
from playbooks.models import Play
from salesproc.lib.errors import InvalidInput, NotAllowed, StaleVersion
from salesproc.models import Stage


def require_playbook_editor(by: Membership | None, organization_id: int) -> None:
    """Ops (and admins) edit playbooks. `by=None` is for trusted system callers (the demo seeder)."""
    if by is None:
        return
    if by.organization_id != organization_id:
        # Never confirm that another organization's playbook exists.
        raise InvalidInput({"__all__": ["Not found."]})
    if not by.can_edit_process:
        raise NotAllowed("Only ops can edit playbooks.")


def same_org(organization_id: int, obj, field: str, errors: dict, message: str) -> None:
    """Another organization's object is "unknown", like one that does not exist."""
    if obj is not None and getattr(obj, "organization_id", None) != organization_id:
        errors[field] = [message]


def clean_stage(value, *, organization_id: int, process_id: int | None, field: str, errors: dict):
    """A stage of the organization (of the playbook's process, when it has one), or None."""
    if value in (None, ""):
        return None
    stage_id = getattr(value, "pk", value)
    stage = Stage.objects.filter(pk=stage_id, organization_id=organization_id).first()
    if stage is None or (process_id is not None and stage.process_id != process_id):
        errors[field] = ["Choose a stage of the playbook's process."]
        return None
    return stage


def next_order(queryset) -> int:
    return (queryset.aggregate(m=Max("order"))["m"] or 0) + 1


def reorder(model, *, parent_filter: dict, ids: list[int], field: str) -> None:
    """Give the parent's rows the order of `ids`, which must list each of them exactly once."""
    rows = {row.pk: row for row in model.objects.filter(**parent_filter)}
    if len(ids) != len(set(ids)) or set(ids) != set(rows):
        raise InvalidInput({field: ["List every one of them exactly once."]})
    for position, pk in enumerate(ids, start=1):
        rows[pk].order = position
    model.objects.bulk_update(list(rows.values()), ["order"])


class StalePlay(StaleVersion):
    """Someone else saved the play since the caller read it (a 409 in the API, like a stale deal)."""

    def __init__(self, current_version: int):
        super().__init__(current_version=current_version)
        self.message = (
            f"This play was changed by someone else (now version {current_version}). Reload and try again."
        )
        self.args = (self.message,)


def current_play_version(play_id: int) -> int:
    return Play.objects.filter(pk=play_id).values_list("version", flat=True).first() or 0
