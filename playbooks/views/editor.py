"""The playbook editor (ops and admins edit; every member may read): the playbooks, a playbook's plays,
and a play's editor — its content, its condition built from rows of field / operator / value with
nested all / any groups, a live preview of the open deals it matches, its questions, resources and
steps — and the progress of the re-evaluation a saved change starts.

Objects named in the URL are looked up in the member's organization first: another organization's
playbook or play is a 404 for everyone, whatever the method or role."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.urls import reverse

from deals.models import Deal, DealTag, StakeholderRole, TagKind
from deals.views.common import member_view, wrong_method
from orgs.models import Membership
from playbooks import builder
from playbooks.conditions import FIELDS, InvalidCondition, describe, parse
from playbooks.forms import NewPlayForm, PlaybookForm, PlayForm, QuestionForm, ResourceForm, StepForm
from playbooks.models import Play, Playbook, PlayEvaluationRun, PlayQuestion, PlayResource, PlayStep
from playbooks.selectors import play_evaluation_latest, play_preview
from playbooks.services import (
    play_create,
    play_delete,
    play_question_add,
    play_question_delete,
    play_resource_add,
    play_resource_delete,
    play_set_active,
    play_step_add,
    play_step_delete,
    play_update,
    playbook_create,
    playbook_delete,
    playbook_update,
)
from salesproc.lib.errors import InvalidInput, NotAllowed, ServiceError, StaleVersion
from salesproc.lib.scoping import get_for_org_or_404
from salesproc.models import Phase, Stage

LIST_TEMPLATE = "playbooks/editor/playbook_list.html"
PLAYBOOK_TEMPLATE = "playbooks/editor/playbook_detail.html"
PLAY_TEMPLATE = "playbooks/editor/play_edit.html"
# A new play starts inactive with this condition, so nothing attaches before ops have written it.
NEW_PLAY_CONDITION = {"all": [{"field": "industry", "op": "is_not_empty"}]}
KNOWN_VALUES = 200


def _require_editor(membership: Membership) -> None:
    if not membership.can_edit_process:
        raise PermissionDenied("Only ops and admins edit playbooks.")


# Playbooks -------------------------------------------------------------------------------------------


def _playbooks(org):
    """The organization's playbooks with their owners and play counts, active first (one query)."""
    return (
        Playbook.objects.for_org(org)
        .select_related("process", "owner__user")
        .annotate(
            play_count=Count("plays", distinct=True),
            active_play_count=Count("plays", filter=Q(plays__active=True), distinct=True),
        )
        .order_by("-active", "name")
    )


@member_view
def playbook_list(request, membership: Membership):
    refused = wrong_method(request)
    if refused:
        return refused
    org = membership.organization
    return render(
        request,
        LIST_TEMPLATE,
        {
            "playbooks": _playbooks(org),
            "form": PlaybookForm(org) if membership.can_edit_process else None,
            "can_edit": membership.can_edit_process,
        },
    )


@member_view
def playbook_create_view(request, membership: Membership):
    refused = wrong_method(request, ("POST",))
    if refused:
        return refused
    _require_editor(membership)
    org = membership.organization
    form = PlaybookForm(org, request.POST)
    if form.is_valid():
        try:
            playbook = playbook_create(org=org, by=membership, **form.cleaned_data)
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f'Created the playbook "{playbook.name}". Add its first play.')
            return redirect("playbook_detail", playbook.id)
    return render(
        request, LIST_TEMPLATE, {"playbooks": _playbooks(org), "form": form, "can_edit": True}, status=422
    )


def _playbook_context(membership: Membership, playbook: Playbook, **extra) -> dict:
    plays = list(
        Play.objects.filter(playbook=playbook)
        .select_related("target_stage")
        .annotate(attached_now=Count("deal_plays", filter=Q(deal_plays__detached_at__isnull=True)))
        .order_by("-priority", "name", "id")
    )
    for play in plays:
        try:
            play.description_text = describe(parse(play.condition))
        except InvalidCondition:
            play.description_text = "—"
    org = membership.organization
    can_edit = membership.can_edit_process
    return {
        "playbook": playbook,
        "plays": plays,
        "can_edit": can_edit,
        "form": (
            PlaybookForm(
                org,
                initial={
                    "name": playbook.name,
                    "description": playbook.description,
                    "process": playbook.process_id,
                    "active": playbook.active,
                },
            )
            if can_edit
            else None
        ),
        "new_play_form": NewPlayForm() if can_edit else None,
        **extra,
    }


