"""The deal page's working parts: plan steps, stakeholders, activities and answers to criterion questions."""

from django.db import transaction
from django.shortcuts import render
from django_htmx.http import reswap, retarget

from deals.forms import (
    ActivityForm,
    AnswerForm,
    StakeholderEditForm,
    StakeholderForm,
    StepCommentForm,
    StepDoneForm,
    StepForm,
    StepReorderForm,
)
from deals.models import Deal, DealStakeholder, DealStep, StepComment, StepSource
from deals.selectors import stakeholder_contact_choices
from deals.services import (
    activity_log,
    answer_set,
    contact_create,
    stakeholder_add,
    stakeholder_remove,
    stakeholder_update,
    step_add,
    step_comment_add,
    step_comment_delete,
    step_delete,
    step_move,
    step_set_done,
    step_update,
    steps_reorder,
)
from deals.views.common import (
    HtmxHttpRequest,
    concat,
    deal_action,
    first_error,
    get_deal,
    member_view,
    wrong_method,
)
from deals.views.deal_page import TEMPLATE, refusal, respond
from orgs.models import Membership
from orgs.selectors import can_edit_deal, org_people
from salesproc.lib.errors import InvalidInput, NotAllowed
from salesproc.lib.scoping import get_for_org_or_404
from salesproc.models import CriterionKind, ExitCriterion

# Stakeholder changes can meet a role criterion, change who an activity can be logged with, and attach
# or detach plays, whose steps join or leave the plan.
STAKEHOLDER_OOB = ("criteria", "activity_stakeholder", "plan")


def _get_step(membership: Membership, deal: Deal, step_id: int) -> DealStep:
    return get_for_org_or_404(DealStep.objects.filter(deal=deal), membership.organization, pk=step_id)


def _get_answer_criterion(membership: Membership, deal: Deal, criterion_id: int) -> ExitCriterion:
    return get_for_org_or_404(
        ExitCriterion.objects.filter(stage__process_id=deal.process_id, kind=CriterionKind.ANSWER),
        membership.organization,
        pk=criterion_id,
    )


# Every change to the plan can change its next step (shown above it) and meet a step criterion.
PLAN_OOB = ("criteria", "next_step")


def _step_fields(data: dict) -> dict:
    return {name: data[name] for name in ("title", "description", "due_date", "stakeholder", "assignee")}


@deal_action(lookup=_get_step)
def step_toggle(request: HtmxHttpRequest, membership: Membership, deal: Deal, step_id: int):
    """Tick or untick one step of the plan (`done` checked or not)."""
    step = _get_step(membership, deal, step_id)
    step.deal = deal
    form = StepDoneForm(request.POST)
    done = form.is_valid() and form.cleaned_data["done"]
    try:
        step_set_done(step=step, by=membership, done=done)
    except NotAllowed as exc:
        return refusal(request, membership, deal, exc)
    return respond(request, membership, deal, ["plan"], oob=PLAN_OOB)


@deal_action
def step_add_view(request: HtmxHttpRequest, membership: Membership, deal: Deal):
    """Add a custom step (deal-level strategy) at the end of the plan."""
    form = StepForm(request.POST)
    if form.is_valid():
        fields = _step_fields(form.cleaned_data)
        if "assignee" not in request.POST:
            fields.pop("assignee")
        try:
            step_add(deal=deal, by=membership, **fields)
        except NotAllowed as exc:
            return refusal(request, membership, deal, exc)
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            return respond(request, membership, deal, ["plan"], oob=PLAN_OOB, step_added=True)
    return respond(request, membership, deal, ["plan"], status=422, step_form=form, step_form_open=True)


def _step_edit_form(request, membership: Membership, deal: Deal, step: DealStep, form: StepForm, status=200):
    context = {
        "deal": deal,
        "step": step,
        "form": form,
        "members": org_people(membership),
        "stakeholders": list(
            DealStakeholder.objects.filter(deal=deal)
            .select_related("contact")
            .order_by("contact__name", "id")
        ),
    }
    response = render(request, f"{TEMPLATE}#plan_step_edit", context, status=status)
    if status >= 400 and request.htmx:
        response = reswap(retarget(response, f"#step-{step.id}"), "outerHTML")
    return response


