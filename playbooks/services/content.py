"""What a play carries: questions to ask, resources (links and files), and the steps it adds to the plan
of the deals it is attached to. Ops only."""

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from deals.models import DealStep
from deals.services.common import clean_text, raise_if
from orgs.models import Membership
from playbooks.models import Play, PlayAnswer, PlayQuestion, PlayResource, PlayStep
from playbooks.services.common import clean_stage, next_order, reorder, require_playbook_editor
from playbooks.triggering import play_evaluation_request
from salesproc.lib.errors import InvalidInput

MAX_RESOURCE_BYTES = 10 * 1024 * 1024
_http_url = URLValidator(schemes=["http", "https"])


# ---------------------------------------------------------------------------------------------------
# Questions


def _clean_question(text) -> str:
    errors: dict = {}
    text = clean_text(text, "text", errors, max_length=300, required=True)
    raise_if(errors)
    return text


@transaction.atomic
def play_question_add(*, play: Play, by: Membership | None, text: str) -> PlayQuestion:
    """A question for the rep to ask, after the play's other questions."""
    require_playbook_editor(by, play.organization_id)
    text = _clean_question(text)
    return PlayQuestion.objects.create(
        organization_id=play.organization_id,
        play=play,
        text=text,
        order=next_order(PlayQuestion.objects.filter(play=play)),
    )


@transaction.atomic
def play_question_update(*, question: PlayQuestion, by: Membership | None, text: str) -> PlayQuestion:
    require_playbook_editor(by, question.organization_id)
    question.text = _clean_question(text)
    PlayQuestion.objects.filter(pk=question.pk).update(text=question.text)
    return question


@transaction.atomic
def play_question_delete(*, question: PlayQuestion, by: Membership | None) -> None:
    """Delete a question no deal has answered: an answer is what a customer said, and stays."""
    require_playbook_editor(by, question.organization_id)
    if PlayAnswer.objects.filter(question_id=question.pk).exists():
        raise InvalidInput(
            {"__all__": ["Deals have answered this question: reword it instead of deleting it."]}
        )
    PlayQuestion.objects.filter(pk=question.pk).delete()


@transaction.atomic
def play_question_reorder(*, play: Play, by: Membership | None, question_ids: list[int]) -> None:
    """Put the play's questions in the given order (every question exactly once)."""
    require_playbook_editor(by, play.organization_id)
    reorder(PlayQuestion, parent_filter={"play": play}, ids=question_ids, field="question_ids")


# ---------------------------------------------------------------------------------------------------
# Resources


@transaction.atomic
def play_resource_add(
    *, play: Play, by: Membership | None, title: str, url: str = "", file=None
) -> PlayResource:
    """A link (http or https) or an uploaded file (at most 10 MB) that helps run the play: exactly one of
    the two."""
    require_playbook_editor(by, play.organization_id)
    errors: dict = {}
    title = clean_text(title, "title", errors, max_length=200, required=True)
    url = clean_text(url, "url", errors, max_length=500)
    if bool(url) == bool(file):
        errors["__all__"] = ["Give either a link or a file, not both."] if url else ["Give a link or a file."]
    elif url:
        try:
            _http_url(url)
        except ValidationError:
            errors["url"] = ["Enter a web address starting with http:// or https://."]
    elif file is not None:
        size = getattr(file, "size", None)
        if size is None:
            errors["file"] = ["Upload a file."]
        elif size > MAX_RESOURCE_BYTES:
            errors["file"] = [f"At most {MAX_RESOURCE_BYTES // (1024 * 1024)} MB."]
        elif size == 0:
            errors["file"] = ["The file is empty."]
    raise_if(errors)
    resource = PlayResource(
        organization_id=play.organization_id,
        play=play,
        title=title,
        url=url,
        order=next_order(PlayResource.objects.filter(play=play)),
    )
    if file is not None:
        # Stored by save() under play_resources/<year>/<month>/ with a name the storage makes unique.
        resource.file = file
    try:
        with transaction.atomic():
            resource.save()
    except Exception:
        if resource.file and resource.file.name:
            resource.file.storage.delete(resource.file.name)
        raise
    return resource


@transaction.atomic
def play_resource_delete(*, resource: PlayResource, by: Membership | None) -> None:
    """Remove a resource; its file leaves the storage once the deletion commits."""
    require_playbook_editor(by, resource.organization_id)
    PlayResource.objects.filter(pk=resource.pk).delete()
    if resource.file:
        storage, name = resource.file.storage, resource.file.name
        transaction.on_commit(lambda: storage.delete(name), robust=True)


# ---------------------------------------------------------------------------------------------------
# Steps


def _clean_step(play: Play, data: dict, *, creating: bool) -> dict:
    errors: dict = {}
    out: dict = {}
    if "title" in data or creating:
        out["title"] = clean_text(data.get("title"), "title", errors, max_length=200, required=True)
    if "description" in data:
        out["description"] = clean_text(data["description"], "description", errors, max_length=5000)
    if "stage" in data:
        out["stage"] = clean_stage(
            data["stage"],
            organization_id=play.organization_id,
            process_id=play.playbook.process_id,
            field="stage",
            errors=errors,
        )
    unknown = set(data) - {"title", "description", "stage"}
    for key in sorted(unknown):
        errors[key] = ["This field cannot be changed here."]
    raise_if(errors)
    return out


@transaction.atomic
def play_step_add(*, play: Play, by: Membership | None, **data) -> PlayStep:
    """A step the play adds to the plan of the deals it is attached to, after its other steps. Deals it is
    attached to now get it too (after commit, in bulk)."""
    require_playbook_editor(by, play.organization_id)
    fields = _clean_step(play, data, creating=True)
    step = PlayStep.objects.create(
        organization_id=play.organization_id,
        play=play,
        order=next_order(PlayStep.objects.filter(play=play)),
        **fields,
    )
    play_evaluation_request(play=play, by=by)
    return step


@transaction.atomic
def play_step_update(*, step: PlayStep, by: Membership | None, **data) -> PlayStep:
    """Edit a step; the open plan lines made from it follow (title, description, stage), completed ones
    keep what was done."""
    require_playbook_editor(by, step.organization_id)
    fields = _clean_step(step.play, data, creating=False)
    for key, value in fields.items():
        setattr(step, key, value)
    step.save(update_fields=list(fields))
    lines = {("stage_id" if k == "stage" else k): getattr(v, "pk", v) for k, v in fields.items()}
    if lines:
        DealStep.objects.filter(play_step=step, completed_at__isnull=True).update(**lines)
    return step


@transaction.atomic
def play_step_delete(*, step: PlayStep, by: Membership | None) -> None:
    """Delete a step: it leaves the plans where it is still open; completed plan lines stay, with their
    history (they no longer point at a play step)."""
    require_playbook_editor(by, step.organization_id)
    DealStep.objects.filter(play_step=step, completed_at__isnull=True).delete()
    PlayStep.objects.filter(pk=step.pk).delete()


@transaction.atomic
def play_step_reorder(*, play: Play, by: Membership | None, step_ids: list[int]) -> None:
    """Put the play's steps in the given order (every step exactly once). Plans that already have them
    keep their own order; deals the play attaches to from now on get the new one."""
    require_playbook_editor(by, play.organization_id)
    reorder(PlayStep, parent_filter={"play": play}, ids=step_ids, field="step_ids")
