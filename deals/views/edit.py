"""The deal list (keyset pages, no COUNT) and the deal create and edit forms."""

from urllib.parse import urlencode

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from deals.forms import (
    GAP_FILTER_CHOICES,
    DealForm,
    DealListFilterForm,
    VersionForm,
    gap_query_value,
    parse_id,
)
from deals.models import DealStatus
from deals.selectors import account_choices, active_processes, deal_list_page, org_members
from deals.services import account_create, deal_create, deal_update
from deals.views.common import HtmxHttpRequest, error_status, get_deal, member_view
from orgs.models import Membership, Role
from orgs.selectors import can_edit_deal, team_user_ids
from salesproc.lib.errors import InvalidInput, NotAllowed, StaleVersion


@member_view
@require_GET
def deal_list(request: HtmxHttpRequest, membership: Membership):
    """All the org's deals, newest first, 50 a page; "Next" carries the last id as the cursor. Filters:
    search, status, process, owner and stakeholder gap (an unknown gap is ignored and said so)."""
    org = membership.organization
    form = DealListFilterForm(request.GET)
    values = form.values(membership)
    deals, next_cursor = deal_list_page(org=org, **values)
    data = form.cleaned_data
    keep = [(k, data[k]) for k in ("q", "status", "process", "owner") if data.get(k)]
    gap_value = gap_query_value(values["gaps"]) if values["gaps"] else ""
    if gap_value:
        keep.append(("gap", gap_value))
    context = {
        "deals": deals,
        "filter_form": form,
        "values": values,
        "owner_value": data.get("owner", ""),
        "processes": active_processes(org=org),
        "members": org_members(org=org),
        "status_choices": DealStatus.choices,
        "gap_filters": GAP_FILTER_CHOICES,
        "gap_value": gap_value,
        "gap_error": form.gap_error,
        "next_url": f"?{urlencode([*keep, ('before', next_cursor)])}" if next_cursor else None,
        "first_url": f"?{urlencode(keep)}" if values["before_id"] else None,
        "filtered": bool(keep),
    }
    return render(request, "deals/deal_list.html", context)


def _owner_members(membership: Membership, members: list[Membership]) -> list[Membership]:
    """Whom this member may make the owner of a deal: admins anyone, managers their team."""
    if membership.role == Role.ADMIN:
        return members
    if membership.role == Role.MANAGER:
        team = team_user_ids(membership)
        return [m for m in members if m.user_id in team]
    return []


def _form_context(membership: Membership, form: DealForm, **extra) -> dict:
    selected = form["account"].value() if form.is_bound else form.initial.get("account")
    selected_id = parse_id(getattr(selected, "pk", selected))
    return {
        "form": form,
        "accounts": account_choices(org=membership.organization, selected_id=selected_id),
        "selected_account_id": selected_id,
        "shows_owner": membership.role in (Role.ADMIN, Role.MANAGER),
        **extra,
    }


def _account_for(membership: Membership, form: DealForm):
    """A new account created from the typed name (inside the caller's transaction), else the chosen one."""
    data = form.cleaned_data
    if not data.get("new_account"):
        return data["account"]
    try:
        return account_create(by=membership, name=data["new_account"])
    except InvalidInput as exc:
        raise InvalidInput({"new_account" if k == "name" else k: v for k, v in exc.errors.items()}) from None


