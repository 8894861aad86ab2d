"""The deal's own plan in a real browser: a manager adds a custom step and a coaching comment on a rep's
deal; the rep sees both and completes the step; after the win the rep plans and records a
value-confirmation conversation. And a rep reorders the plan (drag and drop, then the keyboard's move
buttons), links a step to a stakeholder and discusses it with their manager in the step's thread."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from deals.models import DealStep
from deals.services import stakeholder_add, step_add
from journey.models import ValueConfirmation
from strategy.models import Notification
from tests.e2e.conftest import htmx_settled
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
    # The assignees load when the form opens; the manager gives the step to the rep.
    assignee = plan.get_by_test_id("step-add-assignee")
    expect(assignee.locator(f'option[value="{rep.user_id}"]')).to_have_count(1)
    assignee.select_option(str(rep.user_id))
    plan.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_test_id("plan-step").filter(has_text="Book the CFO meeting")).to_contain_text(
        rep.user.display_name
    )
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
    added = DealStep.objects.get(deal=deal, title="Book the CFO meeting")
    assert (added.completed_by, added.assignee) == (rep.user, rep.user)

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


def test_rep_reorders_the_plan_by_drag_and_by_keyboard_and_comments_on_a_step(
    page, live_server, rep, manager, deal, contact
):
    manager.user.full_name = "Mara Lopez"
    manager.user.save(update_fields=["full_name"])
    champion = stakeholder_add(deal=deal, by=rep, contact=contact, role="champion")
    for title in ("Discovery call", "Send the ROI model", "Book the CFO"):
        step_add(deal=deal, by=rep, title=title)

    def plan_order() -> list[str]:
        return list(
            DealStep.objects.filter(deal=deal).order_by("position", "id").values_list("title", flat=True)
        )

    sign_in(page, live_server, rep)
    page.goto(f"/deals/{deal.id}/")
    steps = page.get_by_test_id("plan-step")
    expect(steps).to_have_count(3)

    # Drag "Book the CFO" by its handle above "Discovery call", once the sections the page loads after
    # it have arrived (they move the plan down) and the plan's drag and drop is set up.
    page.wait_for_load_state("networkidle")
    page.wait_for_function("() => window.Sortable && Sortable.get(document.getElementById('plan-steps'))")
    handle = steps.filter(has_text="Book the CFO").locator(".plan-handle")
    with page.expect_response(lambda response: response.url.endswith("/reorder/")) as posted:
        handle.drag_to(steps.filter(has_text="Discovery call"), target_position={"x": 20, "y": 4})
    assert posted.value.ok
    expect(steps.first).to_contain_text("Book the CFO")
    assert plan_order() == ["Book the CFO", "Discovery call", "Send the ROI model"]

    # From the keyboard: the move button keeps the focus on the moved step.
    htmx_settled(page)
    page.get_by_role("button", name="Move down: Book the CFO").focus()
    page.keyboard.press("Enter")
    expect(steps.nth(1)).to_contain_text("Book the CFO")
    expect(page.get_by_role("button", name="Move down: Book the CFO")).to_be_focused()
    assert plan_order() == ["Discovery call", "Book the CFO", "Send the ROI model"]

    # Link the step to the champion, then discuss it with the manager.
    htmx_settled(page)
    step = steps.filter(has_text="Book the CFO")
    step.get_by_role("button", name="Edit: Book the CFO").click()
    form = page.get_by_test_id("step-edit-form")
    expect(form).to_be_visible()
    htmx_settled(page)
    form.get_by_label("With").select_option(str(champion.id))
    form.get_by_role("button", name="Save").click()
    expect(steps.filter(has_text="Book the CFO").get_by_test_id("step-stakeholder")).to_contain_text(
        "Hank Scorpio"
    )

    htmx_settled(page)
    step = steps.filter(has_text="Book the CFO")
    step.get_by_test_id("step-comments-toggle").click()
    thread = step.get_by_test_id("step-thread")
    expect(thread.get_by_label("Comment on Book the CFO")).to_be_visible()
    htmx_settled(page)
    thread.get_by_label("Comment on Book the CFO").fill("@mara can you join? Hank wants an exec sponsor.")
    thread.get_by_test_id("step-comment-submit").click()
    expect(thread.get_by_test_id("step-comment-posted")).to_contain_text("Notified Mara Lopez")
    expect(thread.get_by_test_id("step-comment")).to_contain_text("exec sponsor")
    expect(step.get_by_test_id("step-comment-count")).to_have_text("1")
    notification = Notification.objects.get(recipient=manager.user)
    assert notification.step_comment.step.title == "Book the CFO"
