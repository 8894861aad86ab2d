"""The deal page and its actions, the deal list, and the deal create and edit forms."""

import re
from html import unescape

import pytest
from django.urls import reverse

from deals.models import (
    Account,
    Activity,
    Contact,
    CriterionAnswer,
    Deal,
    DealStakeholder,
    DealStep,
    DealTag,
    StageChange,
)
from deals.services import activity_log, deal_create, stakeholder_add, step_add, step_comment_add
from salesproc.services import criterion_add
from tests.factories import ContactFactory

HTMX = {"HX-Request": "true"}


def url(name, *args):
    return reverse(name, args=args)


def text(response) -> str:
    """The response body with HTML entities decoded (messages quote the bad value)."""
    return unescape(response.content.decode())


# The deal page


def test_deal_page_shows_path_plan_people_and_activity(client, rep, ops, process, stages, account, contact):
    criterion_add(stage=stages[0], by=ops, kind="step", label="Confirm budget", importance="mandatory")
    deal = deal_create(by=rep, process=process, name="Globex rollout", account=account, amount="12000")
    stakeholder_add(deal=deal, by=rep, contact=contact, role="champion", influence=4, attitude="supporter")
    activity_log(deal=deal, by=rep, kind="call", subject="Kick-off call")
    step_add(deal=deal, by=rep, title="Send ROI model")
    client.force_login(rep.user)

    response = client.get(url("deal_detail", deal.id))

    assert response.status_code == 200
    html = response.content.decode()
    for stage in stages:
        assert stage.name in html
    assert 'class="stage-step current"' in html and 'class="stage-step ahead"' in html
    assert "Do we change at all?" in html
    assert "$12,000" in html
    assert "Confirm budget" in html and "Send ROI model" in html
    assert "Next step:" in html
    assert "Hank Scorpio" in html and "Champion" in html
    assert "Kick-off call" in html
    assert f"Move to {stages[1].name}" in html and "Edit deal" in html


def test_another_rep_reads_the_deal_without_edit_controls(client, other_rep, deal):
    client.force_login(other_rep.user)

    html = client.get(url("deal_detail", deal.id)).content.decode()

    assert "Globex rollout" in html
    assert 'data-testid="read-only"' in html
    assert "Edit deal" not in html and "move-next" not in html and "activity-form" not in html


def test_another_reps_writes_are_refused_with_403_and_write_nothing(client, other_rep, stages, deal):
    client.force_login(other_rep.user)
    step = DealStep.objects.create(organization=deal.organization, deal=deal, title="x")

    posts = [
        (url("deal_win", deal.id), {"version": 1}),
        (url("deal_lose", deal.id), {"version": 1, "reason": "price"}),
        (url("deal_move", deal.id), {"version": 1, "to_stage": stages[1].id}),
        (url("step_toggle", deal.id, step.id), {"done": "1"}),
        (url("step_add", deal.id), {"title": "Mine now"}),
        (url("activity_add", deal.id), {"kind": "call", "subject": "Hi"}),
    ]
    for target, data in posts:
        response = client.post(target, data, headers=HTMX)
        assert response.status_code == 403, target
        assert "belongs to another rep" in response.content.decode()
    assert client.get(url("deal_edit", deal.id)).status_code == 403
    deal.refresh_from_db()
    assert deal.version == 1 and deal.is_open
    assert DealStep.objects.filter(deal=deal).count() == 1 and not Activity.objects.filter(deal=deal).exists()


def test_another_orgs_deal_is_404_everywhere(client, rep, other_org_world):
    client.force_login(rep.user)
    other = other_org_world["deal"]

    assert client.get(url("deal_detail", other.id)).status_code == 404
    assert client.get(url("deal_edit", other.id)).status_code == 404
    assert client.get(url("stakeholder_add", other.id)).status_code == 404
    assert client.post(url("deal_win", other.id), {"version": 1}).status_code == 404
    assert client.get(url("deal_win", other.id)).status_code == 404
    assert client.post(url("activity_add", other.id), {"kind": "call", "subject": "x"}).status_code == 404
    assert Deal.objects.get(pk=other.pk).version == 1


