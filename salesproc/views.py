"""The process pages, for ops and admins: the process list (create, import, export) and the editor
(stages, their order and exit criteria, and the version history every edit adds to).

Every action answers an htmx request with the fragments it changed: the form it came from (fresh on
success, with field messages and status 422 on refusal) plus, out of band, the stage list, the version
history and a one-line confirmation. Without htmx, a success redirects back to the page and a refusal
renders the page with the messages in place. Objects are looked up in the member's organization before
the role is checked, so another organization's id is a 404 for everyone."""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Prefetch, Q
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.text import slugify
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from deals.models import ActivityKind, Deal, DealStatus, StageChange, StakeholderRole
from orgs.models import Membership
from orgs.views import member_required, render_fragments
from salesproc.forms import (
    CriterionForm,
    CriterionImportanceForm,
    ProcessForm,
    ProcessImportForm,
    StageForm,
    StageMoveForm,
    StageReorderForm,
)
from salesproc.lib.errors import InvalidInput
from salesproc.lib.scoping import get_for_org_or_404
from salesproc.models import (
    CRITERION_FIELDS,
    CriterionKind,
    ExitCriterion,
    Importance,
    Process,
    ProcessVersion,
    Stage,
)
from salesproc.process_schema import dump_process_data
from salesproc.services import (
    criterion_add,
    criterion_delete,
    criterion_update,
    process_create,
    process_export,
    process_import,
    stage_add,
    stage_delete,
    stage_move,
    stage_reorder,
    stage_update,
)

LIST_TEMPLATE = "salesproc/process_list.html"
TEMPLATE = "salesproc/process_detail.html"


def _require_editor(membership: Membership) -> None:
    if not membership.can_edit_process:
        raise PermissionDenied("Only ops and admins edit the process.")


# The process list: create, import, export


def _list_context(membership: Membership, **extra) -> dict:
    """The org's processes with their stage count, current version and open deals: two queries."""
    org = membership.organization
    processes = list(
        Process.objects.for_org(org)
        .select_related("current_version")
        .annotate(stage_count=Count("stages"))
        .order_by("-is_active", "name")
    )
    open_deals = dict(
        Deal.objects.for_org(org)
        .filter(status=DealStatus.OPEN)
        .values_list("process_id")
        .annotate(n=Count("id"))
        .values_list("process_id", "n")
    )
    for p in processes:
        p.open_deals = open_deals.get(p.id, 0)
    context = {
        "processes": processes,
        "create_form": ProcessForm(auto_id="new_process_%s"),
        "import_form": ProcessImportForm(auto_id="import_%s"),
    }
    context.update(extra)
    return context


@member_required
def process_list(request, membership: Membership):
    """The org's processes, with a form to create one and one to import a process file."""
    _require_editor(membership)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    return render(request, LIST_TEMPLATE, _list_context(membership))


