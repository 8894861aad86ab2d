"""The authentication backend loads a session's user with their memberships, in one query, and keeps
every check ModelBackend makes."""

from django.urls import reverse

from orgs.backends import MembershipModelBackend
from orgs.models import Membership
from tests.factories import MembershipFactory, UserFactory


def test_the_user_comes_with_their_active_memberships_in_one_query(rep, other_org, django_assert_num_queries):
    MembershipFactory(organization=other_org, user=rep.user)
    Membership.objects.filter(pk=rep.pk).update(is_active=False)
    MembershipFactory(organization__name="Zeta", user=rep.user)

    with django_assert_num_queries(1):
        user = MembershipModelBackend().get_user(rep.user_id)

    assert user == rep.user
    assert [m.organization.name for m in user._active_memberships] == ["Other Co", "Zeta"]
    assert all(m.user is user for m in user._active_memberships)


def test_a_user_without_memberships_still_signs_in(db):
    user = UserFactory()

    loaded = MembershipModelBackend().get_user(user.id)

    assert loaded == user and loaded._active_memberships == []


def test_an_inactive_user_is_nobody(rep, client):
    client.force_login(rep.user)
    rep.user.is_active = False
    rep.user.save()

    assert MembershipModelBackend().get_user(rep.user_id) is None
    assert client.get(reverse("board_default")).status_code == 302  # to the sign-in page


def test_a_password_change_elsewhere_ends_the_session(rep, client):
    client.force_login(rep.user)
    assert client.get(reverse("board_default")).status_code == 200

    rep.user.set_password("another-pass-word-456")
    rep.user.save()

    response = client.get(reverse("board_default"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_the_session_org_is_picked_from_the_loaded_memberships(client, rep, other_org):
    MembershipFactory(organization=other_org, user=rep.user)
    client.force_login(rep.user)

    client.post(reverse("org_switch"), {"organization": other_org.id})
    response = client.get(reverse("board_default"))

    assert response.context["membership"].organization == other_org
    assert [m.organization.slug for m in response.context["user_memberships"]] == ["acme", "other"]


def test_an_organization_named_by_header_must_be_one_of_the_users(client, rep, other_org_world):
    client.force_login(rep.user)

    assert client.get("/api/me/", headers={"X-Organization": "acme"}).status_code == 200
    assert client.get("/api/me/", headers={"X-Organization": "other"}).status_code == 403
