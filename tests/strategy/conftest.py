"""Strategy test helpers: named people (mentions resolve by name) and API clients."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orgs.models import Role
from tests.factories import MembershipFactory


@pytest.fixture
def named(rep, manager, other_rep, admin):
    """Give the org's people names a comment can @mention: the rep Riley Chen, their manager Mara
    Lopez, the other rep Sam Ortiz, the admin Ada Admin."""
    for membership, name in [
        (rep, "Riley Chen"),
        (manager, "Mara Lopez"),
        (other_rep, "Sam Ortiz"),
        (admin, "Ada Admin"),
    ]:
        membership.user.full_name = name
        membership.user.save(update_fields=["full_name"])
    return {"rep": rep, "manager": manager, "other_rep": other_rep, "admin": admin}


@pytest.fixture
def other_manager(org):
    """A manager with a team of their own, not above the rep."""
    return MembershipFactory(organization=org, role=Role.MANAGER, user__email="manager2@acme.test")


@pytest.fixture
def api():
    """`api(membership)`: an APIClient sending that member's token."""

    def make(membership) -> APIClient:
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=membership.user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make