@member_view
def step_edit(request: HtmxHttpRequest, membership: Membership, deal_id: int, step_id: int):
    """GET: the step as an inline form. POST: save it (title and description of a custom step; due
    date, assignee and stakeholder of any step)."""
    deal = get_deal(membership, deal_id)
    step = _get_step(membership, deal, step_id)
    step.deal = deal
    if request.method == "GET":
        if not can_edit_deal(membership, deal):
            return refusal(request, membership, deal, NotAllowed("You can read this deal but not change it."))
        form = StepForm(
            initial={
                "title": step.title,
                "description": step.description,
                "due_date": step.due_date.isoformat() if step.due_date else "",
                "stakeholder": step.stakeholder_id,
                "assignee": step.assignee_id,
            }
        )
        return _step_edit_form(request, membership, deal, step, form)
    if refused := wrong_method(request, ("POST",)):
        return refused
    form = StepForm(request.POST)
    if form.is_valid():
        fields = _step_fields(form.cleaned_data)
        if step.source != StepSource.CUSTOM:
            # The form shows a stage or play step's title and description without fields for them.
            fields.pop("title")
            fields.pop("description")
        try:
            step_update(step=step, by=membership, **fields)
        except NotAllowed as exc:
            return refusal(request, membership, deal, exc)
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            return respond(request, membership, deal, ["plan"], oob=PLAN_OOB, plan_message="Step saved.")
    return _step_edit_form(request, membership, deal, step, form, status=422)


@deal_action(lookup=_get_step)
def step_delete_view(request: HtmxHttpRequest, membership: Membership, deal: Deal, step_id: int):
    """Delete a custom step (stage and play steps are refused with the reason)."""
    step = _get_step(membership, deal, step_id)
    step.deal = deal
    try:
        step_delete(step=step, by=membership)
    except (NotAllowed, InvalidInput) as exc:
        return refusal(request, membership, deal, exc)
    return respond(request, membership, deal, ["plan"], oob=PLAN_OOB, plan_message=f"Deleted “{step.title}”.")


@deal_action
def steps_reorder_view(request: HtmxHttpRequest, membership: Membership, deal: Deal):
    """Put the plan in a new order (the drag and drop sends every step id, comma-separated)."""
    form = StepReorderForm(request.POST)
    if not form.is_valid():
        message = first_error(form)
    else:
        try:
            steps_reorder(deal=deal, by=membership, step_ids=form.cleaned_data["step_ids"])
        except NotAllowed as exc:
            return refusal(request, membership, deal, exc)
        except InvalidInput as exc:
            message = exc.message
        else:
            return respond(request, membership, deal, ["plan"], oob=PLAN_OOB)
    # The page shows the plan as stored again, so a refused drag puts the steps back where they were.
    return respond(request, membership, deal, ["plan"], status=422, plan_error=message)


@deal_action(lookup=_get_step)
def step_move_view(request: HtmxHttpRequest, membership: Membership, deal: Deal, step_id: int):
    """Move a step one place up or down (`direction`): the keyboard's way to reorder the plan."""
    step = _get_step(membership, deal, step_id)
    step.deal = deal
    direction = request.POST.get("direction", "")
    try:
        step_move(step=step, by=membership, direction=direction)
    except NotAllowed as exc:
        return refusal(request, membership, deal, exc)
    except InvalidInput as exc:
        return respond(request, membership, deal, ["plan"], status=422, plan_error=exc.message)
    return respond(
        request, membership, deal, ["plan"], oob=PLAN_OOB, moved={"id": step.id, "direction": direction}
    )


def _get_step_comment(membership: Membership, deal: Deal, step_id: int, comment_id: int) -> StepComment:
    return get_for_org_or_404(
        StepComment.objects.filter(step__deal=deal, step_id=step_id), membership.organization, pk=comment_id
    )


def _thread_response(request, membership: Membership, deal: Deal, step: DealStep, *, status=200, **extra):
    comments = list(StepComment.objects.filter(step=step).select_related("author").order_by("id"))
    context = {
        "deal": deal,
        "step": step,
        "comments": comments,
        "comment_form": StepCommentForm(),
        "user_id": membership.user_id,
        **extra,
    }
    thread = render(request, "deals/partials/plan_step_thread.html", context, status=status)
    if request.method == "GET":
        return thread
    # The count on the step's thread button, out of band.
    step.comment_count = len(comments)
    badge = render(request, f"{TEMPLATE}#plan_step_comments_toggle", {**context, "oob": True})
    return concat(thread, badge, status=status)