def _to_page(request, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@member_required
def process_create_view(request, membership: Membership):
    """Create a process (with a first stage) and open it in the editor."""
    _require_editor(membership)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = ProcessForm(request.POST, auto_id="new_process_%s")
    if form.is_valid():
        try:
            process = process_create(
                org=membership.organization,
                by=membership,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f'Created "{process.name}". Add its stages and exit criteria below.')
            return _to_page(request, reverse("process_detail", args=[process.id]))
    context = _list_context(membership, create_form=form)
    if request.htmx:
        return render_fragments(request, LIST_TEMPLATE, ["create_card"], context, status=422)
    return render(request, LIST_TEMPLATE, context, status=422)


@member_required
def process_import_view(request, membership: Membership):
    """Create or update a process from a process file; every problem is listed with its path."""
    _require_editor(membership)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = ProcessImportForm(request.POST, request.FILES, auto_id="import_%s")
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            process, version = process_import(
                org=membership.organization,
                by=membership,
                data=form.cleaned_data["data"],
                note=f"Imported {upload.name}"[:300],
            )
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            if version is None:
                messages.info(request, f'"{process.name}" already matches {upload.name}: nothing changed.')
            else:
                messages.success(
                    request, f'Imported {upload.name} into "{process.name}" as version {version.number}.'
                )
            return _to_page(request, reverse("process_detail", args=[process.id]))
    context = _list_context(membership, import_form=form)
    if request.htmx:
        return render_fragments(request, LIST_TEMPLATE, ["import_card"], context, status=422)
    return render(request, LIST_TEMPLATE, context, status=422)


# The editor


def editor_view(*, methods: tuple[str, ...]) -> Callable:
    """A process page or action: the process (and the stage or criterion in the URL) looked up in the
    member's organization, then the role checked, then the method."""

    def decorate(view: Callable) -> Callable:
        @member_required
        @wraps(view)
        def wrapper(request, membership: Membership, process_id: int, **ids):
            org = membership.organization
            process = get_for_org_or_404(Process.objects.select_related("organization"), org, pk=process_id)
            objects = {}
            if "stage_id" in ids:
                objects["stage"] = get_for_org_or_404(
                    Stage.objects.select_related("process__organization"),
                    org,
                    pk=ids["stage_id"],
                    process=process,
                )
            if "criterion_id" in ids:
                objects["criterion"] = get_for_org_or_404(
                    ExitCriterion.objects.select_related("stage__process__organization"),
                    org,
                    pk=ids["criterion_id"],
                    stage__process=process,
                )
            _require_editor(membership)
            if request.method not in methods:
                return HttpResponseNotAllowed(methods)
            return view(request, membership, process, **objects)

        return wrapper

    return decorate


def _criterion_detail(c: ExitCriterion) -> str:
    """What the criterion checks, in words, beside its label."""
    if c.kind == CriterionKind.FIELD:
        return f"Deal field: {CRITERION_FIELDS.get(c.field_name, c.field_name)}"
    if c.kind == CriterionKind.STAKEHOLDER_ROLE:
        role = StakeholderRole(c.role).label if c.role in StakeholderRole.values else c.role
        return f"Stakeholder: {role}"
    if c.kind == CriterionKind.ACTIVITY_KIND:
        kind = (
            ActivityKind(c.activity_kind).label if c.activity_kind in ActivityKind.values else c.activity_kind
        )
        return f"Activity logged: {kind}"
    if c.kind == CriterionKind.ANSWER:
        return f"Question: {c.question}"
    return "Step to complete"


def _stages(process: Process, criterion_forms: dict[int, CriterionForm]) -> list[Stage]:
    """The stages in order, with their criteria, open-deal counts and whether deals ever used them."""
    stages = list(
        Stage.objects.filter(process=process)
        .order_by("order")
        .annotate(
            open_deals=Count("deals", filter=Q(deals__status=DealStatus.OPEN)),
            has_deals=Exists(Deal.objects.filter(stage=OuterRef("pk"))),
            has_history=Exists(StageChange.objects.filter(to_stage=OuterRef("pk"))),
        )
        .prefetch_related(Prefetch("criteria", queryset=ExitCriterion.objects.order_by("order", "id")))
    )
    for i, stage in enumerate(stages):
        stage.position = i + 1
        stage.is_first = i == 0
        stage.is_last = i == len(stages) - 1
        stage.in_use = stage.has_deals or stage.has_history
        stage.criteria_list = list(stage.criteria.all())
        for c in stage.criteria_list:
            c.detail = _criterion_detail(c)
        stage.criterion_form = criterion_forms.get(stage.id) or CriterionForm(auto_id=f"crit{stage.id}_%s")
    return stages


def editor_context(
    process: Process,
    *,
    criterion_forms: dict[int, CriterionForm] | None = None,
    focus: Stage | None = None,
    **extra,
) -> dict:
    """Everything process_detail.html and its fragments need; `focus` is the stage a fragment shows."""
    stages = _stages(process, criterion_forms or {})
    versions = ProcessVersion.objects.filter(process=process).select_related("author").order_by("-number")
    context = {
        "process": process,
        "stages": stages,
        # Only the history fragment reads them: no query for the fragments that do not.
        "versions": SimpleLazyObject(lambda: list(versions)),
        "stage_add_form": StageForm(auto_id="new_stage_%s"),
        "importance_choices": Importance.choices,
    }
    if focus is not None:
        context["stage"] = next((s for s in stages if s.id == focus.id), None)
    context.update(extra)
    return context


def respond(
    request,
    process: Process,
    fragments: list[str],
    *,
    ok: str | None = None,
    error: str | None = None,
    oob: tuple[str, ...] = (),
    status: int = 200,
    **context,
) -> HttpResponse:
    """htmx: the named fragments, then the `oob` ones and the confirmation (or error) out of band.
    Otherwise: back to the editor on success, or the editor with the messages in place."""
    if not request.htmx:
        if status < 400:
            if ok:
                messages.success(request, ok)
            return redirect("process_detail", process.id)
        if error:
            messages.error(request, error)
        return render(request, TEMPLATE, editor_context(process, **context), status=status)
    flash = ("success", ok) if ok else ("danger", error) if error else None
    ctx = editor_context(process, flash=flash, **context)
    return render_fragments(
        request, TEMPLATE, fragments, ctx, oob=(*oob, "flash") if flash else oob, status=status
    )


@editor_view(methods=("GET",))
def process_detail(request, membership: Membership, process: Process):
    """The editor: stages in order with their exit criteria, the add-stage form and the history."""
    return render(request, TEMPLATE, editor_context(process))


@editor_view(methods=("GET",))
def process_export_view(request, membership: Membership, process: Process):
    """The process as a JSON file, in the format import reads back byte for byte."""
    body = dump_process_data(process_export(process=process))
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    filename = f"{slugify(process.name) or 'process'}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@editor_view(methods=("POST",))
def stage_add_view(request, membership: Membership, process: Process):
    """Add a stage at the end of the process."""
    form = StageForm(request.POST, auto_id="new_stage_%s")
    if form.is_valid():
        fields = form.service_fields()
        if fields["probability"] is None:
            del fields["probability"]  # the service's default
        try:
            stage = stage_add(process=process, by=membership, **fields)
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            return respond(
                request,
                process,
                ["stage_add"],
                oob=("stage_list", "history"),
                ok=f'Added stage "{stage.name}".',
            )
    return respond(request, process, ["stage_add"], status=422, stage_add_form=form)


@editor_view(methods=("GET",))
def stage_card(request, membership: Membership, process: Process, stage: Stage):
    """One stage as the list shows it (the edit form's Cancel)."""
    return respond(request, process, ["stage_card"], focus=stage)


@editor_view(methods=("GET", "POST"))
def stage_update_view(request, membership: Membership, process: Process, stage: Stage):
    """GET: the stage as a form in place. POST: save its name, phase, probability, days and guidance."""
    auto_id = f"stage{stage.id}_%s"
    if request.method == "GET":
        initial = {
            f: getattr(stage, f) for f in ("name", "phase", "probability", "expected_days", "guidance")
        }
        form = StageForm(initial=initial, auto_id=auto_id)
        if not request.htmx:
            return render(request, TEMPLATE, editor_context(process, editing_id=stage.id, stage_form=form))
        return respond(request, process, ["stage_edit"], focus=stage, stage_form=form)
    form = StageForm(request.POST, auto_id=auto_id)
    if form.is_valid():
        try:
            stage = stage_update(stage=stage, by=membership, **form.service_fields())
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            return respond(
                request,
                process,
                ["stage_card"],
                oob=("history",),
                focus=stage,
                ok=f'Saved stage "{stage.name}".',
            )
    return respond(
        request, process, ["stage_edit"], status=422, focus=stage, stage_form=form, editing_id=stage.id
    )


@editor_view(methods=("POST",))
def stage_move_view(request, membership: Membership, process: Process, stage: Stage):
    """Move a stage one place up or down."""
    form = StageMoveForm(request.POST)
    if not form.is_valid():
        return respond(request, process, ["stage_list"], status=422, error="Move a stage up or down.")
    stage_move(stage=stage, by=membership, direction=form.step())
    return respond(request, process, ["stage_list"], oob=("history",), ok=f'Moved stage "{stage.name}".')


@editor_view(methods=("POST",))
def stage_reorder_view(request, membership: Membership, process: Process):
    """Put the stages in the order the drag-and-drop list posts (every stage id exactly once)."""
    form = StageReorderForm(request.POST)
    try:
        if not form.is_valid():
            raise InvalidInput(form.non_field_errors()[0])
        stage_reorder(process=process, by=membership, stage_ids=form.cleaned_data["stage_ids"])
    except InvalidInput:
        # Usually a stage added or removed in another tab meanwhile: show the order as it is.
        return respond(
            request,
            process,
            ["stage_list"],
            status=422,
            error="The stages changed since this page loaded; here is the current order. Try again.",
        )
    return respond(request, process, ["stage_list"], oob=("history",), ok="Saved the new stage order.")


@editor_view(methods=("POST",))
def stage_delete_view(request, membership: Membership, process: Process, stage: Stage):
    """Remove a stage no deal was ever in; otherwise say why in the stage's card."""
    name = stage.name
    try:
        stage_delete(stage=stage, by=membership)
    except InvalidInput as exc:
        message = " ".join(m for msgs in exc.errors.values() for m in msgs)
        response = respond(
            request,
            process,
            ["stage_card"],
            status=422,
            focus=stage,
            stage_error=message,
            error_stage_id=stage.id,
            error=message,
        )
        if request.htmx:
            response = reswap(retarget(response, f"#stage-{stage.id}"), "outerHTML")
        return response
    return respond(request, process, ["stage_list"], oob=("history",), ok=f'Removed stage "{name}".')


@editor_view(methods=("GET", "POST"))
def criterion_add_view(request, membership: Membership, process: Process, stage: Stage):
    """GET: the add-criterion form showing the inputs of the chosen kind. POST: add the criterion."""
    auto_id = f"crit{stage.id}_%s"
    if request.method == "GET":
        keep = ("kind", "label", "importance", "field_name", "role", "activity_kind", "question")
        form = CriterionForm(
            initial={k: request.GET.get(k, "") for k in keep if k in request.GET}, auto_id=auto_id
        )
        if not request.htmx:
            return redirect("process_detail", process.id)
        return respond(request, process, ["criterion_form"], focus=stage, criterion_forms={stage.id: form})
    form = CriterionForm(request.POST, auto_id=auto_id)
    if form.is_valid():
        try:
            criterion = criterion_add(stage=stage, by=membership, **form.service_fields())
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            return respond(
                request,
                process,
                ["criteria"],
                oob=("history",),
                focus=stage,
                ok=f'Added criterion "{criterion.label}" to {stage.name}.',
            )
    return respond(
        request,
        process,
        ["criteria"],
        status=422,
        focus=stage,
        criterion_forms={stage.id: form},
    )


@editor_view(methods=("POST",))
def criterion_update_view(request, membership: Membership, process: Process, criterion: ExitCriterion):
    """Change a criterion's importance (optional, mandatory, critical)."""
    stage = criterion.stage
    form = CriterionImportanceForm(request.POST)
    if not form.is_valid():
        return respond(
            request,
            process,
            ["criteria"],
            status=422,
            focus=stage,
            error="Choose optional, mandatory or critical.",
        )
    try:
        criterion = criterion_update(
            criterion=criterion, by=membership, importance=form.cleaned_data["importance"]
        )
    except InvalidInput as exc:
        message = " ".join(m for msgs in exc.errors.values() for m in msgs)
        return respond(request, process, ["criteria"], status=422, focus=stage, error=message)
    return respond(
        request,
        process,
        ["criteria"],
        oob=("history",),
        focus=stage,
        ok=f'"{criterion.label}" is now {criterion.get_importance_display().lower()}.',
    )


@editor_view(methods=("POST",))
def criterion_delete_view(request, membership: Membership, process: Process, criterion: ExitCriterion):
    """Remove an exit criterion."""
    stage = criterion.stage
    label = criterion.label
    criterion_delete(criterion=criterion, by=membership)
    return respond(
        request, process, ["criteria"], oob=("history",), focus=stage, ok=f'Removed criterion "{label}".'
    )
