"""Playbooks end to end in a real browser: ops build a play for a competitor in the editor (condition
rows, live preview, a step), activate it; a rep adds that competitor to a deal and sees the play and its
step appear on the deal page."""

import pytest
from playwright.sync_api import expect

from playbooks.models import DealPlay, Play
from tests.e2e.conftest import htmx_settled
from tests.e2e.test_rep_flow import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ops_build_a_competitor_play_and_a_rep_sees_it_on_a_deal(page, live_server, ops, rep, deal):
    sign_in(page, live_server, ops)

    page.goto("/playbooks/")
    create = page.locator("#playbook-create")
    create.get_by_label("Name").fill("Competitive deals")
    create.get_by_role("button", name="Create playbook").click()
    page.get_by_label("New play").fill("Against Globex")
    page.get_by_role("button", name="Add play").click()

    # The editor: one placeholder rule; make it "competitors include Globex".
    rule = page.get_by_test_id("condition-rule").first
    rule.get_by_label("Field").select_option("competitors")
    rule = page.get_by_test_id("condition-rule").first  # the builder was redrawn for the new field
    expect(rule.get_by_label("Operator")).to_have_value("contains")
    htmx_settled(page)  # the redrawn builder listens for typing only once settled
    rule.get_by_label("Value").fill("Globex")
    expect(page.get_by_test_id("preview-count")).to_contain_text("Matches 0 open deals now")
    page.get_by_label("Talk track").fill("Globex wins on price: show the **three-year cost**.")
    page.get_by_test_id("save-play").click()
    expect(page.locator("#messages")).to_contain_text("Saved")

    steps = page.locator("#steps")
    steps.get_by_label("Step").fill("Send the Globex battle card")
    steps.get_by_role("button", name="Add step").click()
    expect(steps.get_by_test_id("step-list")).to_contain_text("Send the Globex battle card")
    page.get_by_test_id("activate-play").click()
    expect(page.get_by_test_id("play-status")).to_have_text("active")

    play = Play.objects.get(name="Against Globex")
    assert play.condition == {"all": [{"field": "competitors", "op": "contains", "value": "Globex"}]}
    assert not DealPlay.objects.filter(play=play).exists()  # no deal names Globex yet

    # The rep, in a fresh session, adds Globex to their deal.
    page.context.clear_cookies()
    sign_in(page, live_server, rep)
    page.goto(f"/deals/{deal.id}/")
    expect(page.get_by_test_id("deal-plays").get_by_test_id("no-plays")).to_be_visible()
    page.get_by_role("link", name="Edit deal").click()
    page.get_by_label("Competitors").fill("Globex")
    page.get_by_role("button", name="Save").click()

    plays = page.get_by_test_id("deal-plays")
    card = plays.get_by_test_id("deal-play").filter(has_text="Against Globex")
    expect(card).to_be_visible()
    expect(card.get_by_test_id("play-why")).to_contain_text("competitors contain Globex")
    expect(card.get_by_test_id("talk-track")).to_contain_text("three-year cost")
    expect(page.get_by_test_id("plan-step").filter(has_text="Send the Globex battle card")).to_be_visible()
    assert DealPlay.objects.filter(play=play, deal=deal, detached_at__isnull=True).exists()
