"""Resolve the request's organization and the user's membership in it, and activate their time zone."""

import zoneinfo

from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from orgs.backends import MEMBERSHIPS_LOADED
from orgs.models import Membership

SESSION_ORG_KEY = "org_id"


def resolve_membership(request) -> Membership | None:
    """The active membership for this request: the org chosen in the session, else the user's first.

    API token requests may name the org with the `X-Organization` header (slug); otherwise the user's
    first org is used. No query when the session's user came with their memberships (the
    MembershipModelBackend loads them with the user); one (membership + org + user) otherwise."""
    user = request.user
    if not user.is_authenticated:
        return None
    wanted_slug = request.headers.get("X-Organization")
    wanted_id = request.session.get(SESSION_ORG_KEY) if hasattr(request, "session") else None
    loaded = getattr(user, "_active_memberships", None)
    if loaded is not None and (not wanted_slug or len(loaded) < MEMBERSHIPS_LOADED):
        memberships = loaded
        if wanted_slug:
            return next((m for m in memberships if m.organization.slug == wanted_slug), None)
    else:
        qs = Membership.objects.select_related("organization", "user").filter(user=user, is_active=True)
        if wanted_slug:
            return qs.filter(organization__slug=wanted_slug).first()
        memberships = list(qs.order_by("organization__name", "id")[:MEMBERSHIPS_LOADED])
    request._user_memberships = memberships
    if not memberships:
        return None
    for m in memberships:
        if m.organization_id == wanted_id:
            return m
    return memberships[0]


class CurrentOrganizationMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = SimpleLazyObject(lambda: _cached_membership(request))
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            try:
                timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        response = self.get_response(request)
        timezone.deactivate()
        return response


def _cached_membership(request):
    if not hasattr(request, "_membership_cache"):
        request._membership_cache = resolve_membership(request)
    return request._membership_cache


def current_membership(request) -> Membership | None:
    """The request's membership or None (unwraps the lazy object)."""
    return _cached_membership(request)