def test_ids_too_large_for_the_database_are_404(client, rep):
    client.force_login(rep.user)

    assert client.get("/deals/99999999999999999999999/").status_code == 404


def test_nested_objects_of_another_deal_are_404(client, rep, process, account, deal):
    client.force_login(rep.user)
    second = deal_create(by=rep, process=process, name="Second", account=account)
    foreign_step = step_add(deal=second, by=rep, title="Not yours")

    response = client.post(url("step_toggle", deal.id, foreign_step.id), {"done": "1"}, headers=HTMX)

    assert response.status_code == 404
    foreign_step.refresh_from_db()
    assert foreign_step.completed_at is None


# Moves, win and loss from the deal page


def test_deal_page_move_refused_shows_unmet_criteria_and_writes_nothing(client, rep, ops, stages, deal):
    criterion_add(
        stage=stages[0], by=ops, kind="answer", question="Why now?", label="Why now", importance="critical"
    )
    client.force_login(rep.user)

    response = client.post(url("deal_move", deal.id), {"to_stage": stages[1].id, "version": 1}, headers=HTMX)

    assert response.status_code == 409
    html = response.content.decode()
    assert 'data-testid="unmet-criteria"' in html and "Why now" in html
    assert "Critical criteria cannot be skipped" in html
    assert StageChange.objects.filter(deal=deal).count() == 1


def test_deal_page_move_succeeds(client, rep, stages, deal):
    client.force_login(rep.user)

    response = client.post(url("deal_move", deal.id), {"to_stage": stages[1].id, "version": 1}, headers=HTMX)

    assert response.status_code == 200
    assert f"Moved to {stages[1].name}" in response.content.decode()
    deal.refresh_from_db()
    assert deal.stage == stages[1]


def test_move_without_htmx_redirects_to_the_deal_page(client, rep, stages, deal):
    client.force_login(rep.user)

    response = client.post(url("deal_move", deal.id), {"to_stage": stages[1].id, "version": 1})

    assert response.status_code == 302 and response["Location"] == url("deal_detail", deal.id)
    deal.refresh_from_db()
    assert deal.stage == stages[1]


def test_win(client, rep, deal):
    client.force_login(rep.user)

    response = client.post(url("deal_win", deal.id), {"version": 1}, headers=HTMX)

    assert response.status_code == 200
    deal.refresh_from_db()
    assert deal.status == "won" and deal.closed_at is not None
    assert "Won" in response.content.decode()


def test_lose_without_a_reason_is_a_field_error_and_writes_nothing(client, rep, deal):
    client.force_login(rep.user)

    response = client.post(url("deal_lose", deal.id), {"version": 1, "reason": "  "}, headers=HTMX)

    assert response.status_code == 422
    assert 'data-testid="lose-reason-error"' in response.content.decode()
    assert "Say why the deal was lost." in response.content.decode()
    deal.refresh_from_db()
    assert deal.is_open and deal.version == 1


def test_lose_with_a_reason(client, rep, deal):
    client.force_login(rep.user)

    response = client.post(
        url("deal_lose", deal.id), {"version": 1, "reason": "Went with Initrode"}, headers=HTMX
    )

    assert response.status_code == 200
    deal.refresh_from_db()
    assert deal.status == "lost" and deal.lost_reason == "Went with Initrode"


def test_win_with_a_stale_version_writes_nothing(client, rep, deal):
    client.force_login(rep.user)

    response = client.post(url("deal_win", deal.id), {"version": 7}, headers=HTMX)

    assert response.status_code == 409
    assert "changed by someone else" in response.content.decode()
    deal.refresh_from_db()
    assert deal.is_open


# The plan