@member_view
def playbook_detail(request, membership: Membership, playbook_id: int):
    org = membership.organization
    playbook = get_for_org_or_404(Playbook.objects.select_related("process"), org, pk=playbook_id)
    refused = wrong_method(request, ("GET", "HEAD", "POST"))
    if refused:
        return refused
    if request.method != "POST":
        return render(request, PLAYBOOK_TEMPLATE, _playbook_context(membership, playbook))
    _require_editor(membership)
    form = PlaybookForm(org, request.POST)
    if form.is_valid():
        try:
            playbook_update(playbook=playbook, by=membership, **form.cleaned_data)
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, "Saved the playbook.")
            return redirect("playbook_detail", playbook.id)
    return render(request, PLAYBOOK_TEMPLATE, _playbook_context(membership, playbook, form=form), status=422)


@member_view
def playbook_delete_view(request, membership: Membership, playbook_id: int):
    playbook = get_for_org_or_404(Playbook.objects.all(), membership.organization, pk=playbook_id)
    refused = wrong_method(request, ("POST",))
    if refused:
        return refused
    _require_editor(membership)
    try:
        playbook_delete(playbook=playbook, by=membership)
    except InvalidInput as exc:
        messages.error(request, exc.message)
        return redirect("playbook_detail", playbook.id)
    messages.success(request, f'Deleted the playbook "{playbook.name}".')
    return redirect("playbook_list")


@member_view
def play_create_view(request, membership: Membership, playbook_id: int):
    playbook = get_for_org_or_404(
        Playbook.objects.select_related("process"), membership.organization, pk=playbook_id
    )
    refused = wrong_method(request, ("POST",))
    if refused:
        return refused
    _require_editor(membership)
    form = NewPlayForm(request.POST)
    if form.is_valid():
        try:
            play = play_create(
                playbook=playbook,
                by=membership,
                name=form.cleaned_data["name"],
                condition=NEW_PLAY_CONDITION,
                active=False,
            )
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, "Created the play, inactive: write its condition, then activate it.")
            return redirect("play_edit", play.id)
    return render(
        request, PLAYBOOK_TEMPLATE, _playbook_context(membership, playbook, new_play_form=form), status=422
    )


# The play editor -------------------------------------------------------------------------------------


def _get_play(membership: Membership, play_id: int) -> Play:
    return get_for_org_or_404(
        Play.objects.select_related("playbook__process", "target_stage"), membership.organization, pk=play_id
    )


def _choices(membership: Membership, playbook: Playbook) -> dict:
    """What the builder's value inputs offer: stages, phases, members, and the values the
    organization's deals already use (competitors, objections, industries, lead sources)."""
    org = membership.organization
    stages = (
        Stage.objects.filter(organization=org).select_related("process").order_by("process__name", "order")
    )
    if playbook.process_id:
        stages = stages.filter(process_id=playbook.process_id)
    tags = DealTag.objects.filter(organization=org).order_by("value").values_list("kind", "value").distinct()
    known: dict[str, list[str]] = {TagKind.COMPETITOR: [], TagKind.OBJECTION: []}
    for kind, value in tags[: KNOWN_VALUES * 2]:
        if kind in known and len(known[kind]) < KNOWN_VALUES:
            known[kind].append(value)

    def distinct(column: str) -> list[str]:
        return list(
            Deal.objects.filter(organization=org)
            .exclude(**{column: ""})
            .order_by(column)
            .values_list(column, flat=True)
            .distinct()[:KNOWN_VALUES]
        )

    return {
        "stages": [
            (str(s.id), s.name if playbook.process_id else f"{s.process.name} · {s.name}") for s in stages
        ],
        "phases": list(Phase.choices),
        "owners": [
            (str(m.user_id), m.user.display_name)
            for m in Membership.objects.filter(organization=org, is_active=True)
            .select_related("user")
            .order_by("user__full_name", "user__email")
        ],
        "roles": list(StakeholderRole.choices),
        "scorecard_results": list(FIELDS["scorecard_result"].choices.items()),
        "competitors": known[TagKind.COMPETITOR],
        "objections": known[TagKind.OBJECTION],
        "industries": distinct("industry"),
        "lead_sources": distinct("lead_source"),
    }


def _builder_context(membership: Membership, play: Play, root: builder.Node, **extra) -> dict:
    condition = builder.to_condition(root)
    row_errors: dict[str, list[str]] = {}
    other_errors: list[str] = []
    preview = None
    try:
        preview = play_preview(
            org=membership.organization, condition=condition, process=play.playbook.process
        )
    except InvalidCondition as exc:
        row_errors, other_errors = builder.errors_by_row(root, exc.problems)
    nodes = builder.flatten(root)
    for node in nodes:
        node.errors = row_errors.get(node.path, [])
    return {
        "play": play,
        "nodes": nodes,
        "fields": [(f.name, f.label.capitalize(), f.type) for f in FIELDS.values()],
        "group_kinds": list(builder.GROUP_KINDS.items()),
        "condition_errors": other_errors,
        "has_condition_errors": bool(row_errors or other_errors),
        "preview": preview,
        "choices": _choices(membership, play.playbook),
        **extra,
    }


