"""A rep's day in a real browser: create a deal, hit an exit criterion, work the plan, move on."""

import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from deals.models import Deal, StageChange
from salesproc.services import criterion_add
from tests.e2e.conftest import htmx_settled, login
from tests.fixtures import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, membership) -> None:
    """Through the login page; if that page is not served (yet), with a session made by Django's test
    client, its cookie handed to the browser."""
    response = page.goto("/login/")
    if response is not None and response.ok and page.locator("input[name=username]").count():
        login(page, membership.user.email, PASSWORD)
        return
    client = Client()
    client.force_login(membership.user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def test_rep_creates_a_deal_meets_the_exit_criterion_and_moves_it(
    page, live_server, rep, ops, process, stages, account
):
    criterion_add(stage=stages[0], by=ops, kind="step", label="Confirm budget owner", importance="mandatory")
    sign_in(page, live_server, rep)

    page.goto("/deals/new/")
    page.fill("input[name=name]", "Globex plant rollout")
    page.select_option("select[name=account]", label="Globex")
    page.fill("input[name=amount]", "84000")
    page.click("button[type=submit]:has-text('Create deal')")

    expect(page.locator("h1")).to_contain_text("Globex plant rollout")
    expect(page.get_by_test_id("current-stage")).to_have_text(stages[0].name)
    expect(page.get_by_test_id("deal-amount")).to_have_text("$84,000")
    deal = Deal.objects.get(name="Globex plant rollout")

    page.get_by_test_id("move-next").click()
    unmet = page.get_by_test_id("unmet-criteria")
    expect(unmet).to_contain_text("Confirm budget owner")
    expect(unmet).to_contain_text("Complete the step in the plan")
    assert StageChange.objects.filter(deal=deal).count() == 1

    htmx_settled(page)
    page.get_by_label("Done: Confirm budget owner").check()
    expect(page.get_by_test_id("criteria-progress")).to_have_text("1 of 1 met")
    htmx_settled(page)

    page.get_by_test_id("move-next").click()
    expect(page.get_by_test_id("move-done")).to_have_text(f"Moved to {stages[1].name}.")
    expect(page.get_by_test_id("current-stage")).to_have_text(stages[1].name)
    assert Deal.objects.get(pk=deal.pk).stage_id == stages[1].id


def test_rep_drags_a_card_to_the_next_column(page, live_server, rep, process, stages, deal):
    sign_in(page, live_server, rep)

    page.goto(f"/pipeline/{process.id}/")
    card = page.locator(f"#deal-card-{deal.id}")
    expect(card).to_have_attribute("data-stage-id", str(stages[0].id))
    card.drag_to(page.locator(f"#cards-{stages[1].id}"))

    moved = page.locator(f"#cards-{stages[1].id} #deal-card-{deal.id}")
    expect(moved).to_contain_text(f"Moved to {stages[1].name}.")
    expect(page.locator(f"#col-head-{stages[1].id}")).to_contain_text("1 deal")
    expect(page.locator(f"#col-head-{stages[0].id}")).to_contain_text(re.compile(r"\b0 deals"))
    assert Deal.objects.get(pk=deal.pk).stage_id == stages[1].id


def test_a_refused_move_from_the_board_shows_why_on_the_card(
    page, live_server, rep, ops, process, stages, deal
):
    criterion_add(stage=stages[0], by=ops, kind="field", field_name="expected_close", label="Close date set")
    sign_in(page, live_server, rep)

    page.goto(f"/pipeline/{process.id}/")
    card = page.locator(f"#deal-card-{deal.id}")
    card.get_by_label(f"Move {deal.name} to").select_option(label=stages[2].name)

    card = page.locator(f"#cards-{stages[0].id} #deal-card-{deal.id}")
    expect(card.get_by_test_id("unmet-criteria")).to_contain_text("Close date set")
    assert Deal.objects.get(pk=deal.pk).stage_id == stages[0].id