def test_ticking_a_step_completes_it_and_refreshes_the_criteria(client, rep, ops, process, stages, account):
    criterion_add(stage=stages[0], by=ops, kind="step", label="Confirm budget", importance="mandatory")
    deal = deal_create(by=rep, process=process, name="D", account=account)
    step = DealStep.objects.get(deal=deal)
    client.force_login(rep.user)

    response = client.post(url("step_toggle", deal.id, step.id), {"done": "1"}, headers=HTMX)

    assert response.status_code == 200
    step.refresh_from_db()
    assert step.completed_at is not None and step.completed_by_id == rep.user_id
    html = response.content.decode()
    assert 'id="deal-plan"' in html
    assert 'id="deal-criteria" hx-swap-oob="true"' in html and "1 of 1 met" in html

    client.post(url("step_toggle", deal.id, step.id), {}, headers=HTMX)
    step.refresh_from_db()
    assert step.completed_at is None


def test_add_a_custom_step(client, rep, deal):
    client.force_login(rep.user)

    response = client.post(url("step_add", deal.id), {"title": "Map the buying committee"}, headers=HTMX)

    assert response.status_code == 200
    step = DealStep.objects.get(deal=deal, title="Map the buying committee")
    assert step.source == "custom"
    assert "Deal strategy" in response.content.decode()


@pytest.mark.parametrize(
    "data, message",
    [({"title": ""}, "Required."), ({"title": "x", "due_date": "next tuesday"}, "is not a date")],
)
def test_add_step_with_bad_input_is_a_field_message(client, rep, deal, data, message):
    client.force_login(rep.user)

    response = client.post(url("step_add", deal.id), data, headers=HTMX)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert not DealStep.objects.filter(deal=deal).exists()


# Stakeholders


def test_the_add_stakeholder_form_offers_the_accounts_contacts(client, rep, deal, contact):
    client.force_login(rep.user)

    response = client.get(url("stakeholder_add", deal.id), headers=HTMX)

    assert response.status_code == 200
    assert "Hank Scorpio" in response.content.decode()


def test_contact_search_for_the_stakeholder_picker(client, rep, org, deal, contact):
    ContactFactory(organization=org, name="Marge Bouvier")
    client.force_login(rep.user)

    html = client.get(url("stakeholder_contact_options", deal.id) + "?q=marge", headers=HTMX).content.decode()

    assert "Marge Bouvier" in html and "Hank Scorpio" not in html


def test_add_an_existing_contact_as_stakeholder(client, rep, stages, ops, process, account, contact):
    criterion_add(stage=stages[0], by=ops, kind="stakeholder_role", role="champion", label="Champion")
    deal = deal_create(by=rep, process=process, name="D", account=account)
    client.force_login(rep.user)

    response = client.post(
        url("stakeholder_add", deal.id),
        {"contact": contact.id, "role": "champion", "influence": "4", "attitude": "supporter"},
        headers=HTMX,
    )

    assert response.status_code == 200
    stakeholder = DealStakeholder.objects.get(deal=deal)
    assert (stakeholder.contact, stakeholder.role, stakeholder.influence) == (contact, "champion", 4)
    html = response.content.decode()
    assert 'id="deal-stakeholders"' in html and "Hank Scorpio" in html
    assert "1 of 1 met" in html
    assert (
        'id="activity-stakeholder" name="stakeholder" class="form-select form-select-sm" hx-swap-oob="true"'
        in html
    )