def _content_context(play: Play) -> dict:
    return {
        "questions": list(PlayQuestion.objects.filter(play=play).order_by("order", "id")),
        "resources": list(PlayResource.objects.filter(play=play).order_by("order", "id")),
        "steps": list(PlayStep.objects.filter(play=play).select_related("stage").order_by("order", "id")),
    }


def _play_form(play: Play, data=None) -> PlayForm:
    return PlayForm(
        play.playbook,
        data,
        initial={
            "version": play.version,
            "name": play.name,
            "description": play.description,
            "priority": play.priority,
            "target_stage": play.target_stage_id,
            "talk_track": play.talk_track,
        },
    )


def _page(request, membership: Membership, play: Play, *, form=None, root=None, status=200, **extra):
    root = root if root is not None else builder.from_condition(play.condition)
    context = {
        **_builder_context(membership, play, root),
        **_content_context(play),
        "form": form or _play_form(play),
        "question_form": QuestionForm(),
        "resource_form": ResourceForm(),
        "step_form": StepForm(play.playbook),
        "run": play_evaluation_latest(play=play),
        "can_edit": membership.can_edit_process,
        **extra,
    }
    return render(request, PLAY_TEMPLATE, context, status=status)


@member_view
def play_edit(request, membership: Membership, play_id: int):
    """GET: the editor. POST: save the play's content and condition (version-guarded)."""
    play = _get_play(membership, play_id)
    refused = wrong_method(request, ("GET", "HEAD", "POST"))
    if refused:
        return refused
    _require_editor(membership)
    if request.method != "POST":
        return _page(request, membership, play)
    form = _play_form(play, request.POST)
    root = builder.from_form(request.POST)
    if not form.is_valid():
        return _page(request, membership, play, form=form, root=root, status=422)
    data = dict(form.cleaned_data)
    version = data.pop("version")
    try:
        play_update(
            play=play, by=membership, expected_version=version, condition=builder.to_condition(root), **data
        )
    except StaleVersion as exc:
        form.add_error(None, exc.message)
        return _page(request, membership, play, form=form, root=root, status=409)
    except InvalidInput as exc:
        form.add_service_errors(exc)
        return _page(request, membership, play, form=form, root=root, status=422)
    messages.success(request, f'Saved "{play.name}".')
    return redirect("play_edit", play.id)


@member_view
def play_builder(request, membership: Membership, play_id: int):
    """POST (htmx): apply one builder action (add a rule or a group, remove one, a rule's field changed)
    to the posted rows and answer with the builder and its preview."""
    play = _get_play(membership, play_id)
    refused = wrong_method(request, ("POST",))
    if refused:
        return refused
    _require_editor(membership)
    root = builder.apply_action(builder.from_form(request.POST), request.POST.get("action", ""))
    return render(request, f"{PLAY_TEMPLATE}#builder", _builder_context(membership, play, root))


@member_view
def play_preview_view(request, membership: Membership, play_id: int):
    """POST (htmx): the open deals the posted rows match now, or what is wrong with them."""
    play = _get_play(membership, play_id)
    refused = wrong_method(request, ("POST",))
    if refused:
        return refused
    _require_editor(membership)
    context = _builder_context(membership, play, builder.from_form(request.POST))
    return render(request, f"{PLAY_TEMPLATE}#preview", context)


@member_view
def play_active_view(request, membership: Membership, play_id: int):
    play = _get_play(membership, play_id)
    refused = wrong_method(request, ("POST",))
    if refused:
        return refused
    _require_editor(membership)
    active = request.POST.get("active") == "1"
    try:
        play_set_active(play=play, by=membership, active=active)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    messages.success(
        request,
        f'Activated "{play.name}": it is being matched against the open deals.'
        if active
        else f'Deactivated "{play.name}": it is being taken off the deals it was attached to.',
    )
    return redirect("play_edit", play.id)


@member_view
def play_delete_view(request, membership: Membership, play_id: int):
    play = _get_play(membership, play_id)
    refused = wrong_method(request, ("POST",))
    if refused:
        return refused
    _require_editor(membership)
    try:
        play_delete(play=play, by=membership)
    except InvalidInput as exc:
        messages.error(request, exc.message)
        return redirect("play_edit", play.id)
    messages.success(request, f'Deleted the play "{play.name}".')
    return redirect("playbook_detail", play.playbook_id)


