"""Sign-in, the home redirect, the organization switcher and the members page (admins only).

The access helpers at the top (`member_required`, `render_fragments`) are shared by the process editor
and the account and contact pages."""

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from orgs.forms import InviteForm, MemberForm, parse_id
from orgs.middleware import SESSION_ORG_KEY, current_membership
from orgs.models import Membership, Role
from orgs.services import member_invite, member_update
from salesproc.lib.errors import InvalidInput
from salesproc.lib.scoping import get_for_org_or_404

# Access helpers shared by the page modules


def member_required(view: Callable) -> Callable:
    """Signed in and an active member of an organization; the view gets the membership.

    Signed-out visitors go to the login page and members of no organization to the home page, which
    says so; an htmx request is sent there with HX-Redirect rather than a page swapped into a fragment."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if request.htmx:
                login = reverse("login") + "?" + urlencode({"next": request.htmx.current_url_abs_path or "/"})
                return HttpResponseClientRedirect(login)
            return redirect_to_login(request.get_full_path())
        membership = current_membership(request)
        if membership is None:
            return HttpResponseClientRedirect(reverse("home")) if request.htmx else redirect("home")
        return view(request, membership, *args, **kwargs)

    return wrapper


def render_fragments(
    request, template: str, names: list[str], context: dict, *, oob: tuple[str, ...] = (), status: int = 200
) -> HttpResponse:
    """Several partials of one template as one htmx response; the `oob` ones carry hx-swap-oob."""
    parts = [render(request, f"{template}#{name}", context).content for name in names]
    parts += [render(request, f"{template}#{name}", {**context, "oob": True}).content for name in oob]
    return HttpResponse(b"".join(parts), status=status)


# Home and organizations


@require_GET
def home(request):
    """Send a member to the board that fits their role; a signed-in user with no organization is told so."""
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("home"))
    membership = current_membership(request)
    if membership is None:
        return render(request, "orgs/no_organization.html", status=200)
    query = {Role.REP: "?owner=me", Role.MANAGER: "?team=1"}.get(membership.role, "")
    return redirect(reverse("board_default") + query)


@require_POST
def org_switch(request):
    """Work in another organization the user is an active member of; any other id changes nothing."""
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("home"))
    org_id = parse_id(request.POST.get("organization"))
    target = (
        Membership.objects.select_related("organization")
        .filter(user=request.user, is_active=True, organization_id=org_id)
        .first()
        if org_id
        else None
    )
    if target is None:
        messages.error(request, "You are not a member of that organization.")
        return redirect("home")
    request.session[SESSION_ORG_KEY] = target.organization_id
    messages.success(request, f"You are now working in {target.organization.name}.")
    return redirect("home")


# Members (admins only)

MEMBERS_TEMPLATE = "orgs/member_list.html"


def _require_admin(membership: Membership) -> None:
    if not membership.can_manage_members:
        raise PermissionDenied("Only admins manage members.")


def _members(membership: Membership) -> list[Membership]:
    """Everyone in the org with their user and manager: one query, whatever the number of members."""
    return list(
        Membership.objects.filter(organization_id=membership.organization_id)
        .select_related("user", "manager__user")
        .order_by("-is_active", "user__full_name", "user__email")
    )


def _members_context(membership: Membership, **extra) -> dict:
    context = {"members": _members(membership)}
    context.update(extra)
    return context


@member_required
@require_GET
def member_list(request, membership: Membership):
    """The org's members with role, manager and access, and the invite form."""
    _require_admin(membership)
    context = _members_context(membership, invite_form=InviteForm(org=membership.organization))
    return render(request, MEMBERS_TEMPLATE, context)


@member_required
@require_POST
def member_invite_view(request, membership: Membership):
    """Invite a person by email; the set-password link is emailed and shown to the admin as well."""
    _require_admin(membership)
    org = membership.organization
    form = InviteForm(request.POST, org=org)
    link = invited = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            invited, link = member_invite(
                org=org,
                by=membership,
                email=data["email"],
                role=data["role"],
                full_name=data["full_name"],
                manager=data["manager"],
            )
        except InvalidInput as exc:
            form.add_service_errors(exc)
    if invited is None:
        context = _members_context(membership, invite_form=form)
        if request.htmx:
            return render_fragments(request, MEMBERS_TEMPLATE, ["invite_card"], context, status=422)
        return render(request, MEMBERS_TEMPLATE, context, status=422)
    if not request.htmx:
        messages.success(request, f"Invited {invited.user.email}. Their set-password link: {link}")
        return redirect("member_list")
    context = _members_context(membership, invite_form=InviteForm(org=org), invite_link=link, invited=invited)
    return render_fragments(request, MEMBERS_TEMPLATE, ["invite_card"], context, oob=("members_table",))


def _get_member(membership: Membership, membership_id: int) -> Membership:
    qs = Membership.objects.select_related("user", "manager__user", "organization")
    return get_for_org_or_404(qs, membership.organization, pk=membership_id)


@member_required
def member_row(request, membership: Membership, membership_id: int):
    """One member's row as shown in the table (the edit form's Cancel)."""
    member = _get_member(membership, membership_id)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET"])
    _require_admin(membership)
    return render(request, f"{MEMBERS_TEMPLATE}#member_row", {"m": member})


@member_required
@require_http_methods(["GET", "POST"])
def member_edit(request, membership: Membership, membership_id: int):
    """GET: the member's row as a form. POST: change role, manager or access through member_update."""
    member = _get_member(membership, membership_id)
    _require_admin(membership)
    form = MemberForm(request.POST if request.method == "POST" else None, membership=member)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            member = member_update(
                membership=member,
                by=membership,
                role=data["role"],
                manager=data["manager"],
                is_active=data["is_active"],
            )
        except InvalidInput as exc:
            form.add_service_errors(exc)
            # member_update sets the new values before its last check refuses them.
            member = _get_member(membership, membership_id)
        else:
            if not request.htmx:
                messages.success(request, f"Saved {member.user.display_name}.")
                return redirect("member_list")
            return render(request, f"{MEMBERS_TEMPLATE}#member_row", {"m": member, "saved": True})
    status = 422 if form.errors else 200
    if request.htmx:
        return render(
            request, f"{MEMBERS_TEMPLATE}#member_edit_row", {"m": member, "form": form}, status=status
        )
    context = _members_context(
        membership, invite_form=InviteForm(org=membership.organization), editing_id=member.id, form=form
    )
    return render(request, MEMBERS_TEMPLATE, context, status=status)
