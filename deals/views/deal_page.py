"""The deal page: the path of stages, the stage's exit criteria, the plan, the people and the activity.

Its actions answer htmx requests with the fragments they change (plus the exit-criteria checklist out of
band, since almost every action can meet a criterion); without htmx they redirect back to the page."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.functional import SimpleLazyObject
from django.utils.html import format_html
from django_htmx.http import reswap, retarget, trigger_client_event

from deals.forms import ActivityForm, LoseForm, MoveForm, StepForm, VersionForm
from deals.models import Deal, DealStatus
from deals.network import stakeholder_network
from deals.selectors import DEAL_PAGE_ACTIVITIES, days_in_stage, deal_page
from deals.services import deal_lose, deal_move, deal_win
from deals.views.board import move_on_board
from deals.views.common import (
    HtmxHttpRequest,
    concat,
    deal_action,
    error_status,
    first_error,
    get_deal,
    member_view,
    wrong_method,
)
from orgs.models import Membership
from orgs.selectors import can_edit_deal
from playbooks.views.deal_plays import deal_plays_for_page
from salesproc.lib.errors import CriteriaUnmet, InvalidInput, NotAllowed, ServiceError, StaleVersion
from salesproc.models import Stage

TEMPLATE = "deals/deal_detail.html"


def _path(deal: Deal, stages: list[Stage]) -> list[tuple[Stage, str]]:
    """Each stage with where the deal stands: done, current, ahead (or lost, where a lost deal stopped)."""
    out = []
    for stage in stages:
        if deal.status == DealStatus.WON or stage.order < deal.stage.order:
            state = "done"
        elif stage.id == deal.stage_id:
            state = "lost" if deal.status == DealStatus.LOST else "current"
        else:
            state = "ahead"
        out.append((stage, state))
    return out


def page_context(membership: Membership, deal: Deal, **extra) -> dict:
    """Everything deal_detail.html and its fragments need; `extra` carries bound forms and messages."""
    page = deal_page(deal=deal)
    can_edit = can_edit_deal(membership, deal)
    context = {
        "deal": deal,
        "page": page,
        "path": _path(deal, page.stages),
        "days_in_stage": days_in_stage(deal),
        "can_edit": can_edit and deal.is_open,
        "can_edit_fields": can_edit,
        "step_form": StepForm(),
        "activity_form": ActivityForm(deal=deal),
        "lose_form": LoseForm(),
        # The plays section: read only by the renders that include it (the page, the deal body).
        "deal_plays": SimpleLazyObject(lambda: deal_plays_for_page(deal=deal, steps=page.steps)),
        # The stakeholder network (map and gaps), inside the stakeholders card: the page's activities
        # usually cover the engagement window, so it rarely needs a query of its own.
        "deal_network": SimpleLazyObject(
            lambda: stakeholder_network(
                deal, page.stakeholders, recent_activities=page.activities, loaded_limit=DEAL_PAGE_ACTIVITIES
            )
        ),
    }
    context.update(extra)
    return context


def respond(
    request: HtmxHttpRequest,
    membership: Membership,
    deal: Deal,
    fragments: list[str],
    *,
    oob: tuple[str, ...] = (),
    status: int = 200,
    **extra,
) -> HttpResponse:
    """Render the named fragments of the deal page (and `oob` ones with hx-swap-oob) for htmx; a redirect
    to the page (on success) or the whole page with the error in place (on failure) otherwise."""
    if not request.htmx and status < 400:
        return redirect("deal_detail", deal.id)
    context = page_context(membership, deal, **extra)
    if not request.htmx:
        return render(request, TEMPLATE, context, status=status)
    parts = [render(request, f"{TEMPLATE}#{name}", context) for name in fragments]
    parts += [render(request, f"{TEMPLATE}#{name}", {**context, "oob": True}) for name in oob]
    response = concat(*parts, status=status)
    if status < 400 and "deal_body" not in fragments:
        # Sections that refresh themselves (the plays: a stakeholder's role or a plan step can change
        # them) listen for this; a re-rendered body already has them fresh.
        trigger_client_event(response, "dealChanged")
    return response


def refusal(request: HtmxHttpRequest, membership: Membership, deal: Deal, exc: ServiceError) -> HttpResponse:
    """A refused write (e.g. NotAllowed → 403), said in the page's message area."""
    if not request.htmx:
        context = page_context(membership, deal, flash_message=exc.message)
        return render(request, TEMPLATE, context, status=error_status(exc))
    response = HttpResponse(
        format_html('<div class="alert alert-danger py-2 mb-2" role="alert">{}</div>', exc.message),
        status=error_status(exc),
    )
    return reswap(retarget(response, "#deal-flash"), "innerHTML")


