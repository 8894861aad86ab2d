"""The scorecard pages: ops edit a process's qualification scorecard (and see whether it predicts wins);
the deal page's "Qualification" section, answered in place by the deal's editors.

Objects named in a URL are looked up in the member's organization before the role or the method is
checked, so another organization's id is a 404 for everyone. Each action on the scorecard page answers
htmx with the page's body, holding the confirmation or the field messages; without htmx it redirects
back (success) or renders the page with the messages (refusal)."""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.vary import vary_on_headers

from deals.models import Deal
from deals.views.common import HtmxHttpRequest, deal_action, error_status, get_deal, member_view, wrong_method
from orgs.models import Membership
from orgs.selectors import can_edit_deal
from orgs.views import member_required
from salesproc.lib.errors import InvalidInput, ServiceError
from salesproc.lib.scoping import get_for_org_or_404
from salesproc.models import Process
from scorecards.analytics import win_rate_by_scorecard_band
from scorecards.forms import AnswerForm, CriterionForm, CriterionMoveForm, ScorecardForm
from scorecards.models import Scorecard, ScorecardCriterion
from scorecards.selectors import (
    deal_scorecard_view,
    process_scorecard,
    scorecard_criteria_with_use,
)
from scorecards.services import (
    deal_scorecard_answer,
    scorecard_create,
    scorecard_criterion_add,
    scorecard_criterion_delete,
    scorecard_criterion_reorder,
    scorecard_criterion_update,
    scorecard_update,
)

TEMPLATE = "scorecards/scorecard_page.html"
DEAL_TEMPLATE = "scorecards/deal_section.html"


# ---------------------------------------------------------------------------------------------------
# The scorecard page (ops and admins)


def scorecard_view(*, methods: tuple[str, ...]) -> Callable:
    """A scorecard page or action: the process (with its scorecard) and the criterion in the URL looked
    up in the member's organization, then the role checked, then the method."""

    def decorate(view: Callable) -> Callable:
        @member_required
        @wraps(view)
        def wrapper(request, membership: Membership, process_id: int, **ids):
            org = membership.organization
            process = get_for_org_or_404(Process.objects.select_related("scorecard"), org, pk=process_id)
            objects = {}
            if "scorecard_criterion_id" in ids:
                objects["criterion"] = get_for_org_or_404(
                    ScorecardCriterion.objects.select_related("scorecard"),
                    org,
                    pk=ids["scorecard_criterion_id"],
                    scorecard__process=process,
                )
            if not membership.can_edit_process:
                raise PermissionDenied("Only ops and admins edit the qualification scorecard.")
            if request.method not in methods:
                return HttpResponseNotAllowed(methods)
            return view(request, membership, process, **objects)

        return wrapper

    return decorate


def _scorecard_form(scorecard: Scorecard | None, data=None) -> ScorecardForm:
    initial = (
        {"name": scorecard.name, "threshold": scorecard.threshold, "active": scorecard.active}
        if scorecard
        else None
    )
    return ScorecardForm(data, initial=initial, auto_id="scorecard_%s")


def page_context(process: Process, *, criterion_forms: dict | None = None, **extra) -> dict:
    """Everything the page needs: the scorecard, its criteria with how many deals answered each and
    their edit forms, the add form, and the win rate by score band. Four queries with a scorecard (the
    criteria, the win rates), none more however many criteria or deals."""
    scorecard = process_scorecard(process)
    criteria = scorecard_criteria_with_use(scorecard) if scorecard else []
    forms = criterion_forms or {}
    for i, c in enumerate(criteria):
        c.is_first, c.is_last = i == 0, i == len(criteria) - 1
        c.form = forms.get(c.pk) or CriterionForm(
            initial={f: getattr(c, f) for f in ("label", "help_text", "weight", "scale", "max_points")},
            auto_id=f"criterion{c.pk}_%s",
        )
    context = {
        "process": process,
        "scorecard": scorecard,
        "criteria": criteria,
        "total_weight": sum(c.weight for c in criteria),
        "scorecard_form": _scorecard_form(scorecard),
        "criterion_add_form": CriterionForm(auto_id="new_criterion_%s"),
        "win_rates": win_rate_by_scorecard_band(process) if scorecard else None,
    }
    context.update(extra)
    return context


