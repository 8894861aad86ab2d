"""What the playbook endpoints share: the role check for writes, the documented error bodies, the
querysets the views load objects from, and conditions in words for a page of plays."""

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from deals.api.serializers import ErrorSerializer, StaleVersionErrorSerializer
from orgs.models import Membership
from playbooks.conditions import OWNER, STAGE, InvalidCondition, describe, parse
from playbooks.conditions.language import Condition, leaves
from playbooks.models import Play, Playbook, PlayQuestion, PlayResource, PlayStep
from playbooks.services.common import require_playbook_editor
from salesproc.lib.api_scoping import request_org
from salesproc.lib.errors import InvalidInput
from salesproc.models import Stage

NOT_ALLOWED = OpenApiResponse(ErrorSerializer, description="Only ops and admins edit playbooks")
STALE = OpenApiResponse(StaleVersionErrorSerializer, description="The play changed since you read it")
NO_CONTENT = OpenApiResponse(description="Deleted")

# Named in a PATCH body, these are refused rather than ignored, so a client never believes it changed one.
READ_ONLY = "Read-only."


def require_editor(request) -> None:
    """Ops and admins write playbooks (the services' rule, checked before the body is read, so a rep's
    write is a 403 whatever it sends)."""
    require_playbook_editor(request.membership, request_org(request).id)


def refuse_read_only(initial_data, names: set[str]) -> None:
    refused = sorted(set(getattr(initial_data, "keys", dict)()) & names)
    if refused:
        raise serializers.ValidationError({name: [READ_ONLY] for name in refused})


def renamed_errors(exc: InvalidInput, old: str, new: str) -> InvalidInput:
    """The service's error with `old` (its argument's name) called `new` (the API's field)."""
    return InvalidInput({new if k == old else k: v for k, v in exc.errors.items()})


# ---------------------------------------------------------------------------------------------------
# Querysets: what each view loads, with exactly the relations its serializer reads.


def playbook_queryset(org):
    return Playbook.objects.for_org(org).select_related("owner__user")


def play_queryset(org):
    return Play.objects.for_org(org).select_related("playbook")


def question_queryset(org):
    return PlayQuestion.objects.for_org(org)


def resource_queryset(org):
    return PlayResource.objects.for_org(org)


def play_step_queryset(org):
    return PlayStep.objects.for_org(org).select_related("play__playbook")


# ---------------------------------------------------------------------------------------------------
# Conditions in words


def condition_texts(plays, organization_id: int) -> dict[int, str]:
    """`conditions.describe` of each play's condition, with the names of the stages and owners they
    mention: at most two queries for a whole page of plays (none when no condition names one). A stored
    condition that no longer parses is described as such rather than failing the page."""
    parsed: dict[int, Condition | None] = {}
    stage_ids: set = set()
    owner_ids: set = set()
    for play in plays:
        try:
            cond = parse(play.condition)
        except InvalidCondition:
            parsed[play.pk] = None
            continue
        parsed[play.pk] = cond
        for leaf in leaves(cond.root):
            values = leaf.value if isinstance(leaf.value, tuple) else (leaf.value,)
            if leaf.field.type == STAGE:
                stage_ids.update(v for v in values if v is not None)
            elif leaf.field.type == OWNER:
                owner_ids.update(v for v in values if v is not None)
    labels: dict = {}
    if stage_ids:
        stages = Stage.objects.filter(organization_id=organization_id, id__in=stage_ids)
        labels.update({(STAGE, pk): name for pk, name in stages.values_list("id", "name")})
    if owner_ids:
        members = Membership.objects.filter(
            organization_id=organization_id, user_id__in=owner_ids
        ).select_related("user")
        labels.update({(OWNER, m.user_id): m.user.display_name for m in members})
    return {
        pk: "(this condition no longer parses: it matches no deal)"
        if cond is None
        else describe(Condition(root=cond.root, labels=labels))
        for pk, cond in parsed.items()
    }
