"""Sign-in, the home redirect, the organization switcher and the members page."""

import re
from html import unescape

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.urls import reverse

from orgs.middleware import SESSION_ORG_KEY
from orgs.models import Membership, Role, User
from tests.factories import MembershipFactory, UserFactory
from tests.fixtures import PASSWORD

HTMX = {"HX-Request": "true"}


def text(response) -> str:
    return unescape(response.content.decode())


# Sign in and out, passwords


def test_login_with_the_email_in_any_case_lands_on_home(client, rep):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert 'name="username"' in text(response)

    response = client.post(reverse("login"), {"username": "REP@acme.test", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.session[SESSION_KEY] == str(rep.user.pk)


def test_login_with_a_wrong_password_says_so_and_signs_nobody_in(client, rep):
    response = client.post(reverse("login"), {"username": rep.user.email, "password": "nope"})

    assert response.status_code == 200
    assert "do not match an account" in text(response)
    assert SESSION_KEY not in client.session


def test_logout_is_a_post_and_ends_the_session(client, rep):
    client.force_login(rep.user)

    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert SESSION_KEY not in client.session


def test_password_change_then_sign_in_with_the_new_password(client, rep):
    client.force_login(rep.user)
    assert client.get(reverse("password_change")).status_code == 200

    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "A-much-better-one-42",
            "new_password2": "A-much-better-one-42",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    assert client.get(reverse("password_change_done")).status_code == 200
    client.logout()
    assert client.login(username=rep.user.email, password="A-much-better-one-42")


def test_password_change_with_a_wrong_old_password_changes_nothing(client, rep):
    client.force_login(rep.user)

    response = client.post(
        reverse("password_change"),
        {
            "old_password": "wrong",
            "new_password1": "A-much-better-one-42",
            "new_password2": "A-much-better-one-42",
        },
    )

    assert response.status_code == 200
    assert "old password was entered incorrectly" in text(response)
    rep.user.refresh_from_db()
    assert rep.user.check_password(PASSWORD)


def test_forgotten_password_emails_a_link_that_sets_a_new_one(client, rep):
    response = client.post(reverse("password_reset"), {"email": "rep@acme.test"})

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    path = re.search(r"https?://[^/\s]+(/reset/\S+/)", mail.outbox[0].body).group(1)
    _set_password_through(client, path, "Fresh-pass-word-77")
    assert client.login(username=rep.user.email, password="Fresh-pass-word-77")


# Home


def test_home_sends_a_signed_out_visitor_to_login(client):
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("who", "query"), [("rep", "?owner=me"), ("manager", "?team=1"), ("ops", ""), ("admin", "")]
)
def test_home_sends_each_role_to_its_board(client, request, who, query):
    membership = request.getfixturevalue(who)
    client.force_login(membership.user)

    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response["Location"] == reverse("board_default") + query


def test_home_tells_a_user_without_an_organization_so(client, db):
    user = UserFactory(email="lonely@nowhere.test")
    client.force_login(user)

    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert "not a member of any organization" in text(response)
    assert "lonely@nowhere.test" in text(response)


def test_a_deactivated_member_gets_the_no_organization_page(client, rep):
    Membership.objects.filter(pk=rep.pk).update(is_active=False)
    client.force_login(rep.user)

    assert client.get(reverse("home")).status_code == 200
    # Pages that need an organization send them there rather than failing.
    assert client.get(reverse("account_list"))["Location"] == reverse("home")


# Organization switcher


def test_switch_to_another_organization_of_the_user(client, rep, other_org):
    MembershipFactory(organization=other_org, user=rep.user, role=Role.MANAGER)
    client.force_login(rep.user)

    response = client.post(reverse("org_switch"), {"organization": other_org.id})

    assert response.status_code == 302
    assert client.session[SESSION_ORG_KEY] == other_org.id
    # Now a manager there: home sends them to their team's board.
    assert client.get(reverse("home"))["Location"] == reverse("board_default") + "?team=1"


def test_switcher_lists_only_the_users_organizations(client, rep, other_org, other_org_world):
    MembershipFactory(organization=other_org, user=rep.user, role=Role.REP)
    client.force_login(rep.user)

    page = text(client.get(reverse("account_list")))

    assert f'value="{other_org.id}"' in page
    assert f'value="{rep.organization_id}"' in page


@pytest.mark.parametrize("value", ["foreign", "9999999", "abc", "", "99999999999999999999999"])
def test_switch_to_an_organization_the_user_is_not_in_is_refused(client, rep, other_org_world, value):
    client.force_login(rep.user)
    org_id = other_org_world["member"].organization_id if value == "foreign" else value

    response = client.post(reverse("org_switch"), {"organization": org_id}, follow=True)

    assert SESSION_ORG_KEY not in client.session
    assert "not a member of that organization" in text(response)


def test_switch_to_an_organization_where_access_was_taken_away_is_refused(client, rep, other_org):
    MembershipFactory(organization=other_org, user=rep.user, role=Role.REP, is_active=False)
    client.force_login(rep.user)

    client.post(reverse("org_switch"), {"organization": other_org.id})

    assert SESSION_ORG_KEY not in client.session


def test_switch_is_a_post(client, rep):
    client.force_login(rep.user)

    assert client.get(reverse("org_switch")).status_code == 405


# Members page


@pytest.mark.parametrize("who", ["rep", "manager", "ops"])
def test_members_page_is_for_admins_only(client, request, who):
    membership = request.getfixturevalue(who)
    client.force_login(membership.user)

    assert client.get(reverse("member_list")).status_code == 403
    response = client.post(reverse("member_invite"), {"email": "new@acme.test", "role": "rep"}, headers=HTMX)
    assert response.status_code == 403
    assert not User.objects.filter(email="new@acme.test").exists()


def test_members_page_lists_members_with_role_manager_and_access(
    client, admin, rep, manager, other_org_world
):
    Membership.objects.filter(pk=manager.pk).update(is_active=False)
    client.force_login(admin.user)

    page = text(client.get(reverse("member_list")))

    assert page.count('data-testid="member-row"') == 3
    assert "rep@acme.test" in page and "admin@acme.test" in page
    assert "admin@other.test" not in page
    row = re.search(rf'<tr id="member-{rep.id}".*?</tr>', page, re.S).group(0)
    assert "Rep" in row and manager.user.display_name in row
    assert "No access" in re.search(rf'<tr id="member-{manager.id}".*?</tr>', page, re.S).group(0)


def test_members_page_query_count_does_not_grow(client, admin, org, django_assert_num_queries):
    client.force_login(admin.user)
    client.get(reverse("member_list"))  # warm the session
    # session, user with memberships + members + the invite form's manager choices + the unread notifications badge (strategy: one COUNT on every page)
    with django_assert_num_queries(5):
        client.get(reverse("member_list"))
    for _ in range(5):
        MembershipFactory(organization=org)
    with django_assert_num_queries(5):
        client.get(reverse("member_list"))


def _set_password_through(client, path: str, password: str):
    """Follow a set-password link and set the password, as a person would."""
    response = client.get(path)
    assert response.status_code == 302  # Django swaps the token for a session-held one
    form_url = response["Location"]
    page = client.get(form_url)
    assert page.status_code == 200
    assert 'name="new_password1"' in text(page)
    response = client.post(form_url, {"new_password1": password, "new_password2": password})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_complete")


def test_invite_creates_the_member_and_emails_a_working_set_password_link(
    client, admin, manager, django_capture_on_commit_callbacks
):
    client.force_login(admin.user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("member_invite"),
            {"email": "Newbie@Acme.test", "full_name": "New Bie", "role": "rep", "manager": manager.id},
            headers=HTMX,
        )

    assert response.status_code == 200
    member = Membership.objects.select_related("user").get(user__email="newbie@acme.test")
    assert (member.role, member.manager_id, member.user.full_name) == ("rep", manager.id, "New Bie")
    assert not member.user.has_usable_password()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["newbie@acme.test"]
    link = re.search(r"https?://\S+/reset/\S+/", mail.outbox[0].body).group(0)
    assert link.startswith(settings.SITE_URL)
    # The admin sees the link too, and the table now lists the new member (out of band).
    page = text(response)
    assert link in page
    assert 'id="members-table" hx-swap-oob="true"' in page
    assert "newbie@acme.test" in page

    client.logout()
    _set_password_through(client, link.removeprefix(settings.SITE_URL), "Welcome-aboard-2026")
    assert client.login(username="newbie@acme.test", password="Welcome-aboard-2026")
    assert client.get(reverse("home"))["Location"] == reverse("board_default") + "?owner=me"


@pytest.mark.parametrize(
    ("data", "field_message"),
    [
        ({"email": "not-an-email", "role": "rep"}, "Enter a valid email address."),
        ({"email": "", "role": "rep"}, "This field is required."),
        ({"email": "x@acme.test", "role": "boss"}, "Select a valid choice."),
        ({"email": "x@acme.test", "role": "rep", "manager": "abc"}, "Select a valid choice."),
        (
            {"email": "x@acme.test", "role": "rep", "manager": "99999999999999999999999"},
            "Select a valid choice.",
        ),
        ({"email": "rep@acme.test", "role": "rep"}, "already a member of Acme Sales"),
    ],
)
def test_invite_with_bad_input_is_a_field_message_and_creates_nothing(
    client, admin, rep, data, field_message, django_capture_on_commit_callbacks
):
    client.force_login(admin.user)
    users, memberships = User.objects.count(), Membership.objects.count()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("member_invite"), data, headers=HTMX)

    assert response.status_code == 422
    assert field_message in text(response)
    assert 'data-testid="field-error"' in text(response)
    assert (User.objects.count(), Membership.objects.count()) == (users, memberships)
    assert mail.outbox == []


