"""Accounts and contacts: lists with search and keyset pages, their pages, create and edit."""

import re
from html import unescape

import pytest
from django.urls import reverse

from deals.models import Account, Contact
from deals.services import deal_create, stakeholder_add
from tests.factories import AccountFactory, ContactFactory

HTMX = {"HX-Request": "true"}


def url(name, *args):
    return reverse(name, args=args)


def text(response) -> str:
    return unescape(response.content.decode())


def row_names(response, testid: str) -> list[str]:
    return re.findall(
        rf'data-testid="{testid}">\s*<td[^>]*><a class="fw-semibold" href="[^"]*">(.*?)</a>', text(response)
    )


# Account list


def test_account_list_shows_the_orgs_accounts_with_open_deals(client, rep, account, deal, other_org_world):
    AccountFactory(organization=rep.organization, name="Acme Widgets")
    client.force_login(rep.user)

    response = client.get(url("account_list"))

    assert response.status_code == 200
    assert row_names(response, "account-row") == ["Acme Widgets", "Globex"]
    globex = re.search(r'data-testid="account-row">.*?Globex.*?</tr>', text(response), re.S).group(0)
    assert '<td class="text-end pe-3">1</td>' in globex
    assert "Initech" not in text(response)


def test_account_search_by_name(client, rep, org, account):
    AccountFactory(organization=org, name="Globetrotter Inc")
    AccountFactory(organization=org, name="Umbrella")
    client.force_login(rep.user)

    response = client.get(url("account_list"), {"q": "glob"})

    assert row_names(response, "account-row") == ["Globetrotter Inc", "Globex"]


def test_account_search_from_the_box_answers_with_the_results_only(client, rep, account):
    client.force_login(rep.user)

    response = client.get(url("account_list"), {"q": "glob"}, headers={**HTMX, "HX-Target": "results"})

    body = text(response)
    assert body.lstrip().startswith('<div id="results">')
    assert "<html" not in body
    assert "Globex" in body


def test_account_search_without_a_match_offers_to_create_it(client, rep, account):
    client.force_login(rep.user)

    response = client.get(url("account_list"), {"q": "Soylent"})

    assert "No account matches “Soylent”" in text(response)
    assert url("account_create") + "?q=Soylent" in text(response)


def test_account_list_pages_by_name_and_id_without_duplicates(client, rep, org):
    # Equal names on a page boundary: the id breaks the tie.
    for i in range(60):
        AccountFactory(organization=org, name=f"Account {i // 3:02d}")
    client.force_login(rep.user)

    seen = []
    response = client.get(url("account_list"))
    pages = 0
    while True:
        pages += 1
        ids = [int(i) for i in re.findall(r'href="/accounts/(\d+)/"', text(response))]
        seen += ids
        nxt = re.search(r'href="(\?[^"]+)" data-testid="next-page"', text(response))
        if not nxt:
            break
        response = client.get(url("account_list") + unescape(nxt.group(1)))
    assert pages == 2
    assert len(seen) == 60 == len(set(seen))
    expected = list(
        Account.objects.filter(organization=org).order_by("name", "id").values_list("id", flat=True)
    )
    assert seen == expected


def test_account_search_is_kept_across_pages(client, rep, org):
    for i in range(55):
        AccountFactory(organization=org, name=f"Match {i:02d}")
    AccountFactory(organization=org, name="Other")
    client.force_login(rep.user)

    first = client.get(url("account_list"), {"q": "match"})
    nxt = unescape(re.search(r'href="(\?[^"]+)" data-testid="next-page"', text(first)).group(1))
    second = client.get(url("account_list") + nxt)

    assert "q=match" in nxt
    assert len(row_names(second, "account-row")) == 5
    assert "Other" not in row_names(second, "account-row")


@pytest.mark.parametrize(
    "query", ["?after=abc&after_name=x", "?after=99999999999999999999999&after_name=x", "?q=" + "x" * 500]
)
def test_account_list_ignores_unreadable_cursors(client, rep, account, query):
    client.force_login(rep.user)

    assert client.get(url("account_list") + query).status_code == 200


def test_account_list_query_count_does_not_grow(client, rep, org, account, django_assert_num_queries):
    client.force_login(rep.user)
    client.get(url("account_list"))
    # session, user with memberships + one page of accounts + their open deals + the unread notifications badge (strategy: one COUNT on every page)
    with django_assert_num_queries(5):
        client.get(url("account_list"))
    for i in range(30):
        AccountFactory(organization=org, name=f"A{i}")
    with django_assert_num_queries(5):
        client.get(url("account_list"))


def test_empty_account_list_says_what_to_do(client, rep):
    client.force_login(rep.user)

    assert "No accounts yet." in text(client.get(url("account_list")))


# Account page, create and edit