@member_view
def step_thread(request: HtmxHttpRequest, membership: Membership, deal_id: int, step_id: int):
    """GET: the step's comment thread. POST: comment (anyone who may read the deal may)."""
    deal = get_deal(membership, deal_id)
    step = _get_step(membership, deal, step_id)
    step.deal = deal
    if request.method == "GET":
        return _thread_response(request, membership, deal, step)
    if refused := wrong_method(request, ("POST",)):
        return refused
    form = StepCommentForm(request.POST)
    if form.is_valid():
        try:
            posted = step_comment_add(step=step, by=membership, body=form.cleaned_data["body"])
        except NotAllowed as exc:
            return refusal(request, membership, deal, exc)
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            return _thread_response(request, membership, deal, step, posted=posted)
    return _thread_response(request, membership, deal, step, status=422, comment_form=form)


@member_view
def step_comment_delete_view(
    request: HtmxHttpRequest, membership: Membership, deal_id: int, step_id: int, comment_id: int
):
    """Delete one's own comment from a step's thread."""
    deal = get_deal(membership, deal_id)
    step = _get_step(membership, deal, step_id)
    step.deal = deal
    comment = _get_step_comment(membership, deal, step_id, comment_id)
    if refused := wrong_method(request, ("POST",)):
        return refused
    try:
        step_comment_delete(comment=comment, by=membership)
    except NotAllowed as exc:
        return _thread_response(request, membership, deal, step, status=403, thread_error=exc.message)
    return _thread_response(request, membership, deal, step)


def _stakeholder_form_response(
    request: HtmxHttpRequest, deal: Deal, form: StakeholderForm, *, status: int = 200
):
    context = {
        "deal": deal,
        "form": form,
        "contacts": stakeholder_contact_choices(deal=deal),
    }
    response = render(request, f"{TEMPLATE}#stakeholder_form", context, status=status)
    if status >= 400 and request.htmx:
        response = reswap(retarget(response, "#stakeholder-form-slot"), "innerHTML")
    return response


@member_view
def stakeholder_add_view(request: HtmxHttpRequest, membership: Membership, deal_id: int):
    """GET: the add form (pick a contact of the org, or name a new one). POST: add them to the deal."""
    deal = get_deal(membership, deal_id)
    org = membership.organization
    if request.method == "GET":
        if not can_edit_deal(membership, deal):
            return refusal(request, membership, deal, NotAllowed("You can read this deal but not change it."))
        return _stakeholder_form_response(request, deal, StakeholderForm(org=org))
    if refused := wrong_method(request, ("POST",)):
        return refused
    form = StakeholderForm(request.POST, org=org)
    if not form.is_valid():
        return _stakeholder_form_response(request, deal, form, status=422)
    data = form.cleaned_data
    try:
        with transaction.atomic():
            contact = data["contact"]
            if contact is None:
                # A new contact joins the deal's account; its field errors map to the new_contact_* fields.
                contact = contact_create(
                    by=membership,
                    name=data["new_contact_name"],
                    email=data["new_contact_email"],
                    title=data["new_contact_title"],
                    account=deal.account,
                )
            stakeholder_add(
                deal=deal,
                by=membership,
                contact=contact,
                role=data["role"],
                influence=data["influence"],
                attitude=data["attitude"],
                desired_results=data["desired_results"],
                wins=data["wins"],
            )
    except NotAllowed as exc:
        return refusal(request, membership, deal, exc)
    except InvalidInput as exc:
        form.add_service_errors(exc)
        return _stakeholder_form_response(request, deal, form, status=422)
    return respond(request, membership, deal, ["stakeholders"], oob=STAKEHOLDER_OOB)


@member_view
def step_assignee_options(request: HtmxHttpRequest, membership: Membership, deal_id: int):
    """The add-step form's assignee options (the org's active members), loaded when the form opens so
    the deal page itself does not read the members. `?selected=` keeps a choice after a refused add."""
    deal = get_deal(membership, deal_id)
    if refused := wrong_method(request):
        return refused
    selected = (request.GET.get("selected") or "").strip()
    return render(
        request,
        f"{TEMPLATE}#assignee_options",
        {"members": org_people(membership), "selected": selected, "deal": deal},
    )


@member_view
def stakeholder_contact_options(request: HtmxHttpRequest, membership: Membership, deal_id: int):
    """The contact picker's options matching ?q= (name or email)."""
    deal = get_deal(membership, deal_id)
    if refused := wrong_method(request):
        return refused
    q = (request.GET.get("q") or "").strip()[:200]
    contacts = stakeholder_contact_choices(deal=deal, q=q)
    return render(request, f"{TEMPLATE}#contact_options", {"contacts": contacts, "deal": deal})