def respond(
    request,
    process: Process,
    *,
    ok: str | None = None,
    error: str | None = None,
    status: int = 200,
    **context,
) -> HttpResponse:
    """htmx: the page's body with the confirmation or error. Otherwise back to the page on success,
    or the page with the messages in place."""
    if not request.htmx and status < 400:
        if ok:
            messages.success(request, ok)
        return redirect("process_scorecard", process.id)
    # The write may have created the scorecard or changed it: read it anew.
    process = Process.objects.select_related("scorecard").get(pk=process.pk)
    flash = ("success", ok) if ok else ("danger", error) if error else None
    ctx = page_context(process, flash=flash, **context)
    if not request.htmx:
        return render(request, TEMPLATE, ctx, status=status)
    return render(request, f"{TEMPLATE}#body", ctx, status=status)


@scorecard_view(methods=("GET",))
def scorecard_page(request, membership: Membership, process: Process):
    """The process's scorecard: its threshold, its weighted criteria and how scores turned out."""
    return render(request, TEMPLATE, page_context(process))


@scorecard_view(methods=("POST",))
def scorecard_save(request, membership: Membership, process: Process):
    """Create the scorecard, or save its name, threshold and whether deals are asked."""
    form = _scorecard_form(None, request.POST)
    scorecard = process_scorecard(process)
    if form.is_valid():
        fields = dict(form.cleaned_data)
        try:
            if scorecard is None:
                scorecard_create(process=process, by=membership, **fields)
                return respond(request, process, ok="Scorecard created: add its criteria below.")
            scorecard_update(scorecard=scorecard, by=membership, **fields)
            return respond(request, process, ok="Scorecard saved.")
        except InvalidInput as exc:
            form.add_service_errors(exc)
    return respond(request, process, status=422, error="Check the scorecard's fields.", scorecard_form=form)


@scorecard_view(methods=("POST",))
def criterion_add_view(request, membership: Membership, process: Process):
    scorecard = process_scorecard(process)
    form = CriterionForm(request.POST, auto_id="new_criterion_%s")
    if scorecard is None:
        return respond(request, process, status=422, error="Create the scorecard first.")
    if form.is_valid():
        try:
            criterion = scorecard_criterion_add(scorecard=scorecard, by=membership, **form.service_fields())
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            return respond(request, process, ok=f"Added “{criterion.label}”.")
    return respond(
        request, process, status=422, error="The criterion was not added.", criterion_add_form=form
    )


@scorecard_view(methods=("POST",))
def criterion_update_view(request, membership: Membership, process: Process, criterion: ScorecardCriterion):
    form = CriterionForm(request.POST, auto_id=f"criterion{criterion.pk}_%s")
    if form.is_valid():
        try:
            criterion = scorecard_criterion_update(
                criterion=criterion, by=membership, **form.service_fields()
            )
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            return respond(request, process, ok=f"Saved “{criterion.label}”.")
    return respond(
        request,
        process,
        status=422,
        error=f"“{criterion.label}” was not saved.",
        criterion_forms={criterion.pk: form},
    )


@scorecard_view(methods=("POST",))
def criterion_delete_view(request, membership: Membership, process: Process, criterion: ScorecardCriterion):
    scorecard_criterion_delete(criterion=criterion, by=membership)
    return respond(request, process, ok=f"Removed “{criterion.label}”; scores recomputed.")