@member_view
def play_run_status(request, membership: Membership, evaluation_run_id: int):
    run = get_for_org_or_404(
        PlayEvaluationRun.objects.select_related("play"), membership.organization, pk=evaluation_run_id
    )
    refused = wrong_method(request)
    if refused:
        return refused
    return render(request, f"{PLAY_TEMPLATE}#run_status", {"run": run, "play": run.play})


# Questions, resources, steps (htmx sections) ---------------------------------------------------------


def _content_section(request, membership, play, section: str, *, forms=None, status=200, message=""):
    context = {
        "play": play,
        "can_edit": True,
        **_content_context(play),
        "question_form": QuestionForm(),
        "resource_form": ResourceForm(),
        "step_form": StepForm(play.playbook),
        "section_message": message,
        **(forms or {}),
    }
    if not request.htmx:
        return redirect(reverse("play_edit", args=[play.id]) + f"#{section}")
    return render(request, f"{PLAY_TEMPLATE}#{section}", context, status=status)


def _content_write(request, membership, play_id, section, form_key, make_form, write):
    play = _get_play(membership, play_id)
    refused = wrong_method(request, ("POST",))
    if refused:
        return refused
    _require_editor(membership)
    form = make_form(play)
    if form is not None and not form.is_valid():
        return _content_section(request, membership, play, section, forms={form_key: form}, status=422)
    try:
        message = write(play, form.cleaned_data if form is not None else None)
    except InvalidInput as exc:
        if form is None:
            return _content_section(request, membership, play, section, status=422, message=exc.message)
        form.add_service_errors(exc)
        return _content_section(request, membership, play, section, forms={form_key: form}, status=422)
    except ServiceError as exc:
        return _content_section(request, membership, play, section, status=422, message=exc.message)
    return _content_section(request, membership, play, section, message=message)


def _content_delete(request, membership, play_id, model, object_id, section, delete, message):
    """Remove a question, resource or step of the play. The object is looked up in the member's
    organization before the method or the role is checked, so another organization's id is a 404."""
    obj = get_for_org_or_404(model.objects.filter(play_id=play_id), membership.organization, pk=object_id)

    def write(play, data):
        delete(obj)
        return message

    return _content_write(request, membership, play_id, section, "", lambda play: None, write)


@member_view
def question_add_view(request, membership: Membership, play_id: int):
    return _content_write(
        request,
        membership,
        play_id,
        "questions",
        "question_form",
        lambda play: QuestionForm(request.POST),
        lambda play, data: play_question_add(play=play, by=membership, text=data["text"]) and "Added.",
    )


@member_view
def question_delete_view(request, membership: Membership, play_id: int, question_id: int):
    return _content_delete(
        request,
        membership,
        play_id,
        PlayQuestion,
        question_id,
        "questions",
        lambda obj: play_question_delete(question=obj, by=membership),
        "Removed.",
    )


@member_view
def resource_add_view(request, membership: Membership, play_id: int):
    return _content_write(
        request,
        membership,
        play_id,
        "resources",
        "resource_form",
        lambda play: ResourceForm(request.POST, request.FILES),
        lambda play, data: (
            play_resource_add(
                play=play, by=membership, title=data["title"], url=data["url"] or "", file=data["file"]
            )
            and "Added."
        ),
    )


@member_view
def resource_delete_view(request, membership: Membership, play_id: int, resource_id: int):
    return _content_delete(
        request,
        membership,
        play_id,
        PlayResource,
        resource_id,
        "resources",
        lambda obj: play_resource_delete(resource=obj, by=membership),
        "Removed.",
    )


@member_view
def step_add_view(request, membership: Membership, play_id: int):
    return _content_write(
        request,
        membership,
        play_id,
        "steps",
        "step_form",
        lambda play: StepForm(play.playbook, request.POST),
        lambda play, data: (
            play_step_add(
                play=play,
                by=membership,
                title=data["title"],
                description=data["description"],
                stage=data["stage"],
            )
            and "Added: the deals the play is attached to get the step in their plan."
        ),
    )


@member_view
def step_delete_view(request, membership: Membership, play_id: int, play_step_id: int):
    return _content_delete(
        request,
        membership,
        play_id,
        PlayStep,
        play_step_id,
        "steps",
        lambda obj: play_step_delete(step=obj, by=membership),
        "Removed: its open copies left the deals' plans; completed ones stay.",
    )