def _get_stakeholder(membership: Membership, deal: Deal, stakeholder_id: int) -> DealStakeholder:
    stakeholder = get_for_org_or_404(
        DealStakeholder.objects.filter(deal=deal).select_related("contact"),
        membership.organization,
        pk=stakeholder_id,
    )
    stakeholder.deal = deal
    return stakeholder


@member_view
def stakeholder_edit(request: HtmxHttpRequest, membership: Membership, deal_id: int, stakeholder_id: int):
    """GET: the row as an inline form. POST: save role, influence, attitude, results and wins."""
    deal = get_deal(membership, deal_id)
    stakeholder = _get_stakeholder(membership, deal, stakeholder_id)
    if request.method == "GET":
        if not can_edit_deal(membership, deal):
            return refusal(request, membership, deal, NotAllowed("You can read this deal but not change it."))
        form = StakeholderEditForm(
            initial={
                f: getattr(stakeholder, f)
                for f in ("role", "influence", "attitude", "desired_results", "wins")
            }
        )
        return render(
            request, f"{TEMPLATE}#stakeholder_edit_form", {"deal": deal, "s": stakeholder, "form": form}
        )
    if refused := wrong_method(request, ("POST",)):
        return refused
    form = StakeholderEditForm(request.POST)
    if form.is_valid():
        try:
            stakeholder_update(stakeholder=stakeholder, by=membership, **form.cleaned_data)
        except NotAllowed as exc:
            return refusal(request, membership, deal, exc)
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            return respond(request, membership, deal, ["stakeholders"], oob=STAKEHOLDER_OOB)
    response = render(
        request,
        f"{TEMPLATE}#stakeholder_edit_form",
        {"deal": deal, "s": stakeholder, "form": form},
        status=422,
    )
    return reswap(retarget(response, f"#stakeholder-{stakeholder.id}"), "outerHTML")


@deal_action(lookup=_get_stakeholder)
def stakeholder_remove_view(
    request: HtmxHttpRequest, membership: Membership, deal: Deal, stakeholder_id: int
):
    stakeholder = _get_stakeholder(membership, deal, stakeholder_id)
    try:
        stakeholder_remove(stakeholder=stakeholder, by=membership)
    except NotAllowed as exc:
        return refusal(request, membership, deal, exc)
    return respond(request, membership, deal, ["stakeholders"], oob=STAKEHOLDER_OOB)


@deal_action
def activity_add(request: HtmxHttpRequest, membership: Membership, deal: Deal):
    """Quick-log a call, meeting, email or note (optionally with a stakeholder, optionally back-dated)."""
    form = ActivityForm(request.POST, deal=deal)
    if form.is_valid():
        data = form.cleaned_data
        try:
            activity_log(
                deal=deal,
                by=membership,
                kind=data["kind"],
                subject=data["subject"],
                body=data["body"],
                occurred_at=data["occurred_at"],
                stakeholder=data["stakeholder"],
            )
        except NotAllowed as exc:
            return refusal(request, membership, deal, exc)
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            # The network too: who was engaged lately decides whether the deal is single-threaded.
            return respond(
                request, membership, deal, ["activities"], oob=("criteria", "network"), activity_logged=True
            )
    return respond(request, membership, deal, ["activities"], status=422, activity_form=form)


@deal_action(lookup=_get_answer_criterion)
def answer_set_view(request: HtmxHttpRequest, membership: Membership, deal: Deal, criterion_id: int):
    """Answer (or clear) the question of an exit criterion of kind `answer`."""
    criterion = _get_answer_criterion(membership, deal, criterion_id)
    form = AnswerForm(request.POST)
    if form.is_valid():
        try:
            answer_set(deal=deal, by=membership, criterion=criterion, text=form.cleaned_data["text"])
        except NotAllowed as exc:
            return refusal(request, membership, deal, exc)
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            return respond(request, membership, deal, ["criteria"], answer_saved=criterion.id)
    message = next(iter(form.errors.get("text", [])), "") or next(iter(form.non_field_errors()), "Not saved.")
    return respond(
        request,
        membership,
        deal,
        ["criteria"],
        status=422,
        answer_error={"id": criterion.id, "message": message, "text": request.POST.get("text", "")},
    )
