"""API permission: a signed-in, active member of an organization."""

from rest_framework.permissions import BasePermission

from orgs.middleware import current_membership


class IsOrgMember(BasePermission):
    """Signed in (session or token) and an active member of an organization."""

    message = "You are not an active member of any organization."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        membership = current_membership(request._request)
        request.membership = membership
        return membership is not None