def test_account_page_shows_its_deals_and_contacts(client, rep, account, contact, deal):
    ContactFactory(organization=rep.organization, name="Elsewhere")
    client.force_login(rep.user)

    response = client.get(url("account_detail", account.id))

    body = text(response)
    assert response.status_code == 200
    assert 'data-testid="account-name">Globex</h1>' in body
    assert f'href="{url("deal_detail", deal.id)}"' in body
    assert "Globex rollout" in body
    assert f'href="{url("contact_detail", contact.id)}"' in body
    assert "Elsewhere" not in body


def test_account_page_query_count_does_not_grow(client, rep, account, process, django_assert_num_queries):
    client.force_login(rep.user)
    client.get(url("account_detail", account.id))
    # session, user with memberships + account + deals with stage and owner + contacts + the unread notifications badge (strategy: one COUNT on every page)
    with django_assert_num_queries(6):
        client.get(url("account_detail", account.id))
    for i in range(3):
        deal_create(by=rep, process=process, name=f"D{i}", account=account)
        ContactFactory(organization=rep.organization, account=account)
    with django_assert_num_queries(6):
        client.get(url("account_detail", account.id))


def test_create_an_account(client, rep):
    client.force_login(rep.user)
    assert client.get(url("account_create")).status_code == 200

    response = client.post(
        url("account_create"), {"name": " Initrode ", "industry": "Software", "website": "initrode.example"}
    )

    account = Account.objects.get(name="Initrode")
    assert response["Location"] == url("account_detail", account.id)
    assert (account.organization_id, account.website) == (rep.organization_id, "https://initrode.example")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "Required."),
        ({"name": "   "}, "Required."),
        ({"name": "x" * 201}, "At most 200 characters."),
        ({"name": "Ok", "website": "nowhere"}, "Enter a web address like example.com."),
    ],
)
def test_create_account_with_bad_input_is_a_field_message_and_writes_nothing(client, rep, data, message):
    client.force_login(rep.user)

    response = client.post(url("account_create"), data)

    assert response.status_code == 422
    assert message in text(response)
    assert 'data-testid="field-error"' in text(response)
    assert not Account.objects.exists()


def test_edit_an_account_in_place(client, rep, account):
    client.force_login(rep.user)
    form = client.get(url("account_update", account.id), headers=HTMX)
    assert 'value="Globex"' in text(form)

    response = client.post(
        url("account_update", account.id),
        {"name": "Globex Corporation", "industry": "Energy", "website": "", "notes": "Big plant."},
        headers=HTMX,
    )

    assert response.status_code == 200
    assert 'data-testid="account-name">Globex Corporation</h1>' in text(response)
    assert 'Saved "Globex Corporation".' in text(response)
    account.refresh_from_db()
    assert (account.name, account.industry, account.notes) == ("Globex Corporation", "Energy", "Big plant.")


def test_edit_an_account_with_bad_input_writes_nothing(client, rep, account):
    client.force_login(rep.user)

    response = client.post(url("account_update", account.id), {"name": "", "industry": "x"}, headers=HTMX)

    assert response.status_code == 422
    assert "Required." in text(response)
    account.refresh_from_db()
    assert (account.name, account.industry) == ("Globex", "Manufacturing")


def test_cancel_editing_shows_the_facts_again(client, rep, account):
    client.force_login(rep.user)

    response = client.get(
        url("account_detail", account.id), headers={**HTMX, "HX-Target": f"account-{account.id}"}
    )

    assert text(response).lstrip().startswith(f'<section id="account-{account.id}"')


def test_any_member_edits_accounts(client, ops, account):
    client.force_login(ops.user)

    response = client.post(url("account_update", account.id), {"name": "Globex 2"}, headers=HTMX)

    assert response.status_code == 200


# Contacts


def test_contact_list_and_search_by_name_email_or_title(client, rep, org, account, contact, other_org_world):
    ContactFactory(organization=org, name="Marge", email="marge@globex.test", title="CFO")
    ContactFactory(organization=org, name="Homer", email="homer@plant.test", title="Safety")
    client.force_login(rep.user)

    assert row_names(client.get(url("contact_list")), "contact-row") == ["Hank Scorpio", "Homer", "Marge"]
    assert row_names(client.get(url("contact_list"), {"q": "globex"}), "contact-row") == ["Marge"]
    assert row_names(client.get(url("contact_list"), {"q": "cfo"}), "contact-row") == ["Marge"]
    assert other_org_world["contact"].name not in text(client.get(url("contact_list")))


def test_contact_list_query_count_does_not_grow(client, rep, org, account, django_assert_num_queries):
    client.force_login(rep.user)
    client.get(url("contact_list"))
    # session, user with memberships + one page of contacts with their accounts + the unread notifications badge (strategy: one COUNT on every page)
    with django_assert_num_queries(4):
        client.get(url("contact_list"))
    for _ in range(30):
        ContactFactory(organization=org, account=account)
    with django_assert_num_queries(4):
        client.get(url("contact_list"))