def test_add_a_stakeholder_with_a_new_contact(client, rep, deal):
    client.force_login(rep.user)

    response = client.post(
        url("stakeholder_add", deal.id),
        {
            "new_contact_name": "Lisa Simpson",
            "new_contact_email": "lisa@globex.test",
            "role": "economic_buyer",
            "influence": "5",
            "attitude": "neutral",
        },
        headers=HTMX,
    )

    assert response.status_code == 200
    contact = Contact.objects.get(name="Lisa Simpson")
    assert contact.account == deal.account and contact.organization == deal.organization
    assert DealStakeholder.objects.filter(deal=deal, contact=contact, role="economic_buyer").exists()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"role": "champion", "influence": "3", "attitude": "neutral"}, "Pick a contact"),
        (
            {
                "new_contact_name": "X",
                "new_contact_email": "not-an-email",
                "role": "champion",
                "influence": "3",
                "attitude": "neutral",
            },
            "Enter a valid email address.",
        ),
        (
            {"new_contact_name": "X", "role": "king", "influence": "3", "attitude": "neutral"},
            "Select a valid choice",
        ),
        (
            {"new_contact_name": "X", "role": "user", "influence": "9", "attitude": "neutral"},
            "Select a valid choice",
        ),
        (
            {"contact": "999999", "role": "user", "influence": "2", "attitude": "neutral"},
            "Select a valid choice",
        ),
    ],
)
def test_add_stakeholder_with_bad_input_is_a_field_message_and_writes_nothing(
    client, rep, deal, data, message
):
    client.force_login(rep.user)

    response = client.post(url("stakeholder_add", deal.id), data, headers=HTMX)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert response["HX-Retarget"] == "#stakeholder-form-slot"
    assert not DealStakeholder.objects.filter(deal=deal).exists()
    assert not Contact.objects.filter(name="X").exists()


def test_the_same_contact_twice_is_a_field_message(client, rep, deal, contact):
    stakeholder_add(deal=deal, by=rep, contact=contact, role="user")
    client.force_login(rep.user)

    response = client.post(
        url("stakeholder_add", deal.id),
        {"contact": contact.id, "role": "champion", "influence": "3", "attitude": "neutral"},
        headers=HTMX,
    )

    assert response.status_code == 422
    assert "already a stakeholder" in response.content.decode()
    assert DealStakeholder.objects.filter(deal=deal).count() == 1


def test_edit_and_remove_a_stakeholder(client, rep, deal, contact):
    stakeholder = stakeholder_add(deal=deal, by=rep, contact=contact, role="user")
    client.force_login(rep.user)
    edit_url = url("stakeholder_edit", deal.id, stakeholder.id)

    form = client.get(edit_url, headers=HTMX)
    assert form.status_code == 200 and 'data-testid="stakeholder-edit-form"' in form.content.decode()
    response = client.post(
        edit_url,
        {"role": "decision_maker", "influence": "5", "attitude": "advocate", "desired_results": "Less scrap"},
        headers=HTMX,
    )
    assert response.status_code == 200
    stakeholder.refresh_from_db()
    assert (stakeholder.role, stakeholder.influence, stakeholder.attitude) == (
        "decision_maker",
        5,
        "advocate",
    )
    assert stakeholder.desired_results == "Less scrap"

    bad = client.post(
        edit_url, {"role": "decision_maker", "influence": "zero", "attitude": "advocate"}, headers=HTMX
    )
    assert bad.status_code == 422
    stakeholder.refresh_from_db()
    assert stakeholder.influence == 5

    removed = client.post(url("stakeholder_remove", deal.id, stakeholder.id), headers=HTMX)
    assert removed.status_code == 200
    assert not DealStakeholder.objects.filter(pk=stakeholder.pk).exists()


# Activity


def test_log_an_activity(client, rep, deal, contact):
    stakeholder = stakeholder_add(deal=deal, by=rep, contact=contact, role="user")
    client.force_login(rep.user)

    response = client.post(
        url("activity_add", deal.id),
        {
            "kind": "meeting",
            "subject": "Demo",
            "body": "Went well",
            "stakeholder": stakeholder.id,
            "occurred_at": "2024-03-01T10:30",
        },
        headers=HTMX,
    )

    assert response.status_code == 200
    activity = Activity.objects.get(deal=deal)
    assert (activity.kind, activity.subject, activity.stakeholder) == ("meeting", "Demo", stakeholder)
    assert activity.occurred_at.year == 2024
    assert "Demo" in response.content.decode() and "Logged." in response.content.decode()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"kind": "call", "subject": ""}, "Required."),
        ({"kind": "smoke-signal", "subject": "x"}, "Select a valid choice"),
        ({"kind": "call", "subject": "x", "occurred_at": "yesterday-ish"}, "Enter a valid date/time."),
        (
            {"kind": "call", "subject": "x", "occurred_at": "2999-01-01T10:00"},
            "cannot be logged in the future",
        ),
        ({"kind": "call", "subject": "x", "stakeholder": "abc"}, "Select a valid choice"),
    ],
)
def test_log_activity_with_bad_input_is_a_field_message_and_writes_nothing(client, rep, deal, data, message):
    client.force_login(rep.user)

    response = client.post(url("activity_add", deal.id), data, headers=HTMX)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Activity.objects.filter(deal=deal).exists()


