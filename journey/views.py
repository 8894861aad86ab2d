"""The journey on the deal page (the phase the deal is in and what it asks for; after the win, the value
plan with one conversation per stakeholder, and the expansion deals) and on the account page (the value
confirmed over time).

Objects named in a URL are looked up in the member's organization before the method or the role is
checked, so another organization's id is a 404 for everyone. Actions answer htmx with the section
(holding the confirmation or the field messages); without htmx they redirect to the deal page."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from deals.models import Deal, DealStakeholder, DealStatus
from deals.views.common import HtmxHttpRequest, deal_action, error_status, get_deal, member_view, wrong_method
from journey.models import ValueConfirmation
from journey.selectors import deal_journey, deal_links, deal_value_plan
from journey.services import (
    expansion_deal_create,
    value_confirmation_record,
    value_confirmation_reschedule,
    value_followup_plan,
    value_plan_create,
)
from orgs.models import Membership
from orgs.selectors import can_edit_deal
from salesproc.lib.errors import InvalidInput, ServiceError
from salesproc.lib.scoping import get_for_org_or_404
from salesproc.models import Process

DEAL_TEMPLATE = "journey/deal_section.html"
RECORD_FIELDS = ("held_at", "confirmed_value", "metric_name", "metric_value", "next_opportunity")


def deal_section_context(membership: Membership, deal: Deal, *, full: bool, **extra) -> dict:
    """What the section shows. The phases cost no query (the deal's stage is loaded). A won deal's
    section is rendered in full in the page: its links (one query), its value plan (two) and, for its
    editors with a recorded conversation to grow from, the processes to open an expansion in (one).
    Other deals' pages stay as cheap as before: the section loads its links itself (`full=False`
    renders a placeholder that fetches them)."""
    context = {
        "deal": deal,
        "membership": membership,
        "journey": deal_journey(deal),
        "won": deal.status == DealStatus.WON,
        "full": full or deal.status == DealStatus.WON,
        **extra,
    }
    if not context["full"]:
        return context
    links = deal_links(deal)
    can_edit = can_edit_deal(membership, deal)
    context.update(links=links, can_edit=can_edit)
    if context["won"]:
        rows = deal_value_plan(deal, links)
        context["plan"] = rows
        context["plan_started"] = any(r.confirmation for r in rows)
        context["plan_missing"] = any(r.confirmation is None for r in rows)
        if can_edit and any(r.confirmation and r.confirmation.is_held and not r.expansion for r in rows):
            context["processes"] = list(
                Process.objects.for_org(membership.organization).filter(is_active=True).order_by("name")
            )
    return context


def _section(request: HtmxHttpRequest, membership: Membership, deal: Deal, *, status: int = 200, **extra):
    deal = get_deal(membership, deal.id)
    return render(
        request, DEAL_TEMPLATE, deal_section_context(membership, deal, full=True, **extra), status=status
    )


def _back(deal: Deal) -> HttpResponse:
    return redirect(reverse("deal_detail", args=[deal.id]) + "#deal-journey")


@member_view
@vary_on_headers("HX-Request")
def deal_journey_view(request: HtmxHttpRequest, membership: Membership, deal_id: int):
    """The section alone, in full (htmx); a browser is sent to the deal page."""
    deal = get_deal(membership, deal_id)
    if refused := wrong_method(request):
        return refused
    if not request.htmx:
        return _back(deal)
    return render(request, DEAL_TEMPLATE, deal_section_context(membership, deal, full=True))


def _message(exc: ServiceError) -> str:
    if isinstance(exc, InvalidInput):
        return " ".join(m for msgs in exc.errors.values() for m in msgs)
    return exc.message


@deal_action
def value_plan_view(request: HtmxHttpRequest, membership: Membership, deal: Deal):
    """Plan one value conversation per stakeholder (those who have one keep it)."""
    try:
        value_plan_create(deal=deal, by=membership)
    except ServiceError as exc:
        message = _message(exc)
        if not request.htmx:
            messages.error(request, message)
            return _back(deal)
        return _section(request, membership, deal, status=error_status(exc), plan_error=message)
    if not request.htmx:
        messages.success(request, "Value conversations planned.")
        return _back(deal)
    return _section(request, membership, deal, plan_done="Value conversations planned, one per stakeholder.")


def _get_confirmation(membership: Membership, deal: Deal, confirmation_id: int) -> ValueConfirmation:
    return get_for_org_or_404(
        ValueConfirmation.objects.all(), membership.organization, pk=confirmation_id, deal=deal
    )


@deal_action(lookup=_get_confirmation)
def value_confirmation_record_view(
    request: HtmxHttpRequest, membership: Membership, deal: Deal, confirmation_id: int
):
    """Record a held conversation: when, the value confirmed, its metric, the next opportunity."""
    confirmation = _get_confirmation(membership, deal, confirmation_id)
    data = {f: request.POST.get(f, "") for f in RECORD_FIELDS}
    try:
        value_confirmation_record(confirmation=confirmation, by=membership, **data)
    except ServiceError as exc:
        errors = exc.errors if isinstance(exc, InvalidInput) else {"__all__": [exc.message]}
        # Templates cannot read "__all__": the form-wide messages are under "form".
        errors = {("form" if k == "__all__" else k): v for k, v in errors.items()}
        if not request.htmx:
            messages.error(request, " ".join(m for msgs in errors.values() for m in msgs))
            return _back(deal)
        return _section(
            request,
            membership,
            deal,
            status=error_status(exc),
            record_error={"id": confirmation.pk, "errors": errors, "data": data},
        )
    if not request.htmx:
        messages.success(request, "Conversation recorded.")
        return _back(deal)
    return _section(request, membership, deal, record_done=confirmation.pk)


def _get_stakeholder(membership: Membership, deal: Deal, stakeholder_id: int) -> DealStakeholder:
    return get_for_org_or_404(
        DealStakeholder.objects.select_related("contact"),
        membership.organization,
        pk=stakeholder_id,
        deal=deal,
    )


@deal_action(lookup=_get_stakeholder)
def value_followup_view(request: HtmxHttpRequest, membership: Membership, deal: Deal, stakeholder_id: int):
    """Plan the next value conversation with one stakeholder (the last one was held)."""
    stakeholder = _get_stakeholder(membership, deal, stakeholder_id)
    planned_for = request.POST.get("planned_for", "")
    try:
        value_followup_plan(deal=deal, stakeholder=stakeholder, by=membership, planned_for=planned_for)
    except ServiceError as exc:
        if not request.htmx:
            messages.error(request, _message(exc))
            return _back(deal)
        return _section(
            request,
            membership,
            deal,
            status=error_status(exc),
            followup_error={"id": stakeholder.pk, "message": _message(exc), "planned_for": planned_for},
        )
    if not request.htmx:
        messages.success(request, f"Follow-up with {stakeholder.contact.name} planned.")
        return _back(deal)
    return _section(request, membership, deal, followup_done=stakeholder.pk)


@deal_action(lookup=_get_confirmation)
def value_confirmation_reschedule_view(
    request: HtmxHttpRequest, membership: Membership, deal: Deal, confirmation_id: int
):
    """Move a conversation still to hold to another day."""
    confirmation = _get_confirmation(membership, deal, confirmation_id)
    planned_for = request.POST.get("planned_for", "")
    try:
        value_confirmation_reschedule(confirmation=confirmation, by=membership, planned_for=planned_for)
    except ServiceError as exc:
        if not request.htmx:
            messages.error(request, _message(exc))
            return _back(deal)
        return _section(
            request,
            membership,
            deal,
            status=error_status(exc),
            reschedule_error={"id": confirmation.pk, "message": _message(exc), "planned_for": planned_for},
        )
    if not request.htmx:
        messages.success(request, "Conversation rescheduled.")
        return _back(deal)
    return _section(request, membership, deal, record_done=confirmation.pk, done_text="Rescheduled.")


@deal_action(lookup=_get_confirmation)
def expansion_deal_view(request: HtmxHttpRequest, membership: Membership, deal: Deal, confirmation_id: int):
    """Open an expansion deal from a recorded conversation, in the chosen process; go to it."""
    confirmation = _get_confirmation(membership, deal, confirmation_id)
    process_id = request.POST.get("process", "")
    process = (
        Process.objects.for_org(membership.organization).filter(pk=process_id).first()
        if process_id.isdigit()
        else None
    )
    try:
        new = expansion_deal_create(
            confirmation=confirmation, by=membership, process=process, name=request.POST.get("name")
        )
    except ServiceError as exc:
        message = _message(exc)
        if not request.htmx:
            messages.error(request, message)
            return _back(deal)
        return _section(
            request,
            membership,
            deal,
            status=error_status(exc),
            expansion_error={"id": confirmation.pk, "message": message},
        )
    url = reverse("deal_detail", args=[new.id])
    if not request.htmx:
        messages.success(request, f"Expansion deal {new.name} opened.")
        return redirect(url)
    return HttpResponseClientRedirect(url)