def test_contact_page_shows_the_deals_they_are_a_stakeholder_on(client, rep, process, account, contact, deal):
    other = deal_create(by=rep, process=process, name="Not theirs", account=account)
    stakeholder_add(deal=deal, by=rep, contact=contact, role="champion")
    client.force_login(rep.user)

    response = client.get(url("contact_detail", contact.id))

    body = text(response)
    assert 'data-testid="contact-name">Hank Scorpio</h1>' in body
    assert f'href="{url("deal_detail", deal.id)}"' in body
    assert "Champion" in body
    assert f'href="{url("deal_detail", other.id)}"' not in body
    assert f'href="{url("account_detail", account.id)}"' in body


def test_create_a_contact_at_an_account(client, rep, account):
    client.force_login(rep.user)
    form = client.get(url("contact_create"), {"account": account.id})
    assert re.search(rf'<option value="{account.id}" selected>Globex</option>', text(form))

    response = client.post(
        url("contact_create"),
        {"name": "Frank Grimes", "email": "frank@globex.test", "title": "Engineer", "account": account.id},
    )

    contact = Contact.objects.get(name="Frank Grimes")
    assert response["Location"] == url("contact_detail", contact.id)
    assert (contact.account_id, contact.email, contact.organization_id) == (
        account.id,
        "frank@globex.test",
        rep.organization_id,
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "Required."),
        ({"name": "Frank", "email": "frank-at-globex"}, "Enter a valid email address."),
        ({"name": "Frank", "account": "abc"}, "Unknown account."),
        ({"name": "Frank", "account": "99999999999999999999999"}, "Unknown account."),
        ({"name": "Frank", "phone": "1" * 41}, "At most 40 characters."),
    ],
)
def test_create_contact_with_bad_input_is_a_field_message_and_writes_nothing(client, rep, data, message):
    client.force_login(rep.user)

    response = client.post(url("contact_create"), data)

    assert response.status_code == 422
    assert message in text(response)
    assert not Contact.objects.exists()


def test_a_contact_cannot_be_put_at_another_orgs_account(client, rep, other_org_world):
    client.force_login(rep.user)
    foreign = other_org_world["account"]

    response = client.post(url("contact_create"), {"name": "Spy", "account": foreign.id})

    assert response.status_code == 422
    assert "Unknown account." in text(response)
    assert "Initech" not in text(response)
    assert not Contact.objects.filter(name="Spy").exists()


def test_edit_a_contact_in_place(client, rep, org, contact):
    new_account = AccountFactory(organization=org, name="Cypress Creek")
    client.force_login(rep.user)
    form = client.get(url("contact_update", contact.id), headers=HTMX)
    assert 'value="Hank Scorpio"' in text(form)

    response = client.post(
        url("contact_update", contact.id),
        {
            "name": "Hank Scorpio",
            "title": "CEO",
            "email": "hank@cypress.test",
            "phone": "",
            "account": new_account.id,
        },
        headers=HTMX,
    )

    assert response.status_code == 200
    assert "CEO" in text(response) and "Cypress Creek" in text(response)
    contact.refresh_from_db()
    assert (contact.title, contact.account_id) == ("CEO", new_account.id)


def test_edit_a_contact_with_bad_input_writes_nothing(client, rep, contact):
    client.force_login(rep.user)
    before = (contact.name, contact.email, contact.account_id)

    response = client.post(
        url("contact_update", contact.id), {"name": "Hank", "email": "nope", "account": ""}, headers=HTMX
    )

    assert response.status_code == 422
    assert "Enter a valid email address." in text(response)
    contact.refresh_from_db()
    assert (contact.name, contact.email, contact.account_id) == before


def test_account_picker_searches_the_orgs_accounts(client, rep, org, account, other_org_world):
    AccountFactory(organization=org, name="Umbrella")
    client.force_login(rep.user)

    response = client.get(url("contact_account_options"), {"account_q": "umb"}, headers=HTMX)

    body = text(response)
    assert "Umbrella" in body and "Globex" not in body and "Initech" not in body
    assert '<option value="">No account</option>' in body


# Tenancy and sign-in


def test_another_orgs_accounts_and_contacts_are_404_everywhere(client, rep, other_org_world):
    client.force_login(rep.user)
    account, contact = other_org_world["account"], other_org_world["contact"]

    for target in (
        url("account_detail", account.id),
        url("account_update", account.id),
        url("contact_detail", contact.id),
        url("contact_update", contact.id),
    ):
        assert client.get(target).status_code == 404, target
        assert client.post(target, {"name": "Hacked"}, headers=HTMX).status_code == 404, target
    account.refresh_from_db()
    contact.refresh_from_db()
    assert "Hacked" not in (account.name, contact.name)


def test_signed_out_visitors_go_to_login(client, account):
    for target in (url("account_list"), url("account_detail", account.id), url("contact_list")):
        response = client.get(target)
        assert response.status_code == 302
        assert response["Location"].startswith(url("login"))
