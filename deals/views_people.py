"""Accounts and contacts: lists (search, keyset pages, no COUNT), their pages, and create and edit forms.
Any member of the organization may create and edit them; every write goes through deals.services."""

from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from deals.forms_people import AccountForm, ContactForm, keyset_cursor, search_text
from deals.models import Account, Contact, Deal, DealStakeholder, DealStatus
from deals.services import account_create, account_update, contact_create, contact_update
from orgs.forms import parse_id
from orgs.models import Membership, Organization
from orgs.views import member_required, render_fragments
from salesproc.lib.errors import InvalidInput
from salesproc.lib.scoping import get_for_org_or_404

PAGE_SIZE = 50
# A page shows at most this many of an account's deals and contacts (newest deals first).
DETAIL_ROWS = 100
ACCOUNT_OPTIONS = 50


def _keyset_page(request, qs: QuerySet) -> tuple[list, str | None, bool]:
    """One page of `qs` in (name, id) order after the cursor, the next page's query string (None on the
    last page) and whether this is a later page. One query, no COUNT."""
    cursor = keyset_cursor(request)
    if cursor is not None:
        name, after_id = cursor
        qs = qs.filter(Q(name__gt=name) | Q(name=name, id__gt=after_id))
    rows = list(qs.order_by("name", "id")[: PAGE_SIZE + 1])
    next_query = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        keep = [("q", search_text(request))] if search_text(request) else []
        next_query = urlencode([*keep, ("after_name", rows[-1].name), ("after", rows[-1].id)])
    return rows, next_query, cursor is not None


def _list_response(request, template: str, context: dict):
    # The search box asks for the results alone (hx-get with hx-push-url): same URL, less HTML.
    if request.htmx and not request.htmx.boosted and request.htmx.target == "results":
        return render(request, f"{template}#results", context)
    return render(request, template, context)


def _to(request, url: str):
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


# Accounts


@member_required
@vary_on_headers("HX-Request", "HX-Target")
def account_list(request, membership: Membership):
    """The org's accounts by name, 50 a page, with ?q= search on the name and their open-deal counts."""
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    org = membership.organization
    q = search_text(request)
    qs = Account.objects.for_org(org)
    if q:
        qs = qs.filter(name__icontains=q)
    accounts, next_query, later_page = _keyset_page(request, qs)
    open_deals = dict(
        Deal.objects.filter(organization=org, account_id__in=[a.id for a in accounts], status=DealStatus.OPEN)
        .values_list("account_id")
        .annotate(n=Count("id"))
        .values_list("account_id", "n")
    )
    for a in accounts:
        a.open_deals = open_deals.get(a.id, 0)
    context = {
        "accounts": accounts,
        "q": q,
        "next_query": next_query,
        "first_query": urlencode([("q", q)] if q else []) if later_page else None,
        "later_page": later_page,
    }
    return _list_response(request, "deals/account_list.html", context)


@member_required
def account_create_view(request, membership: Membership):
    """A new account; then its page."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    form = AccountForm(
        request.POST if request.method == "POST" else None, initial={"name": search_text(request)}
    )
    if request.method == "POST" and form.is_valid():
        try:
            account = account_create(by=membership, **form.service_fields())
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f'Created the account "{account.name}".')
            return _to(request, reverse("account_detail", args=[account.id]))
    status = 422 if form.errors else 200
    return render(request, "deals/account_form.html", {"form": form}, status=status)


def _get_account(membership: Membership, account_id: int) -> Account:
    return get_for_org_or_404(Account, membership.organization, pk=account_id)


def _account_context(account: Account, **extra) -> dict:
    """The account with its deals (newest first) and contacts: two queries."""
    deals = list(
        Deal.objects.filter(organization_id=account.organization_id, account=account)
        .select_related("stage", "owner")
        .order_by("-id")[: DETAIL_ROWS + 1]
    )
    contacts = list(
        Contact.objects.filter(organization_id=account.organization_id, account=account).order_by(
            "name", "id"
        )[: DETAIL_ROWS + 1]
    )
    context = {
        "account": account,
        "deals": deals[:DETAIL_ROWS],
        "more_deals": len(deals) > DETAIL_ROWS,
        "contacts": contacts[:DETAIL_ROWS],
        "more_contacts": len(contacts) > DETAIL_ROWS,
    }
    context.update(extra)
    return context


@member_required
def account_detail(request, membership: Membership, account_id: int):
    """The account's facts (editable in place), its deals and its contacts."""
    account = _get_account(membership, account_id)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    if request.htmx and request.htmx.target == f"account-{account.id}":
        return render(request, "deals/account_detail.html#facts", {"account": account})
    return render(request, "deals/account_detail.html", _account_context(account))


@member_required
def account_update_view(request, membership: Membership, account_id: int):
    """GET: the facts as a form in place. POST: save them; field messages on bad input."""
    account = _get_account(membership, account_id)
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    template = "deals/account_detail.html"
    if request.method == "GET":
        form = AccountForm(initial={f: getattr(account, f) for f in ("name", "industry", "website", "notes")})
    else:
        form = AccountForm(request.POST)
        if form.is_valid():
            try:
                account = account_update(account=account, by=membership, **form.service_fields())
            except InvalidInput as exc:
                form.add_service_errors(exc)
            else:
                if not request.htmx:
                    messages.success(request, "Saved.")
                    return redirect("account_detail", account.id)
                context = {"account": account, "flash": ("success", f'Saved "{account.name}".')}
                return render_fragments(request, template, ["facts"], context, oob=("flash",))
    status = 422 if form.errors else 200
    if request.htmx:
        return render(request, f"{template}#facts_form", {"account": account, "form": form}, status=status)
    return render(request, template, _account_context(account, form=form, editing=True), status=status)