# Answers


def test_answer_a_criterion_question(client, rep, ops, stages, deal):
    criterion = criterion_add(
        stage=stages[0], by=ops, kind="answer", question="What if they do nothing?", label="Cost of inaction"
    )
    client.force_login(rep.user)

    response = client.post(
        url("answer_set", deal.id, criterion.id), {"text": "They lose $2M a year"}, headers=HTMX
    )

    assert response.status_code == 200
    assert CriterionAnswer.objects.get(deal=deal, criterion=criterion).text == "They lose $2M a year"
    assert "1 of 1 met" in response.content.decode()


def test_answering_a_criterion_of_another_kind_is_404(client, rep, ops, stages, deal):
    criterion = criterion_add(stage=stages[0], by=ops, kind="step", label="Not a question")
    client.force_login(rep.user)

    response = client.post(url("answer_set", deal.id, criterion.id), {"text": "x"}, headers=HTMX)

    assert response.status_code == 404
    assert not CriterionAnswer.objects.exists()


# Edit


def edit_data(deal, **overrides):
    data = {
        "version": deal.version,
        "name": deal.name,
        "account": deal.account_id,
        "amount": "12000",
        "currency": "USD",
        "expected_close": "",
        "industry": "",
        "budget": "",
        "lead_source": "",
        "competitors": "",
        "objections": "",
        "description": "",
    }
    data.update(overrides)
    return data


def test_edit_deal_fields(client, rep, deal):
    client.force_login(rep.user)

    response = client.post(
        url("deal_edit", deal.id),
        edit_data(deal, amount="15000", expected_close="2030-06-30", competitors="Initrode; Vandelay, Acme"),
    )

    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.amount == 15000 and str(deal.expected_close) == "2030-06-30" and deal.version == 2
    assert sorted(DealTag.objects.filter(deal=deal).values_list("value", flat=True)) == [
        "Acme",
        "Initrode",
        "Vandelay",
    ]


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("amount", "lots", '"lots" is not a number.'),
        ("amount", "-5", "Must be at least 0"),
        ("expected_close", "31/02/2030", "is not a date"),
        ("currency", "DOLLARS", "A three-letter currency code"),
        ("name", "", "Required."),
        ("account", "abc", "Select a valid choice"),
    ],
)
def test_edit_with_bad_input_is_a_field_message_and_writes_nothing(client, rep, deal, field, value, message):
    client.force_login(rep.user)

    response = client.post(url("deal_edit", deal.id), edit_data(deal, **{field: value}))

    assert response.status_code == 422
    assert message in text(response)
    deal.refresh_from_db()
    assert deal.version == 1 and deal.amount == 12000


def test_edit_with_a_stale_version_says_so_and_writes_nothing(client, rep, deal):
    client.force_login(rep.user)

    response = client.post(url("deal_edit", deal.id), edit_data(deal, version=0, amount="1"))

    assert response.status_code == 409
    assert "changed by someone else" in response.content.decode()
    deal.refresh_from_db()
    assert deal.amount == 12000


def test_a_rep_gets_no_owner_field_a_manager_does(client, rep, manager, deal):
    client.force_login(rep.user)
    assert 'name="owner"' not in client.get(url("deal_edit", deal.id)).content.decode()
    client.force_login(manager.user)
    assert 'name="owner"' in client.get(url("deal_edit", deal.id)).content.decode()


def test_manager_reassigns_a_deal_within_the_team(client, manager, rep, deal):
    client.force_login(manager.user)

    response = client.post(url("deal_edit", deal.id), edit_data(deal, owner=manager.user_id))

    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.owner_id == manager.user_id


