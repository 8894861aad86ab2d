"""A manager looks for the deals without a champion in a real browser: the board's gap filter (kept in
the URL, so the view can be bookmarked), the cards' gap badges, and the same filter on the deal list."""

import os
import re

import pytest
from playwright.sync_api import expect

from deals.services import activity_log, deal_create, stakeholder_add
from tests.e2e.test_rep_flow import sign_in
from tests.factories import ContactFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
# Where to save screenshots of the pages, when set (for looking at them, not for the test).
SHOTS = os.environ.get("SALESPROC_SCREENSHOTS", "")


def _person(deal, by, role, **fields):
    contact = ContactFactory(organization=deal.organization, account=deal.account)
    return stakeholder_add(deal=deal, by=by, contact=contact, role=role, **fields)


def test_manager_filters_the_board_and_the_list_by_a_stakeholder_gap(
    page, live_server, manager, rep, process, stages, account
):
    covered = deal_create(by=rep, process=process, name="Covered rollout", account=account, amount=50000)
    _person(covered, rep, "economic_buyer")
    talked = _person(covered, rep, "champion")
    activity_log(deal=covered, by=rep, kind="call", subject="Kick-off", stakeholder=talked)
    lacking = deal_create(by=rep, process=process, name="Lacking champion", account=account, amount=20000)
    _person(lacking, rep, "economic_buyer")
    _person(lacking, rep, "influencer", attitude="opponent", influence=5)
    sign_in(page, live_server, manager)

    page.goto(f"/pipeline/{process.id}/")
    covered_card = page.locator(f"#deal-card-{covered.id}")
    expect(covered_card.get_by_test_id("gap-badge")).to_have_text(["Single-threaded"])
    lacking_card = page.locator(f"#deal-card-{lacking.id}")
    expect(lacking_card.get_by_test_id("gap-badge")).to_have_text(["No champion", "Opponent"])
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/board.png", full_page=True)

    page.get_by_test_id("filter-gap").select_option("no_champion")  # submits on change
    page.wait_for_url(re.compile(r"gap=no_champion"))
    expect(page.locator(".deal-card")).to_have_count(1)
    expect(page.locator(f"#deal-card-{lacking.id}")).to_be_visible()
    expect(page.get_by_test_id("board-total")).to_have_text("1 open deal")
    bookmark = page.url

    # The bookmark opens the same view.
    page.goto("/deals/")
    page.goto(bookmark)
    expect(page.locator(".deal-card")).to_have_count(1)
    expect(page.get_by_test_id("filter-gap")).to_have_value("no_champion")
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/board_filtered.png", full_page=True)

    page.goto("/deals/?gap=no_budget")
    expect(page.get_by_test_id("gap-filter-error")).to_contain_text('Unknown stakeholder gap "no_budget"')
    expect(page.get_by_test_id("deal-row")).to_have_count(2)
    page.get_by_test_id("filter-gap").select_option("single_threaded")
    page.click("#deal-filters button[type=submit]")
    page.wait_for_url(re.compile(r"gap=single_threaded"))
    expect(page.get_by_test_id("deal-row")).to_have_count(1)
    expect(page.get_by_test_id("deal-row")).to_contain_text("Covered rollout")
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/deal_list.png", full_page=True)
