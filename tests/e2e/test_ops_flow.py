"""Ops in a real browser: sign in, open the process editor, add a stage, see it in the list and history."""

import pytest
from playwright.sync_api import expect

from salesproc.models import ProcessVersion, Stage
from tests.e2e.conftest import login
from tests.fixtures import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ops_adds_a_stage_in_the_process_editor(page, ops, process):
    login(page, ops.user.email, PASSWORD)

    page.get_by_role("link", name="Process", exact=True).click()
    page.get_by_role("link", name="New business").click()
    expect(page.get_by_role("heading", name="New business", level=1)).to_be_visible()

    add = page.locator("#stage-add")
    add.get_by_label("Name").fill("Security review")
    add.get_by_label("Phase of the customer's journey").select_option("decision")
    add.get_by_label("Win probability (%)").fill("60")
    add.get_by_label("Expected days").fill("12")
    add.get_by_role("button", name="Add stage").click()

    stage_list = page.get_by_test_id("stage-list")
    expect(stage_list.get_by_test_id("stage-name").last).to_have_text("Security review")
    history = page.get_by_test_id("version-history")
    expect(history.get_by_test_id("version").first).to_contain_text("Version 2")
    expect(history.get_by_test_id("version").first).to_contain_text('Added stage "Security review"')
    expect(page.get_by_test_id("flash")).to_contain_text('Added stage "Security review".')
    # The form is fresh for the next stage.
    expect(add.get_by_label("Name")).to_have_value("")

    stage = Stage.objects.get(process=process, name="Security review")
    assert (stage.order, stage.phase, stage.probability, stage.expected_days) == (5, "decision", 60, 12)
    assert ProcessVersion.objects.filter(process=process).count() == 2


def test_ops_reorders_stages_by_dragging(page, ops, process, stages):
    login(page, ops.user.email, PASSWORD)
    page.goto(f"/process/{process.id}/")

    cards = page.get_by_test_id("stage-card")
    source = cards.nth(3).locator(".drag-handle")
    target = cards.nth(0)
    source.drag_to(target, target_position={"x": 40, "y": 5})

    expect(page.get_by_test_id("version-history").get_by_test_id("version").first).to_contain_text(
        "Reordered stages"
    )
    names = list(Stage.objects.filter(process=process).order_by("order").values_list("name", flat=True))
    assert names[0] == "Negotiate"
    expect(page.get_by_test_id("stage-name").first).to_have_text("Negotiate")