# Contacts


@member_required
@vary_on_headers("HX-Request", "HX-Target")
def contact_list(request, membership: Membership):
    """The org's contacts by name, 50 a page, with ?q= search on name, email and job title."""
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    org = membership.organization
    q = search_text(request)
    qs = Contact.objects.for_org(org).select_related("account")
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(email__icontains=q) | Q(title__icontains=q))
    contacts, next_query, later_page = _keyset_page(request, qs)
    context = {
        "contacts": contacts,
        "q": q,
        "next_query": next_query,
        "first_query": urlencode([("q", q)] if q else []) if later_page else None,
        "later_page": later_page,
    }
    return _list_response(request, "deals/contact_list.html", context)


def _account_options(org: Organization, *, q: str = "", selected: Account | None = None) -> list[Account]:
    """Accounts to offer in the contact form's picker: the first matches by name, plus the chosen one."""
    qs = Account.objects.for_org(org)
    if q:
        qs = qs.filter(name__icontains=q)
    options = list(qs.order_by("name", "id")[:ACCOUNT_OPTIONS])
    if selected is not None and all(a.id != selected.id for a in options):
        options.insert(0, selected)
    return options


def _selected_account(form: ContactForm, org: Organization, fallback: Account | None) -> Account | None:
    """The account the form shows as chosen: the submitted one when it is ours, else `fallback`."""
    if not form.is_bound:
        return fallback
    account_id = parse_id(form.data.get("account"))
    if account_id is None:
        return None
    return Account.objects.for_org(org).filter(pk=account_id).first()


def _contact_form_context(membership: Membership, form: ContactForm, selected: Account | None, **extra):
    return {
        "form": form,
        "selected_account": selected,
        "account_options": _account_options(membership.organization, selected=selected),
        **extra,
    }


@member_required
def contact_account_options(request, membership: Membership):
    """The contact form's account picker, filtered by what was typed (htmx)."""
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    org = membership.organization
    selected_id = parse_id(request.GET.get("account"))
    selected = Account.objects.for_org(org).filter(pk=selected_id).first() if selected_id else None
    q = (request.GET.get("account_q") or "").strip()[:200]
    context = {"account_options": _account_options(org, q=q, selected=selected), "selected_account": selected}
    return render(request, "deals/contact_account_options.html", context)


@member_required
def contact_create_view(request, membership: Membership):
    """A new contact, at an account (?account=<id> picks it); then the contact's page."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    org = membership.organization
    preset_id = parse_id(request.GET.get("account"))
    preset = Account.objects.for_org(org).filter(pk=preset_id).first() if preset_id else None
    form = ContactForm(
        request.POST if request.method == "POST" else None,
        org=org,
        initial={"account": preset.id if preset else None, "name": search_text(request)},
    )
    if request.method == "POST" and form.is_valid():
        try:
            contact = contact_create(by=membership, **form.service_fields())
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f'Added the contact "{contact.name}".')
            return _to(request, reverse("contact_detail", args=[contact.id]))
    context = _contact_form_context(membership, form, _selected_account(form, org, preset))
    return render(request, "deals/contact_form.html", context, status=422 if form.errors else 200)


def _get_contact(membership: Membership, contact_id: int) -> Contact:
    return get_for_org_or_404(
        Contact.objects.select_related("account"), membership.organization, pk=contact_id
    )


def _contact_context(contact: Contact, **extra) -> dict:
    """The contact with the deals they are a stakeholder on: one query."""
    roles = list(
        DealStakeholder.objects.filter(organization_id=contact.organization_id, contact=contact)
        .select_related("deal__stage", "deal__account", "deal__owner")
        .order_by("-deal_id")[:DETAIL_ROWS]
    )
    context = {"contact": contact, "roles": roles}
    context.update(extra)
    return context


@member_required
def contact_detail(request, membership: Membership, contact_id: int):
    """The contact's details (editable in place) and the deals they are a stakeholder on, with their role."""
    contact = _get_contact(membership, contact_id)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    if request.htmx and request.htmx.target == f"contact-{contact.id}":
        return render(request, "deals/contact_detail.html#facts", {"contact": contact})
    return render(request, "deals/contact_detail.html", _contact_context(contact))


@member_required
def contact_update_view(request, membership: Membership, contact_id: int):
    """GET: the details as a form in place. POST: save them; field messages on bad input."""
    contact = _get_contact(membership, contact_id)
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    org = membership.organization
    template = "deals/contact_detail.html"
    if request.method == "GET":
        initial = {f: getattr(contact, f) for f in ("name", "title", "email", "phone")}
        form = ContactForm(initial={**initial, "account": contact.account_id}, org=org)
    else:
        form = ContactForm(request.POST, org=org)
        if form.is_valid():
            try:
                contact = contact_update(contact=contact, by=membership, **form.service_fields())
            except InvalidInput as exc:
                form.add_service_errors(exc)
            else:
                if not request.htmx:
                    messages.success(request, "Saved.")
                    return redirect("contact_detail", contact.id)
                context = {"contact": contact, "flash": ("success", f'Saved "{contact.name}".')}
                return render_fragments(request, template, ["facts"], context, oob=("flash",))
    form_context = _contact_form_context(membership, form, _selected_account(form, org, contact.account))
    status = 422 if form.errors else 200
    if request.htmx:
        return render(request, f"{template}#facts_form", {"contact": contact, **form_context}, status=status)
    return render(request, template, _contact_context(contact, editing=True, **form_context), status=status)