def test_invite_with_a_manager_of_another_org_is_refused(client, admin, other_org_world):
    client.force_login(admin.user)

    response = client.post(
        reverse("member_invite"),
        {"email": "x@acme.test", "role": "rep", "manager": other_org_world["member"].id},
        headers=HTMX,
    )

    assert response.status_code == 422
    assert not User.objects.filter(email="x@acme.test").exists()


def test_admin_edits_a_members_role_manager_and_access(client, admin, rep, manager, other_rep):
    client.force_login(admin.user)
    form = client.get(reverse("member_edit", args=[rep.id]), headers=HTMX)
    assert form.status_code == 200
    assert 'name="role"' in text(form)

    response = client.post(
        reverse("member_edit", args=[rep.id]), {"role": "manager", "manager": other_rep.id}, headers=HTMX
    )

    assert response.status_code == 200
    rep.refresh_from_db()
    assert (rep.role, rep.manager_id, rep.is_active) == ("manager", other_rep.id, False)
    assert f'id="member-{rep.id}"' in text(response)
    assert "No access" in text(response)


def test_the_last_admin_cannot_demote_themselves(client, admin):
    client.force_login(admin.user)

    response = client.post(
        reverse("member_edit", args=[admin.id]), {"role": "rep", "is_active": "on"}, headers=HTMX
    )

    assert response.status_code == 422
    assert "at least one active admin" in text(response)
    admin.refresh_from_db()
    assert admin.role == "admin"


def test_a_reporting_loop_is_refused(client, admin, rep, manager):
    client.force_login(admin.user)

    response = client.post(
        reverse("member_edit", args=[manager.id]),
        {"role": "manager", "manager": rep.id, "is_active": "on"},
        headers=HTMX,
    )

    assert response.status_code == 422
    assert "reporting loop" in text(response)
    manager.refresh_from_db()
    assert manager.manager_id is None


def test_member_pages_of_another_org_are_404(client, admin, other_org_world):
    client.force_login(admin.user)
    foreign = other_org_world["member"]

    assert client.get(reverse("member_edit", args=[foreign.id])).status_code == 404
    assert client.get(reverse("member_row", args=[foreign.id])).status_code == 404
    response = client.post(reverse("member_edit", args=[foreign.id]), {"role": "rep"})
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.role == "admin"


def test_member_edit_by_a_non_admin_is_403_and_changes_nothing(client, manager, rep):
    client.force_login(manager.user)

    response = client.post(reverse("member_edit", args=[rep.id]), {"role": "admin", "is_active": "on"})

    assert response.status_code == 403
    rep.refresh_from_db()
    assert rep.role == "rep"