@scorecard_view(methods=("POST",))
def criterion_move_view(request, membership: Membership, process: Process, criterion: ScorecardCriterion):
    form = CriterionMoveForm(request.POST)
    if not form.is_valid():
        return respond(request, process, status=422, error="Move a criterion up or down.")
    ids = list(
        ScorecardCriterion.objects.filter(scorecard_id=criterion.scorecard_id)
        .order_by("order", "id")
        .values_list("id", flat=True)
    )
    i = ids.index(criterion.pk)
    j = i + form.step()
    if 0 <= j < len(ids):
        ids[i], ids[j] = ids[j], ids[i]
        scorecard_criterion_reorder(scorecard=criterion.scorecard, by=membership, criterion_ids=ids)
    return respond(request, process, ok=f"Moved “{criterion.label}”.")


# ---------------------------------------------------------------------------------------------------
# The deal page's "Qualification" section


def deal_section_context(membership: Membership, deal: Deal, **extra) -> dict:
    """What the section shows: nothing to ask (no active scorecard with criteria), or the criteria with
    the deal's answers, its score and result. No query without a scorecard when the deal was read by
    deals_for_page; two with one."""
    scorecard = process_scorecard(deal.process)
    view = None
    if scorecard is not None and scorecard.active:
        view = deal_scorecard_view(deal=deal, scorecard=scorecard)
        if not view.rows:
            view = None
    return {
        "deal": deal,
        "membership": membership,
        "scorecard": scorecard,
        "card": view,
        "can_answer": view is not None and deal.is_open and can_edit_deal(membership, deal),
        **extra,
    }


@member_view
@vary_on_headers("HX-Request")
def deal_scorecard_section(request: HtmxHttpRequest, membership: Membership, deal_id: int):
    """The section alone (htmx); a browser is sent to the deal page."""
    deal = get_deal(membership, deal_id)
    if refused := wrong_method(request):
        return refused
    if not request.htmx:
        return redirect(reverse("deal_detail", args=[deal.id]) + "#deal-scorecard")
    return render(request, DEAL_TEMPLATE, deal_section_context(membership, deal))


def _get_criterion(membership: Membership, deal: Deal, scorecard_criterion_id: int) -> ScorecardCriterion:
    return get_for_org_or_404(
        ScorecardCriterion.objects.all(),
        membership.organization,
        pk=scorecard_criterion_id,
        scorecard__process_id=deal.process_id,
    )


@deal_action(lookup=_get_criterion)
def deal_scorecard_answer_view(
    request: HtmxHttpRequest, membership: Membership, deal: Deal, scorecard_criterion_id: int
):
    """Answer (or clear) one criterion; the section comes back with the new score, or the message."""
    criterion = _get_criterion(membership, deal, scorecard_criterion_id)
    form = AnswerForm(request.POST)
    status = 200
    extra: dict = {}
    if not form.is_valid():
        status = 422
        extra["answer_error"] = {"id": criterion.pk, "message": "Choose an answer from the scale."}
    elif not form.cleaned_data["clear"] and form.cleaned_data["value"] == "":
        # Evidence typed before any answer was picked: say so rather than clear nothing.
        status = 422
        extra["answer_error"] = {
            "id": criterion.pk,
            "message": "Pick an answer on the scale first: the evidence is saved with it.",
        }
    else:
        value = None if form.cleaned_data["clear"] else form.cleaned_data["value"]
        try:
            deal_scorecard_answer(
                deal=deal, criterion=criterion, value=value, note=form.cleaned_data["note"], by=membership
            )
            extra["answer_saved"] = {"id": criterion.pk, "cleared": value in (None, "")}
        except ServiceError as exc:
            status = error_status(exc)
            message = exc.message
            if isinstance(exc, InvalidInput):
                message = " ".join(m for msgs in exc.errors.values() for m in msgs)
            extra["answer_error"] = {"id": criterion.pk, "message": message}
    if not request.htmx:
        if status >= 400:
            messages.error(request, extra["answer_error"]["message"])
        return redirect(reverse("deal_detail", args=[deal.id]) + "#deal-scorecard")
    return render(request, DEAL_TEMPLATE, deal_section_context(membership, deal, **extra), status=status)
