"""Deal-level strategy in a real browser: the rep writes the strategy in place, the manager edits it
over a stale page and gets the conflict, then coaches with an @mention; the rep sees the bell's count,
opens the notification and lands on the comment."""

import pytest
from playwright.sync_api import expect

from strategy.models import DealStrategy, Notification
from tests.e2e.test_rep_flow import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_rep_and_manager_build_the_strategy_and_coach(page, browser, live_server, rep, manager, deal):
    rep.user.full_name = "Riley Chen"
    rep.user.save(update_fields=["full_name"])
    manager.user.full_name = "Mara Lopez"
    manager.user.save(update_fields=["full_name"])

    # The manager opens the deal first: their page will be stale after the rep saves.
    manager_page = browser.new_context(base_url=live_server.url).new_page()
    sign_in(manager_page, live_server, manager)
    manager_page.goto(f"/deals/{deal.id}/")

    sign_in(page, live_server, rep)
    page.goto(f"/deals/{deal.id}/")
    section = page.get_by_test_id("deal-strategy")
    expect(section.get_by_test_id("strategy-empty")).to_be_visible()
    section.get_by_test_id("strategy-edit").click()
    section.get_by_label("Situation").fill("Quotes take three weeks")
    section.get_by_label("Risks").fill("Budget freeze")
    section.get_by_test_id("strategy-save").click()
    expect(section.get_by_test_id("strategy-saved")).to_have_text("Saved.")
    expect(section.get_by_test_id("strategy-fields")).to_contain_text("Budget freeze")
    assert DealStrategy.objects.get(deal=deal).version == 1

    manager_section = manager_page.get_by_test_id("deal-strategy")
    manager_section.get_by_test_id("strategy-edit").click()
    manager_section.get_by_label("Risks").fill("Legal review")
    manager_section.get_by_test_id("strategy-save").click()
    # Both changed the risks; the situation only the rep wrote comes into the manager's form.
    expect(manager_section.get_by_test_id("strategy-conflict")).to_contain_text("You both changed Risks")
    expect(manager_section.get_by_test_id("saved-meanwhile")).to_have_count(1)
    expect(manager_section.get_by_test_id("saved-meanwhile")).to_contain_text("Budget freeze")
    expect(manager_section.get_by_label("Situation")).to_have_value("Quotes take three weeks")
    manager_section.get_by_label("Risks").fill("Budget freeze; legal review")
    manager_section.get_by_test_id("strategy-save").click()
    expect(manager_section.get_by_test_id("strategy-saved")).to_have_text("Saved.")
    expect(manager_section.get_by_test_id("strategy-fields")).to_contain_text("Quotes take three weeks")
    manager_section.locator("summary", has_text="History").click()
    expect(manager_section.get_by_test_id("strategy-revision").first).to_contain_text("Mara Lopez changed")

    manager_section.get_by_label("Comment").fill("@riley lead with the audit finding")
    manager_section.get_by_test_id("comment-submit").click()
    expect(manager_section.get_by_test_id("comment-posted")).to_contain_text("Notified Riley Chen.")
    expect(manager_section.get_by_test_id("coaching")).to_be_visible()

    page.goto("/deals/")
    expect(page.get_by_test_id("unread-count")).to_have_text("1")
    page.get_by_test_id("notifications-link").click()
    expect(page.get_by_test_id("notification")).to_contain_text("Mara Lopez mentioned you on Globex rollout")
    page.get_by_test_id("open-notification").click()
    comment = Notification.objects.get().comment
    expect(page).to_have_url(f"{live_server.url}/deals/{deal.id}/#comment-{comment.id}")
    expect(page.locator(f"#comment-{comment.id}")).to_contain_text("lead with the audit finding")
    expect(page.get_by_test_id("unread-count")).to_have_count(0)
