"""The deal's own plan in a real browser: a manager adds a custom step and a coaching comment on a rep's
deal; the rep sees both and completes the step; after the win the rep plans and records a
value-confirmation conversation."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from deals.models import DealStep
from deals.services import stakeholder_add
from journey.models import ValueConfirmation
from tests.e2e.test_rep_flow import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_plans_and_coaches_the_rep_completes_and_confirms_value(
    page, live_server, rep, manager, deal, contact
):
    stakeholder_add(deal=deal, by=rep, contact=contact, role="champion")
    due = timezone.localdate() + timedelta(days=5)

    sign_in(page, live_server, manager)
    page.goto(f"/deals/{deal.id}/")
    plan = page.locator("#deal-plan")
    plan.get_by_role("button", name="+ Add a step").click()
    plan.get_by_label("Step").fill("Book the CFO meeting")
    plan.get_by_label("Due").fill(due.isoformat())
    plan.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_test_id("plan-step").filter(has_text="Book the CFO meeting")).to_be_visible()
    strategy = page.get_by_test_id("deal-strategy")
    strategy.get_by_label("Comment").fill("Get the CFO's success criteria in writing before the proposal.")
    strategy.get_by_test_id("comment-submit").click()
    expect(strategy.get_by_test_id("coaching")).to_be_visible()

    page.context.clear_cookies()
    sign_in(page, live_server, rep)
    page.goto(f"/deals/{deal.id}/")
    step = page.get_by_test_id("plan-step").filter(has_text="Book the CFO meeting")
    expect(step).to_contain_text(f"by {manager.user.display_name}")
    expect(page.get_by_test_id("deal-strategy").get_by_test_id("comment")).to_contain_text(
        "CFO's success criteria"
    )
    step.get_by_label("Done: Book the CFO meeting").check()
    expect(page.get_by_test_id("plan-step").filter(has_text="Book the CFO meeting")).to_contain_text("Done")
    assert DealStep.objects.get(deal=deal, title="Book the CFO meeting").completed_by == rep.user

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("win").click()
    plan_button = page.get_by_test_id("plan-conversations")
    expect(plan_button).to_be_visible()
    plan_button.click()
    journey = page.locator("#deal-journey")
    journey.locator("summary", has_text="Record the conversation").first.click()
    form = journey.get_by_test_id("record-form").first
    form.get_by_label("Held on").fill(timezone.localdate().isoformat())
    form.get_by_label("Value they confirm, in their words").fill(
        "Quotes go out in two days instead of three weeks"
    )
    form.get_by_role("button", name="Save").click()
    expect(journey.get_by_test_id("confirmed-value").first).to_contain_text("two days instead of three weeks")
    confirmation = ValueConfirmation.objects.get(deal=deal)
    assert confirmation.held_at == timezone.localdate() and "two days" in confirmation.confirmed_value
