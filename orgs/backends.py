"""The authentication backend: Django's ModelBackend, loading a session's user with their memberships.

Every signed-in page needs the user and then the membership (orgs.middleware). ModelBackend loads the
user by itself; this backend loads the user's active memberships with their users and organizations
in the same query, and hangs them on the user for `resolve_membership`: one query instead of two on
every page. Password checks, permissions and the session hash check are ModelBackend's, unchanged.
"""

from django.contrib.auth.backends import ModelBackend

from orgs.models import Membership

# More organizations than anyone belongs to; the org switcher lists them all.
MEMBERSHIPS_LOADED = 50


class MembershipModelBackend(ModelBackend):
    def get_user(self, user_id):
        memberships = list(
            Membership.objects.select_related("organization", "user")
            .filter(user_id=user_id, is_active=True)
            .order_by("organization__name", "id")[:MEMBERSHIPS_LOADED]
        )
        if not memberships:
            user = super().get_user(user_id)  # no membership: the plain lookup
            if user is not None:
                user._active_memberships = []
            return user
        user = memberships[0].user
        for membership in memberships:
            membership.user = user  # one User object, as the rest of the request sees it
        user._active_memberships = memberships
        return user if self.user_can_authenticate(user) else None