# Create


def test_create_a_deal_for_an_existing_account(client, rep, process, stages, account):
    client.force_login(rep.user)

    response = client.post(
        url("deal_create"),
        {
            "process": process.id,
            "name": "Globex expansion",
            "account": account.id,
            "amount": "40000",
            "currency": "eur",
        },
    )

    deal = Deal.objects.get(name="Globex expansion")
    assert response.status_code == 302 and response["Location"] == url("deal_detail", deal.id)
    assert (deal.owner_id, deal.stage, deal.currency, deal.amount) == (rep.user_id, stages[0], "EUR", 40000)


def test_create_a_deal_with_a_new_account(client, rep, process):
    client.force_login(rep.user)

    response = client.post(
        url("deal_create"), {"process": process.id, "name": "First deal", "new_account": "Vandelay"}
    )

    assert response.status_code == 302
    assert Deal.objects.get(name="First deal").account == Account.objects.get(name="Vandelay")


def test_create_with_a_bad_amount_writes_nothing_not_even_the_new_account(client, rep, process):
    client.force_login(rep.user)

    response = client.post(
        url("deal_create"),
        {"process": process.id, "name": "Bad", "new_account": "Vandelay", "amount": "12,000"},
    )

    assert response.status_code == 422
    assert '"12,000" is not a number.' in text(response)
    assert not Deal.objects.filter(name="Bad").exists()
    assert not Account.objects.filter(name="Vandelay").exists()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "No account"}, "Choose an account"),
        ({"name": "x", "account": "99999999999999999999999"}, "Select a valid choice"),
        ({"name": "x", "process": "abc", "new_account": "A"}, "Select a valid choice"),
    ],
)
def test_create_with_missing_or_bad_choices_is_a_field_message(client, rep, process, data, message):
    client.force_login(rep.user)
    data = {"process": process.id, **data}

    response = client.post(url("deal_create"), data)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Deal.objects.exists()


def test_create_form_offers_the_accounts_and_searches_them(client, rep, process, org, account):
    client.force_login(rep.user)

    html = client.get(url("deal_create") + f"?account={account.id}").content.decode()
    assert f'<option value="{account.id}" selected>Globex</option>' in html

    options = client.get(url("deal_account_options") + "?account_q=glo", headers=HTMX).content.decode()
    assert "Globex" in options
    assert "Globex" not in client.get(url("deal_account_options") + "?account_q=zzz").content.decode()


def test_create_without_a_process_says_what_to_do(client, rep):
    client.force_login(rep.user)

    html = client.get(url("deal_create")).content.decode()

    assert "no active sales process" in html


# The deal list


def test_deal_list_searches_and_filters(client, rep, other_rep, process, account, org):
    mine = deal_create(by=rep, process=process, name="Turbine upgrade", account=account)
    deal_create(by=other_rep, process=process, name="Turbine retrofit", account=account)
    deal_create(by=rep, process=process, name="Pumps", account=account)
    client.force_login(rep.user)

    html = client.get(url("deal_list") + "?q=turbine&owner=me&status=open").content.decode()

    rows = re.findall(r'href="/deals/(\d+)/"', html)
    assert rows == [str(mine.id)]


def test_deal_list_pages_by_keyset_without_duplicates(client, rep, process, account):
    deals = [deal_create(by=rep, process=process, name=f"Deal {i}", account=account) for i in range(53)]
    client.force_login(rep.user)

    first = client.get(url("deal_list")).content.decode()
    next_url = re.search(r'href="(\?[^"]*before=\d+[^"]*)" data-testid="next-page"', first).group(1)
    second = client.get(url("deal_list") + next_url.replace("&amp;", "&")).content.decode()

    first_ids = [int(x) for x in re.findall(r'<td><a href="/deals/(\d+)/"', first)]
    second_ids = [int(x) for x in re.findall(r'<td><a href="/deals/(\d+)/"', second)]
    assert len(first_ids) == 50 and len(second_ids) == 3
    assert first_ids + second_ids == sorted((d.id for d in deals), reverse=True)
    assert 'data-testid="next-page"' not in second