@member_view
def deal_detail(request: HtmxHttpRequest, membership: Membership, deal_id: int):
    deal = get_deal(membership, deal_id)
    return wrong_method(request) or render(request, TEMPLATE, page_context(membership, deal))


@deal_action
def deal_move_view(request: HtmxHttpRequest, membership: Membership, deal: Deal):
    """Move the deal to another stage: from a board card (answers with the card) or the deal page."""
    if request.POST.get("context") == "board" and request.htmx:
        return move_on_board(request, membership, deal)
    form = MoveForm(request.POST)
    extra: dict = {}
    status = 200
    if not form.is_valid():
        extra["move_message"] = first_error(form)
        status = 422
    else:
        to_stage = (
            Stage.objects.for_org(membership.organization)
            .filter(process_id=deal.process_id, pk=form.cleaned_data["to_stage"])
            .first()
        )
        if to_stage is None:
            extra["move_message"] = "That stage is not in this deal's process."
            status = 422
        else:
            try:
                deal_move(
                    deal=deal,
                    to_stage=to_stage,
                    by=membership,
                    expected_version=form.cleaned_data["version"],
                    override_reason=form.cleaned_data["override_reason"] or None,
                )
                extra["move_done"] = f"Moved to {to_stage.name}."
                if not request.htmx:
                    messages.success(request, extra["move_done"])
            except CriteriaUnmet as exc:
                extra.update(
                    unmet=exc.unmet,
                    unmet_critical=any(c["importance"] == "critical" for c in exc.unmet),
                    can_override=exc.can_override,
                    to_stage=to_stage,
                )
                status = error_status(exc)
            except NotAllowed as exc:
                return refusal(request, membership, deal, exc)
            except ServiceError as exc:
                extra["move_message"] = exc.message
                status = error_status(exc)
    deal = get_deal(membership, deal.id)
    return respond(request, membership, deal, ["deal_body"], status=status, **extra)


@deal_action
def deal_win_view(request: HtmxHttpRequest, membership: Membership, deal: Deal):
    form = VersionForm(request.POST)
    if not form.is_valid():
        return respond(request, membership, deal, ["deal_body"], status=422, move_message=first_error(form))
    try:
        deal_win(deal=deal, by=membership, expected_version=form.cleaned_data["version"])
    except NotAllowed as exc:
        return refusal(request, membership, deal, exc)
    except ServiceError as exc:
        deal = get_deal(membership, deal.id)
        return respond(
            request, membership, deal, ["deal_body"], status=error_status(exc), move_message=exc.message
        )
    if not request.htmx:
        messages.success(request, "Deal won.")
    deal = get_deal(membership, deal.id)
    return respond(request, membership, deal, ["deal_body"], move_done="Marked as won. Congratulations!")


@deal_action
def deal_lose_view(request: HtmxHttpRequest, membership: Membership, deal: Deal):
    form = LoseForm(request.POST)
    status = 422
    if form.is_valid():
        try:
            deal_lose(
                deal=deal,
                by=membership,
                expected_version=form.cleaned_data["version"],
                reason=form.cleaned_data["reason"],
            )
        except NotAllowed as exc:
            return refusal(request, membership, deal, exc)
        except InvalidInput as exc:
            for key, msgs in exc.errors.items():
                for msg in msgs:
                    form.add_error("reason" if key == "reason" else None, msg)
        except StaleVersion as exc:
            form.add_error(None, exc.message)
            status = error_status(exc)
        else:
            if not request.htmx:
                messages.success(request, "Deal marked as lost.")
            deal = get_deal(membership, deal.id)
            return respond(request, membership, deal, ["deal_body"], move_done="Marked as lost.")
    deal = get_deal(membership, deal.id)
    return respond(request, membership, deal, ["deal_body"], status=status, lose_form=form, lose_open=True)