@member_view
def deal_create_view(request: HtmxHttpRequest, membership: Membership):
    """A new deal: pick the process and the account (or name a new one); it enters the first stage."""
    org = membership.organization
    processes = active_processes(org=org)
    owners = _owner_members(membership, org_members(org=org)) if membership.is_manager else []
    if request.method == "POST":
        form = DealForm(request.POST, org=org, members=owners, creating=True)
        if form.is_valid():
            try:
                with transaction.atomic():
                    deal = deal_create(
                        by=membership,
                        process=form.cleaned_data["process"],
                        account=_account_for(membership, form),
                        **form.service_fields(include_owner=bool(owners)),
                    )
            except NotAllowed as exc:
                form.add_error(None, exc.message)
            except InvalidInput as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"Deal “{deal.name}” created in {deal.stage.name}.")
                return redirect("deal_detail", deal.id)
        status = 422
    elif request.method == "GET":
        initial = {"currency": org.default_currency, "process": processes[0].id if processes else None}
        account_id = parse_id(request.GET.get("account"))
        if account_id:
            initial["account"] = account_id
        form = DealForm(initial=initial, org=org, members=owners, creating=True)
        status = 200
    else:
        return HttpResponseNotAllowed(["GET", "POST"])
    context = _form_context(membership, form, creating=True, processes=processes, owners=owners)
    return render(request, "deals/deal_form.html", context, status=status)


@member_view
def deal_edit(request: HtmxHttpRequest, membership: Membership, deal_id: int):
    """Edit the deal's fields; the hidden version makes a concurrent edit a clear message, not a loss."""
    org = membership.organization
    deal = get_deal(membership, deal_id)
    if not can_edit_deal(membership, deal):
        context = {
            "deal": deal,
            "refused": "You can read this deal but not change it: it belongs to another rep.",
        }
        return render(request, "deals/deal_form.html", context, status=403)
    owners = _owner_members(membership, org_members(org=org)) if membership.is_manager else []
    status = 200
    current_version = deal.version
    if request.method == "POST":
        form = DealForm(request.POST, org=org, members=owners, creating=False)
        version_form = VersionForm(request.POST)
        if form.is_valid() and version_form.is_valid():
            try:
                with transaction.atomic():
                    deal_update(
                        deal=deal,
                        by=membership,
                        expected_version=version_form.cleaned_data["version"],
                        account=_account_for(membership, form),
                        **form.service_fields(include_owner=bool(owners)),
                    )
            except (NotAllowed, StaleVersion) as exc:
                form.add_error(None, exc.message)
                status = error_status(exc)
                current_version = getattr(exc, "current_version", current_version)
            except InvalidInput as exc:
                form.add_service_errors(exc)
                status = 422
            else:
                messages.success(request, "Deal saved.")
                return redirect("deal_detail", deal.id)
        else:
            if not version_form.is_valid():
                form.add_error(None, "The form is missing the deal's version: reload the page.")
            status = 422
        version = request.POST.get("version", "")
    elif request.method == "GET":
        form = DealForm(
            initial={
                "name": deal.name,
                "account": deal.account_id,
                "owner": deal.owner_id,
                "amount": f"{deal.amount:f}",
                "currency": deal.currency,
                "expected_close": deal.expected_close.isoformat() if deal.expected_close else "",
                "industry": deal.industry,
                "budget": f"{deal.budget:f}" if deal.budget is not None else "",
                "lead_source": deal.lead_source,
                "description": deal.description,
                "competitors": ", ".join(deal.tags.filter(kind="competitor").values_list("value", flat=True)),
                "objections": ", ".join(deal.tags.filter(kind="objection").values_list("value", flat=True)),
            },
            org=org,
            members=owners,
            creating=False,
        )
        version = deal.version
    else:
        return HttpResponseNotAllowed(["GET", "POST"])
    context = _form_context(
        membership,
        form,
        creating=False,
        deal=deal,
        version=version,
        current_version=current_version,
        owners=owners,
    )
    return render(request, "deals/deal_form.html", context, status=status)


@member_view
@require_GET
def deal_account_options(request: HtmxHttpRequest, membership: Membership):
    """The account picker's options matching ?account_q= (at most a hundred), keeping ?account= chosen."""
    q = (request.GET.get("account_q") or "").strip()[:200]
    selected_id = parse_id(request.GET.get("account"))
    accounts = account_choices(org=membership.organization, q=q, selected_id=selected_id)
    return render(
        request,
        "deals/deal_form.html#account_options",
        {"accounts": accounts, "selected_account_id": selected_id},
    )