def test_empty_deal_list_says_what_to_do(client, rep):
    client.force_login(rep.user)

    html = client.get(url("deal_list")).content.decode()

    assert "No deals yet." in html and url("deal_create") in html


@pytest.mark.parametrize("query", ["?process=abc", "?owner=x", "?before=-1", "?status=maybe", "?before=1e9"])
def test_deal_list_ignores_unreadable_filters(client, rep, query):
    client.force_login(rep.user)

    assert client.get(url("deal_list") + query).status_code == 200


def test_another_reps_plain_post_is_a_403_page_with_the_reason(client, other_rep, deal):
    client.force_login(other_rep.user)

    response = client.post(url("deal_win", deal.id), {"version": 1})

    assert response.status_code == 403
    assert "belongs to another rep" in response.content.decode()
    deal.refresh_from_db()
    assert deal.is_open


def test_every_deal_page_url_with_an_id_is_404_for_another_orgs_objects(client, rep, other_org_world):
    from deals import urls as deal_urls

    world = other_org_world
    foreign_deal = world["deal"]
    foreign_ids = {
        "deal_id": foreign_deal.id,
        "process_id": world["process"].id,
        "stage_id": foreign_deal.stage_id,
        "step_id": (foreign_step := step_add(deal=foreign_deal, by=world["member"], title="Theirs")).id,
        "comment_id": step_comment_add(step=foreign_step, by=world["member"], body="Theirs").comment.id,
        "stakeholder_id": stakeholder_add(
            deal=foreign_deal, by=world["member"], contact=world["contact"], role="user"
        ).id,
        "criterion_id": criterion_add(
            stage=foreign_deal.stage, by=world["member"], kind="answer", question="Q?", label="Q"
        ).id,
    }
    client.force_login(rep.user)
    checked = 0
    for pattern in deal_urls.urlpatterns:
        params = list(pattern.pattern.converters)
        if not params:
            continue
        target = reverse(pattern.name, kwargs={p: foreign_ids[p] for p in params})
        assert client.get(target).status_code == 404, target
        assert client.post(target, {"version": 1}, headers=HTMX).status_code == 404, target
        checked += 1
    assert checked >= 10


def test_deal_page_shows_the_deals_stall_flags_with_a_snooze_form(client, rep, deal):
    from iteration.models import StallFlag

    StallFlag.objects.create(
        organization=deal.organization,
        deal=deal,
        stage=deal.stage,
        rule="no_activity",
        level="warning",
        days=22,
        threshold=14,
        reason="No activity for 22 days",
    )
    client.force_login(rep.user)

    html = client.get(reverse("deal_detail", args=[deal.id])).content.decode()

    section = html[html.index('id="deal-stall-flags"') :]
    assert "No activity for 22 days" in section[:3000]
    assert 'data-testid="deal-stall-flag"' in section[:3000]
    assert "snooze" in section[:3000].lower()


def test_deal_page_hides_the_stall_section_without_flags(client, rep, deal):
    client.force_login(rep.user)

    html = client.get(reverse("deal_detail", args=[deal.id])).content.decode()

    assert 'data-testid="deal-stall-flag"' not in html


def test_the_plan_marks_overdue_steps_and_says_who_added_custom_ones(client, rep, deal):
    from datetime import timedelta

    from django.utils import timezone

    from deals.services import step_add

    step_add(deal=deal, by=rep, title="Send the pricing", due_date=timezone.localdate() - timedelta(days=2))
    step_add(deal=deal, by=rep, title="Book the demo", due_date=timezone.localdate() + timedelta(days=2))
    client.force_login(rep.user)

    html = client.get(f"/deals/{deal.id}/").content.decode()

    assert html.count('data-testid="step-overdue"') == 1
    assert html.count('data-testid="step-added"') == 2 and f"by {rep.user.display_name}" in html
